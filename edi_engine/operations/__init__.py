"""What operators ask: flows and invoices views and recycling, exports, monthly figures,
retention and purge, the ledger's check (integrity), validate, convert, the rules list and
the demo. The command (the cli room) and jobs/ call it; it may use every other room.
"""

__all__ = [
    "checking",
    "conversion",
    "demo",
    "exports",
    "flows",
    "integrity",
    "invoices",
    "monthly",
    "retention",
    "rules_report",
]
