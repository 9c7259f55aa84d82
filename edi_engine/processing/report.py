"""The integration report (CR) answering each deposited flow, read by the depositor's
software as well as by people (docs/errors.md#reading-a-cr).

- `IdFlux`, "the flow's id at its producer" for the status schema, is the depositor's own:
  the IdFlx of its pivot's or status file's envelope, else the name of the file it
  deposited. `Note` gives both with the hub's flow number, which is also the CR's own
  envelope IdFlx and in the CR's file name.
- `IdLigne` is the position of the invoice (or status) in the flow, from 1, as in
  `flows show`; "0" for what concerns the flow or one document of a batch. Never an XML
  line: that is in the description.
- `LibelleErreur` is French. `DescriptionErreur` names the invoice (number, supplier,
  recipient, from the ledger; for a UBL or CII document refused as a whole, as the
  document carries them) and where the finding is, as `key=value` items with French
  keys, then `en: ` and the English message, then the same items with English keys.
  A value's backslash and semicolon are escaped with a backslash.
- Every text is bounded and shows each hidden character as its code point (`<U+000A>`,
  problems.shown), however its message was built: a CR carries no control, bidi or
  invisible character, and names what a partner sent the way every screen does. A value
  already shown so (a stored file name) is unchanged by it.
- A flow given up IN_INCIDENTE is answered as one more attempt, like a re-run: a CR it
  had stays beside the new one as CR_<P>_<FLOW>_<N>.xml.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from pivot_format import statut
from pivot_format.model import ErrorLine, FlowStatus

from .. import clock
from ..delivery import outputs
from ..errors import StorageError
from ..ledger.models import Flow, ReceivedStatus
from ..ledger.models import Invoice as InvoiceRow
from ..ledger.states import CR_CODE, FlowState, Syntax
from ..lifecycle.statuses_in import APPLIED
from ..problems import INFO, REJECT, WARNING, Problem, shown
from ..reception import archive, origin
from ..reception.identify import STATUT
from ..reception.origin import NOBODY, Identity
from ..settings import Settings

WARNING_NATURE = "Avertissement"  # the invoice was accepted; the supplier should still look
INFO_NATURE = "Information"  # what was done, e.g. a status applied
FLOW_LINE = "0"  # IdLigne of what concerns the flow, or one document of a batch
MAX_VALUE = 200  # characters of one value in a description (partners' values are bounded)
MAX_MESSAGE = 1000  # characters of a message
MAX_FILE_NAME = 255
BATCH = 500  # invoices looked up in the ledger per query
SEVERITY_FR = {REJECT: "rejet", WARNING: "avertissement", INFO: "information"}
INCIDENT = Problem(
    "FLOW_INCIDENT",
    "A technical incident at the hub stopped the processing of the flow, and none of its "
    "invoices was integrated. Send the flow again.",
)


def error_line(
    problem: Problem, identity: Identity = NOBODY, place: origin.Place | None = None
) -> ErrorLine:
    """One LigneErreurDetail. Whether the finding rejected or only warned is said twice: by
    `NatureErreur` (Fichier or Facture for what was refused, Avertissement, Information) and
    by `gravité=`/`severity=` in the description, the word `flows show` uses."""
    line = problem.line or (place.line if place else None)
    path = problem.path or (place.path if place else None)
    where = (problem.document, line, path, problem.element, problem.value)
    french = zip(("document", "ligne", "chemin", "élément", "valeur"), where, strict=True)
    english = zip(("document", "line", "path", "element", "value"), where, strict=True)
    who = (identity.number, identity.supplier, identity.recipient)
    detail = "; ".join(
        (
            items(
                (
                    *zip(("facture", "fournisseur", "destinataire"), who, strict=True),
                    ("gravité", SEVERITY_FR.get(problem.severity, problem.severity)),
                    *french,
                )
            ),
            f"en: {escape(shown(problem.message.rstrip('.'), MAX_MESSAGE))}",
            items(
                (
                    ("severity", problem.severity),
                    *zip(("invoice", "supplier", "recipient"), who, strict=True),
                    *english,
                )
            ),
        )
    )
    on_invoice = problem.invoice_seq is not None
    if problem.rejects:
        nature = "Facture" if on_invoice else "Fichier"
    else:
        nature = INFO_NATURE if problem.severity == INFO else WARNING_NATURE
    french_message = problem.message_fr or f"Erreur {problem.code} : voir la description."
    return ErrorLine(
        code=problem.code,
        message=shown(french_message, MAX_MESSAGE),
        nature=nature,
        detail=detail,
        line_id=str(problem.invoice_seq) if on_invoice else FLOW_LINE,
    )


def integration_report(
    settings: Settings,
    session: Session,
    flow: Flow,
    state: FlowState,
    problems: Sequence[Problem],
) -> tuple[str, bytes]:
    """The CR's file name and content, checked against our status schema."""
    accepted, rejected = flow.invoice_count - flow.rejected_count, flow.rejected_count
    warnings = sum(problem.severity == WARNING for problem in problems)
    statuses = flow.syntax == Syntax.STATUT
    things_fr = ("statut(s) appliqué(s)", "refusé(s)") if statuses else (
        "facture(s) intégrée(s)", "rejetée(s)"
    )  # fmt: skip
    things = "status(es) applied" if statuses else "invoice(s) integrated"
    comment = (
        f"Flux {flow.number}, fichier {flow.file_name} : {accepted} {things_fr[0]}, "
        f"{rejected} {things_fr[1]}"
        + (f", {warnings} avertissement(s)" if warnings else "")
        + f". en: {flow.file_name}: {accepted} {things}, {rejected} rejected"
        + (f", {warnings} warning(s)" if warnings else "")
    )
    lines = tuple(_lines(settings, session, flow, problems))
    return _written(settings, flow, CR_CODE[state], state, comment, lines)


def incident(session: Session, flow: Flow) -> Problem:
    """What the CR of a flow given up IN_INCIDENTE says. Chorus Pro's rule for an incident
    is that the depositor sends the flow again; but what an earlier attempt integrated (a
    failed re-run) stays integrated, and the same content would have it refused as
    duplicates: that flow is not asked for again."""
    if flow.syntax == Syntax.STATUT:
        things = ("statut(s) appliqué(s)", "status(es) applied")
        kept = select(func.count()).where(
            ReceivedStatus.flow_id == flow.id, ReceivedStatus.outcome == APPLIED
        )
    else:
        things = ("facture(s) intégrée(s)", "invoice(s) integrated")
        kept = select(func.count()).where(
            InvoiceRow.flow_id == flow.id, InvoiceRow.pivot_file.is_not(None)
        )
    count = session.scalar(kept)
    if not count:
        return INCIDENT.at(document=flow.file_name)
    return INCIDENT.at(
        document=flow.file_name,
        message="A technical incident at the hub stopped the processing of the flow again; "
        f"what an earlier attempt did stands: {count} {things[1]}. Do not send the flow again.",
        message_fr="Un incident technique de la plateforme a de nouveau interrompu le "
        "traitement du flux ; ce qu'une tentative précédente a fait demeure : "
        f"{count} {things[0]}. Ne déposez pas ce flux à nouveau.",
    )


def incident_report(settings: Settings, flow: Flow, problem: Problem) -> tuple[str, bytes]:
    """The CR of a flow given up IN_INCIDENTE, saying `problem` (`incident`)."""
    comment = (
        f"Flux {flow.number}, fichier {flow.file_name} : {problem.message_fr} "
        f"en: {flow.file_name}: {problem.message}"
    )
    state = FlowState.IN_INCIDENTE
    return _written(settings, flow, CR_CODE[state], state, comment, (error_line(problem),))


def _written(
    settings: Settings,
    flow: Flow,
    code: str,
    state: FlowState,
    comment: str,
    lines: tuple[ErrorLine, ...],
) -> tuple[str, bytes]:
    # kept, so that `flows show` has it too (pipeline._finish keeps it before)
    if flow.producer_flow_id is None and (found := producer_flow_id(settings, flow)):
        flow.producer_flow_id = found
    file_name = shown(flow.file_name, MAX_FILE_NAME)
    status = FlowStatus(
        code=code,
        flow_id=flow.producer_flow_id or file_name,
        at=clock.now(),
        complement=state.value,
        comment=shown(comment, 2 * MAX_MESSAGE),
        note=items(
            (("fichier", file_name), ("flux", flow.number), ("idflx", flow.producer_flow_id))
        ),
        errors=lines,
    )
    envelope = outputs.envelope(settings, flow.number, flow.partner_code)
    name = outputs.file_name(outputs.CR, flow.partner_code, flow.number)
    return name, outputs.checked(STATUT, statut.write_flow_statuses([status], envelope), name)


