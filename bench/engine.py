"""The engine's measure: the real `edi-engine run --once` in a child process, on a fresh
home holding a copy of the corpus, then a check that it accepted every invoice.

The home is what an operator would set up: `edi-engine init`, an operator partner FOUR01
depositing for any supplier, the recipient system DEST01 and the demo's structures. On
PostgreSQL the ledger is a database created for the run and dropped afterwards.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func, select

import config
from edi_engine.controls import structures
from edi_engine.ledger import db, home, models
from edi_engine.ledger.states import FlowState
from edi_engine.partners import registry as partners
from edi_engine.settings import Settings

from .generate import DEPOSITOR, Corpus
from .memory import TreeMemory

RECIPIENT = "DEST01"
PG_ADMIN = "host=127.0.0.1 port=5432 user=postgres dbname=test connect_timeout=3"
TAIL = 2000  # characters of the engine's output shown when it fails


class BenchFailed(Exception):
    """The engine did not accept every generated invoice, or did not run at all."""


@dataclass(frozen=True)
class EngineRun:
    seconds: float
    peak_rss_kib: int
    peak_hwm_kib: int
    processes: int
    flows: int
    invoices: int
    pivots: int
    warnings: int


def command() -> list[str]:
    """The installed `edi-engine` next to this interpreter, else its entry point run by it."""
    script = Path(sys.executable).with_name("edi-engine")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-c", "from cli import main; main()"]


def has_workers_option() -> bool:
    """Whether this engine's `run` takes --workers (it is being built)."""
    shown = subprocess.run(
        [*command(), "run", "--help"], capture_output=True, text=True, check=True
    ).stdout
    return "--workers" in shown


def prepare(root: Path, corpus: Corpus, database_url: str | None) -> Settings:
    """A new home at ``root`` (ledger at ``database_url``, else SQLite in the home) with
    the corpus copied into FOUR01's inbox."""
    previous = os.environ.pop(home.URL_VARIABLE, None)
    if database_url is not None:
        os.environ[home.URL_VARIABLE] = database_url
    try:
        settings, _ = home.init(root)
    finally:
        os.environ.pop(home.URL_VARIABLE, None)
        if previous is not None:
            os.environ[home.URL_VARIABLE] = previous
    with db.session_scope(settings.database_url) as session:
        for code in (DEPOSITOR, RECIPIENT):
            # an operator deposits for any supplier: every generated seller is accepted
            partners.add(settings, session, code, code, operator=True)
        session.commit()
        structures.import_csv(session, config.path("demo/structures.csv"))
        session.commit()
    inbox = settings.inbox / DEPOSITOR
    for flow in corpus.flows:
        shutil.copyfile(flow.path, inbox / flow.path.name)
    return settings


def run(
    settings: Settings, corpus: Corpus, workers: int, fsync: bool, rules: bool = True
) -> EngineRun:
    """Time `run --once` from start to exit, sampling its process tree's memory; then
    check that every flow is IN_INTEGRE with one pivot per invoice. ``rules``: the
    EN 16931 business rules on (the engine's default) or off."""
    args = [*command(), "--home", str(settings.home), "run", "--once"]
    if workers != 1:
        args += ["--workers", str(workers)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    env["EDI_ENGINE_PICKUP_STABLE_SECONDS"] = "0"
    env["EDI_ENGINE_PROCESSING_FSYNC"] = "true" if fsync else "false"
    env["EDI_ENGINE_RULES_EN16931"] = "true" if rules else "false"
    log = settings.home / "bench-run.log"
    with open(log, "wb") as output:
        start = time.perf_counter()
        child = subprocess.Popen(args, stdout=output, stderr=subprocess.STDOUT, env=env)
        memory = TreeMemory(child.pid).start()
        code = child.wait()
        seconds = time.perf_counter() - start
        memory.stop()
    if code != 0:
        raise BenchFailed(f"`{' '.join(args[-4:])}` exited with {code}:\n{_tail(log)}")
    flows, invoices, warnings = _ledger(settings, corpus)
    pivots = _files(settings.outbox / RECIPIENT)
    if pivots != corpus.invoices:
        raise BenchFailed(f"{pivots} pivots in outbox/{RECIPIENT} for {corpus.invoices} invoices")
    return EngineRun(
        seconds,
        memory.peak_rss_kib,
        memory.peak_hwm_kib,
        memory.processes,
        flows,
        invoices,
        pivots,
        warnings,
    )


def _ledger(settings: Settings, corpus: Corpus) -> tuple[int, int, int]:
    """Flows, invoices and warnings the ledger holds; BenchFailed unless every flow of the
    corpus is IN_INTEGRE and every invoice is there."""
    with db.session_scope(settings.database_url, write=False) as session:
        states = dict(
            session.execute(select(models.Flow.status, func.count()).group_by(models.Flow.status))
            .tuples()
            .all()
        )
        invoices = session.scalar(select(func.count()).select_from(models.Invoice)) or 0
        findings = session.execute(
            select(models.FlowError.severity, models.FlowError.code, models.FlowError.message)
        ).all()
    integrated = states.get(FlowState.IN_INTEGRE, 0)
    if integrated != len(corpus.flows) or sum(states.values()) != len(corpus.flows):
        shown = "; ".join(f"{code}: {message[:200]}" for _, code, message in findings[:5])
        raise BenchFailed(
            f"{len(corpus.flows)} flows generated, the ledger has {states}; first findings: "
            f"{shown or 'none'}"
        )
    if invoices != corpus.invoices:
        raise BenchFailed(f"{corpus.invoices} invoices generated, the ledger has {invoices}")
    return integrated, invoices, sum(1 for severity, _, _ in findings if severity == "warn")


def _files(folder: Path) -> int:
    return sum(1 for p in folder.iterdir() if p.is_file()) if folder.is_dir() else 0


def _tail(log: Path) -> str:
    text = log.read_text(errors="replace")
    return text[-TAIL:]


class Unreachable(Exception):
    """No PostgreSQL server answers where the benchmark looks for one."""


@contextmanager
def postgresql_database(admin: str = PG_ADMIN) -> Iterator[str]:
    """The URL of a database created for one run, dropped afterwards (with its sessions)."""
    try:
        import psycopg
    except ImportError as exc:
        raise Unreachable("psycopg is not installed") from exc
    try:
        connection = psycopg.connect(admin, autocommit=True)
    except psycopg.OperationalError as exc:
        raise Unreachable(str(exc).strip().splitlines()[0]) from exc
    name = f"edi_bench_{uuid.uuid4().hex[:10]}"
    info = connection.info
    url = f"postgresql+psycopg://{info.user}@{info.host}:{info.port}/{name}"
    with connection:
        connection.execute(f"CREATE DATABASE {name}")
        try:
            yield url
        finally:
            db.engine_for(url).dispose()
            connection.execute(f"DROP DATABASE {name} WITH (FORCE)")
