"""Two ceilings no engine run can pass on this machine, measured on the same files.

- **work**: the engine's own work on each invoice, in one process, with nothing recorded
  and nothing written, and without the official business rules (`python -m bench --rules
  on,off` measures what they add): parse and XSD-validate the file (the floor), read the
  invoice into the engine's model, build its pivot, check it against our schema and
  serialise it. A run does at least this for every invoice, then its controls, its CR and
  its ledger.
- **files**: the file operations the safety rules ask of each flow, with nothing else:
  copy the file into the archive (written, made durable by one barrier per batch,
  renamed to its content's name, a second barrier), remove it from the inbox, stage its
  pivot and its CR, one barrier, publish both by a rename, batched as the group commit
  batches them, through the engine's own barrier (connectors/durable.py). One writer per
  host does these: it can never go faster than this, whatever its workers do.

`python -m bench.ceiling` (2,000 one-invoice UBL flows of 20 lines by default: the
shape of the first measurement) prints both with the floor; see docs/performance.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from connectors import durable
from edi_engine.delivery import outputs
from edi_engine.ledger import home
from edi_engine.reception import archive, documents, reading, validation
from edi_engine.reception.identify import PIVOT
from pivot_format import pivot
from pivot_format.cpp import to_bytes

from . import floor
from .__main__ import _lines, _mix, _positive
from .generate import Corpus, Options, generate

GROUP = 50  # flows per group commit (edi_engine/processing/runner.py, GROUP_FLOWS)
CR_BYTES = 2_000  # about the size of a one-invoice flow's CR


def work(corpus: Corpus, root: Path) -> float:
    """Seconds the engine's own work on every invoice takes, one process."""
    settings, _ = home.init(root / "home")
    settings = settings.for_rules(())  # the engine's own work; the rules: bench --rules
    envelope = outputs.envelope(settings, "FL0000000001", "DEST01")
    contents = [(flow.path.name, flow.path.read_bytes()) for flow in corpus.flows]
    for name, content in contents[:3]:  # every schema compiled, as a running engine has
        list(_pivots(documents.document(name, content, settings), settings, envelope))
    start = time.perf_counter()
    for name, content in contents:
        for _ in _pivots(documents.document(name, content, settings), settings, envelope):
            pass
    return time.perf_counter() - start


def _pivots(document: documents.Document, settings, envelope) -> Iterator[bytes]:
    if not document.valid:
        raise floor.InvalidFlow(f"{document.name} is not valid")
    for read in reading.invoices(document, settings.limits):
        tree = pivot.pivot_tree([read.invoice], envelope)
        if validation.check_tree(PIVOT, tree):
            raise floor.InvalidFlow(f"the pivot of {document.name} is not valid")
        yield to_bytes(tree)


def files(corpus: Corpus, root: Path) -> float:
    """Seconds the file operations of every flow take, a group of flows at a time."""
    inbox, store = root / "inbox", root / "archive"
    staging, outbox = root / "run" / "outgoing", root / "outbox"
    for folder in (inbox, store / archive.TEMP, staging, outbox / "DEST01", outbox / "FOUR01"):
        folder.mkdir(parents=True)
    for flow in corpus.flows:
        shutil.copyfile(flow.path, inbox / flow.path.name)
    os.sync()  # the copies above are not the run's to wait for
    names = sorted(os.listdir(inbox))
    sizes = {flow.path.name: flow.bytes for flow in corpus.flows}
    start = time.perf_counter()
    for at in range(0, len(names), GROUP):
        group = names[at : at + GROUP]
        with archive.Batch(store) as batch:  # the intake, as edi_engine/reception/intake.py does it
            archive.in_parallel(lambda name: archive.store(store, inbox / name, into=batch), group)
            batch.place()
        archive.in_parallel(lambda name: (inbox / name).unlink(), group)
        durable.sync([inbox])
        staged = []  # the group commit: a pivot and a CR a flow, one barrier, published
        for name in group:
            for kind, size, partner in (
                ("PIVOT", sizes[name], "DEST01"),
                ("CR", CR_BYTES, "FOUR01"),
            ):
                path = staging / f"{kind}_{name}"
                with open(path, "xb") as handle:
                    handle.write(b"x" * size)  # a pivot about the size of its invoice
                staged.append((path, outbox / partner))
        durable.sync([path for path, _ in staged])
        for path, folder in staged:
            os.replace(path, folder / path.name)
        durable.sync([folder for _, folder in staged[:2]])
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.ceiling", description=__doc__)
    p.add_argument("--invoices", type=_positive, default=2000, metavar="N")
    p.add_argument("--mix", type=_mix, default="ubl=100", metavar="KIND=WEIGHT,...")
    p.add_argument("--lines", type=_lines, default="20-20", metavar="MIN-MAX")
    p.add_argument("--work-dir", type=Path, metavar="DIR", help="on the file system measured")
    args = p.parse_args(argv)
    options = Options(invoices=args.invoices, mix=args.mix, lines=args.lines, attachments=0)
    with tempfile.TemporaryDirectory(prefix="edi-ceiling-", dir=args.work_dir) as folder:
        root = Path(folder)
        corpus = generate(root / "flows", options)
        measured = {
            "floor (parse + XSD)": floor.measure(corpus).seconds,
            "work (floor + read, pivot, check)": work(corpus, root),
            "files (archive, inbox, 2 outputs)": files(corpus, root / "files"),
        }
    flows = len(corpus.flows)
    print(f"{corpus.invoices} invoices in {flows} flows")
    for what, seconds in measured.items():
        per = flows if what.startswith("files") else corpus.invoices
        unit = "flows" if what.startswith("files") else "invoices"
        print(f"{what:36s} {seconds * 1000 / per:7.3f} ms  {per / seconds:9,.0f} {unit}/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
