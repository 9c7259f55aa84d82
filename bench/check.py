"""`python -m bench.check --flows N`: how long `edi-engine check` takes on a home of N flows,
and how much memory, measured (docs/reliability.md#how-fast-and-how-much-memory).

The home is built quickly, not by running the engine on each flow: its ledger rows are
written by bulk INSERTs, as a run would have left them (a UBL flow of one invoice each,
IN_INTEGRE, its CR and its pivot delivered to local partners, the invoice made available,
a status flow written to the supplier every ten flows to tell it so, the monthly counters
that count them), and each flow gets a small original of its own in the archive. A share
of the outputs is left in the outboxes (the rest were taken by their partners), so that
the check hashes files there too. The home is sound: the check must say so, or the bench
fails.

Then `edi-engine check --json` runs as a process, its time taken from start to exit and
its resident memory sampled (bench/memory.py). Several sizes (`--flows 10000,100000`)
show whether the time per flow and the memory stay flat as the home grows: the check
reads the ledger a page at a time, each page and each row it looks up found through an
index (never by reading again what came before: a query that did made a million flows
take hours), and walks folders with os.scandir, so they should.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, update
from sqlalchemy.orm import Session

from edi_engine import settings
from edi_engine.ledger import counters, db, home
from edi_engine.ledger.models import (
    Flow,
    FlowEvent,
    FlowNumber,
    Invoice,
    InvoiceEvent,
    MonthlyCounter,
    Output,
    Partner,
    StatusFlow,
    Structure,
)
from edi_engine.reception import archive

from .engine import command
from .memory import TreeMemory

SUPPLIER, RECIPIENT = "FOUR01", "DEST01"
SIRET = "21990101400015"
BATCH = 5000  # rows per INSERT statement group
MONTHS = 12  # the flows are spread over this many months before now
TOLD = 10  # flows whose invoices one status flow tells of (BATCH is a multiple of it)


EXAMPLES = """examples:
  python -m bench.check --flows 10000,100000     two homes, built then removed
  python -m bench.check --flows 200000 --keep /tmp/c200   build once, keep it
  python -m bench.check --flows 200000 --keep /tmp/c200   check the kept home again
