"""Record a flow's invoices in the ledger in batches: a flow of 100,000 invoices must
neither hold 400,000 ORM objects nor pay a round trip per row (issue 2: bounded memory).

A batch's rows go in first, so that each pivot can carry its invoice's ledger id
(`IdCPRO`); their lifecycle events and findings follow once the pivots are written. An
invoice the hub refuses at reception is recorded REFUSEE_RECEPTION: it has no lifecycle
code, and no status flow ever carries it (its supplier learns of it from the CR).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, delete, func, insert, select, update
from sqlalchemy.orm import Session

from .. import clock, number_key
from ..controls import Recipient
from ..ledger import deferred, fields
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.models import InvoiceEvent, InvoiceFinding
from ..ledger.states import InvoiceState
from ..problems import Problem
from ..reception.reading import Read

BATCH = 500
# a batch's invoices wait for their pivots with their attachments (up to 120 MB each)
BATCH_BYTES = 32 * 1024 * 1024
QUEUED = (InvoiceState.DEPOSEE, InvoiceState.EN_COURS_ACHEMINEMENT)
REFUSED = (InvoiceState.REFUSEE_RECEPTION,)
NO_CODE = ""  # status_code of a refusal at reception: the column is not nullable
# built once: a batch's rows in one statement, their ids in their order
INSERT = insert(InvoiceRow.__table__).returning(
    InvoiceRow.__table__.c.id, sort_by_parameter_order=True
)


@dataclass
class Entry:
    """One invoice of a flow on its way to the ledger: what the controls found and, when
    they accepted it, its recipient and the name of its pivot. Its id is known once its
    row is in, before its pivot is written."""

    seq: int
    read: Read
    document: str
    findings: list[Problem]
    recipient: Recipient | None = None
    pivot_file: str | None = None
    invoice_id: int | None = None
    recorded: InvoiceState | None = None  # the state its row was inserted in
    at: datetime | None = None

    @property
    def accepted(self) -> bool:
        return self.pivot_file is not None

    def refuse(self, problem: Problem) -> None:
        """Its pivot cannot be written after all: the invoice is refused at reception."""
        self.findings.append(problem.at(invoice_seq=self.seq, document=self.document))
        self.recipient = self.pivot_file = None


def code(state: InvoiceState) -> str:
    """The status_code column of a state."""
    return state.code or NO_CODE


class InvoiceRecorder:
    """Puts a flow's invoices in the ledger a batch at a time. `attempt`: the flow's
    attempt recording them; from the second on, an invoice refused by an earlier attempt
    keeps its row (and id) when the same invoice is found at the same place."""

    def __init__(
        self, session: Session, flow_id: int, flow_number: str, actor: str, attempt: int = 1
    ) -> None:
        self.session = session
        self.flow_id = flow_id
        self.flow_number = flow_number
        self.actor = actor
        self.attempt = attempt

    def rows(self, entries: Sequence[Entry]) -> None:
        """Insert the rows of `entries` as the controls left them, and give each its id."""
        at = clock.now()
        for entry in entries:
            entry.at, entry.recorded = at, _states(entry)[-1]
        rows = [self._row(entry) for entry in entries]
        if self.attempt > 1:
            self._earlier_places(entries, rows)
        inserted = [(e, row) for e, row in zip(entries, rows, strict=True) if e.invoice_id is None]
        if inserted:  # through the connection: the ORM's bulk insert cost more than it
            connection = self.session.connection()
            ids = connection.execute(INSERT, [row for _, row in inserted]).scalars().all()
            for (entry, _), invoice_id in zip(inserted, ids, strict=True):
                entry.invoice_id = invoice_id

    def _earlier_places(self, entries: Sequence[Entry], rows: list[dict[str, Any]]) -> None:
        """What an earlier attempt refused at these places: the same invoice keeps its row
        (and id), its findings now this attempt's and its history going on; a refused
        invoice whose place another invoice takes (the flow was read otherwise) leaves that
        place and stays in the ledger as its attempt recorded it, findings and history."""
        earlier = self._earlier([entry.seq for entry in entries])
        same, moved = [], []
        for entry, row in zip(entries, rows, strict=True):
            found = earlier.get(entry.seq)
            if found is not None and found[1:] == (row["number"], row["supplier_id"]):
                entry.invoice_id = found[0]
                same.append({"id": found[0], **row})
            elif found is not None:
                moved.append(found[0])
        if moved:  # below every place of the flow: never in the way of an invoice read later
            lowest = min(0, self.session.scalar(self._places(func.min(InvoiceRow.seq))))
            places = [{"id": i, "seq": lowest - n} for n, i in enumerate(moved, start=1)]
            self.session.execute(update(InvoiceRow), places)
        if same:
            self.session.execute(update(InvoiceRow), same)
            ids = [row["id"] for row in same]
            self.session.execute(delete(InvoiceFinding).where(InvoiceFinding.invoice_id.in_(ids)))

    def history(self, entries: Sequence[Entry]) -> None:
        """The lifecycle events and findings of `entries` as they ended; the row of an
        invoice whose pivot could not be written after all says it was refused."""
        refused = [entry for entry in entries if entry.recorded != _states(entry)[-1]]
        if refused:
            self.session.execute(
                update(InvoiceRow),
                [
                    {
                        "id": entry.invoice_id,
                        "status": InvoiceState.REFUSEE_RECEPTION,
                        "status_code": NO_CODE,
                        "pivot_file": None,
                        "recipient_partner": None,
                    }
                    for entry in refused
                ],
            )
        # nothing reads them before the commit: they go in with it (edi_engine/ledger/deferred.py)
        events = [event for entry in entries for event in self._events(entry)]
        deferred.add(self.session, InvoiceEvent.__table__, events)
        findings = [
            {**finding_row(problem), "invoice_id": entry.invoice_id}
            for entry in entries
            for problem in entry.findings
        ]
        deferred.add(self.session, InvoiceFinding.__table__, findings)

    def _events(self, entry: Entry) -> list[dict[str, Any]]:
        debiteur = entry.read.invoice.debiteur if entry.read.invoice is not None else None
        attempt = f" (attempt {self.attempt})" if self.attempt > 1 else ""
        details = {
            InvoiceState.DEPOSEE: f"accepted in flow {self.flow_number}{attempt}",
            InvoiceState.EN_COURS_ACHEMINEMENT: f"pivot {entry.pivot_file} written",
            InvoiceState.REFUSEE_RECEPTION: (
                f"refused at reception in flow {self.flow_number}{attempt}"
            ),
        }
        rows = [
            {
                "invoice_id": entry.invoice_id,
                "at": entry.at,
                "produced_at": entry.at,
                # the recipient then, as its row has it: a status flow names it
                "recipient_siret": debiteur and (debiteur.siret or debiteur.raw_identifier),
                "service_code": debiteur and debiteur.service_code,
                "status": state,
                "status_code": code(state),
                "actor": self.actor,
                "detail": details[state],
                "to_supplier": state.in_lifecycle,  # a refusal is told by the CR only
            }
            for state in _states(entry)
        ]
        return [fields.fit_row(InvoiceEvent, row) for row in rows]

    def _earlier(self, seqs: list[int]) -> dict[int, tuple[int, str, str | None]]:
        """Rows an earlier attempt recorded at these places and did not deliver: by seq,
        their id, number and supplier."""
        query = self._places(
            InvoiceRow.seq, InvoiceRow.id, InvoiceRow.number, InvoiceRow.supplier_id
        ).where(InvoiceRow.pivot_file.is_(None), InvoiceRow.seq.between(min(seqs), max(seqs)))
        return {seq: tuple(rest) for seq, *rest in self.session.execute(query)}

    def _places(self, *columns: Any) -> Select:
        return select(*columns).where(InvoiceRow.flow_id == self.flow_id)

    def _row(self, entry: Entry) -> dict[str, Any]:
        read, state = entry.read, entry.recorded
        row: dict[str, Any] = dict.fromkeys(
            ("type_code", "issue_date", "supplier_id", "supplier_id_type", "supplier_name",
             "recipient_siret", "service_code", "engagement", "currency", "amount_ht",
             "amount_ttc", "amount_net"),
        )  # fmt: skip
        row.update(
            flow_id=self.flow_id,
            seq=entry.seq,
            number=read.number,
            number_key=number_key.key(read.number[:40]),
            status=state,
            status_code=code(state),
            status_date=entry.at,
            pivot_file=entry.pivot_file,
            recipient_partner=entry.recipient.partner_code if entry.recipient else None,
            attempt=self.attempt,
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
        # a refused invoice's values are kept for display: cut to their columns (an accepted
        # one's fit already, fields.too_long refused it otherwise)
        return fields.fit_row(InvoiceRow, row)


def _states(entry: Entry) -> tuple[InvoiceState, ...]:
    """The states an invoice goes through as it is recorded: it is made available (03) once
    its pivot is in its recipient's folder, published after this commit
    (publication.publish), or for an SFTP partner once uploaded (channels.deliver)."""
    if not entry.accepted:
        return REFUSED
    return QUEUED


def finding_row(problem: Problem) -> dict[str, Any]:
    """An invoice_findings row (without its invoice) for what a control found."""
    return fields.fit_row(
        InvoiceFinding,
        {
            "severity": problem.severity,
            "code": problem.code,
            "message": problem.message,
            "message_fr": problem.message_fr,
            "element": problem.element,
            "value": problem.value,
        },
    )
