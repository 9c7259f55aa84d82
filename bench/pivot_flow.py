"""One pivot flow carrying many invoices: throughput and peak memory of `run --once`.

Usage: .venv/bin/python bench/pivot_flow.py [--invoices N] [--no-fsync]
"""

from __future__ import annotations

import argparse
import dataclasses
import resource
import tempfile
import time
from pathlib import Path

from lxml import etree

import config
from edi_engine import runner
from pivot_format import pivot
from run_once import prepare


def write_flow(inbox: Path, invoices: int) -> None:
    root = etree.parse(str(config.path("demo/pivot-multi.xml"))).getroot()
    first = pivot.read_invoice(next(pivot.invoice_elements(root)))
    envelope = pivot.read_envelope(root)
    batch = [dataclasses.replace(first, number=f"P-{n:09d}") for n in range(invoices)]
    (inbox / "big-pivot.xml").write_bytes(pivot.write_pivot(batch, envelope))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--no-fsync", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        settings = prepare(Path(tmp) / "home", 0, not args.no_fsync)
        write_flow(settings.inbox / "FOUR01", args.invoices)
        size = (settings.inbox / "FOUR01" / "big-pivot.xml").stat().st_size
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        runner.run_once(settings)
        elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"{args.invoices} invoices ({size / 1e6:.1f} MB) in {elapsed:.2f}s: "
        f"{args.invoices / elapsed:.0f} invoices/s, fsync={'off' if args.no_fsync else 'on'}, "
        f"peak RSS {peak:.0f} MiB (before the run {before:.0f} MiB)"
    )


if __name__ == "__main__":
    main()