"""


class BenchFailed(Exception):
    pass


@dataclass(frozen=True)
class Measured:
    flows: int
    files: int  # archived originals and outputs left in the outboxes
    build_seconds: float
    check_seconds: float
    cpu_seconds: float
    flows_per_second: float
    us_per_flow: float  # check's wall time per flow, in microseconds: flat if linear
    peak_rss_mib: float
    checked: dict[str, int]


def build(root: Path, flows: int, present: float) -> settings.Settings:
    """A sound home of `flows` flows at `root` (SQLite)."""
    loaded, _ = home.init(root)
    url = loaded.database_url
    now = datetime.now(UTC)
    with db.session_scope(url) as session:
        session.execute(
            insert(Partner),
            [
                {"code": code, "name": code, "channel": "local", "created_at": now}
                for code in (SUPPLIER, RECIPIENT)
            ],
        )
        session.execute(
            insert(Structure),
            [{"siret": SIRET, "designation": "Valbrune", "active": True,
              "partner_code": RECIPIENT, "updated_at": now}],
        )  # fmt: skip
        for folder in (loaded.outbox / SUPPLIER, loaded.outbox / RECIPIENT):
            folder.mkdir(parents=True, exist_ok=True)
        counted: Counter[tuple[str, str, str, str]] = Counter()
        every = max(1, round(1 / present)) if present > 0 else 0
        for start in range(1, flows + 1, BATCH):
            numbers = range(start, min(start + BATCH, flows + 1))
            _batch(session, loaded, numbers, flows, now, every, counted)
            session.commit()
        rows: dict[tuple[str, str, str], dict[str, int]] = {}
        for (month, partner, syntax, column), value in counted.items():
            rows.setdefault((month, partner, syntax), dict.fromkeys(counters.COLUMNS, 0))
            rows[(month, partner, syntax)][column] = value
        session.execute(
            insert(MonthlyCounter),
            [{"month": m, "partner_code": p, "syntax": s, **v} for (m, p, s), v in rows.items()],
        )
        session.execute(update(FlowNumber).where(FlowNumber.id == 1).values(last_number=flows))
        session.commit()
    return loaded


def _batch(
    session: Session,
    loaded: settings.Settings,
    numbers: range,
    flows: int,
    now: datetime,
    every: int,
    counted: Counter[tuple[str, str, str, str]],
) -> None:
    """The rows and files of the flows numbered `numbers`."""
    span = timedelta(days=30 * MONTHS)
    flow_rows, invoice_rows, output_rows, event_rows, flow_events = [], [], [], [], []
    status_rows = []
    for n in numbers:
        number = f"FL{n:010d}"
        received = now - span + span * n / (flows + 1)
        original = f'<Invoice id="{n}"><Note>bench flow {number}</Note></Invoice>\n'.encode()
        digest = hashlib.sha256(original).hexdigest()
        relative = archive.relative_path(digest)
        target = loaded.archive / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(original)
        flow_rows.append(
            {"id": n, "number": number, "partner_code": SUPPLIER, "file_name": f"f{n}.xml",
             "content_hash": digest, "size": len(original), "archive_path": relative,
             "syntax": "IN_DP_E1_UBL_INVOICE", "status": "IN_INTEGRE", "received_at": received,
             "updated_at": received, "invoice_count": 1, "rejected_count": 0, "attempts": 1}
        )  # fmt: skip
        flow_events.append(
            {"flow_id": n, "at": received, "status": "IN_INTEGRE", "actor": "bench",
             "detail": "1 invoice(s) integrated"}
        )  # fmt: skip
        pivot = f"PIVOT_{RECIPIENT}_{number}_1.xml"
        invoice_rows.append(
            {"id": n, "flow_id": n, "seq": 1, "number": f"B-{n}", "number_key": f"B-{n}",
             "supplier_id": "81234567600025", "recipient_siret": SIRET,
             "recipient_partner": RECIPIENT, "status": "MISE_A_DISPOSITION",
             "status_code": "03", "status_date": received, "pivot_file": pivot, "attempt": 1}
        )  # fmt: skip
        event_rows.append(
            {"invoice_id": n, "at": received, "produced_at": received,
             "status": "MISE_A_DISPOSITION", "status_code": "03", "actor": "engine",
             "detail": f"pivot {pivot} published to partner {RECIPIENT}",
             "recipient_siret": SIRET, "to_supplier": True,
             "emitted_in": _told_in(n, flows)}
        )  # fmt: skip
        month = counters.month_of(received, loaded.zone)
        counted[(month, SUPPLIER, "IN_DP_E1_UBL_INVOICE", "inbound_flows")] += 1
        counted[(month, SUPPLIER, "IN_DP_E1_UBL_INVOICE", "invoices_received")] += 1
        counted[(month, SUPPLIER, "IN_DP_E1_UBL_INVOICE", "invoices_accepted")] += 1
        written = [
            ("CR", SUPPLIER, f"CR_{SUPPLIER}_{number}.xml", n),
            ("PIVOT", RECIPIENT, pivot, n),
        ]
        if n % TOLD == 0:  # the status flow that tells of this flow and the nine before
            sequence = n // TOLD
            name = f"STATUT_{SUPPLIER}_{sequence}.xml"
            status_rows.append(
                {"id": sequence, "partner_code": SUPPLIER, "sequence": sequence,
                 "file_name": name, "created_at": received, "written_at": received,
                 "changes": TOLD}
            )  # fmt: skip
            written.append(("STATUT", SUPPLIER, name, sequence))
        for kind, partner, name, nth in written:
            content = f"<{kind}>{number}</{kind}>\n".encode()
            output_rows.append(
                {"flow_id": None if kind == "STATUT" else n, "kind": kind,
                 "partner_code": partner, "file_name": name,
                 "written_at": received, "published_at": received, "delivered_at": received,
                 "delivery_attempts": 0, "size": len(content),
                 "sha256": hashlib.sha256(content).hexdigest()}
            )  # fmt: skip
            counted[(month, partner, kind, "outbound_flows")] += 1
            if every and nth % every == 0:  # not yet taken by its partner
                (loaded.outbox / partner / name).write_bytes(content)
    for table, rows in (
        (Flow, flow_rows),
        (FlowEvent, flow_events),
        (Invoice, invoice_rows),
        (StatusFlow, status_rows),
        (InvoiceEvent, event_rows),
        (Output, output_rows),
    ):
        session.execute(insert(table), rows)


def _told_in(n: int, flows: int) -> int | None:
    """The status flow that told the supplier of flow `n`'s invoice (none yet for the
    last few, when `flows` is not a multiple of TOLD)."""
    sequence = (n + TOLD - 1) // TOLD
    return sequence if sequence * TOLD <= flows else None


def measure(loaded: settings.Settings) -> tuple[float, float, float, dict]:
    """`edi-engine check --json` as a process: seconds from start to exit, CPU seconds
    (user and system: what a loaded machine does not inflate), peak RSS in MiB, its JSON."""
    args = [*command(), "--home", str(loaded.home), "check", "--json"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    with tempfile.TemporaryFile() as output, tempfile.TemporaryFile() as errors:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdout=output, stderr=errors, env=env)
        memory = TreeMemory(child.pid).start()
        _, status, usage = os.wait4(child.pid, 0)
        seconds = time.perf_counter() - start
        memory.stop()
        child.returncode = os.waitstatus_to_exitcode(status)
        output.seek(0)
        errors.seek(0)
        said, told = output.read(), errors.read().decode(errors="replace")
    if child.returncode != 0:
        raise BenchFailed(f"check exited with {child.returncode}: {told[-2000:]}")
    found = json.loads(said)
    if not found["sound"]:
        raise BenchFailed(f"the home built is not sound: {found['problems'][:3]}")
    cpu = usage.ru_utime + usage.ru_stime
    return seconds, cpu, memory.peak_rss_kib / 1024, found["checked"]


def run(flows: int, present: float, keep: Path | None) -> Measured:
    """Build a home of `flows` flows (in `keep`, kept, or in a temporary folder) and check
    it; a home already built in `keep` is checked again as it is."""
    root = Path(tempfile.mkdtemp(prefix=f"bench-check-{flows}-")) if keep is None else keep
    try:
        started = time.perf_counter()
        if keep is not None and (root / "home").exists():
            loaded, built = settings.load(root / "home"), 0.0
        else:
            loaded = build(root / "home", flows, present)
            built = time.perf_counter() - started
        seconds, cpu, rss, checked = measure(loaded)
    finally:
        if keep is None:
            shutil.rmtree(root, ignore_errors=True)
    flows = checked["flows"]
    files = checked["originals"] + checked["outbox_files"]
    return Measured(flows, files, round(built, 1), round(seconds, 2), round(cpu, 2),
                    round(flows / seconds), round(seconds / flows * 1e6, 1), round(rss, 1),
                    checked)  # fmt: skip


def _sizes(text: str) -> list[int]:
    try:
        sizes = [int(n.replace("_", "")) for n in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r}: expected numbers, e.g. 10000,100000") from None
    if not sizes or min(sizes) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: each size is 1 flow or more")
    return sizes


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m bench.check",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=EXAMPLES,
    )
    parser.add_argument(
        "--flows",
        type=_sizes,
        default=[100_000],
        metavar="N[,N…]",
        help="home sizes, comma-separated; one home each (default 100000)",
    )
    parser.add_argument(
        "--present",
        type=float,
        default=0.1,
        help="share of the outputs left in the outboxes, not yet taken (default 0.1)",
    )
    parser.add_argument(
        "--keep",
        type=Path,
        metavar="DIR",
        help="build the home in DIR/home and keep it (one size); when DIR/home exists, "
        "check it again without building (build s: 0)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON document on stdout")
    options = parser.parse_args(argv)
    sizes = options.flows
    if not 0 <= options.present <= 1:
        parser.error(f"--present {options.present}: a share, from 0 to 1")
    if options.keep is not None and len(sizes) > 1:
        parser.error("--keep keeps one home: give one size to --flows")
    results = []
    for flows in sizes:
        print(f"building a home of {flows} flows and checking it…", file=sys.stderr)
        try:
            results.append(run(flows, options.present, options.keep))
        except BenchFailed as exc:
            print(f"bench.check: {exc}", file=sys.stderr)
            return 1
    if options.json:
        print(json.dumps([asdict(r) for r in results], indent=2))
        return 0
    print(
        f"{'flows':>9} {'files':>9} {'build s':>8} {'check s':>8} {'CPU s':>7} "
        f"{'flows/s':>8} {'µs/flow':>8} {'peak MiB':>9}"
    )
    for r in results:
        print(
            f"{r.flows:>9} {r.files:>9} {r.build_seconds:>8} {r.check_seconds:>8} "
            f"{r.cpu_seconds:>7} {r.flows_per_second:>8} {r.us_per_flow:>8} {r.peak_rss_mib:>9}"
        )
    last = results[-1]
    million = 1_000_000 / last.flows * last.check_seconds / 60
    cpu = 1_000_000 / last.flows * last.cpu_seconds / 60
    print(
        f"a million flows, in proportion: about {million:.0f} minutes ({cpu:.0f} of CPU); "
        "the time grows with the flows, the memory does not"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
