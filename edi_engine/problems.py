"""A problem found in a flow: one error line of the CR, one row of ``flow_errors``.

Codes are stable public contracts (users' scripts match on them); the codes of reading
and transport live with the step that raises them, the business controls in
``controls.catalogue``; docs/errors.md lists them all.

The CR speaks French first: a business control and a status control carry their own
French message; every other code gets the French label below, while its English message
keeps the technical detail (a parser's or a schema's reason), after ``en:`` in the CR.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace

from .display import escaped

REJECT = "reject"
WARNING = "warning"  # kept with the invoice and shown in the CR; the invoice goes on
INFO = "info"  # what was done, listed in the CR (e.g. a status applied)
SHOWN = 100  # characters of a partner's value quoted in a message


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

    def __post_init__(self) -> None:
        if self.message_fr is None and self.code in FRENCH:
            object.__setattr__(self, "message_fr", FRENCH[self.code])

    @property
    def rejects(self) -> bool:
        return self.severity == REJECT

    def at(self, **where: object) -> Problem:
        return replace(self, **where)

    def as_dict(self) -> dict[str, object]:
        """The keys are those of ``flow_errors`` and of the errors in `--json` output."""
        return asdict(self)


def shown(value: str, limit: int = SHOWN) -> str:
    """A partner's value quoted in a message or kept beside one: on one line, its hidden
    characters written `<U+XXXX>` (display.escaped) and bounded, whatever the partner
    sent (the message is stored, and shown as it is: escaping it again changes nothing)."""
    return escaped(value, limit)


class FlowRejected(Exception):
    """The whole flow (or one document of a batch) cannot be taken further."""

    def __init__(self, *problems: Problem) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


# The French label of each code whose message is English only (reading, transport, the
# pivot's writer). The codes of the business controls and of the status controls are not
# here: their French message names the value found, and `in_french` gives it.
FRENCH: dict[str, str] = {
    # the flow, or a document of a batch
    "EMPTY_FILE": "Le fichier est vide.",
    "FILE_TOO_LARGE": "Le fichier dépasse la taille maximale acceptée par la plateforme.",
    "NOT_XML": "Le document n'est pas un XML bien formé.",
    "DTD_FORBIDDEN": "Le document déclare un DOCTYPE ; les DTD et les entités sont refusées.",
    "UNKNOWN_SYNTAX": (
        "L'élément racine n'est d'aucune syntaxe acceptée (UBL Invoice ou CreditNote, CII "
        "CrossIndustryInvoice, CPPFacturePivot, CPPStatut)."
    ),
    "XSD_INVALID": "Le document n'est pas valide selon son schéma XSD.",
    "RULES_NOT_CHECKED": "Les règles officielles n'ont pas pu être vérifiées sur cette facture ; "
    "elle n'est pas transmise sans l'être.",
    "DUPLICATE_FLOW": "Ce contenu a déjà été reçu : le flux est refusé comme doublon.",
    "UNREADABLE": "Le fichier ne peut pas être lu.",
    "NO_INVOICE": "Le flux ne contient aucune facture.",
    "FLOW_INCIDENT": (
        "Un incident technique de la plateforme a interrompu le traitement du flux ; aucune "
        "de ses factures n'a été intégrée. Déposez ce flux à nouveau."
    ),
    "FLOW_KILLED_WORKER": (
        "Le traitement du flux a interrompu plusieurs fois le processus de la plateforme qui "
        "le traitait (mémoire épuisée, arrêt brutal) : il n'est plus repris. Vérifiez le "
        "flux (taille, contenu) avant de le déposer à nouveau."
    ),
    # batches and Factur-X
    "CORRUPT_ARCHIVE": "Le lot ne peut pas être ouvert (archive endommagée ou chiffrée).",
    "UNSAFE_MEMBER_PATH": (
        "Un fichier du lot a un chemin absolu, sort du dossier du lot ou n'est pas un fichier "
        "ordinaire : le lot est refusé en entier."
    ),
    "ARCHIVE_BOMB": (
        "Le lot dépasse une fois décompressé les limites de la plateforme (taille, taux de "
        "compression ou nombre de fichiers) : il est refusé en entier."
    ),
    "MEMBER_NAME_TOO_LONG": (
        "Le nom d'un fichier du lot dépasse 255 caractères : le lot est refusé en entier."
    ),
    "NESTED_ARCHIVE": "Un lot ne peut pas contenir un autre lot (zip ou tar.gz).",
    "EMPTY_BATCH": "Le lot ne contient aucun document.",
    "FACTURX_UNREADABLE": "Le PDF ne peut pas être lu.",
    "FACTURX_NO_XML": "Le PDF ne porte pas de XML Factur-X (facture CII) intégré.",
    # reading one invoice
    "UNSUPPORTED_DOCUMENT": "L'élément racine n'est pas le document attendu.",
    "NOT_A_PIVOT": "Le document n'est pas un CPPFacturePivot.",
    "NOT_A_STATUT": "Le document n'est pas un CPPStatut.",
    "MISSING_ELEMENT": "Un élément obligatoire est absent ou vide.",
    "INVOICE_NUMBER_TOO_LONG": (
        "Le numéro de facture dépasse 20 caractères, la limite du format pivot."
    ),
    "VALUE_TOO_LONG": "Une valeur dépasse la longueur maximale du format pivot.",
    "FIELD_TOO_LONG": (
        "Une valeur qui identifie la facture (identifiant du fournisseur, montant) dépasse la "
        "longueur que la plateforme conserve ; elle n'est pas tronquée."
    ),
    "INVALID_VALUE": "Une valeur n'a pas la forme attendue.",
    "INVALID_DATE": "Une date n'est pas valide.",
    "INVALID_DATETIME": "Un horodatage n'est pas valide.",
    "INVALID_DECIMAL": "Un nombre décimal n'est pas valide.",
    "INVALID_INTEGER": "Un nombre entier n'est pas valide.",
    "INVALID_BASE64": "Un contenu encodé en base64 n'est pas valide.",
    "INVALID_FORMAT": "Une valeur n'a pas le format attendu.",
    "MARKUP_IN_TEXT": "Un élément qui doit porter du texte contient des éléments XML.",
    "ATTACHMENT_TOO_LARGE": "Une pièce jointe dépasse la taille maximale d'une pièce jointe.",
    "INVOICE_ATTACHMENTS_TOO_LARGE": (
        "Les pièces jointes de la facture dépassent ensemble la taille maximale pour une facture."
    ),
    "ATTACHMENT_NAME_TOO_LONG": "Le nom d'une pièce jointe dépasse la longueur maximale.",
    "ATTACHMENT_TYPE_REFUSED": "L'extension d'une pièce jointe n'est pas acceptée.",
    # writing the pivot
    "MISSING_VALUE": "Une valeur obligatoire du format pivot est absente.",
    "MISSING_ATTACHMENT": "La facture n'a aucune pièce jointe.",
    "VALUE_NOT_ALLOWED": "Une valeur ne fait pas partie des codes du format pivot.",
    "INVALID_CHARACTER": "Une valeur contient un caractère que XML ne peut pas porter.",
    "MISSING_TIMEZONE": "Un horodatage n'indique pas son décalage horaire.",
    "NO_STATUS": "Le flux de statuts ne contient aucun statut.",
    "OUTPUT_INVALID": (
        "Le pivot produit par la plateforme n'est pas valide selon son schéma : la facture "
        "n'a pas pu être transmise."
    ),
}
