"""Partners' SFTP servers, delivered to. A CR or pivot for an SFTP partner is published to
its local outbox first (once the commit that records it is made: edi_engine/delivery/publication.py);
that file is the queue. It is uploaded under a temporary name (`.<name>.tmp`), the name
recorded (`uploaded_as`, committed), then the temporary renamed and the output marked
delivered. A failure before the record leaves it queued for the next run. One recorded and
not delivered (a crash, a rename refused) is never uploaded again: the next run renames its
temporary if it is still there, else the rename happened (the partner may have taken the
file) and it is only marked delivered. So a partner receives each output once. One process
at a time uploads to a partner, whatever the hosts sharing the ledger
(edi_engine/ledger/exclusion.py): two never upload the same output.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from connectors import sftp

from .. import clock, failpoints
from ..ledger import exclusion
from ..ledger.models import Invoice, Output, Partner
from ..ledger.states import InvoiceState
from ..lifecycle import statuses_in
from ..partners.remote import ChannelReport, endpoint, sftp_partners
from ..settings import Settings

log = logging.getLogger(__name__)
UPLOAD_LOCK = "upload-"  # + partner code + .lock: in run/, on SQLite


def finish_renames(settings: Settings, session: Session, report: ChannelReport) -> None:
    """The uploads a stopped run left between their record and their rename, finished
    before the run processes anything: a recipient that took such a pivot and answers it
    (its status flow is processed in this run) finds its invoice made available (03), not
    refused as not received yet. The end of the run uploads the rest, as always."""
    waiting = session.scalars(  # ix_outputs_renaming holds these rows only
        select(Output.partner_code).where(Output.uploaded_as.is_not(None)).distinct()
    )
    if partners := set(waiting):
        deliver(settings, session, report, only=partners, renaming_only=True)


def deliver(
    settings: Settings,
    session: Session,
    report: ChannelReport,
    only: set[str] | None = None,
    renaming_only: bool = False,
) -> None:
    """Upload every queued output of every SFTP partner (or of those `only`; only those
    left renaming with `renaming_only`), oldest first; commits each. One process at a time
    uploads a partner's outputs, whatever the hosts (exclusion.held): a partner another
    process is uploading to is left to it, which uploads what it finds queued until nothing
    new is (what it missed, the next run does). Two processes never upload the same
    output."""
    for partner in sftp_partners(session):
        if only is not None and partner.code not in only:
            continue
        session.commit()  # no ledger lock is held while talking to a server
        if partner.code in report.unreachable:
            continue
        key, lock_file = exclusion.upload_key(partner.code), f"{UPLOAD_LOCK}{partner.code}.lock"
        with exclusion.held(settings, session, key, lock_file) as own:
            if own is None:
                log.info("partner %s: another process is uploading its outputs", partner.code)
                continue
            _deliver_to(settings, own, partner, report, renaming_only)


def _deliver_to(
    settings: Settings,
    session: Session,
    partner: Partner,
    report: ChannelReport,
    renaming_only: bool = False,
) -> None:
    """What is queued for the partner, read with its upload lock held, then what was
    queued meanwhile, until nothing new is."""
    last = 0
    while pending := _queued(session, partner.code, last, renaming_only):
        last = pending[-1].id
        # those a run left renaming first: what they left on the server is theirs alone
        pending.sort(key=lambda output: output.uploaded_as is None)
        session.commit()  # no ledger lock is held while talking to a server
        try:
            with sftp.SftpConnection(endpoint(settings, partner)) as connection:
                for output in pending:
                    if (uploaded_as := output.uploaded_as) is not None:
                        report.delivered += _finish(session, connection, output, uploaded_as)
                    else:
                        report.delivered += _upload(settings, session, connection, output)
        except Exception as exc:  # reported, and the run goes on
            session.rollback()
            _note_failure(session, partner.code, str(exc))
            report.failed(partner.code, exc)
            return


def _queued(session: Session, code: str, after: int, renaming_only: bool) -> list[Output]:
    query = (
        select(Output)
        .where(Output.partner_code == code, Output.delivered_at.is_(None))
        .where(Output.staged.is_(None))  # published into the local outbox first
        .where(Output.id > after)
        .order_by(Output.id)
    )
    if renaming_only:
        query = query.where(Output.uploaded_as.is_not(None))
    return list(session.scalars(query))


def _upload(
    settings: Settings, session: Session, connection: sftp.SftpConnection, output: Output
) -> int:
    """1 when uploaded; 0 when its local copy is gone (noted on the output, the queue goes on)."""
    local = settings.outbox / output.partner_code / output.file_name
    output.delivery_attempts += 1
    if not local.is_file():
        output.delivery_error = f"the local copy {local} is missing; it cannot be delivered"
        log.error("partner %s: %s", output.partner_code, output.delivery_error)
        session.commit()
        return 0
    queued = Queued(output.id, output.kind, output.partner_code, output.file_name)
    written_at = output.written_at

    def renaming() -> None:
        """From this commit on, it is never uploaded again; unless a re-run wrote it again
        since it was read (its new bytes are then still to upload)."""
        session.execute(
            update(Output)
            .where(Output.id == queued.id, Output.written_at == written_at)
            .values(uploaded_as=queued.name)
            .execution_options(synchronize_session=False)  # the rows are read again anyway
        )
        session.commit()
        failpoints.reached("before-remote-rename")

    connection.upload(local, queued.name, failpoints.progress("mid-upload"), renaming)
    failpoints.reached("after-remote-rename")
    return _delivered(session, queued, queued.name)


def _finish(
    session: Session, connection: sftp.SftpConnection, output: Output, uploaded_as: str
) -> int:
    """An output whose upload (as `uploaded_as`) may have been renamed (a run stopped, a
    rename failed): its temporary renamed if it is there, else the rename was made;
    delivered either way, never uploaded again. Its local copy is not read."""
    queued = Queued(output.id, output.kind, output.partner_code, output.file_name)
    if not connection.rename_upload(uploaded_as, queued.name):
        log.warning(  # said: had the partner removed the temporary, it never got the file
            "partner %s: %s was renamed on its SFTP server by a run that stopped before "
            "recording it; recorded as delivered, not uploaded again",
            queued.partner,
            uploaded_as,
        )
    return _delivered(session, queued, uploaded_as)


@dataclass(frozen=True)
class Queued:
    """An output being delivered, as read before its upload (the row may change meanwhile)."""

    id: int
    kind: str
    partner: str
    name: str


def _delivered(session: Session, queued: Queued, uploaded_as: str) -> int:
    """Mark it delivered, unless it was queued again meanwhile (a re-run wrote it again:
    its new bytes are still to upload); 1 when marked."""
    at = clock.now()
    marked = session.execute(
        update(Output)
        .where(Output.id == queued.id, Output.uploaded_as == uploaded_as)
        .where(Output.delivered_at.is_(None))
        .values(delivered_at=at, delivery_error=None, uploaded_as=None)
        .execution_options(synchronize_session=False)  # the rows are read again anyway
    ).rowcount
    if marked and queued.kind == "PIVOT":
        _made_available(session, queued, at)
    session.commit()
    return marked


def _made_available(session: Session, queued: Queued, at: datetime) -> None:
    """The invoice reaches MISE_A_DISPOSITION when its pivot is on the recipient's server."""
    state = InvoiceState.MISE_A_DISPOSITION
    invoices = session.scalars(
        select(Invoice).where(
            Invoice.pivot_file == queued.name,
            Invoice.recipient_partner == queued.partner,
            Invoice.status == InvoiceState.EN_COURS_ACHEMINEMENT,
        )
    )
    for invoice in invoices.all():  # each record() queries the invoice's history
        detail = f"pivot {queued.name} uploaded to partner {queued.partner}"
        statuses_in.record(session, invoice, state, "engine", detail, at=at)


def _note_failure(session: Session, code: str, error: str) -> None:
    session.execute(
        update(Output)
        .where(Output.partner_code == code, Output.delivered_at.is_(None))
        .where(Output.staged.is_(None))  # a staged one says why it is not published
        .values(delivery_attempts=Output.delivery_attempts + 1, delivery_error=error[:2000])
    )
    session.commit()
