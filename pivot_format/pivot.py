"""CPPFacturePivot V2_02 ↔ invoice model.

The pivot is what the hub delivers to recipient structures and what some suppliers
deposit directly. ``write_pivot`` builds the tree with ``SubElement`` in the official
XSD's element order and checks the model's values against the format's closed lists
first, so every file it returns validates without per-invoice schema work.
``read_invoice`` is its exact inverse for every field the pivot carries, and also reads
every other lexical form the official XSD accepts (``01`` for TypeIdentifiant, ``030``
for ModePaiement/Code, dates with a time zone, decimals such as ``+12.0``) as the value
the writer writes canonically.

Our XSD accepts every document the official one accepts (issue 11), so the reader makes
the checks the engine needs and the official XSD does not, each with its code: text in
the elements the official XSD leaves untyped (``MARKUP_IN_TEXT``), a supplier country of
two letters and a MIME type of the form type/subtype (``INVALID_FORMAT``), an attachment
with its content (``MISSING_ELEMENT``) in base64 (``INVALID_BASE64``); given the hub's
attachment rules, each PJ keeps them before any is decoded (``attachments``).
"""

from __future__ import annotations

import base64
import re
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import date

from lxml import etree

from pivot_format.attachments import (
    NAME_MAX,
    AttachmentRules,
    Found,
    check,
    extension_of,
    mime_extension,
)
from pivot_format.cpp import (
    DATE_OF_PRODUCTION,
    check_country,
    check_length,
    check_one_of,
    date_text,
    decimal_text,
    integer_text,
    kids,
    missing,
    optional_text,
    parse_count,
    parse_date,
    parse_decimal,
    path_of,
    read_debiteur,
    read_envelope,
    read_supplier_identity,
    required,
    required_text,
    sub,
    sub_opt,
    to_bytes,
    write_debiteur,
    write_envelope,
    write_supplier_identity,
    write_units,
)
from pivot_format.errors import ConversionError
from pivot_format.model import (
    CREDIT_NOTE,
    INVOICE,
    Attachment,
    Envelope,
    Invoice,
    Line,
    Supplier,
    VatLine,
)

__all__ = [
    "PIVOT_VERSION",
    "completed",
    "invoice_elements",
    "pivot_attachment_name",
    "pivot_tree",
    "read_envelope",
    "read_invoice",
    "write_pivot",
    "written_ahead",
]

_Element = etree._Element

PIVOT_VERSION = "V2_02"
INVOICE_TYPES = frozenset({INVOICE, CREDIT_NOTE})
CADRES = frozenset(f"A{n}" for n in (*range(1, 11), *range(12, 26)))  # no A11 in V2_02
PAYMENT_MEANS = frozenset({"10", "20", "30", "31", "42", "48", "49", "97"})
# Renvoi: a first delivery, or one again after a completion or a recycling
RENVOI_FIRST, RENVOI_COMPLETED, RENVOI_RECYCLED = "Non", "Complétée", "Recyclée"
RENVOIS = frozenset({RENVOI_FIRST, RENVOI_COMPLETED, RENVOI_RECYCLED})
ATTACHMENT_TYPES = frozenset({"01", "02"})
BANK_REFERENCE_TYPES = frozenset({"IBAN", "RIB"})
EMISSION_MODE = "flux"  # ModeEmission: the hub only ever receives invoices as data

_UNITS = etree.XPath("CPPFactures/CPPFacturePivotUnitaire")
# the elements the official XSD leaves untyped (xs:anyType): ours too, so they may hold
# child elements, which the engine would silently lose
_UNTYPED = etree.XPath(
    "Fournisseur/Identifiant | Fournisseur/RaisonSociale | Debiteur/Nom"
    " | DonneesFacture/Lignes/Ligne/ReferenceProduit | PJ/MimeTypePJ"
)
_CURRENCY = re.compile(r"[A-Z]{3}")
_INTEGER = re.compile(r"[+-]?[0-9]+")
# RFC 2045 type/subtype, optional parameters; kept equal to the pattern in our XSD
_MIME = re.compile(
    r"[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]*/[A-Za-z0-9][A-Za-z0-9!#$&^_.+\-]*([ \t]*;[^\r\n]*)?"
)


