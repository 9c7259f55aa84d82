"""The ledger's tables. Alembic migrations are the only way they change."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from . import fields


class Base(DeclarativeBase):
    pass


class Partner(Base):
    __tablename__ = "partners"

    code: Mapped[str] = mapped_column(String(8), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    channel: Mapped[str] = mapped_column(String(16), default="local")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # SFTP channel (channel = "sftp"); the private key stays in its file, never here
    sftp_host: Mapped[str | None] = mapped_column(String(255))
    sftp_port: Mapped[int | None] = mapped_column(Integer)
    sftp_user: Mapped[str | None] = mapped_column(String(100))
    sftp_key_file: Mapped[str | None] = mapped_column(String(500))
    known_hosts_file: Mapped[str | None] = mapped_column(String(500))
    remote_in: Mapped[str | None] = mapped_column(String(500))
    remote_out: Mapped[str | None] = mapped_column(String(500))
    remote_done: Mapped[str | None] = mapped_column(String(500))
    markers: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # when its status flows are emitted (cron, 5 fields); none: [statuses] default_cron
    status_cron: Mapped[str | None] = mapped_column(String(100))
    # an inactive partner's deposits stay in its inbox, untaken and reported
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())
    # an operator deposits for any supplier; any other partner for its suppliers only
    operator: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # the business rule sets its invoices are checked against, comma-separated ("" none);
    # none: the hub's [rules] (edi_engine/reception/rules.py)
    rules: Mapped[str | None] = mapped_column(String(40))
    # its API clients' quotas: requests per second and per day; none: the [api] defaults
    api_rate: Mapped[int | None] = mapped_column(Integer)
    api_daily: Mapped[int | None] = mapped_column(Integer)

    certificates: Mapped[list[Certificate]] = relationship(order_by="Certificate.id")
    suppliers: Mapped[list[PartnerSupplier]] = relationship(
        order_by="PartnerSupplier.identifier", cascade="all, delete-orphan"
    )


class PartnerSupplier(Base):
    """A supplier a partner may deposit for (docs/errors.md#who-may-deposit-for-whom), by the
    identifier its invoices carry (Fournisseur/Identifiant), spaces removed, upper case."""

    __tablename__ = "partner_suppliers"

    partner_code: Mapped[str] = mapped_column(ForeignKey("partners.code"), primary_key=True)
    identifier: Mapped[str] = mapped_column(String(100), primary_key=True)
    scheme: Mapped[str] = mapped_column(String(10))  # siret, vat or other
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Certificate(Base):
    """A key or certificate of a partner's connection (fiche de raccordement).

    A fingerprint belongs to one partner only; the rule is enforced when one is added,
    and `partners check` reports any that an import may have let in twice."""

    __tablename__ = "certificates"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_code: Mapped[str] = mapped_column(ForeignKey("partners.code"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # openssh, x509
    algorithm: Mapped[str] = mapped_column(String(50))
    fingerprint: Mapped[str] = mapped_column(String(120), index=True)
    ssh_fingerprint: Mapped[str | None] = mapped_column(String(120))
    label: Mapped[str | None] = mapped_column(String(500))
    not_before: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    not_after: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    public_text: Mapped[str] = mapped_column(Text)
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiClient(Base):
    """OAuth2 client credentials of a partner's software (edi_engine/partners/api_clients.py).
    The secret is kept as its argon2id hash only; `generation` grows with each rotation, and
    a token issued for an earlier one is refused."""

    __tablename__ = "api_clients"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    partner_code: Mapped[str] = mapped_column(ForeignKey("partners.code"), index=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    generation: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # a client tied to a registered certificate of its partner must present it over TLS
    certificate_id: Mapped[int | None] = mapped_column(ForeignKey("certificates.id"))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    rotated_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    certificate: Mapped[Certificate | None] = relationship()


class ApiSigningKey(Base):
    """A secret that signs API tokens (hex of 32 random bytes), made by edi_engine/api on
    first use: every worker and host checks tokens with the same keys."""

    __tablename__ = "api_signing_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    secret: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class ApiUsage(Base):
    """Requests an API client made in a window (a second, a day): its quotas' counters,
    shared by every worker and host."""

    __tablename__ = "api_usage"

    client_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    window: Mapped[str] = mapped_column(String(24), primary_key=True)
    count: Mapped[int] = mapped_column(Integer)


class Structure(Base):
    __tablename__ = "structures"

    siret: Mapped[str] = mapped_column(String(14), primary_key=True)
    designation: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean)
    # indexed, as accountant_partner: which invoices a partner may know of is asked by both
    # at each API call (controls.visibility), over a referential of tens of thousands
    partner_code: Mapped[str] = mapped_column(ForeignKey("partners.code"), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # what the structure requires on its invoices (docs/architecture.md#business-controls)
    engagement_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    service_code_required: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    engagement_or_service_code: Mapped[bool] = mapped_column(
        Boolean, default=False, server_default=false()
    )
    # the partner of the structure's public accountant (Hélios), who returns statuses 09-11
    accountant_partner: Mapped[str | None] = mapped_column(ForeignKey("partners.code"), index=True)

    services: Mapped[list[Service]] = relationship(order_by="Service.code")
    engagements: Mapped[list[Engagement]] = relationship(order_by="Engagement.id")


class Service(Base):
    """A department of a structure (CodeService), active or not."""

    __tablename__ = "services"
    __table_args__ = (UniqueConstraint("siret", "code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    siret: Mapped[str] = mapped_column(ForeignKey("structures.siret"), index=True)
    code: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(300))
    active: Mapped[bool] = mapped_column(Boolean)


class Engagement(Base):
    """A commitment (EJ) a structure publishes, for one supplier or for any (supplier NULL)."""

    __tablename__ = "engagements"
    __table_args__ = (UniqueConstraint("siret", "engagement", "supplier"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    siret: Mapped[str] = mapped_column(ForeignKey("structures.siret"), index=True)
    engagement: Mapped[str] = mapped_column(String(50))
    supplier: Mapped[str | None] = mapped_column(String(100))
    service_code: Mapped[str | None] = mapped_column(String(100))
    # a withdrawn commitment: an invoice that cites it is refused (ENGAGEMENT_INACTIVE)
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class Flow(Base):
    __tablename__ = "flows"
    # a flow's content among its partner's: with the hash alone, SQLite searched the
    # partner's index, every earlier flow of the partner for every flow (intake.original_of)
    __table_args__ = (Index("ix_flows_content", "content_hash", "partner_code"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    number: Mapped[str | None] = mapped_column(String(20), unique=True)
    partner_code: Mapped[str] = mapped_column(ForeignKey("partners.code"), index=True)
    file_name: Mapped[str] = mapped_column(String(255))
    content_hash: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    # with partner, name and hash, recognises a file recorded but not yet acknowledged
    source_mtime_ns: Mapped[int | None] = mapped_column(BigInteger)
    archive_path: Mapped[str] = mapped_column(String(500))
    syntax: Mapped[str | None] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(32), index=True)
    received_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    invoice_count: Mapped[int] = mapped_column(Integer, default=0)
    rejected_count: Mapped[int] = mapped_column(Integer, default=0)
    duplicate_of: Mapped[str | None] = mapped_column(String(20))
    lease_owner: Mapped[str | None] = mapped_column(String(100))
    lease_expires_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    # the depositor's own id of the flow (IdFlx of a pivot's or status file's envelope),
    # echoed in its CR; None for other syntaxes
    producer_flow_id: Mapped[str | None] = mapped_column(String(100))

    events: Mapped[list[FlowEvent]] = relationship(order_by="FlowEvent.id")
    errors: Mapped[list[FlowError]] = relationship(order_by="FlowError.id")
    invoices: Mapped[list[Invoice]] = relationship(order_by="Invoice.seq")
    outputs: Mapped[list[Output]] = relationship(order_by="Output.id")


class FlowNumber(Base):
    """The last flow number given (one row): numbers only grow, whatever a purge deletes
    (a row id is given again once its row is gone, on SQLite)."""

    __tablename__ = "flow_numbers"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)  # always 1
    last_number: Mapped[int] = mapped_column(BigInteger)


class PendingSource(Base):
    """A flow whose file is recorded but not yet removed from its inbox (or the partner's
    server). Only such a flow's very file is acknowledged without a flow of its own, when
    an intake stopped between its commit and the removal; any other file is a deposit."""

    __tablename__ = "pending_sources"

    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id"), primary_key=True)


class FlowEvent(Base):
    """Append-only: every state change of a flow, with who made it."""

    __tablename__ = "flow_events"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(32))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)


class FlowError(Base):
    """One line of the CR: why a flow or one of its invoices was rejected, or a warning."""

    __tablename__ = "flow_errors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id"), index=True)
    invoice_seq: Mapped[int | None] = mapped_column(Integer)
    document: Mapped[str | None] = mapped_column(String(255))  # batch member name
    code: Mapped[str] = mapped_column(String(40))
    severity: Mapped[str] = mapped_column(String(10), default="reject", server_default="reject")
    message: Mapped[str] = mapped_column(Text)
    message_fr: Mapped[str | None] = mapped_column(Text)  # business controls speak French too
    line: Mapped[int | None] = mapped_column(Integer)
    path: Mapped[str | None] = mapped_column(Text)
    element: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str | None] = mapped_column(Text)
    # the attempt that found it: a flow processed again keeps what each attempt found
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class Invoice(Base):
    __tablename__ = "invoices"
    __table_args__ = (
        UniqueConstraint("flow_id", "seq"),
        Index("ix_invoices_key", "supplier_id", "number"),
        Index("ix_invoices_number_key", "supplier_id", "number_key"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)  # 1-based position in the flow
    number: Mapped[str] = mapped_column(String(40))
    # what duplicates and statuses compare (number_key.key): `number` is for display
    number_key: Mapped[str | None] = mapped_column(String(100))
    type_code: Mapped[str | None] = mapped_column(String(3))
    issue_date: Mapped[date | None] = mapped_column(Date)
    supplier_id: Mapped[str | None] = mapped_column(String(100))
    supplier_name: Mapped[str | None] = mapped_column(String(300))
    recipient_siret: Mapped[str | None] = mapped_column(String(100), index=True)
    recipient_partner: Mapped[str | None] = mapped_column(String(8))
    service_code: Mapped[str | None] = mapped_column(String(100))
    engagement: Mapped[str | None] = mapped_column(String(50))
    currency: Mapped[str | None] = mapped_column(String(3))
    # amounts as written by the supplier, kept exact (no binary floats)
    amount_ht: Mapped[str | None] = mapped_column(String(40))
    amount_ttc: Mapped[str | None] = mapped_column(String(40))
    amount_net: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(40), index=True)
    status_code: Mapped[str] = mapped_column(String(2))
    status_date: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    pivot_file: Mapped[str | None] = mapped_column(String(255))
    supplier_id_type: Mapped[str | None] = mapped_column(String(1))  # TypeIdentifiant
    mandate: Mapped[str | None] = mapped_column(String(50), index=True)  # IdMandatDP
    # the attempt of its flow that last recorded it (accepted, or refused at reception)
    attempt: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    # 94 or 95 when its recipient reported its last delivery failed; cleared by redelivery
    delivery_incident: Mapped[str | None] = mapped_column(String(2))

    events: Mapped[list[InvoiceEvent]] = relationship(order_by="InvoiceEvent.id")
    findings: Mapped[list[InvoiceFinding]] = relationship(order_by="InvoiceFinding.id")


class InvoiceFinding(Base):
    """What the controls found on an invoice as it stands now: the reasons it was rejected,
    or the warnings it was accepted with. Recycling replaces them; the CR lines stay."""

    __tablename__ = "invoice_findings"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    severity: Mapped[str] = mapped_column(String(10))
    code: Mapped[str] = mapped_column(String(40))
    message: Mapped[str] = mapped_column(Text)
    message_fr: Mapped[str | None] = mapped_column(Text)
    element: Mapped[str | None] = mapped_column(String(255))
    value: Mapped[str | None] = mapped_column(Text)


class InvoiceEvent(Base):
    """Append-only lifecycle history of an invoice."""

    __tablename__ = "invoice_events"
    # SQLite: a purged change's id is never given again (the API's cursor, migration 0024)
    __table_args__ = ({"sqlite_autoincrement": True},)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[str] = mapped_column(String(40))
    status_code: Mapped[str] = mapped_column(String(2))
    actor: Mapped[str] = mapped_column(String(100))
    detail: Mapped[str | None] = mapped_column(Text)
    mandate: Mapped[str | None] = mapped_column(String(50))  # IdMandatDP, with 08 and 09
    # the status flow that told the supplier about this change: each change is in one only
    emitted_in: Mapped[int | None] = mapped_column(ForeignKey("status_flows.id"), index=True)
    # when the status was produced at its source (a partner's Horodatage); `at` is when the
    # hub recorded it
    produced_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # the recipient and service the invoice had then (recycling changes them later)
    recipient_siret: Mapped[str | None] = mapped_column(String(100))
    service_code: Mapped[str | None] = mapped_column(String(100))
    # False: never in a status flow (an acknowledgement, or a step the supplier already saw)
    to_supplier: Mapped[bool] = mapped_column(Boolean, default=True, server_default=true())


class StatusFlow(Base):
    """A status flow (STATUT_<partner>_<sequence>.xml) for a supplier-side partner. Its row
    and the changes it carries are committed before the file is written, so that a crash in
    between rewrites the same file instead of losing or repeating a change."""

    __tablename__ = "status_flows"
    __table_args__ = (UniqueConstraint("partner_code", "sequence"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    partner_code: Mapped[str] = mapped_column(ForeignKey("partners.code"))
    sequence: Mapped[int] = mapped_column(Integer)
    file_name: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    written_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    changes: Mapped[int] = mapped_column(Integer)


class ReceivedStatus(Base):
    """One status line of an inbound status flow, applied or refused (and why): the CR
    answers with it, and the accounting report explains invoices without accounting status."""

    __tablename__ = "received_statuses"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow_id: Mapped[int] = mapped_column(ForeignKey("flows.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    status_code: Mapped[str] = mapped_column(String(2))
    invoice_number: Mapped[str | None] = mapped_column(String(100))
    supplier_id: Mapped[str | None] = mapped_column(String(100))
    mandate: Mapped[str | None] = mapped_column(String(50), index=True)
    invoice_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"), index=True)
    outcome: Mapped[str] = mapped_column(String(40))  # APPLIED or the refusal's code


class JobRun(Base):
    """One run of a scheduled job. A run is claimed before it starts, one per job and fire
    time: two daemons on one database never run the same job twice."""

    __tablename__ = "job_runs"
    __table_args__ = (UniqueConstraint("job_id", "scheduled_for"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(String(100), index=True)
    scheduled_for: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    owner: Mapped[str] = mapped_column(String(100))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    outcome: Mapped[str | None] = mapped_column(Text)  # "ok: …" or "failed: …"


class Output(Base):
    """A file the engine wrote for a flow (CR, PIVOT, STATUT)."""

    __tablename__ = "outputs"
    __table_args__ = (
        UniqueConstraint("partner_code", "file_name"),
        # the uploads a stopped run left renaming, which every run looks for first: a few
        # rows at most, whatever the outputs kept
        Index(
            "ix_outputs_renaming",
            "partner_code",
            sqlite_where=text("uploaded_as IS NOT NULL"),
            postgresql_where=text("uploaded_as IS NOT NULL"),
        ),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    flow_id: Mapped[int | None] = mapped_column(ForeignKey("flows.id"), index=True)
    kind: Mapped[str] = mapped_column(String(10))
    partner_code: Mapped[str] = mapped_column(String(8))
    file_name: Mapped[str] = mapped_column(String(255))
    written_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # SFTP partners: the local outbox file is the queue; delivered once uploaded
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # SFTP: the name its bytes went to the partner's server under (`.<uploaded_as>.tmp`),
    # committed just before that temporary is renamed; NULL once delivered or queued again.
    # Set and not delivered: the rename may have happened, so it is never uploaded again
    # (edi_engine/delivery/uploads.py)
    uploaded_as: Mapped[str | None] = mapped_column(String(255))
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivery_error: Mapped[str | None] = mapped_column(Text)
    # staged in run/outgoing/<staged> until the commit that records it, then renamed into
    # outbox/<partner>/ (edi_engine/delivery/publication.py): NULL once published
    staged: Mapped[str | None] = mapped_column(String(255), unique=True, index=True)
    published_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # the earlier output under this name is renamed so just before this one is published
    previous_kept_as: Mapped[str | None] = mapped_column(String(255))
    # held back by what its partner left under its name: tried again then, later each time
    next_try_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # what the file holds, recorded when it is staged (`edi-engine check` compares them);
    # none for an output written before the ledger kept them (migration 0020)
    size: Mapped[int | None] = mapped_column(BigInteger)
    sha256: Mapped[str | None] = mapped_column(String(64))


class MonthlyCounter(Base):
    """What a month counted, per partner and syntax (an outbound file's: its kind, CR,
    PIVOT or STATUT). Kept up to date in the transaction of what it counts, and never
    purged: the monthly figures outlive the flows (edi_engine/ledger/counters.py)."""

    __tablename__ = "monthly_counters"

    month: Mapped[str] = mapped_column(String(7), primary_key=True)  # YYYY-MM at the hub
    partner_code: Mapped[str] = mapped_column(String(8), primary_key=True)
    syntax: Mapped[str] = mapped_column(String(32), primary_key=True)
    inbound_flows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    outbound_flows: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    invoices_received: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    invoices_accepted: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    invoices_rejected: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class InvoiceGuard(Base):
    """A row per invoice key (supplier, number key, year, hashed) that workers on
    PostgreSQL lock, so that two never accept one invoice (controls/duplicates.py). Row
    locks, unlike advisory locks, take no room in the server's lock table."""

    __tablename__ = "invoice_guards"

    key: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)


# the net under the explicit rules: no partner value, however long, fails a transaction
fields.guard(Base.metadata)
