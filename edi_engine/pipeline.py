"""The pipeline driver: one leased flow from its archived original to pivots and a CR.

Each step is a plain function of the previous one's result (ARCHITECTURE §3). The
caller owns the transaction: outputs are written before the commit under
deterministic names, so a flow taken again after a crash replaces them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from pivot_format import pivot
from pivot_format.errors import ConversionError
from pivot_format.model import Envelope

from . import archive, clock, documents, outputs, reading, report
from .identify import PIVOT
from .models import Flow, FlowError, FlowEvent, InvoiceEvent, Output
from .models import Invoice as InvoiceRow
from .problems import FlowRejected, Problem
from .routing import Recipient, route
from .settings import Settings
from .states import FlowState, InvoiceState, Syntax


@dataclass
class FlowRun:
    """One flow being processed: what it needs and what happened so far."""

    settings: Settings
    session: Session
    flow: Flow
    structures: dict[str, Recipient]
    actor: str
    syntax: str | None = None
    problems: list[Problem] = field(default_factory=list)
    accepted: int = 0
    rejected: int = 0

    @property
    def state(self) -> FlowState:
        if self.accepted == 0:
            return FlowState.IN_REJETE
        return FlowState.IN_INTEGRE_PARTIEL if self.problems else FlowState.IN_INTEGRE


def process_flow(
    settings: Settings, session: Session, flow: Flow, structures: dict[str, Recipient], actor: str
) -> FlowRun:
    run = FlowRun(settings, session, flow, structures, actor)
    if flow.attempts > 1:
        _forget_previous_attempt(session, flow)
    try:
        unpacked = _open(settings, flow)
    except FlowRejected as rejected:
        run.problems.extend(rejected.problems)
    else:
        run.syntax = unpacked.syntax
        for document in unpacked.documents:
            _take_document(run, document)
    if run.accepted == 0 and not run.problems:
        run.problems.append(Problem("NO_INVOICE", "The flow carries no invoice."))
    _finish(run)
    return run


def _forget_previous_attempt(session: Session, flow: Flow) -> None:
    """A flow taken again (expired lease, re-run) starts from a clean slate."""
    invoice_ids = select(InvoiceRow.id).where(InvoiceRow.flow_id == flow.id)
    session.execute(delete(InvoiceEvent).where(InvoiceEvent.invoice_id.in_(invoice_ids)))
    session.execute(delete(InvoiceRow).where(InvoiceRow.flow_id == flow.id))
    session.execute(delete(FlowError).where(FlowError.flow_id == flow.id))
    session.execute(delete(Output).where(Output.flow_id == flow.id))


def _open(settings: Settings, flow: Flow) -> documents.Unpacked:
    if flow.duplicate_of:
        raise FlowRejected(
            Problem(
                "DUPLICATE_FLOW",
                f"The same content was already received as flow {flow.duplicate_of}.",
                value=flow.duplicate_of,
            )
        )
    limit = settings.limits.max_file_bytes
    if flow.size > limit:
        raise FlowRejected(
            Problem(
                "FILE_TOO_LARGE",
                f"The file is {flow.size} bytes, over the limit of {limit} bytes.",
                value=str(flow.size),
            )
        )
    content = archive.read(settings.archive, flow.archive_path)
    return documents.unpacked(content, flow.file_name, settings.limits)


def _take_document(run: FlowRun, document: documents.Document) -> None:
    run.problems.extend(document.problems)
    if not document.valid:
        return
    if document.syntax is Syntax.STATUT:
        run.problems.append(
            Problem(
                "UNSUPPORTED_SYNTAX",
                "Inbound status flows (CPPStatut) are not processed by this version of the hub.",
                document=document.name,
            )
        )
        return
    for read in reading.invoices(document):
        seq = run.accepted + run.rejected + 1
        problem = read.problem or _deliver(run, seq, read)
        if problem is None:
            run.accepted += 1
            continue
        run.rejected += 1
        problem = problem.at(invoice_seq=seq, document=document.name)
        run.problems.append(problem)
        _record_invoice(run, seq, read, None, None)


def _deliver(run: FlowRun, seq: int, read: reading.Read) -> Problem | None:
    """Route, write and hand over one pivot; a Problem says why it could not be."""
    assert read.invoice is not None
    found = route(read.invoice, run.structures)
    if isinstance(found, Problem):
        return found
    flow = run.flow
    invoice = replace(read.invoice, reception_date=clock.aware(flow.received_at).date())
    name = outputs.file_name(outputs.PIVOT, found.partner_code, flow.number, seq)
    envelope = Envelope(
        flow_id=flow.number,
        produced_at=clock.now().date(),
        sender_id=run.settings.hub.id,
        receiver_id=found.partner_code,
        sender_label=run.settings.hub.name,
    )
    try:
        content = outputs.checked(PIVOT, pivot.write_pivot([invoice], envelope), name)
    except ConversionError as exc:
        return Problem(exc.code, exc.message, element=exc.element or None, value=exc.value or None)
    except outputs.OutputInvalid as exc:
        return Problem("OUTPUT_INVALID", exc.message)
    outputs.deliver(
        run.settings, run.session, flow.id, outputs.PIVOT, found.partner_code, name, content
    )
    _record_invoice(run, seq, read, found, name)
    return None


def _record_invoice(
    run: FlowRun, seq: int, read: reading.Read, recipient: Recipient | None, pivot_file: str | None
) -> None:
    at = clock.now()
    invoice = read.invoice
    states = (
        [InvoiceState.DEPOSEE, InvoiceState.EN_COURS_ACHEMINEMENT, InvoiceState.MISE_A_DISPOSITION]
        if pivot_file
        else [InvoiceState.REJETEE]
    )
    row = InvoiceRow(
        flow_id=run.flow.id,
        seq=seq,
        number=read.number[:40],
        status=states[-1],
        status_code=states[-1].code,
        status_date=at,
        pivot_file=pivot_file,
        recipient_partner=recipient.partner_code if recipient else None,
    )
    if invoice is not None:
        debiteur = invoice.debiteur
        row.type_code = invoice.type_code
        row.issue_date = invoice.issue_date
        row.supplier_id = invoice.supplier.identifier
        row.supplier_name = invoice.supplier.name
        row.recipient_siret = debiteur.siret or debiteur.raw_identifier
        row.service_code = debiteur.service_code
        row.engagement = invoice.engagement_number
        row.currency = invoice.currency
        row.amount_ht = str(invoice.amount_ht)
        row.amount_ttc = str(invoice.amount_ttc)
        row.amount_net = str(invoice.amount_net)
    details = {
        InvoiceState.DEPOSEE: f"accepted in flow {run.flow.number}",
        InvoiceState.EN_COURS_ACHEMINEMENT: f"pivot {pivot_file} written",
        InvoiceState.MISE_A_DISPOSITION: f"delivered to partner {row.recipient_partner}",
        InvoiceState.REJETEE: f"rejected at reception in flow {run.flow.number}",
    }
    # no flush per invoice: the unit of work inserts a flow's rows in a few batches
    row.events = [
        InvoiceEvent(at=at, status=s, status_code=s.code, actor=run.actor, detail=details[s])
        for s in states
    ]
    run.session.add(row)


def _finish(run: FlowRun) -> None:
    flow, at, state = run.flow, clock.now(), run.state
    flow.syntax = run.syntax
    flow.invoice_count = run.accepted + run.rejected
    flow.rejected_count = run.rejected
    for problem in run.problems:
        run.session.add(
            FlowError(
                flow_id=flow.id,
                invoice_seq=problem.invoice_seq,
                document=problem.document,
                code=problem.code,
                message=problem.message,
                line=problem.line,
                path=problem.path,
                element=problem.element,
                value=problem.value,
            )
        )
    name = outputs.file_name(outputs.CR, flow.partner_code, flow.number)
    content = report.integration_report(run.settings, flow, state, run.problems)
    outputs.deliver(
        run.settings, run.session, flow.id, outputs.CR, flow.partner_code, name, content
    )
    flow.status = state
    flow.updated_at = at
    flow.lease_owner = None
    flow.lease_expires_at = None
    detail = (
        f"{run.accepted} invoice(s) integrated, {run.rejected} rejected, "
        f"{len(run.problems)} error(s); CR {name}"
    )
    run.session.add(FlowEvent(flow_id=flow.id, at=at, status=state, actor=run.actor, detail=detail))
