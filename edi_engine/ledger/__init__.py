"""The ledger and the home that holds it: database engine and sessions (db), models and
their bounded fields, Alembic migrations, flow leases, counters, job runs, the states, and
the home's folders. Every other room writes through it; it uses no room, only the shared
modules at the top of edi_engine.
"""

__all__ = [
    "counters",
    "db",
    "deferred",
    "exclusion",
    "fields",
    "home",
    "jobruns",
    "leasing",
    "models",
    "states",
]