# --------------------------------------------------------------------------- writing


def write_pivot(invoices: Sequence[Invoice], envelope: Envelope) -> bytes:
    """One CPPFacturePivot document carrying ``invoices`` in order, UTF-8 with declaration."""
    return to_bytes(pivot_tree(invoices, envelope))


def pivot_tree(invoices: Sequence[Invoice], envelope: Envelope) -> _Element:
    """`write_pivot`'s document, as a tree: checked against the schema before it is
    serialized, never parsed back from its bytes."""
    if not invoices:
        raise ConversionError("NO_INVOICE", "a pivot flow carries at least one invoice")
    root = etree.Element("CPPFacturePivot", Version=PIVOT_VERSION)
    write_envelope(root, envelope)
    factures = sub(root, "CPPFactures", Compteur=str(len(invoices)))
    write_units(factures, "CPPFacturePivotUnitaire", invoices, _write_invoice)
    return root


# -- a pivot written before its recipient and its ledger id are known -------------------
#
# A worker process writes (and checks) an invoice's pivot while the writer has yet to run
# the controls that find its recipient and to record the row that gives its IdCPRO: it
# writes stand-ins for both, valid where the real values are, which `completed` replaces.
# The stand-ins sit right after tags that only the structure of the document writes (a
# value of the invoice is escaped: "<" never appears raw in its text), so each is found
# once; the result is byte for byte what `write_pivot` gives with the real values.
RECEIVER_STANDIN = "RCPTSTND"  # 3 to 8 characters, like every partner code
ID_STANDIN = 9_223_372_036_854_775_807  # the largest id a ledger row may get


def written_ahead(invoice: Invoice, envelope: Envelope) -> _Element:
    """The pivot of one invoice with stand-ins for its recipient and its ledger id."""
    envelope = replace(envelope, receiver_id=RECEIVER_STANDIN)
    return pivot_tree([replace(invoice, id_cpro=ID_STANDIN)], envelope)


def completed(ahead: bytes, receiver_id: str, id_cpro: int, produced_at: date) -> bytes:
    """`written_ahead`'s bytes with the real recipient, ledger id and day of production."""
    for found, wanted in (
        (_receiver(RECEIVER_STANDIN), _receiver(receiver_id)),
        (_id(ID_STANDIN), _id(id_cpro)),
    ):
        if ahead.count(found) != 1:
            raise ValueError(f"a pivot written ahead holds {found!r} {ahead.count(found)} times")
        ahead = ahead.replace(found, wanted)
    day = re.search(rb"<Code>" + DATE_OF_PRODUCTION.encode() + rb"</Code><Valeurparametre>", ahead)
    if day is None:
        raise ValueError("a pivot written ahead has no day of production")
    return ahead[: day.end()] + date_text(produced_at).encode() + ahead[day.end() + 10 :]


def _receiver(partner: str) -> bytes:
    return f"<Recepteur><Id>{partner}</Id>".encode()


def _id(id_cpro: int) -> bytes:
    return f"<IdCPRO>{id_cpro}</IdCPRO>".encode()


def _write_invoice(unit: _Element, invoice: Invoice) -> None:
    _check_invoice(invoice)
    _write_supplier(unit, invoice.supplier)
    write_debiteur(unit, invoice.debiteur)
    _write_data(sub(unit, "DonneesFacture"), invoice)
    _write_attachments(unit, invoice.attachments)


