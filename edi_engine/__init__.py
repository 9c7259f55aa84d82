"""edi-engine's core, in rooms along the road a flow travels (docs/architecture.md#rooms).

Each room may use those listed before it, never one after it:
ledger, partners, reception, controls, lifecycle, delivery, processing, operations, api, cli.
The modules here at the top (settings, clock, errors, problems, logs, display, siret,
cron, csvfile, number_key, failpoints) are shared by every room and use none
(tests/unit/test_rooms.py).
"""

__version__ = "0.1.0"
