"""Throughput of `run --once` on a backlog of single-invoice UBL flows.

Usage: .venv/bin/python bench/run_once.py [--flows N] [--no-fsync]
Prints flows and invoices per second for receive + process, and peak memory.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

import config
from edi_engine import db, home, partners, runner, structures


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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--flows", type=int, default=500)
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = prepare(Path(tmp) / "home", args.flows, not args.no_fsync)
        start = time.perf_counter()
        report = runner.run_once(settings)
        elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{len(report.processed)} flows in {elapsed:.2f}s: "
        f"{len(report.processed) / elapsed:.0f} flows/s (1 invoice each), "
        f"fsync={'off' if args.no_fsync else 'on'}, peak RSS {peak:.0f} MiB"
    )


if __name__ == "__main__":
    main()