def _check_invoice(invoice: Invoice) -> None:
    """The invoice values the official XSD restricts and the model does not."""
    check_length(invoice.number, 20, "DonneesFacture/Id")
    if invoice.renvoi:
        check_one_of(invoice.renvoi, RENVOIS, "DonneesFacture/Renvoi")
    check_length(invoice.origin_invoice_id, 20, "DonneesFacture/IdFactureOrigine", False)
    check_one_of(invoice.type_code, INVOICE_TYPES, "DonneesFacture/Type")
    check_one_of(invoice.cadre, CADRES, "DonneesFacture/Cadre")
    check_one_of(invoice.payment_means_code, PAYMENT_MEANS, "DonneesFacture/ModePaiement/Code")
    if not _CURRENCY.fullmatch(invoice.currency):
        raise ConversionError(
            "INVALID_FORMAT",
            "a currency is three upper-case letters (ISO 4217)",
            "DonneesFacture/Devise",
            invoice.currency,
        )
    check_length(invoice.contract_number, 50, "DonneesFacture/Engagement/NumeroMarche", False)
    check_length(invoice.engagement_number, 50, "DonneesFacture/Engagement/NumeroEngagement", False)
    for line in invoice.lines:
        if line.number < 0:
            raise ConversionError(
                "INVALID_FORMAT",
                "a line number is not negative",
                "DonneesFacture/Lignes/Ligne/@NumOrdre",
                str(line.number),
            )


def _write_supplier(unit: _Element, supplier: Supplier) -> None:
    element = sub(unit, "Fournisseur")
    write_supplier_identity(element, supplier, country_required=True)
    if supplier.iban or supplier.bic or supplier.payee_name:
        check_one_of(
            supplier.bank_reference_type,
            BANK_REFERENCE_TYPES,
            "Fournisseur/ReferenceBancaire/@Type",
        )
        bank = sub(element, "ReferenceBancaire", Type=supplier.bank_reference_type)
        sub_opt(bank, "Compte", supplier.iban)
        sub_opt(bank, "Etablissement", supplier.bic)
        sub_opt(bank, "RaisonSocialeEncaisseur", supplier.payee_name)
    sub(element, "ModeEmission", EMISSION_MODE)


def _write_data(data: _Element, invoice: Invoice) -> None:
    """DonneesFacture; the two dates the hub must always give default to the issue date."""
    sub(data, "Id", invoice.number)
    sub_opt(data, "IdCPRO", None if invoice.id_cpro is None else str(invoice.id_cpro))
    sub_opt(data, "Renvoi", invoice.renvoi)
    sub_opt(data, "IdFactureOrigine", invoice.origin_invoice_id)
    sub(data, "Type", invoice.type_code)
    sub(data, "Cadre", invoice.cadre)
    sub(data, "DateEmissionFacture", date_text(invoice.issue_date))
    sub(data, "DateLivraison", date_text(invoice.delivery_date or invoice.issue_date))
    means = sub(data, "ModePaiement")
    sub(means, "Code", invoice.payment_means_code)
    sub_opt(means, "Libelle", invoice.payment_means_label)
    sub(data, "DateReception", date_text(invoice.reception_date or invoice.issue_date))
    sub(data, "Devise", invoice.currency)
    amounts = sub(data, "Montants")
    sub(amounts, "MontantHT", decimal_text(invoice.amount_ht, "DonneesFacture/Montants/MontantHT"))
    sub(
        amounts,
        "MontantTTC",
        decimal_text(invoice.amount_ttc, "DonneesFacture/Montants/MontantTTC"),
    )
    sub(
        amounts,
        "MontantNetAPayer",
        decimal_text(invoice.amount_net, "DonneesFacture/Montants/MontantNetAPayer"),
    )
    if invoice.vat_lines:
        vats = sub(data, "TVAs")
        for vat in invoice.vat_lines:
            element = sub(vats, "TVA")
            sub(element, "Taux", decimal_text(vat.rate, "DonneesFacture/TVAs/TVA/Taux"))
            sub(element, "BaseHt", decimal_text(vat.base_ht, "DonneesFacture/TVAs/TVA/BaseHt"))
            sub(
                element,
                "MontantTVA",
                decimal_text(vat.amount, "DonneesFacture/TVAs/TVA/MontantTVA"),
            )
    if invoice.contract_number or invoice.engagement_number:
        engagement = sub(data, "Engagement")
        sub_opt(engagement, "NumeroMarche", invoice.contract_number)
        sub_opt(engagement, "NumeroEngagement", invoice.engagement_number)
    if invoice.lines:
        _write_lines(sub(data, "Lignes"), invoice.lines)


