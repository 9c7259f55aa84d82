"""A problem found in a flow: one error line of the CR, one row of ``flow_errors``.

Codes are stable public contracts (users' scripts match on them); the codes of reading
and transport live with the step that raises them, the business controls in
``controls.catalogue``; docs/errors.md lists them all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

REJECT = "reject"
WARNING = "warning"  # kept with the invoice and shown in the CR; the invoice goes on
INFO = "info"  # what was done, listed in the CR (e.g. a status applied)


@dataclass(frozen=True)
class Problem:
    code: str
    message: str
    line: int | None = None
    path: str | None = None  # XPath-like location in the document
    element: str | None = None
    value: str | None = None
    document: str | None = None  # batch member name, when the flow is a batch
    invoice_seq: int | None = None
    severity: str = REJECT
    message_fr: str | None = None

    @property
    def rejects(self) -> bool:
        return self.severity == REJECT

    def at(self, **where: object) -> Problem:
        return replace(self, **where)

    def as_dict(self) -> dict[str, object]:
        """The keys are those of ``flow_errors`` and of the errors in `--json` output."""
        return asdict(self)


class FlowRejected(Exception):
    """The whole flow (or one document of a batch) cannot be taken further."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems
