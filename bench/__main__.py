"""`python -m bench`: generate flows, measure the floor, then the engine on the same files.

See docs/performance.md for what each number means. Progress goes to stderr, so that
`--json` prints one JSON document alone on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

from . import engine, floor, report
from .generate import KINDS, Corpus, Options, generate

DATABASES = ("sqlite", "postgresql")
RULES = {"on": True, "off": False}
EXAMPLE = "--invoices 5000 --mix ubl=60,cii=30,pivot=10 --lines 1-200"


def _mix(text: str) -> dict[str, int]:
    mix: dict[str, int] = {}
    for part in text.split(","):
        kind, _, weight = part.partition("=")
        kind = kind.strip().lower()
        if kind not in KINDS or not weight.strip().isdigit():
            raise argparse.ArgumentTypeError(f"{part!r}: expected KIND=WEIGHT, KIND in {KINDS}")
        mix[kind] = int(weight)
    if not sum(mix.values()):
        raise argparse.ArgumentTypeError("the weights add up to 0")
    return mix


def _lines(text: str) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        bounds = int(low), int(high or low)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected MIN-MAX, e.g. 1-200") from None
    if not 1 <= bounds[0] <= bounds[1]:
        raise argparse.ArgumentTypeError(f"{text!r}: expected 1 <= MIN <= MAX")
    return bounds


def _share(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a share between 0 and 1")
    return value


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a whole number >= 1")
    return value


def _databases(text: str) -> list[str]:
    found = [d.strip().lower() for d in text.split(",") if d.strip()]
    wrong = [d for d in found if d not in DATABASES]
    if wrong or not found:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a list of {', '.join(DATABASES)}")
    return list(dict.fromkeys(found))


def _workers(text: str) -> list[int]:
    found = []
    for part in text.split(","):
        part = part.strip().lower()
        if part == "all":
            found.append(os.cpu_count() or 1)
        elif part.isdigit() and int(part) >= 1:
            found.append(int(part))
        else:
            raise argparse.ArgumentTypeError(f"{part!r}: expected a number >= 1 or 'all'")
    return list(dict.fromkeys(found))


def _rules(text: str) -> list[bool]:
    """on, off or both: whether the engine checks the EN 16931 rules ([rules] en16931)."""
    found = [part.strip().lower() for part in text.split(",")]
    wrong = [part for part in found if part not in RULES]
    if wrong or not found:
        raise argparse.ArgumentTypeError(f"{text!r}: expected a list of on, off")
    return [RULES[part] for part in dict.fromkeys(found)]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Generate realistic flows (UBL 2.1, CII D16B / Factur-X, pivot), then "
        "measure on the same files the floor (lxml parsing and XSD-validating each file, "
        "one process) and `edi-engine run --once` from inbox to pivots, CRs and ledger, "
        "for each database, number of workers and rules setting. Fails unless every flow "
        "ends IN_INTEGRE with one pivot per invoice. The benchmark is not a test: see "
        "docs/performance.md.",
        epilog=f"Example: python -m bench {EXAMPLE} --attachments 0.1 --pivot-batch 50",
    )
    p.add_argument(
        "--invoices", type=_positive, metavar="N", default=5000, help="invoices in all (5000)"
    )
    p.add_argument(
        "--mix",
        type=_mix,
        metavar="KIND=WEIGHT,...",
        default="ubl=60,cii=30,pivot=10",
        help="share of invoices per kind (ubl=60,cii=30,pivot=10); UBL and "
        "CII flows carry one invoice each, pivot flows --pivot-batch each",
    )
    p.add_argument(
        "--lines",
        type=_lines,
        metavar="MIN-MAX",
        default="1-200",
        help="lines per invoice, drawn log-uniformly: most invoices short (1-200)",
    )
    p.add_argument(
        "--attachments",
        type=_share,
        metavar="SHARE",
        default=0.1,
        help="share of invoices carrying an embedded PDF of 20 to 200 KiB (0.1)",
    )
    p.add_argument(
        "--pivot-batch",
        type=_positive,
        metavar="N",
        default=50,
        help="invoices per pivot flow (50)",
    )
    p.add_argument("--seed", type=int, metavar="N", default=1, help="the generator's seed (1)")
    p.add_argument(
        "--database",
        type=_databases,
        metavar="LIST",
        default="sqlite,postgresql",
        help="ledgers to measure (sqlite,postgresql); PostgreSQL: a database created for "
        "the run on 127.0.0.1:5432 as user postgres, dropped afterwards; skipped, saying "
        "so, when unreachable",
    )
    p.add_argument(
        "--workers",
        type=_workers,
        metavar="LIST",
        default="1,all",
        help="worker counts to measure, numbers or 'all' = one per core (1,all)",
    )
    p.add_argument(
        "--rules",
        type=_rules,
        metavar="LIST",
        default="on",
        help="measure each configuration with the EN 16931 business rules on, off or both "
        "(on,off); on is the engine's default (on)",
    )
    p.add_argument(
        "--no-fsync", action="store_true", help="run the engine with processing.fsync off"
    )
    p.add_argument(
        "--pg-admin",
        default=engine.PG_ADMIN,
        metavar="DSN",
        help="libpq connection string used to create and drop the run's database "
        f"({engine.PG_ADMIN!r})",
    )
    p.add_argument(
        "--work-dir",
        type=Path,
        metavar="DIR",
        help="keep the generated flows and the homes in DIR (default: a temporary folder "
        "removed at the end)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON document on stdout")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    options = Options(
        invoices=args.invoices,
        mix=args.mix,
        lines=args.lines,
        attachments=args.attachments,
        pivot_batch=args.pivot_batch,
        seed=args.seed,
    )
    with ExitStack() as stack:
        if args.work_dir is None:
            work = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="edi-bench-")))
        else:
            work = args.work_dir.resolve()
            work.mkdir(parents=True, exist_ok=True)
        try:
            return _bench(args, options, work)
        except (engine.BenchFailed, floor.InvalidFlow) as exc:
            _say(f"bench failed: {exc}")
            return 1


def _say(text: str) -> None:
    """Progress and failures on stderr: stdout holds the table or the JSON alone."""
    print(text, file=sys.stderr, flush=True)


def _bench(args: argparse.Namespace, options: Options, work: Path) -> int:
    start = time.perf_counter()
    shutil.rmtree(work / "flows", ignore_errors=True)  # a --work-dir used before
    corpus = generate(work / "flows", options)
    kinds = ", ".join(
        f"{kind} {flows} flows/{invoices} invoices"
        for kind in KINDS
        for flows, invoices in [corpus.count(kind)]
        if flows
    )
    _say(
        f"generated {corpus.invoices} invoices in {len(corpus.flows)} flows "
        f"({corpus.bytes / 1e6:.1f} MB; {kinds}) in {time.perf_counter() - start:.1f} s"
    )
    measured_floor = floor.measure(corpus)
    _say(f"floor: {measured_floor.invoices_per_s:,.0f} invoices/s")
    workers, skipped = _worker_counts(args.workers, args.database, args.rules)
    results: list[report.Result] = []
    fsync = not args.no_fsync
    configurations = [(count, rules) for count in workers for rules in args.rules]
    for database in args.database:
        for count, rules in configurations:
            root = work / _home_name(database, count, rules)
            shutil.rmtree(root, ignore_errors=True)  # every run starts from a new home
            try:
                run = _measure(database, root, corpus, count, rules, fsync, args.pg_admin)
            except engine.Unreachable as exc:
                reason = f"PostgreSQL unreachable ({exc})"
                _say(f"{reason}: the PostgreSQL measurements are skipped")
                skipped += [
                    {"database": database, "workers": n, "rules": r, "reason": reason}
                    for n, r in configurations
                ]
                break
            finally:
                if args.work_dir is None:
                    shutil.rmtree(root, ignore_errors=True)
            line = report.result(corpus, measured_floor, run, count, database, fsync, rules)
            _say(
                f"{database}, {count} worker(s), rules {'on' if rules else 'off'}: "
                f"{line.engine_invoices_per_s:,.0f} invoices/s, "
                f"peak RSS {line.peak_rss_mb:.0f} MiB"
            )
            results.append(line)
    if args.json:
        settings = {
            "mix": options.mix,
            "lines": list(options.lines),
            "attachments": options.attachments,
            "pivot_batch": options.pivot_batch,
            "seed": options.seed,
            "fsync": fsync,
        }
        doc = report.document(corpus, measured_floor, results, skipped, settings)
        print(json.dumps(doc, indent=2))
    else:
        print(report.table(corpus, measured_floor, results))
        for skip in skipped:
            print(f"skipped: {skip['database']}, {skip['workers']} worker(s): {skip['reason']}")
    return 0


def _worker_counts(
    wanted: list[int], databases: list[str], rules: list[bool]
) -> tuple[list[int], list[dict]]:
    """The worker counts this engine can run; more than one needs `run --workers`."""
    if all(n == 1 for n in wanted) or engine.has_workers_option():
        return wanted, []
    reason = "this engine's `run` has no --workers"
    _say(f"{reason}: the multi-worker measurement is skipped")
    skipped = [
        {"database": d, "workers": n, "rules": r, "reason": reason}
        for d in databases
        for n in wanted
        if n != 1
        for r in rules
    ]
    return [n for n in wanted if n == 1], skipped


def _home_name(database: str, workers: int, rules: bool) -> str:
    """home-sqlite-2 for the engine's default (rules on), home-sqlite-2-rules-off."""
    return f"home-{database}-{workers}" + ("" if rules else "-rules-off")


def _measure(
    database: str, root: Path, corpus: Corpus, workers: int, rules: bool, fsync: bool, admin: str
) -> engine.EngineRun:
    if database == "sqlite":
        settings = engine.prepare(root, corpus, None)
        return engine.run(settings, corpus, workers, fsync, rules)
    with engine.postgresql_database(admin) as url:
        settings = engine.prepare(root, corpus, url)
        return engine.run(settings, corpus, workers, fsync, rules)


if __name__ == "__main__":
    sys.exit(main())