def _write_lines(parent: _Element, lines: Sequence[Line]) -> None:
    for line in lines:
        element = sub(parent, "Ligne", NumOrdre=str(line.number))
        sub_opt(element, "ReferenceProduit", line.product_ref)
        sub(
            element,
            "PrixUnitaire",
            decimal_text(line.unit_price, "DonneesFacture/Lignes/Ligne/PrixUnitaire"),
        )
        sub(
            element, "Quantite", decimal_text(line.quantity, "DonneesFacture/Lignes/Ligne/Quantite")
        )
        sub(
            element,
            "MontantHT",
            decimal_text(line.amount_ht, "DonneesFacture/Lignes/Ligne/MontantHT"),
        )
        if line.vat_rate is not None:
            sub(
                element,
                "TauxTVA",
                decimal_text(line.vat_rate, "DonneesFacture/Lignes/Ligne/TauxTVA"),
            )


def _write_attachments(unit: _Element, attachments: Sequence[Attachment]) -> None:
    """PJ, mandatory in V2_02: the engine always adds the original document as TypePJ 01."""
    if not attachments:
        raise ConversionError(
            "MISSING_ATTACHMENT",
            "the pivot requires at least one attachment (the invoice itself, TypePJ 01)",
            "PJ",
        )
    for position, (attachment, name) in enumerate(
        zip(attachments, _attachment_names(attachments), strict=True), 1
    ):
        check_one_of(attachment.type_code, ATTACHMENT_TYPES, f"PJ[{position}]/TypePJ")
        if not _MIME.fullmatch(attachment.mime_type):
            raise ConversionError(
                "INVALID_FORMAT",
                "a MIME type reads type/subtype (RFC 2045)",
                f"PJ[{position}]/MimeTypePJ",
                attachment.mime_type,
            )
        check_length(attachment.original_name, NAME_MAX, f"PJ[{position}]/NomPJOrigine", False)
        check_length(attachment.category, NAME_MAX, f"PJ[{position}]/CategoriePJ", False)
        pj = sub(unit, "PJ", NumOrdre=str(position))
        sub(pj, "Contenu", base64.b64encode(attachment.content).decode("ascii"))
        sub(pj, "NomPJ", name)
        sub_opt(pj, "NomPJOrigine", attachment.original_name)
        sub_opt(pj, "CategoriePJ", attachment.category)
        sub(pj, "TypePJ", attachment.type_code)
        sub(pj, "MimeTypePJ", attachment.mime_type)


def pivot_attachment_name(name: str, mime_type: str, suffix: str = "") -> str:
    """NomPJ: at most 50 characters ending with an extension.

    The readers hold a supplier's attachments to the hub's rules (pivot_format.attachments),
    so their names come here whole; the one the engine names itself, the deposited
    document (PJ 01), may have a long name: it loses the end of its stem, never its
    extension, so the recipient can still open the file. A name without extension gets one
    from its MIME type, and is refused when the MIME type gives none: it is never named
    ``.bin``. ``suffix`` (``~2``) tells apart two names that shortening made identical.
    """
    if "\n" in name or "\r" in name:  # a file name on one line
        name = " ".join(name.splitlines())
    extension = extension_of(name)
    if extension is not None:
        stem = name[: -len(extension) - 1]
    else:
        stem, extension = name, mime_extension(mime_type)
        if extension is None:
            raise ConversionError(
                "ATTACHMENT_TYPE_REFUSED",
                f"the attachment {name[:80]!r} has no extension and its MIME type gives none",
                "PJ/NomPJ",
                name[:80],
            )
    room = NAME_MAX - len(extension) - 1 - len(suffix)
    if suffix or len(stem) > room:
        stem = stem[:room].rstrip(" .")
    if not stem.strip():
        stem = "PJ"
    return f"{stem}{suffix}.{extension}"


def _attachment_names(attachments: Sequence[Attachment]) -> list[str]:
    """NomPJ of each attachment, distinct when shortening would make two alike."""
    names: list[str] = []
    for attachment in attachments:
        name = pivot_attachment_name(attachment.name, attachment.mime_type)
        count = 1
        while name != attachment.name and name in names:
            count += 1
            name = pivot_attachment_name(attachment.name, attachment.mime_type, f"~{count}")
        names.append(name)
    return names


