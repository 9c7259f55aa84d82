"""The integration report (CR) answering each deposited flow (docs/architecture.md#flow-states)."""

from __future__ import annotations

from collections.abc import Sequence

from pivot_format import statut
from pivot_format.model import ErrorLine, FlowStatus

from . import clock, outputs
from .identify import STATUT
from .models import Flow
from .problems import INFO, WARNING, Problem
from .settings import Settings
from .states import CR_CODE, FlowState, Syntax

WARNING_NATURE = "Avertissement"  # the invoice was accepted; the supplier should still look
INFO_NATURE = "Information"  # what was done, e.g. a status applied


def error_line(problem: Problem) -> ErrorLine:
    """Name the code, the element and the value found, so the depositor can act. A business
    control speaks French first (the hub's language), with its English message after.

    Whether the finding rejected or only warned is said twice: by `NatureErreur` (Fichier or
    Facture for what was refused, Avertissement, Information) and by `severity=` in the
    description, the word `flows show` uses, since a hub sets each control's severity."""
    where = [
        f"{label}={value}"
        for label, value in (
            ("severity", problem.severity),
            ("document", problem.document),
            ("line", problem.line),
            ("element", problem.element),
            ("value", problem.value),
            ("path", problem.path),
        )
        if value is not None
    ]
    if problem.message_fr:
        where.insert(0, f"en: {problem.message.rstrip('.')}")
    nature = "Facture" if problem.invoice_seq is not None else "Fichier"
    return ErrorLine(
        code=problem.code,
        message=problem.message_fr or problem.message,
        nature=nature
        if problem.rejects
        else INFO_NATURE
        if problem.severity == INFO
        else WARNING_NATURE,
        detail="; ".join(where) or None,
        line_id=str(problem.invoice_seq if problem.invoice_seq is not None else problem.line or "")
        or None,
    )


def integration_report(
    settings: Settings, flow: Flow, state: FlowState, problems: Sequence[Problem]
) -> tuple[str, bytes]:
    """The CR's file name and content, checked against our status schema."""
    accepted = flow.invoice_count - flow.rejected_count
    warnings = sum(problem.severity == WARNING for problem in problems)
    things = "status(es) applied" if flow.syntax == Syntax.STATUT else "invoice(s) integrated"
    status = FlowStatus(
        code=CR_CODE[state],
        flow_id=flow.number,
        at=clock.now(),
        complement=state.value,
        comment=(
            f"{flow.file_name}: {accepted} {things}, {flow.rejected_count} rejected"
            + (f", {warnings} warning(s)" if warnings else "")
        ),
        errors=tuple(error_line(p) for p in problems),
    )
    envelope = outputs.envelope(settings, flow.number, flow.partner_code)
    name = outputs.file_name(outputs.CR, flow.partner_code, flow.number)
    return name, outputs.checked(STATUT, statut.write_flow_statuses([status], envelope), name)