ENVELOPED = (None, Syntax.PIVOT, Syntax.STATUT)  # None: a flow given up before it was read


def producer_flow_id(settings: Settings, flow: Flow) -> str | None:
    """The IdFlx of the flow's envelope, read from its archived original. Only a pivot or
    status file has an envelope (opening every UBL flow's original again cost ~4 % of
    run --once)."""
    if flow.syntax not in ENVELOPED:
        return None
    try:
        return origin.producer_flow_id(archive.path(settings.archive, flow.archive_path))
    except StorageError:
        return None


def _lines(
    settings: Settings, session: Session, flow: Flow, problems: Sequence[Problem]
) -> Iterator[ErrorLine]:
    """One error line per problem; the invoices they name are looked up BATCH at a time,
    and where they sit read once from the archived original (only for those the readers
    and controls did not place)."""
    unplaced = {
        p.invoice_seq
        for p in problems
        if p.invoice_seq is not None and (p.line is None or p.path is None)
    }
    places: dict[int, origin.Place] = {}
    if unplaced:
        try:
            path = archive.path(settings.archive, flow.archive_path)
            huge = settings.limits.huge_for(path.stat().st_size)
            places = origin.invoice_places(path, unplaced, huge)
        except (StorageError, OSError):
            pass
    for start in range(0, len(problems), BATCH):
        chunk = problems[start : start + BATCH]
        seqs = {p.invoice_seq for p in chunk if p.invoice_seq is not None}
        identities = _identities(session, flow, seqs) if seqs else {}
        for problem in chunk:
            seq = problem.invoice_seq
            named = problem.invoice if isinstance(problem, origin.Named) else NOBODY
            yield error_line(problem, identities.get(seq, named), places.get(seq))


def _identities(session: Session, flow: Flow, seqs: set[int]) -> dict[int, Identity]:
    """Number, supplier and recipient of the flow's invoices (or statuses) at `seqs`; the
    latest row wins when an earlier attempt left one at the same place."""
    invoices = (
        select(
            InvoiceRow.seq, InvoiceRow.number, InvoiceRow.supplier_id, InvoiceRow.recipient_siret
        )
        .where(InvoiceRow.flow_id == flow.id, InvoiceRow.seq.in_(seqs))
        .order_by(InvoiceRow.id)
    )
    statuses = (
        select(
            ReceivedStatus.seq,
            ReceivedStatus.invoice_number,
            ReceivedStatus.supplier_id,
            InvoiceRow.recipient_siret,
        )
        .outerjoin(InvoiceRow, InvoiceRow.id == ReceivedStatus.invoice_id)
        .where(ReceivedStatus.flow_id == flow.id, ReceivedStatus.seq.in_(seqs))
        .order_by(ReceivedStatus.id)
    )
    found = {}
    for query in (invoices, statuses):
        for seq, number, supplier, recipient in session.execute(query):
            found[seq] = Identity(number, supplier, recipient)
    return found


# --------------------------------------------------------------------------- the format


def escape(value: str) -> str:
    """A value inside a description: its backslashes and semicolons escaped."""
    return value.replace("\\", "\\\\").replace(";", "\\;")


def items(pairs: Iterable[tuple[str, object]]) -> str:
    """`key=value; …` for the pairs that have a value, each bounded and escaped."""
    return "; ".join(
        f"{key}={escape(shown(str(value), MAX_VALUE))}"
        for key, value in pairs
        if value is not None and value != ""
    )


def parse(text: str) -> list[tuple[str, str]]:
    """The (key, value) items of a DescriptionErreur or of the CR's Note, unescaped, as a
    depositor's software reads them; the English message is the item keyed `en`."""
    found, current, escaped = [], [], False
    for char in text:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ";":
            found.append("".join(current))
            current = []
        else:
            current.append(char)
    found.append("".join(current))
    pairs = []
    for item in found:
        item = item.removeprefix(" ")
        if item.startswith("en: "):
            pairs.append(("en", item[len("en: ") :]))
        else:
            key, _, value = item.partition("=")
            pairs.append((key, value))
    return pairs
