"""Outputs reach partners only after the commit that records them, exactly once
(docs/architecture.md#staging-and-publication).

`outputs.deliver` stages a file in run/outgoing/ and records it with `outputs.staged` set;
once the transaction commits, `publish` renames it into outbox/<PARTNER>/ and marks it
published. A crash between the two leaves a committed output staged: `finish` (at the
start of every run, and after every command that writes outputs) publishes it from what
the ledger says, and never twice: a staged file that is gone was renamed already.

Whatever a partner leaves in its own folder under an output's name (a folder, a link, a
pipe) holds back that output only: it stays staged, its row says why
(`delivery_error`), an invoice whose pivot it is is a delivery incident until it is
published, and every run tries again. Nothing there is read or followed, and no other
partner's flow is affected.
"""

from __future__ import annotations

import logging
import os
import threading
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors import local, outgoing

from . import clock, home, statuses_in
from .models import Invoice as InvoiceRow
from .models import InvoiceEvent, Output, Partner
from .settings import Settings, env_name
from .states import InvoiceState

log = logging.getLogger(__name__)
PIVOT = "PIVOT"
# an invoice whose pivot cannot be published: a transmission error, as a recipient's own
# acknowledgement 95 says; cleared once it is published
NOT_PUBLISHED = "95"
CHUNK = 500  # staged names per statement: SQLite bounds the parameters of one
STAGER = "edi_engine.stager"  # Session.info key: this process's staging folder
_publishing = threading.Lock()  # the daemon's jobs publish from threads of their own


@dataclass(frozen=True)
class Pending:
    """A committed output waiting to be published."""

    staged: str  # its file, relative to run/outgoing/
    partner: str
    name: str
    kind: str
    flow_id: int | None
    keep_as: str | None = None  # the earlier output under `name` is renamed so first
    attempts: int = 0  # refused so far


def root(settings: Settings) -> Path:
    return home.outgoing_dir(settings)


def stager(settings: Settings, session: Session) -> outgoing.Stager:
    """This process's staging folder; run/ checked against the outbox once per session."""
    if STAGER not in session.info:
        home.ensure_run(settings)
        session.info[STAGER] = outgoing.Stager.of(root(settings))
    return session.info[STAGER]


def referenced(session: Session, staged: list[str]) -> set[str]:
    """Which of these staged files a committed output refers to."""
    found: set[str] = set()
    for chunk in _chunks(staged):
        found.update(session.scalars(select(Output.staged).where(Output.staged.in_(chunk))))
    return found


def publish(settings: Settings, session: Session, pending: list[Pending]) -> None:
    """Rename committed outputs into their partners' folders, then mark them published.
    Never raises: what is left staged is published by the next `finish`."""
    if not pending:
        return
    with _publishing:
        try:
            _publish(settings, session, pending)
        except Exception:
            session.rollback()
            log.exception(
                "%d committed output(s) could not all be published now; the next run "
                "publishes them",
                len(pending),
            )


def _publish(settings: Settings, session: Session, pending: list[Pending]) -> None:
    done: list[Pending] = []
    refused: list[tuple[Pending, str]] = []
    folders: set[Path] = set()
    for output in pending:
        target = settings.outbox / output.partner / output.name
        try:
            result = outgoing.publish(root(settings) / output.staged, target, output.keep_as)
        except OSError as exc:  # the partner's folder unusable (mounted elsewhere, …)
            result = outgoing.Result(outgoing.Outcome.BLOCKED, _unusable(settings, output, exc))
        if result.outcome is outgoing.Outcome.BLOCKED:
            refused.append((output, result.why))
            continue
        if result.outcome is outgoing.Outcome.PUBLISHED:
            folders.add(target.parent)
        elif output.attempts == 0:
            log.info("%s/%s was published already, by a process that stopped before "
                     "recording it", output.partner, output.name)  # fmt: skip
        done.append(output)
    if settings.processing.fsync:  # the renames durable before the ledger says so
        for folder in folders:
            outgoing.sync_folder(folder)
    _published(session, done)
    for output, why in refused:
        _refused(session, output, why)
    session.commit()


def _unusable(settings: Settings, output: Pending, exc: OSError) -> str:
    where = f"{output.partner}/{output.name} could not be published"
    if isinstance(exc, local.ElsewhereError):  # a partner's folder mounted once started
        return (
            f"{where}: outbox/{output.partner} is on another file system than "
            f"{root(settings)}, so a file cannot be renamed into it; set [paths] run (or "
            f"{env_name('paths', 'run')}) to a folder on the outbox's file system, and keep "
            "partners' folders on it too"
        )
    return f"{where}: {exc.strerror or exc}"


def _published(session: Session, done: list[Pending]) -> None:
    at = clock.now()
    remote = set(
        session.scalars(
            select(Partner.code).where(
                Partner.code.in_({o.partner for o in done}), Partner.channel == "sftp"
            )
        )
    )
    # a local partner's file is delivered once in its folder; an SFTP partner's once uploaded
    for queued in (False, True):
        staged = [o.staged for o in done if (o.partner in remote) == queued]
        values = {"staged": None, "published_at": at, "delivery_error": None}
        if not queued:
            values["delivered_at"] = at
        for chunk in _chunks(staged):
            session.execute(update(Output).where(Output.staged.in_(chunk)).values(**values))
    for output in done:
        if output.kind == PIVOT and output.attempts:
            _available_again(session, output, output.partner not in remote, at)


