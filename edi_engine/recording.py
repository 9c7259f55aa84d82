"""Record a flow's invoices in the ledger in batches: a flow of 100,000 invoices must
neither hold 400,000 ORM objects nor pay a round trip per row (issue 2: bounded memory)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert
from sqlalchemy.orm import Session

from . import clock
from .controls import Recipient
from .models import Invoice as InvoiceRow
from .models import InvoiceEvent, InvoiceFinding
from .problems import Problem
from .reading import Read
from .states import InvoiceState

BATCH = 500
QUEUED = (InvoiceState.DEPOSEE, InvoiceState.EN_COURS_ACHEMINEMENT)
DELIVERED = (*QUEUED, InvoiceState.MISE_A_DISPOSITION)
REJECTED = (InvoiceState.REJETEE,)


class InvoiceRecorder:
    """Buffers invoice rows with their lifecycle events; ``flush`` inserts them."""

    def __init__(self, session: Session, flow_id: int, flow_number: str, actor: str) -> None:
        self.session = session
        self.flow_id = flow_id
        self.flow_number = flow_number
        self.actor = actor
        self._rows: list[dict[str, Any]] = []
        self._events: list[list[dict[str, Any]]] = []
        self._findings: list[list[dict[str, Any]]] = []

    def add(
        self,
        seq: int,
        read: Read,
        recipient: Recipient | None,
        pivot_file: str | None,
        findings: list[Problem] = (),
    ) -> None:
        at = clock.now()
        # a pivot for an SFTP partner is made available once uploaded (channels.deliver)
        states = REJECTED if not pivot_file else QUEUED if recipient.remote else DELIVERED
        partner = recipient.partner_code if recipient else None
        self._rows.append(self._row(seq, read, states[-1], at, partner, pivot_file))
        details = {
            InvoiceState.DEPOSEE: f"accepted in flow {self.flow_number}",
            InvoiceState.EN_COURS_ACHEMINEMENT: f"pivot {pivot_file} written",
            InvoiceState.MISE_A_DISPOSITION: f"delivered to partner {partner}",
            InvoiceState.REJETEE: f"rejected at reception in flow {self.flow_number}",
        }
        self._events.append(
            [
                {
                    "at": at,
                    "status": s,
                    "status_code": s.code,
                    "actor": self.actor,
                    "detail": details[s],
                }
                for s in states
            ]
        )
        self._findings.append([finding_row(problem) for problem in findings])
        if len(self._rows) >= BATCH:
            self.flush()

    def _row(
        self,
        seq: int,
        read: Read,
        state: InvoiceState,
        at: datetime,
        partner: str | None,
        pivot_file: str | None,
    ) -> dict[str, Any]:
        row: dict[str, Any] = dict.fromkeys(
            ("type_code", "issue_date", "supplier_id", "supplier_id_type", "supplier_name", "recipient_siret",
             "service_code", "engagement", "currency", "amount_ht", "amount_ttc", "amount_net"),
        )  # fmt: skip
        row.update(
            flow_id=self.flow_id,
            seq=seq,
            number=read.number[:40],
            status=state,
            status_code=state.code,
            status_date=at,
            pivot_file=pivot_file,
            recipient_partner=partner,
        )
        invoice = read.invoice
        if invoice is not None:
            debiteur = invoice.debiteur
            row.update(
                type_code=invoice.type_code,
                issue_date=invoice.issue_date,
                supplier_id=invoice.supplier.identifier,
                supplier_id_type=invoice.supplier.identifier_type,
                supplier_name=invoice.supplier.name,
                recipient_siret=debiteur.siret or debiteur.raw_identifier,
                service_code=debiteur.service_code,
                engagement=invoice.engagement_number,
                currency=invoice.currency,
                amount_ht=str(invoice.amount_ht),
                amount_ttc=str(invoice.amount_ttc),
                amount_net=str(invoice.amount_net),
            )
        return row

    def flush(self) -> None:
        if not self._rows:
            return
        statement = insert(InvoiceRow).returning(InvoiceRow.id, sort_by_parameter_order=True)
        ids = self.session.scalars(statement, self._rows).all()
        events = [
            {**event, "invoice_id": invoice_id}
            for invoice_id, invoice_events in zip(ids, self._events, strict=True)
            for event in invoice_events
        ]
        self.session.execute(insert(InvoiceEvent), events)
        findings = [
            {**finding, "invoice_id": invoice_id}
            for invoice_id, invoice_findings in zip(ids, self._findings, strict=True)
            for finding in invoice_findings
        ]
        if findings:
            self.session.execute(insert(InvoiceFinding), findings)
        self._rows, self._events, self._findings = [], [], []


def finding_row(problem: Problem) -> dict[str, Any]:
    """An invoice_findings row (without its invoice) for what a control found."""
    return {
        "severity": problem.severity,
        "code": problem.code,
        "message": problem.message,
        "message_fr": problem.message_fr,
        "element": problem.element,
        "value": problem.value,
    }
