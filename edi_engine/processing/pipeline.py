"""The pipeline driver: one leased flow from its archived original to pivots and a CR.

Each step is a plain function of the previous one's result
(docs/architecture.md#the-road-of-a-flow). The
caller owns the transaction: outputs are staged before the commit under deterministic
names and published once it is made (edi_engine/delivery/publication.py), so that nothing of an
attempt that dies reaches a partner, and a flow taken again writes them afresh.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from pivot_format import pivot
from pivot_format.cpp import to_bytes
from pivot_format.errors import ConversionError
from pivot_format.model import Envelope, FlowStatus, Invoice

from .. import clock, controls
from ..controls.catalogue import graded, in_french
from ..delivery import outputs
from ..ledger import counters, deferred, fields
from ..ledger.models import Flow, FlowError, FlowEvent, InvoiceFinding, ReceivedStatus
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.states import FlowState, Syntax
from ..lifecycle import statuses_in
from ..partners import registry as partners
from ..problems import FlowRejected, Problem
from ..reception import archive, documents, flow_parts, intake, reading, validation
from ..reception.identify import PIVOT
from ..settings import Settings
from . import acknowledgements, recording, redelivery, report
from .recording import Entry, InvoiceRecorder

if TYPE_CHECKING:  # a flow prepared by a worker process
    from .preparing import Prepared

FLOW_ERRORS = FlowError.__table__
FLOW_EVENTS = FlowEvent.__table__
# the flow's row once processed: the columns are those of the values given (`_keep`)
FLOW_DONE = update(Flow.__table__).where(Flow.__table__.c.id == bindparam("flow_key"))


@dataclass
class FlowRun:
    """One flow being processed: what it needs and what happened so far."""

    settings: Settings
    session: Session
    flow: Flow
    referential: controls.Referential
    actor: str
    syntaxes: list[Syntax | None] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0
    kept: dict[int, int] = field(default_factory=dict)  # seq -> id of a delivered invoice
    rewrite: bool = False
    # the flow's attempts are the times it was answered (a CR each): this one's number
    attempt: int = 1
    batch: list[Entry] = field(default_factory=list)  # controlled, not yet recorded
    batch_bytes: int = 0  # the attachments the batch holds
    kept_values: dict[str, object] = field(default_factory=dict)  # the flow's, for its row

    def __post_init__(self) -> None:
        self.recorder = InvoiceRecorder(self.session, self.flow.id, self.flow.number, self.actor)
        self.reception = controls.Reception(
            self.referential,
            controls.Duplicates(self.session),
            self.flow.number,
            deposit_date=clock.local_date(self.flow.received_at, self.settings.zone),
            tolerance=self.settings.controls.amount_tolerance,
            vat_tolerance=self.settings.controls.vat_amount_tolerance,
            severity=self.settings.controls.severity,
            depositor=self.flow.partner_code,
        )

    @property
    def state(self) -> FlowState:
        """Warnings alone leave a flow IN_INTEGRE: only a rejection makes it partial."""
        if self.accepted == 0:
            return FlowState.IN_REJETE
        if any(problem.rejects for problem in self.problems):
            return FlowState.IN_INTEGRE_PARTIEL
        return FlowState.IN_INTEGRE


def process_flow(
    settings: Settings,
    session: Session,
    flow: Flow,
    referential: controls.Referential,
    actor: str,
    rewrite: bool = False,
    prepared: Prepared | None = None,
) -> FlowRun:
    """`rewrite`: a forced re-run writes the pivots of invoices already delivered again,
    under their names (lost downstream, say); otherwise they are left as they are.
    `prepared`: the flow's documents as a worker process read them (edi_engine/processing/preparing.py);
    without it they are read here."""
    run = FlowRun(settings, session, flow, referential, actor)
    run.rewrite = rewrite
    if flow.attempts > 1:
        _previous_attempts(run)
    try:
        _take_flow(run, prepared)
    except FlowRejected as rejected:
        run.problems.extend(rejected.problems)
    if run.accepted == 0 and not run.problems:
        run.problems.append(Problem("NO_INVOICE", "The flow carries no invoice."))
    _finish(run)
    return run


def _previous_attempts(run: FlowRun) -> None:
    """A flow taken again (a re-run, an expired lease) is processed again from its
    archived original, and keeps what earlier attempts committed: invoices already
    delivered (their lifecycle goes on, their pivots stay; `run.kept` by position),
    statuses already applied, and each attempt's findings, refused invoices and CR (kept
    as CR_<P>_<FLOW>_<N>.xml by `_finish`). The monthly counters take back the flow as the
    previous attempt counted it, so that they never count it twice; its files stay counted.
    A lease that expired with its attempt never committed finds nothing of it to keep."""
    session, flow = run.session, run.flow
    deferred.flush(session)  # what the transaction wrote so far is read below
    answered = outputs.answers(session, flow.id)
    counted = counters.Counted.of(session, flow, finished=answered > 0)
    run.attempt = run.recorder.attempt = answered + 1
    delivered = InvoiceRow.pivot_file.is_not(None)
    run.kept = dict(
        session.execute(
            select(InvoiceRow.seq, InvoiceRow.id).where(InvoiceRow.flow_id == flow.id, delivered)
        ).all()
    )
    session.execute(
        delete(ReceivedStatus).where(
            ReceivedStatus.flow_id == flow.id, ReceivedStatus.outcome != statuses_in.APPLIED
        )
    )
    counted.take_back(session, run.settings.zone)


def _take_flow(run: FlowRun, prepared: Prepared | None = None) -> None:
    """Open the archived original and take its documents, or its invoices when streamed."""
    settings, flow = run.settings, run.flow
    # every flow, not only those the intake marked: a copy received while its original
    # was itself a copy (processed as new since, its own original rejected) was not
    original = intake.original_of(run.session, flow)
    if flow.duplicate_of != (original.number if original else None):
        _keep(run, duplicate_of=original.number if original else None)
    if original:  # always the same partner's: another partner's flow is never named
        where = f"{original.number} ({original.file_name})"
        en, fr = (
            ("whose invoices were integrated", "dont les factures ont été intégrées")
            if original.status in (FlowState.IN_INTEGRE, FlowState.IN_INTEGRE_PARTIEL)
            else ("still being processed", "en cours de traitement")
        )
        raise FlowRejected(
            Problem(
                "DUPLICATE_FLOW",
                f"The same content was already received as flow {where}, {en}: it is not "
                "processed twice.",
                value=original.number,
                message_fr=f"Le même contenu a déjà été reçu dans le flux {where}, {fr} : il "
                "n'est pas traité deux fois.",
            )
        )
    limit = settings.limits.max_file_bytes
    if flow.size > limit or archive.is_head(flow.archive_path):  # kept: hash, size, head
        over = f"of {limit} bytes" if flow.size > limit else "in force at its reception"
        raise FlowRejected(
            Problem(
                "FILE_TOO_LARGE",
                f"The file is {flow.size} bytes, over the limit {over}; it was not read.",
                value=str(flow.size),
            )
        )
    settings = settings.for_rules(partners.rule_sets(run.session, flow.partner_code))
    for part in prepared.replay(settings, flow) if prepared else flow_parts.parts(settings, flow):
        run.syntaxes.append(part.syntax)
        run.problems.extend(part.problems)
        if part.statuses:
            _take_statuses(run, part)
        else:
            _take_reads(run, part.reads, part.name)


def _take_statuses(run: FlowRun, part: flow_parts.Part) -> None:
    """Recipients and accountants report on invoices, recipients acknowledge the pivots
    they received: each status applied or refused."""

    def completed(invoice: InvoiceRow, actor: str) -> None:  # its recipient gets it again
        redelivery.complete(run.settings, run.session, invoice, actor)

    first = run.accepted + run.rejected + 1
    if isinstance(part.statuses[0], FlowStatus):
        outcomes = acknowledgements.take(run.session, run.flow, part.statuses, first)
    else:
        outcomes = statuses_in.take(run.session, run.flow, part.statuses, completed, first)
    for outcome in outcomes:
        seq = run.accepted + run.rejected + 1
        run.problems.extend(p.at(invoice_seq=seq, document=part.name) for p in outcome.problems)
        if outcome.applied:
            run.accepted += 1
        else:
            run.rejected += 1


def _take_reads(run: FlowRun, reads: Iterable[reading.Read], document_name: str) -> None:
    for read in reads:
        seq = run.accepted + run.rejected + len(run.batch) + 1
        if seq in run.kept:  # delivered by a previous attempt: neither again nor twice
            _flush(run)  # the CR lists what was found in the order of the flow
            run.accepted += 1
            run.problems.extend(_findings(run.session, run.kept[seq], seq, document_name))
            if read.invoice is not None:
                run.reception.duplicates.accepted(read.invoice, run.flow.number)
                if run.rewrite:
                    invoice = run.session.get(InvoiceRow, run.kept[seq])
                    redelivery.rewrite(run.settings, run.session, invoice, read.invoice)
            continue
        run.batch.append(_controlled(run, seq, read, document_name))
        run.batch_bytes += _held(read)
        if len(run.batch) >= recording.BATCH or run.batch_bytes >= recording.BATCH_BYTES:
            _flush(run)
    _flush(run)


def _held(read: reading.Read) -> int:
    """What an invoice waiting for its pivot holds in memory: its attachments, mostly."""
    invoice = read.invoice
    return sum(len(a.content) for a in invoice.attachments) if invoice is not None else 0


def _findings(session: Session, invoice_id: int, seq: int, document: str) -> list[Problem]:
    """The warnings a kept invoice was accepted with: the CR written again repeats them."""
    rows = session.scalars(select(InvoiceFinding).where(InvoiceFinding.invoice_id == invoice_id))
    return [
        Problem(
            f.code,
            f.message,
            element=f.element,
            value=f.value,
            document=document,
            invoice_seq=seq,
            severity=f.severity,
            message_fr=f.message_fr,
        )
        for f in rows
    ]


def _controlled(run: FlowRun, seq: int, read: reading.Read, document_name: str) -> Entry:
    """What the controls say of one invoice. One they accept counts at once for the
    duplicate control of the invoices after it, whose controls come before its pivot is
    written (`_flush`)."""
    # the official business rules first, as the hub set their severity
    ruled = graded(read.findings, run.reception.severity)
    if read.problem:
        problem = in_french(read.problem)
        found = [p.at(invoice_seq=seq, document=document_name) for p in [*ruled, problem]]
        return Entry(seq, read, document_name, found)
    assert read.invoice is not None
    found, findings = controls.check(read.invoice, run.reception)
    # what the ledger cannot keep whole
    findings = [*ruled, *fields.too_long(read.invoice), *findings]
    findings = [problem.at(invoice_seq=seq, document=document_name) for problem in findings]
    if found is None or any(problem.rejects for problem in findings):
        return Entry(seq, read, document_name, findings)
    run.reception.duplicates.accepted(read.invoice, run.flow.number)
    name = outputs.file_name(outputs.PIVOT, found.partner_code, run.flow.number, seq)
    return Entry(seq, read, document_name, findings, found, name)


def _flush(run: FlowRun) -> None:
    """Record the controlled invoices, then write the pivots of those accepted, each
    carrying its invoice's ledger id (IdCPRO): the rows go in first, a batch at a time."""
    entries, run.batch, run.batch_bytes = run.batch, [], 0
    if not entries:
        return
    run.recorder.rows(entries)
    for entry in entries:
        if entry.accepted:
            _deliver(run, entry)
    run.recorder.history(entries)
    for entry in entries:
        run.problems.extend(entry.findings)
        if entry.accepted:
            run.accepted += 1
        else:
            run.rejected += 1


