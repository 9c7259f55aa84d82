"""The face of the engine: the command groups and commands of `edi-engine`, one module each,
and what they share (shared: options, refusals, tables, JSON, progress). cli.py, the entry
point, puts them together; they may use every room, through its public names, and no room
imports them (nor jobs/: the commands that drive it stay in cli.py).
"""

__all__ = [
    "api",
    "documents",
    "engine",
    "flows",
    "invoices",
    "partners",
    "rules",
    "runs",
    "shared",
    "stats",
    "statuses",
    "structures",
]
