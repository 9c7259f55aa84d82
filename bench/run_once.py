"""A benchmark home, for bench/pivot_flow.py only: `python -m bench` (bench/__main__.py)
measures `run --once` now. pivot_flow.py runs as a script from bench/, where the bench
package cannot be imported; delete this file once it imports bench.engine instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import config
from edi_engine import db, home, partners, structures


def prepare(root: Path, flows: int, fsync: bool) -> home.settings.Settings:
    os.environ["EDI_ENGINE_PICKUP_STABLE_SECONDS"] = "0"
    os.environ["EDI_ENGINE_PROCESSING_FSYNC"] = "true" if fsync else "false"
    settings, _ = home.init(root)
    with db.session_scope(settings.database_url) as session:
        for code in ("FOUR01", "DEST01"):
            # an operator deposits for any supplier: the benchmarks' invoices are accepted
            partners.add(settings, session, code, code, operator=True)
        session.commit()
        structures.import_csv(session, config.path("demo/structures.csv"))
        session.commit()
    template = config.path("demo/ubl-invoice.xml").read_text()
    inbox = settings.inbox / "FOUR01"
    for n in range(flows):
        number = f"B-{n:08d}"
        (inbox / f"{number}.xml").write_text(template.replace("F01-2026-000101", number))
    return settings