def _deliver(run: FlowRun, entry: Entry) -> None:
    """Write and hand over the pivot of an invoice the controls accepted; if the pivot
    cannot carry it, nothing is written and the invoice is refused."""
    flow, partner = run.flow, entry.recipient.partner_code
    invoice = replace(
        entry.read.invoice,
        reception_date=run.reception.deposit_date,
        # the hub says whether a delivery is a first one, never the depositor: a supplier's
        # pivot cannot claim "Recyclée" (recycling and completion set it themselves)
        renvoi=pivot.RENVOI_FIRST,
        id_cpro=entry.invoice_id,  # the hub's identifier, whatever a deposited pivot said
    )
    envelope = outputs.envelope(run.settings, flow.number, partner)
    content = _pivot(entry, invoice, envelope)
    if isinstance(content, Problem):
        entry.refuse(content)
        run.reception.duplicates.withdrawn(invoice)
        return
    outputs.deliver(
        run.settings,
        run.session,
        flow.id,
        outputs.PIVOT,
        partner,
        entry.pivot_file,
        content,
        fresh=flow.attempts == 1,
    )


def _pivot(entry: Entry, invoice: Invoice, envelope: Envelope) -> bytes | Problem:
    """The invoice's pivot, checked against our schema as the tree it was built as (never
    parsed back from its bytes): written ahead by a worker process and completed with the
    recipient and id found since, else written here; or why the pivot cannot carry it."""
    ahead = entry.read.ahead
    if ahead is not None:
        if ahead.conversion is not None:
            return ahead.conversion
        if ahead.content is None:
            return _invalid(entry, ahead.invalid)
        day = envelope.produced_at
        return pivot.completed(ahead.content, envelope.receiver_id, invoice.id_cpro, day)
    try:
        tree = pivot.pivot_tree([invoice], envelope)
    except ConversionError as exc:
        element, value = exc.element or None, exc.value or None
        return Problem(exc.code, exc.message, element=element, value=value)
    messages = validation.check_tree(PIVOT, tree)
    return _invalid(entry, messages[0]) if messages else to_bytes(tree)