# --------------------------------------------------------------------------- reading


def invoice_elements(root: _Element) -> Iterator[_Element]:
    """Each CPPFacturePivotUnitaire of a parsed pivot document, in document order."""
    if root.tag != "CPPFacturePivot":
        raise ConversionError(
            "NOT_A_PIVOT", "the document is not a CPPFacturePivot", path_of(root), str(root.tag)
        )
    return iter(_UNITS(root))


def read_invoice(element: _Element, *, rules: AttachmentRules | None = None) -> Invoice:
    """The invoice one CPPFacturePivotUnitaire carries.

    With ``rules``, every attachment keeps them (size, name, extension) before any of
    them is decoded.
    """
    _check_untyped_text(element)
    children = kids(element)
    data = required(element, children, "DonneesFacture")
    fields = kids(data)
    amounts = required(data, fields, "Montants")
    totals = kids(amounts)
    return Invoice(
        number=required_text(data, fields, "Id"),
        type_code=required_text(data, fields, "Type"),
        issue_date=parse_date(required(data, fields, "DateEmissionFacture")),
        currency=required_text(data, fields, "Devise"),
        supplier=_read_supplier(required(element, children, "Fournisseur")),
        debiteur=read_debiteur(required(element, children, "Debiteur")),
        amount_ht=parse_decimal(required(amounts, totals, "MontantHT")),
        amount_ttc=parse_decimal(required(amounts, totals, "MontantTTC")),
        amount_net=parse_decimal(required(amounts, totals, "MontantNetAPayer")),
        payment_means_code=_payment_means(fields.get("ModePaiement")),
        payment_means_label=_child_text(fields.get("ModePaiement"), "Libelle"),
        delivery_date=_optional_date(fields.get("DateLivraison")),
        cadre=required_text(data, fields, "Cadre"),
        origin_invoice_id=optional_text(fields, "IdFactureOrigine"),
        renvoi=optional_text(fields, "Renvoi"),
        id_cpro=_id_cpro(fields),
        engagement_number=_child_text(fields.get("Engagement"), "NumeroEngagement"),
        contract_number=_child_text(fields.get("Engagement"), "NumeroMarche"),
        vat_lines=_read_vat_lines(fields.get("TVAs")),
        lines=_read_lines(fields.get("Lignes")),
        attachments=_read_attachments(element, rules),
        reception_date=_optional_date(fields.get("DateReception")),
    )


def _check_untyped_text(unit: _Element) -> None:
    """Text only where the official XSD allows anything: markup would be lost unsaid."""
    for element in _UNTYPED(unit):
        child = next(element.iterchildren(tag=etree.Element), None)
        if child is not None:
            raise ConversionError(
                "MARKUP_IN_TEXT",
                f"{element.tag} is read as text, and it holds the element <{child.tag}>",
                path_of(element),
                "".join(element.itertext())[:80],
            )


def _read_supplier(element: _Element) -> Supplier:
    identity = read_supplier_identity(element)
    country = element.find("CodePays")  # any two characters in the XSDs; an ISO code here
    if country is not None:
        check_country(identity["country_code"], country)
    bank = element.find("ReferenceBancaire")
    if bank is None:
        return Supplier(**identity)
    account = kids(bank)
    return Supplier(
        **identity,
        iban=optional_text(account, "Compte"),
        bic=optional_text(account, "Etablissement"),
        bank_reference_type=bank.get("Type", "IBAN"),
        payee_name=optional_text(account, "RaisonSocialeEncaisseur"),
    )


def _payment_means(element: _Element | None) -> str | None:
    if element is None:
        return None
    code = optional_text(kids(element), "Code")
    return integer_text(code) if code else None  # xs:integer: "030" and "+30" are 30