def _refused(session: Session, output: Pending, why: str) -> None:
    log.warning(
        "partner %s: %s not published: %s; it is tried again at the next run",
        output.partner, output.name, why,
        extra={"partner": output.partner, "outcome": "not published"},
    )  # fmt: skip
    session.execute(
        update(Output)
        .where(Output.staged == output.staged)
        .values(delivery_error=why[:2000], delivery_attempts=Output.delivery_attempts + 1)
    )
    if output.kind == PIVOT and output.attempts == 0:
        _not_available(session, output, why)


def _invoices(session: Session, output: Pending) -> list[InvoiceRow]:
    """The invoices whose current pivot `output` is."""
    return list(
        session.scalars(
            select(InvoiceRow).where(
                InvoiceRow.flow_id == output.flow_id,
                InvoiceRow.recipient_partner == output.partner,
                InvoiceRow.pivot_file == output.name,
            )
        )
    )


def _not_available(session: Session, output: Pending, why: str) -> None:
    """Its invoice was recorded made available with the commit: it is not, yet. As after a
    recipient's 95, it goes back to EN_COURS_ACHEMINEMENT and is a delivery incident until
    the pivot is published. Its supplier is not told of the step back, and not told 03
    before it is true: a 03 no status flow carried yet waits for the publication."""
    at = clock.now()
    for invoice in _invoices(session, output):
        invoice.delivery_incident = invoice.delivery_incident or NOT_PUBLISHED
        if invoice.status != InvoiceState.MISE_A_DISPOSITION:
            continue
        session.execute(
            update(InvoiceEvent)
            .where(
                InvoiceEvent.invoice_id == invoice.id,
                InvoiceEvent.status == InvoiceState.MISE_A_DISPOSITION,
                InvoiceEvent.emitted_in.is_(None),
            )
            .values(to_supplier=False)
        )
        state = InvoiceState.EN_COURS_ACHEMINEMENT
        invoice.status, invoice.status_code, invoice.status_date = state, state.code, at
        detail = f"pivot {output.name} not published: {why}"
        session.add(
            statuses_in.event(invoice, state, state.code, "engine", detail, at, to_supplier=False)
        )


def _available_again(session: Session, output: Pending, local: bool, at: object) -> None:
    """A pivot held back is published at last: its invoice's incident is over, and it is
    made available (an SFTP partner's once uploaded)."""
    for invoice in _invoices(session, output):
        if invoice.delivery_incident != NOT_PUBLISHED:
            continue
        invoice.delivery_incident = None
        if local and invoice.status == InvoiceState.EN_COURS_ACHEMINEMENT:
            detail = f"pivot {output.name} published to partner {output.partner}"
            statuses_in.record(session, invoice, InvoiceState.MISE_A_DISPOSITION, "engine",
                               detail, at=at)  # fmt: skip


def finish(settings: Settings, session: Session) -> None:
    """Publish the committed outputs left staged: by a process that stopped between its
    commit and its publication, or held back by what a partner left under their names.
    A live process's folder is left to it; a dead one's is tidied: what it staged for a
    transaction that never committed is removed, once older than a lease."""
    top = root(settings)
    top.mkdir(parents=True, exist_ok=True)
    waiting = _waiting(session)
    mine = outgoing.Stager.current(top)
    quiet = settings.processing.lease_seconds
    for name in sorted(set(outgoing.folders(top)) | set(waiting)):
        pending = waiting.get(name, [])
        if name == mine:
            publish(settings, session, pending)
            continue
        with outgoing.abandoned(top, name, quiet) as held:
            if held:
                publish(settings, session, pending)
                _tidy(top, name, pending, quiet)


def _waiting(session: Session) -> dict[str, list[Pending]]:
    """The committed outputs not yet published, by staging folder, oldest first."""
    rows = session.execute(
        select(
            Output.staged,
            Output.partner_code,
            Output.file_name,
            Output.kind,
            Output.flow_id,
            Output.previous_kept_as,
            Output.delivery_attempts,
        )
        .where(Output.staged.is_not(None))
        .order_by(Output.id)
    ).all()
    session.commit()  # no ledger lock held while looking at folders
    waiting: dict[str, list[Pending]] = defaultdict(list)
    for row in rows:
        waiting[row.staged.split("/", 1)[0]].append(Pending(*row))
    return waiting


def _tidy(top: Path, name: str, pending: list[Pending], quiet: float) -> None:
    """Remove what a dead process staged for a transaction that never committed."""
    kept = {os.path.basename(p.staged) for p in pending}
    for path in outgoing.leftovers(top / name, kept, quiet):
        path.unlink(missing_ok=True)
        log.info("removed %s, staged by a process that stopped before its commit", path)
    outgoing.remove_folder(top, name)


def remove(settings: Settings, staged: Iterable[str]) -> Iterator[Path]:
    """Remove staged files (a rolled-back transaction's, or outputs replaced before they were
    published); yields those removed."""
    for token in staged:
        path = root(settings) / token
        try:
            path.unlink()
        except FileNotFoundError:
            continue
        yield path


def _chunks(items: list[str]) -> Iterator[list[str]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]
