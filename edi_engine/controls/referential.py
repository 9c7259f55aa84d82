"""Controls against the hub's referential: the recipient structure, its services and the
commitments it publishes (docs/architecture.md#business-controls). Also used before an invoice
is recycled."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from pivot_format.model import Invoice

from .. import siret as siret_rules
from ..ledger.models import Engagement, Partner, Service, Structure
from ..problems import Problem
from .catalogue import CATALOGUE


@dataclass(frozen=True)
class Recipient:
    siret: str
    designation: str
    active: bool
    partner_code: str
    remote: bool = False  # its partner is reached over SFTP: delivered once uploaded
    engagement_required: bool = False
    service_code_required: bool = False
    engagement_or_service_code: bool = False


@dataclass
class Referential:
    """Structures and services read once per run (routing must not cost a query per
    invoice); published commitments, which may be many, looked up when needed."""

    session: Session
    structures: dict[str, Recipient]
    services: dict[tuple[str, str], bool]  # (siret, code) -> active
    with_services: set[str]  # structures that manage services
    publishing: set[str]  # structures that publish their commitments
    _engagements: dict[tuple[str, str], list[tuple[str | None, str | None, bool]]] = field(
        default_factory=dict
    )
    # (partner, supplier) -> whether the partner may deposit for it, learnt once per run
    depositors: dict[tuple[str, str | None], bool] = field(default_factory=dict)

    @classmethod
    def load(cls, session: Session) -> Referential:
        rows = session.execute(
            select(
                Structure.siret,
                Structure.designation,
                Structure.active,
                Structure.partner_code,
                Partner.channel == "sftp",
                Structure.engagement_required,
                Structure.service_code_required,
                Structure.engagement_or_service_code,
            ).join(Partner, Partner.code == Structure.partner_code)
        )
        services = {
            (siret, code): active
            for siret, code, active in session.execute(
                select(Service.siret, Service.code, Service.active)
            )
        }
        publishing = session.scalars(select(Engagement.siret).distinct())
        return cls(
            session,
            {row[0]: Recipient(*row) for row in rows},
            services,
            {siret for siret, _ in services},
            set(publishing),
        )

    def engagements(self, siret: str, number: str) -> list[tuple[str | None, str | None, bool]]:
        """(supplier, service code, active) of each commitment `number` the structure
        published."""
        key = (siret, number)
        if key not in self._engagements:
            rows = self.session.execute(
                select(Engagement.supplier, Engagement.service_code, Engagement.active).where(
                    Engagement.siret == siret, Engagement.engagement == number
                )
            )
            self._engagements[key] = [tuple(row) for row in rows]
        return self._engagements[key]


def recipient(invoice: Invoice, referential: Referential) -> Recipient | Problem:
    """The ACTIVE structure the invoice is addressed to, or why there is none."""
    debiteur = invoice.debiteur
    siret = debiteur.siret
    if not siret:
        found = debiteur.raw_identifier
        scheme = debiteur.raw_scheme
        return CATALOGUE["RECIPIENT_MISSING"].fails(
            found,
            found_fr=f" (il est identifié par '{found}'{f', schéma {scheme}' if scheme else ''})"
            if found
            else "",
            found_en=f" (it is identified by '{found}'{f', scheme {scheme}' if scheme else ''})"
            if found
            else "",
        )
    if not siret_rules.is_valid(siret):
        return CATALOGUE["RECIPIENT_INVALID"].fails(siret)
    found = referential.structures.get(siret)
    if found is None:
        return CATALOGUE["RECIPIENT_UNKNOWN"].fails(siret)
    if not found.active:
        return CATALOGUE["RECIPIENT_INACTIVE"].fails(siret, name=found.designation)
    return found


def service_code(code: str | None, to: Recipient, referential: Referential) -> list[Problem]:
    """A structure that manages no services in the referential accepts any service code:
    the hub cannot say it is unknown."""
    structure = {"siret": to.siret, "name": to.designation}
    if not code:
        if to.service_code_required:
            return [CATALOGUE["SERVICE_CODE_REQUIRED"].fails(**structure)]
        return []
    if to.siret not in referential.with_services:
        return []
    active = referential.services.get((to.siret, code))
    if active is None:
        return [CATALOGUE["SERVICE_CODE_UNKNOWN"].fails(code, **structure)]
    if not active:
        return [CATALOGUE["SERVICE_CODE_INACTIVE"].fails(code, **structure)]
    return []


def engagement(invoice: Invoice, to: Recipient, referential: Referential) -> list[Problem]:
    number, service = invoice.engagement_number, invoice.debiteur.service_code
    structure = {"siret": to.siret, "name": to.designation}
    if not number:
        if to.engagement_required:
            return [CATALOGUE["ENGAGEMENT_REQUIRED"].fails(**structure)]
        if to.engagement_or_service_code and not service:
            return [CATALOGUE["ENGAGEMENT_OR_SERVICE_CODE_REQUIRED"].fails(**structure)]
        return []
    if to.siret not in referential.publishing:
        return []
    supplier = invoice.supplier.identifier
    found = [
        (s, active)
        for who, s, active in referential.engagements(to.siret, number)
        if who in (None, supplier)
    ]
    if not found:
        return [CATALOGUE["ENGAGEMENT_UNKNOWN"].fails(number, supplier=supplier, **structure)]
    services = [s for s, active in found if active]
    if not services:  # published, then withdrawn
        return [CATALOGUE["ENGAGEMENT_INACTIVE"].fails(number, **structure)]
    if service and all(s and s != service for s in services):
        return [
            CATALOGUE["ENGAGEMENT_SERVICE_MISMATCH"].fails(
                number, engagement_service=services[0], service=service
            )
        ]
    return []


def addressing(
    invoice: Invoice, referential: Referential, commitments: bool = True
) -> tuple[Recipient | None, list[Problem]]:
    """Every referential control: the recipient, then what that structure requires.
    Without `commitments` (a depositor not tied to the invoice's supplier) the commitment
    controls are left out: whether one is unknown would tell which the structure published
    for that supplier."""
    found = recipient(invoice, referential)
    if isinstance(found, Problem):
        return None, [found]
    problems = service_code(invoice.debiteur.service_code, found, referential)
    if commitments:
        problems += engagement(invoice, found, referential)
    return found, problems
