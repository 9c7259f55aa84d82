"""One pivot flow carrying many invoices: throughput and peak memory of `run --once`.

Usage: .venv/bin/python bench/pivot_flow.py [--invoices N] [--no-fsync] [--stream-bytes B]
The flow is written piece by piece, so the peak memory printed is the engine's.
"""

from __future__ import annotations

import argparse
import os
import resource
import tempfile
import time
from pathlib import Path

from run_once import prepare

import config
from edi_engine import runner

UNIT_START, UNIT_END = b"<CPPFacturePivotUnitaire", b"</CPPFacturePivotUnitaire>"


def write_flow(target: Path, invoices: int) -> None:
    """The demo's first invoice repeated under new numbers, inside the demo's envelope."""
    sample = config.path("demo/pivot-multi.xml").read_bytes()
    start, end = sample.index(UNIT_START), sample.index(UNIT_END) + len(UNIT_END)
    head = sample[:start].replace(b'Compteur="3"', f'Compteur="{invoices}"'.encode())
    unit, tail = sample[start:end], sample[sample.rindex(UNIT_END) + len(UNIT_END) :]
    with open(target, "wb") as out:
        out.write(head)
        for n in range(invoices):
            out.write(unit.replace(b"F02-2026-000502", f"P-{n:09d}".encode()))
        out.write(tail)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--no-fsync", action="store_true")
    parser.add_argument("--stream-bytes", type=int, default=None)
    args = parser.parse_args()
    if args.stream_bytes is not None:
        os.environ["EDI_ENGINE_LIMITS_STREAM_BYTES"] = str(args.stream_bytes)
    os.environ["EDI_ENGINE_LIMITS_MAX_FILE_BYTES"] = str(10**10)
    with tempfile.TemporaryDirectory() as tmp:
        settings = prepare(Path(tmp) / "home", 0, not args.no_fsync)
        flow = settings.inbox / "FOUR01" / "big-pivot.xml"
        write_flow(flow, args.invoices)
        size = flow.stat().st_size
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        start = time.perf_counter()
        report = runner.run_once(settings)
        elapsed = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    mode = "streamed" if size >= settings.limits.stream_bytes else "whole tree"
    print(
        f"{args.invoices} invoices ({size / 1e6:.1f} MB, {mode}) in {elapsed:.2f}s: "
        f"{args.invoices / elapsed:.0f} invoices/s, fsync={'off' if args.no_fsync else 'on'}, "
        f"peak RSS {peak:.0f} MiB (before the run {before:.0f} MiB), flows {report.processed}"
    )


if __name__ == "__main__":
    main()
