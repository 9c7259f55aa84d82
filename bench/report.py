"""What one benchmark run found: one record per configuration, as a table or as JSON."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass
from pathlib import Path

from .engine import EngineRun
from .floor import Floor
from .generate import KINDS, Corpus

KIB_PER_MIB = 1024


@dataclass(frozen=True)
class Result:
    """One configuration. The first eight fields are the public JSON contract."""

    invoices: int
    bytes: int
    floor_invoices_per_s: float
    engine_invoices_per_s: float
    ratio_to_floor: float
    peak_rss_mb: float  # MiB: the largest sum of VmRSS over the engine's process tree
    workers: int
    database: str
    flows: int
    seconds: float
    floor_mb_per_s: float
    engine_mb_per_s: float
    peak_hwm_mb: float  # MiB: the sum of each process's own VmHWM
    processes: int
    fsync: bool
    warnings: int
    rules: bool  # the EN 16931 business rules checked ([rules] en16931)


def result(
    corpus: Corpus,
    floor: Floor,
    run: EngineRun,
    workers: int,
    database: str,
    fsync: bool,
    rules: bool = True,
) -> Result:
    engine_rate = corpus.invoices / run.seconds
    return Result(
        invoices=corpus.invoices,
        bytes=corpus.bytes,
        floor_invoices_per_s=round(floor.invoices_per_s, 1),
        engine_invoices_per_s=round(engine_rate, 1),
        ratio_to_floor=round(engine_rate / floor.invoices_per_s, 4),
        peak_rss_mb=round(run.peak_rss_kib / KIB_PER_MIB, 1),
        workers=workers,
        database=database,
        flows=run.flows,
        seconds=round(run.seconds, 3),
        floor_mb_per_s=round(floor.mb_per_s, 2),
        engine_mb_per_s=round(corpus.bytes / 1e6 / run.seconds, 2),
        peak_hwm_mb=round(run.peak_hwm_kib / KIB_PER_MIB, 1),
        processes=run.processes,
        fsync=fsync,
        warnings=run.warnings,
        rules=rules,
    )


def machine() -> dict[str, object]:
    """Cores, CPU model and memory, as the numbers only mean something with them."""
    model, memory = "unknown", 0
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory = int(line.split()[1]) // KIB_PER_MIB
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "memory_mb": memory}


def document(
    corpus: Corpus, floor: Floor, results: list[Result], skipped: list[dict], settings: dict
) -> dict[str, object]:
    """The --json document: ``runs`` holds one record per configuration measured."""
    return {
        "machine": machine(),
        "corpus": {
            "invoices": corpus.invoices,
            "flows": len(corpus.flows),
            "bytes": corpus.bytes,
            **{kind: _kind(corpus, kind) for kind in KINDS},
            **settings,
        },
        "floor": {
            "seconds": round(floor.seconds, 3),
            "invoices_per_s": round(floor.invoices_per_s, 1),
            "mb_per_s": round(floor.mb_per_s, 2),
        },
        "runs": [asdict(r) for r in results],
        "skipped": skipped,
    }


def _kind(corpus: Corpus, kind: str) -> dict[str, int]:
    flows, invoices = corpus.count(kind)
    return {"flows": flows, "invoices": invoices}


COLUMNS = (
    ("database", "<"),
    ("workers", ">"),
    ("rules", "<"),
    ("seconds", ">"),
    ("invoices/s", ">"),
    ("MB/s", ">"),
    ("floor inv/s", ">"),
    ("engine/floor", ">"),
    ("peak RSS MiB", ">"),
    ("sum HWM MiB", ">"),
)


def table(corpus: Corpus, floor: Floor, results: list[Result]) -> str:
    """Plain aligned text: the same in a terminal, a pipe or a CI log."""
    rows = [
        (
            r.database,
            str(r.workers),
            "on" if r.rules else "off",
            f"{r.seconds:.2f}",
            f"{r.engine_invoices_per_s:,.0f}",
            f"{r.engine_mb_per_s:.1f}",
            f"{r.floor_invoices_per_s:,.0f}",
            f"{r.ratio_to_floor:.1%}",
            f"{r.peak_rss_mb:.0f}",
            f"{r.peak_hwm_mb:.0f}",
        )
        for r in results
    ]
    widths = [
        max([len(name), *(len(row[i]) for row in rows)]) for i, (name, _) in enumerate(COLUMNS)
    ]

    def line(cells: tuple[str, ...]) -> str:
        return "  ".join(
            f"{cell:{align}{width}}"
            for cell, (_, align), width in zip(cells, COLUMNS, widths, strict=True)
        ).rstrip()

    head = (
        f"{corpus.invoices} invoices in {len(corpus.flows)} flows, {corpus.bytes / 1e6:.1f} MB\n"
        f"floor (lxml parse + XSD, one process): {floor.seconds:.2f} s, "
        f"{floor.invoices_per_s:,.0f} invoices/s, {floor.mb_per_s:.1f} MB/s\n"
        "engine (edi-engine run --once, from start to exit):"
    )
    return "\n".join([head, line(tuple(name for name, _ in COLUMNS)), *map(line, rows)])