def _invalid(entry: Entry, message: str | None) -> Problem:
    why = f"{entry.pivot_file} does not validate against our schema: {message}"
    return Problem("OUTPUT_INVALID", why)


def _finish(run: FlowRun) -> None:
    flow, at, state = run.flow, clock.now(), run.state
    syntax = documents.combined_syntax(run.syntaxes)
    _keep(run, syntax=syntax, invoice_count=run.accepted + run.rejected)
    _keep(run, rejected_count=run.rejected)
    counters.count_flow(run.session, flow, run.settings.zone)  # taken back if processed again
    if run.problems:
        rows = [
            fields.fit_row(FlowError, {"flow_id": flow.id, "attempt": run.attempt, **p.as_dict()})
            for p in run.problems
        ]
        deferred.add(run.session, FLOW_ERRORS, rows)
    kept = outputs.keep_previous_cr(
        run.settings, run.session, flow.partner_code, flow.number, run.attempt
    )
    if flow.producer_flow_id is None and (producer := report.producer_flow_id(run.settings, flow)):
        _keep(run, producer_flow_id=producer)  # its CR echoes it
    name, content = report.integration_report(run.settings, run.session, flow, state, run.problems)
    outputs.deliver(
        run.settings,
        run.session,
        flow.id,
        outputs.CR,
        flow.partner_code,
        name,
        content,
        fresh=flow.attempts == 1,  # answered before: the attempt before's CR has its name
    )
    _keep(run, status=state, updated_at=at, lease_owner=None, lease_expires_at=None)
    run.session.connection().execute(FLOW_DONE, {"flow_key": flow.id, **run.kept_values})
    detail = (
        f"{run.accepted} invoice(s) integrated, {run.rejected} rejected, "
        f"{len(run.problems)} error(s); CR {name}"
    )
    if kept:
        detail += f" (attempt {run.attempt}; the CR of attempt {run.attempt - 1} kept as {kept})"
    event = {"flow_id": flow.id, "at": at, "status": state, "actor": run.actor, "detail": detail}
    deferred.add(run.session, FLOW_EVENTS, (event,))


def _keep(run: FlowRun, **values: object) -> None:
    """Set the flow's attributes as its row will have them once `_finish` updates it, by
    one statement built once: through the ORM's unit of work, that update cost as much
    as the rest of a one-invoice flow's ledger work. If the flow's savepoint rolls back,
    the flow is expired (deferred.behind) and read again from the ledger."""
    if not run.kept_values:
        deferred.behind(run.session, run.flow)
    for key, value in values.items():
        set_committed_value(run.flow, key, value)
    run.kept_values.update(values)