def _id_cpro(fields: dict[str, _Element]) -> int | None:
    """IdCPRO, an xs:integer: "+012" is 12."""
    element = fields.get("IdCPRO")
    text = (element.text or "").strip() if element is not None else ""
    if not text:
        return None
    if not _INTEGER.fullmatch(text):  # int() would also take "1_0"
        raise ConversionError("INVALID_INTEGER", "expected an integer", path_of(element), text[:40])
    return int(text)


def _optional_date(element: _Element | None) -> date | None:
    return parse_date(element) if element is not None and element.text else None


def _child_text(element: _Element | None, tag: str) -> str | None:
    return optional_text(kids(element), tag) if element is not None else None


def _read_vat_lines(element: _Element | None) -> tuple[VatLine, ...]:
    if element is None:
        return ()
    vat_lines = []
    for vat in element.iterchildren("TVA"):
        found = kids(vat)
        vat_lines.append(
            VatLine(
                rate=parse_decimal(required(vat, found, "Taux")),
                base_ht=parse_decimal(required(vat, found, "BaseHt")),
                amount=parse_decimal(required(vat, found, "MontantTVA")),
            )
        )
    return tuple(vat_lines)


def _read_lines(element: _Element | None) -> tuple[Line, ...]:
    if element is None:
        return ()
    lines = []
    for line in element.iterchildren("Ligne"):
        found = kids(line)
        rate = found.get("TauxTVA")
        lines.append(
            Line(
                number=parse_count(line.get("NumOrdre"), line),
                unit_price=parse_decimal(required(line, found, "PrixUnitaire")),
                quantity=parse_decimal(required(line, found, "Quantite")),
                amount_ht=parse_decimal(required(line, found, "MontantHT")),
                product_ref=optional_text(found, "ReferenceProduit"),
                vat_rate=parse_decimal(rate) if rate is not None else None,
            )
        )
    return tuple(lines)


def _read_attachments(unit: _Element, rules: AttachmentRules | None) -> tuple[Attachment, ...]:
    """Each PJ in order, all of them checked before one is decoded."""
    found = [(pj, kids(pj)) for pj in unit.iterchildren("PJ")]
    pending = [_found(pj, children) for pj, children in found]
    names = check(pending, rules) if rules else [item.name for item in pending]
    return tuple(
        Attachment(  # the XSDs let white space surround the name and the MIME type
            name=name,
            mime_type=item.mime_type,
            content=_decode(children["Contenu"]),
            type_code=required_text(pj, children, "TypePJ"),
            original_name=optional_text(children, "NomPJOrigine"),
            category=optional_text(children, "CategoriePJ"),
        )
        for name, item, (pj, children) in zip(names, pending, found, strict=True)
    )


def _found(pj: _Element, found: dict[str, _Element]) -> Found:
    content = found.get("Contenu")
    if content is None:  # optional in the XSDs, which allow an IdUnique reference instead
        raise ConversionError(
            "MISSING_ELEMENT",
            "Contenu is required: the hub keeps no file an IdUnique could point to, so the "
            "attachment must travel in the flow",
            f"{path_of(pj)}/Contenu",
        )
    name = required_text(pj, found, "NomPJ").strip()
    if not name:
        raise missing(pj, "NomPJ")
    return Found(name, _mime_type(pj, found), content.text or "", path_of(found["NomPJ"]))


def _mime_type(pj: _Element, found: dict[str, _Element]) -> str:
    """MimeTypePJ, untyped in the XSDs and documented as RFC 2045/2046: type/subtype."""
    text = required_text(pj, found, "MimeTypePJ").strip()
    if not _MIME.fullmatch(text):
        raise ConversionError(
            "INVALID_FORMAT",
            "a MIME type reads type/subtype (RFC 2045), such as application/pdf",
            path_of(found["MimeTypePJ"]),
            text,
        )
    return text


def _decode(element: _Element) -> bytes:
    """Base64 content; line breaks some producers insert are tolerated."""
    text = element.text or ""
    try:  # ValueError: binascii.Error, or a character outside ASCII (found by fuzzing)
        return base64.b64decode(text, validate=True)
    except ValueError:
        pass
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except ValueError:
        raise ConversionError(
            "INVALID_BASE64", "the attachment content is not base64", path_of(element), text[:40]
        ) from None
