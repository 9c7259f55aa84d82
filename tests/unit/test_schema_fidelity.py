"""Our schemas accept every document the official AIFE schemas accept (issue 11).

A real pivot flow written by the hub carries ``xsi:type="xs:string"`` on elements the
official CPPFacturePivot_V2_02.xsd leaves untyped; ours used to refuse it, and the engine
rejected the whole flow. Here a table of every element and attribute of both formats, in
our own words of what the official schemas say, generates documents: ``xsi:type`` on
every text element, every optional element absent and present, every required one absent,
every element repeated, every length at its bound and one past it, every enumeration
value and a value outside it. Each document's expected verdict comes from its
generation and is checked against our schema, always; when ../shared is present, the
official schema must judge it the same. Documents that our schema newly accepts are
then read: the engine reads them, or refuses the invoice with a code.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import pytest
from lxml import etree

import schemas
from edi_engine.problems import FlowRejected
from edi_engine.reception import identify
from pivot_format.cpp import read_envelope
from pivot_format.errors import ConversionError
from pivot_format.pivot import invoice_elements, read_invoice, write_pivot
from pivot_format.statut import read_statut

XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
XSI_TYPE = f"{{{XSI}}}type"
NAMESPACES = f'xmlns:xs="{XS}" xmlns:xsi="{XSI}"'

# --------------------------------------------------------------------------- documents

ENVELOPE = """
  <Enveloppe>
    <EnveloppeUnitaire NumOrdre="1">
      <Parametres>
        <ParametreIndiv NumOrdre="0001">
          <Code>DtPrd</Code><Valeurparametre>2024-05-02</Valeurparametre><Note>n</Note>
        </ParametreIndiv>
        <ParametreIndiv NumOrdre="0002">
          <Code>IdFlx</Code><Valeurparametre>FLX-1</Valeurparametre>
        </ParametreIndiv>
      </Parametres>
      <Partenaires>
        <Recepteur><Id>EDIHUB</Id><Libelle>Hub</Libelle><Note>n</Note></Recepteur>
        <Emetteur><Id>FOUR01</Id><Libelle>Durand</Libelle><Note>n</Note></Emetteur>
      </Partenaires>
    </EnveloppeUnitaire>
  </Enveloppe>"""

# Every element and attribute of the format, each optional one present, values valid for
# both schemas and readable by the engine.
PIVOT = f"""<CPPFacturePivot {NAMESPACES} Version="V2_02">{ENVELOPE}
  <CPPFactures Compteur="1">
    <CPPFacturePivotUnitaire NumOrdre="1">
      <Fournisseur>
        <TypeIdentifiant>1</TypeIdentifiant>
        <Identifiant>73282932000074</Identifiant>
        <RaisonSociale>Fournitures Durand SARL</RaisonSociale>
        <CodePays>FR</CodePays>
        <ReferenceBancaire Type="IBAN">
          <Compte>FR7630006000011234567890189</Compte>
          <Etablissement>AGRIFRPP</Etablissement>
          <RaisonSocialeEncaisseur>Durand</RaisonSocialeEncaisseur>
        </ReferenceBancaire>
        <ModeEmission>flux</ModeEmission>
      </Fournisseur>
      <Debiteur>
        <TypeIdentifiant>1</TypeIdentifiant>
        <Identifiant>19750001600014</Identifiant>
        <Nom>Lycée Jean Moulin</Nom>
        <CodeService>INTENDANCE</CodeService>
        <NomService>Intendance</NomService>
      </Debiteur>
      <DonneesFacture>
        <Id>FA-2024-0042</Id>
        <IdCPRO>123456</IdCPRO>
        <Renvoi>Non</Renvoi>
        <IdFactureOrigine>FA-2024-0001</IdFactureOrigine>
        <Type>380</Type>
        <Cadre>A1</Cadre>
        <DateEmissionFacture>2024-04-30</DateEmissionFacture>
        <DateLivraison>2024-04-28</DateLivraison>
        <ModePaiement><Code>30</Code><Libelle>Virement</Libelle></ModePaiement>
        <DateReception>2024-05-02</DateReception>
        <DateMiseADispositionMOE>2024-05-03</DateMiseADispositionMOE>
        <Devise>EUR</Devise>
        <Montants>
          <MontantHT>100.00</MontantHT>
          <MontantTTC>120.00</MontantTTC>
          <MontantNetAPayer>120.00</MontantNetAPayer>
        </Montants>
        <TVAs><TVA><Taux>20</Taux><BaseHt>100.00</BaseHt><MontantTVA>20.00</MontantTVA></TVA></TVAs>
        <Engagement>
          <NumeroMarche>MARCHE-12</NumeroMarche>
          <NumeroEngagement>EJ-2024-778</NumeroEngagement>
        </Engagement>
        <Lignes>
          <Ligne NumOrdre="1">
            <ReferenceProduit>CART-A4</ReferenceProduit>
            <PrixUnitaire>12.50</PrixUnitaire>
            <Quantite>8</Quantite>
            <MontantHT>100.00</MontantHT>
            <TauxTVA>20</TauxTVA>
          </Ligne>
        </Lignes>
      </DonneesFacture>
      <PJ NumOrdre="1">
        <IdUnique>U-1</IdUnique>
        <IdOriginal>O-1</IdOriginal>
        <Contenu>PEludm9pY2UvPg==</Contenu>
        <NomPJ>FA-2024-0042.xml</NomPJ>
        <NomPJOrigine>facture.xml</NomPJOrigine>
        <CategoriePJ>Facture</CategoriePJ>
        <TypePJ>01</TypePJ>
        <MimeTypePJ>application/xml</MimeTypePJ>
      </PJ>
      <CycleDeValidation>
        <ValidationUnitaire>
          <DateStatut>2024-05-02</DateStatut>
          <CodeStatut>1</CodeStatut>
          <ComplementStatut>c</ComplementStatut>
          <Commentaire>ok</Commentaire>
          <ProducteurStatut>
            <TypeIdentifiant>1</TypeIdentifiant>
            <Id>73282932000074</Id>
            <RaisonSociale>Durand</RaisonSociale>
            <CodePays>FR</CodePays>
            <Note>n</Note>
          </ProducteurStatut>
        </ValidationUnitaire>
      </CycleDeValidation>
    </CPPFacturePivotUnitaire>
  </CPPFactures>
</CPPFacturePivot>"""

FLOW_STATUSES = f"""<CPPStatut {NAMESPACES} Version="V1_19">{ENVELOPE}
  <CPPFluxStatuts compteur="1">
    <CPPFluxStatutUnitaire NumOrdre="1">
      <DonneesStatut>
        <IdStatut>93</IdStatut>
        <ComplementStatut>Rejeté</ComplementStatut>
        <Commentaire>c</Commentaire>
        <Note>n</Note>
        <Horodatage>2024-05-02T10:15:00+02:00</Horodatage>
        <IdProducteur>EDIHUB01</IdProducteur>
        <Producteur/>
        <IdFlux>FLX-1</IdFlux>
        <Details NbLignesErreur="1">
          <LigneErreurDetail IdLigne="FA-1">
            <NatureErreur>Facture</NatureErreur>
            <CodeErreur>RECIPIENT_UNKNOWN</CodeErreur>
            <LibelleErreur>Destinataire inconnu</LibelleErreur>
            <DescriptionErreur>d</DescriptionErreur>
          </LigneErreurDetail>
        </Details>
      </DonneesStatut>
    </CPPFluxStatutUnitaire>
  </CPPFluxStatuts>
</CPPStatut>"""

INVOICE_STATUSES = f"""<CPPStatut {NAMESPACES} Version="V1_19">{ENVELOPE}
  <CPPFactureStatuts compteur="1">
    <CPPFactureStatutUnitaire NumOrdre="1">
      <Fournisseur>
        <TypeIdentifiant>1</TypeIdentifiant>
        <Identifiant>73282932000074</Identifiant>
        <RaisonSociale>Fournitures Durand SARL</RaisonSociale>
        <CodePays>FR</CodePays>
      </Fournisseur>
      <Debiteur>
        <TypeIdentifiant>1</TypeIdentifiant>
        <Identifiant>19750001600014</Identifiant>
        <Nom>Lycée Jean Moulin</Nom>
        <CodeService>INTENDANCE</CodeService>
        <NomService>Intendance</NomService>
      </Debiteur>
      <DonneesStatut>
        <IdStatut>07</IdStatut>
        <ComplementStatut>c</ComplementStatut>
        <Commentaire>Service fait</Commentaire>
        <Horodatage>2024-05-02T10:15:00Z</Horodatage>
        <Producteur Id="DEST01"/>
        <IdFacture>FA-2024-0042</IdFacture>
        <DateFacture>2024-04-30</DateFacture>
        <IdMandatDP>M-1</IdMandatDP>
      </DonneesStatut>
    </CPPFactureStatutUnitaire>
  </CPPFactureStatuts>
</CPPStatut>"""

# --------------------------------------------------------------------------- the table

STRING = "string"  # xs:string itself
UNTYPED = "untyped"  # no type at all: xs:anyType
RESTRICTED = "restricted"  # an anonymous restriction in the official schema
DECIMAL, DATE, DATETIME, COUNT = "decimal", "date", "dateTime", "nonNegativeInteger"
BUILT_IN = (DECIMAL, DATE, DATETIME, COUNT)
# a value of a type derived from each built-in type, for xsi:type
DERIVED = {STRING: ("token", "x"), DECIMAL: ("integer", "12"), COUNT: ("positiveInteger", "3")}


@dataclass(frozen=True)
class Leaf:
    """A text element, as the official schema declares it."""

    path: str
    kind: str
    optional: bool = False
    length: int | None = None
    min_length: int | None = None
    max_length: int | None = None
    enum: tuple[str, ...] = ()
    good: tuple[str, ...] = ()  # other values it accepts
    bad: tuple[str, ...] = ()  # values it refuses


@dataclass(frozen=True)
class Node:
    """An element made of elements (its occurrences only)."""

    path: str
    optional: bool = False
    repeats: bool = False
    min_occurs: int = 1


@dataclass(frozen=True)
class Attribute:
    path: str  # of the element
    name: str
    required: bool = False
    good: tuple[str, ...] = ()
    bad: tuple[str, ...] = ()


Entry = Leaf | Node | Attribute
COUNTS = {"good": ("1", "+01", "0"), "bad": ("-1", "a", "1.5")}


def envelope_table() -> list[Entry]:
    unit = "Enveloppe/EnveloppeUnitaire"
    parameter = f"{unit}/Parametres/ParametreIndiv"
    table: list[Entry] = [
        Node("Enveloppe"),
        Node(unit, repeats=True),
        Attribute(unit, "NumOrdre", **COUNTS),
        Node(f"{unit}/Parametres"),
        Node(parameter, repeats=True, min_occurs=2),
        Attribute(parameter, "NumOrdre", good=("0001", "9999"), bad=("1", "00001", "A001")),
        Leaf(f"{parameter}/Code", RESTRICTED, length=5),
        Leaf(f"{parameter}/Valeurparametre", STRING),
        Leaf(f"{parameter}/Note", STRING, optional=True),
        Node(f"{unit}/Partenaires"),
    ]
    for partner in ("Recepteur", "Emetteur"):
        where = f"{unit}/Partenaires/{partner}"
        table += [
            Node(where),
            Leaf(f"{where}/Id", RESTRICTED, min_length=3, max_length=8),
            Leaf(f"{where}/Libelle", STRING, optional=True),
            Leaf(f"{where}/Note", STRING, optional=True),
        ]
    return table


UNIT = "CPPFactures/CPPFacturePivotUnitaire"
F, D, DF = f"{UNIT}/Fournisseur", f"{UNIT}/Debiteur", f"{UNIT}/DonneesFacture"
LINE, PJ = f"{DF}/Lignes/Ligne", f"{UNIT}/PJ"
STEP = f"{UNIT}/CycleDeValidation/ValidationUnitaire"
DATES = {"good": ("2024-05-02Z", "2024-05-02+01:00"), "bad": ("02/05/2024", "2024-5-2")}
AMOUNTS = {"good": ("+12.0", "12.", ".5", "-3"), "bad": ("1,5", "1e3", "")}
CADRES = tuple(f"A{n}" for n in (*range(1, 11), *range(12, 26)))
PAYMENT_MEANS = ("10", "20", "30", "31", "42", "48", "49", "97")

PIVOT_TABLE: list[Entry] = [
    Attribute("", "Version", good=("V2_02", "")),
    *envelope_table(),
    Node("CPPFactures"),
    Attribute("CPPFactures", "Compteur", **COUNTS),
    Node(UNIT, repeats=True),
    Attribute(UNIT, "NumOrdre", **COUNTS),
    Node(F),
    Leaf(f"{F}/TypeIdentifiant", RESTRICTED, enum=tuple("1234567"), good=("01", "+7")),
    Leaf(f"{F}/Identifiant", UNTYPED),
    Leaf(f"{F}/RaisonSociale", UNTYPED),
    Leaf(f"{F}/CodePays", RESTRICTED, length=2, good=("F1", "fr")),
    Node(f"{F}/ReferenceBancaire", optional=True),
    Attribute(f"{F}/ReferenceBancaire", "Type", good=("IBAN", "RIB"), bad=("BIC", "iban")),
    Leaf(f"{F}/ReferenceBancaire/Compte", STRING, optional=True),
    Leaf(f"{F}/ReferenceBancaire/Etablissement", STRING, optional=True),
    Leaf(f"{F}/ReferenceBancaire/RaisonSocialeEncaisseur", STRING, optional=True),
    Leaf(f"{F}/ModeEmission", RESTRICTED, enum=("flux", "numérisation", "saisie", "PDF")),
    Node(D),
    Leaf(f"{D}/TypeIdentifiant", RESTRICTED, enum=("1",), good=("01",), bad=("2",)),
    Leaf(f"{D}/Identifiant", RESTRICTED, length=14, good=("1975000160001A",)),
    Leaf(f"{D}/Nom", UNTYPED, optional=True),
    Leaf(f"{D}/CodeService", RESTRICTED, optional=True, max_length=100),
    Leaf(f"{D}/NomService", STRING, optional=True),
    Node(DF),
    Leaf(f"{DF}/Id", RESTRICTED, max_length=20, good=("",)),
    Leaf(f"{DF}/IdCPRO", RESTRICTED, optional=True, good=("-5", "0012"), bad=("1.5", "x")),
    Leaf(f"{DF}/Renvoi", RESTRICTED, optional=True, enum=("Non", "Complétée", "Recyclée")),
    Leaf(f"{DF}/IdFactureOrigine", RESTRICTED, optional=True, max_length=20, good=("",)),
    Leaf(f"{DF}/Type", RESTRICTED, enum=("380", "381"), bad=("384", " 380")),
    Leaf(f"{DF}/Cadre", RESTRICTED, enum=CADRES, bad=("A0", "A11", "A26", "a1")),
    Leaf(f"{DF}/DateEmissionFacture", DATE, **DATES),
    Leaf(f"{DF}/DateLivraison", RESTRICTED, optional=True, **DATES),
    Node(f"{DF}/ModePaiement"),
    Leaf(f"{DF}/ModePaiement/Code", RESTRICTED, enum=PAYMENT_MEANS, good=("030", "+30")),
    Leaf(f"{DF}/ModePaiement/Libelle", STRING, optional=True),
    Leaf(f"{DF}/DateReception", DATE, **DATES),
    Leaf(f"{DF}/DateMiseADispositionMOE", RESTRICTED, optional=True, **DATES),
    Leaf(f"{DF}/Devise", RESTRICTED, good=("USD",), bad=("eur", "EURO", "E1R")),
    Node(f"{DF}/Montants"),
    Leaf(f"{DF}/Montants/MontantHT", DECIMAL, **AMOUNTS),
    Leaf(f"{DF}/Montants/MontantTTC", DECIMAL, **AMOUNTS),
    Leaf(f"{DF}/Montants/MontantNetAPayer", DECIMAL, **AMOUNTS),
    Node(f"{DF}/TVAs", optional=True),
    Node(f"{DF}/TVAs/TVA", optional=True, repeats=True),
    Leaf(f"{DF}/TVAs/TVA/Taux", DECIMAL, **AMOUNTS),
    Leaf(f"{DF}/TVAs/TVA/BaseHt", DECIMAL, **AMOUNTS),
    Leaf(f"{DF}/TVAs/TVA/MontantTVA", DECIMAL, **AMOUNTS),
    Node(f"{DF}/Engagement", optional=True),
    Leaf(f"{DF}/Engagement/NumeroMarche", RESTRICTED, optional=True, max_length=50),
    Leaf(f"{DF}/Engagement/NumeroEngagement", RESTRICTED, optional=True, max_length=50),
    Node(f"{DF}/Lignes", optional=True),
    Node(LINE, optional=True, repeats=True),
    Attribute(LINE, "NumOrdre", required=True, **COUNTS),
    Leaf(f"{LINE}/ReferenceProduit", UNTYPED, optional=True),
    Leaf(f"{LINE}/PrixUnitaire", DECIMAL, **AMOUNTS),
    Leaf(f"{LINE}/Quantite", DECIMAL, **AMOUNTS),
    Leaf(f"{LINE}/MontantHT", DECIMAL, **AMOUNTS),
    Leaf(f"{LINE}/TauxTVA", DECIMAL, optional=True, **AMOUNTS),
    Node(PJ, repeats=True),
    Attribute(PJ, "NumOrdre", **COUNTS),
    Leaf(f"{PJ}/IdUnique", STRING, optional=True),
    Leaf(f"{PJ}/IdOriginal", STRING, optional=True),
    Leaf(f"{PJ}/Contenu", STRING, optional=True, good=("ab!d", "")),
    Leaf(f"{PJ}/NomPJ", RESTRICTED, max_length=50, good=("facture", "")),
    Leaf(f"{PJ}/NomPJOrigine", RESTRICTED, optional=True, max_length=50),
    Leaf(f"{PJ}/CategoriePJ", RESTRICTED, optional=True, max_length=50),
    Leaf(f"{PJ}/TypePJ", RESTRICTED, enum=("01", "02"), bad=("1", "03")),
    Leaf(f"{PJ}/MimeTypePJ", UNTYPED, good=("pdf",)),
    Node(f"{UNIT}/CycleDeValidation", optional=True),
    Node(STEP, repeats=True),
    Leaf(f"{STEP}/DateStatut", DATE, **DATES),
    Leaf(f"{STEP}/CodeStatut", COUNT, good=("0", "+3"), bad=("-1", "x")),
    Leaf(f"{STEP}/ComplementStatut", STRING, optional=True),
    Leaf(f"{STEP}/Commentaire", STRING, optional=True),
    Node(f"{STEP}/ProducteurStatut"),
    Leaf(f"{STEP}/ProducteurStatut/TypeIdentifiant", RESTRICTED, enum=tuple("123456")),
    Leaf(f"{STEP}/ProducteurStatut/Id", UNTYPED),
    Leaf(f"{STEP}/ProducteurStatut/RaisonSociale", UNTYPED),
    Leaf(f"{STEP}/ProducteurStatut/CodePays", RESTRICTED, length=2),
    Leaf(f"{STEP}/ProducteurStatut/Note", UNTYPED, optional=True),
]

FS = "CPPFluxStatuts/CPPFluxStatutUnitaire"
FSD = f"{FS}/DonneesStatut"
DETAIL = f"{FSD}/Details/LigneErreurDetail"
TIMES = {
    "good": ("2024-05-02T10:15:00", "2024-05-02T10:15:00.5Z", "2024-05-02T24:00:00Z"),
    "bad": ("2024-05-02", "2024-05-02 10:15:00Z", "2024-05-02T10:15Z"),
}

FLOW_STATUS_TABLE: list[Entry] = [
    Attribute("", "Version", good=("V1_19",)),
    *envelope_table(),
    Node("CPPFluxStatuts"),
    Attribute("CPPFluxStatuts", "compteur", **COUNTS),
    Node(FS, repeats=True),
    Attribute(FS, "NumOrdre", **COUNTS),
    Node(FSD),
    Leaf(f"{FSD}/IdStatut", RESTRICTED, enum=tuple(str(n) for n in range(90, 97)), bad=("97",)),
    Leaf(f"{FSD}/ComplementStatut", RESTRICTED, optional=True, max_length=40),
    Leaf(f"{FSD}/Commentaire", STRING, optional=True),
    Leaf(f"{FSD}/Note", STRING, optional=True),
    Leaf(f"{FSD}/Horodatage", DATETIME, **TIMES),
    Leaf(f"{FSD}/IdProducteur", RESTRICTED, optional=True, length=8),
    Node(f"{FSD}/Producteur", optional=True),
    Leaf(f"{FSD}/IdFlux", STRING, good=("",)),
    Node(f"{FSD}/Details", optional=True),
    Attribute(f"{FSD}/Details", "NbLignesErreur", required=True, **COUNTS),
    Node(DETAIL, repeats=True),
    Attribute(DETAIL, "IdLigne", good=("", "any text")),
    Leaf(f"{DETAIL}/NatureErreur", STRING),
    Leaf(f"{DETAIL}/CodeErreur", STRING),
    Leaf(f"{DETAIL}/LibelleErreur", STRING),
    Leaf(f"{DETAIL}/DescriptionErreur", STRING, optional=True),
]

IS = "CPPFactureStatuts/CPPFactureStatutUnitaire"
ISF, ISD, ISS = f"{IS}/Fournisseur", f"{IS}/Debiteur", f"{IS}/DonneesStatut"
INVOICE_STATUS_CODES = tuple(f"{n:02d}" for n in range(1, 42))

INVOICE_STATUS_TABLE: list[Entry] = [
    Node("CPPFactureStatuts"),
    Attribute("CPPFactureStatuts", "compteur", **COUNTS),
    Node(IS, repeats=True),
    Attribute(IS, "NumOrdre", **COUNTS),
    Node(ISF),
    Leaf(f"{ISF}/TypeIdentifiant", RESTRICTED, enum=tuple("1234567"), bad=("8",)),
    Leaf(f"{ISF}/Identifiant", STRING, good=("",)),
    Leaf(f"{ISF}/RaisonSociale", STRING, good=("",)),
    Leaf(f"{ISF}/CodePays", RESTRICTED, optional=True, length=2, good=("F1",)),
    Node(ISD),
    Leaf(f"{ISD}/TypeIdentifiant", RESTRICTED, enum=("1",), bad=("2",)),
    Leaf(f"{ISD}/Identifiant", RESTRICTED, length=14, good=("1975000160001A",)),
    Leaf(f"{ISD}/Nom", STRING, optional=True),
    Leaf(f"{ISD}/CodeService", RESTRICTED, optional=True, max_length=100),
    Leaf(f"{ISD}/NomService", STRING, optional=True),
    Node(ISS),
    Leaf(f"{ISS}/IdStatut", RESTRICTED, enum=INVOICE_STATUS_CODES, good=("7", "007"), bad=("42",)),
    Leaf(f"{ISS}/ComplementStatut", STRING, optional=True),
    Leaf(f"{ISS}/Commentaire", STRING, optional=True),
    Leaf(f"{ISS}/Horodatage", DATETIME, **TIMES),
    Node(f"{ISS}/Producteur", optional=True),
    Attribute(f"{ISS}/Producteur", "Id", good=("", "DEST01")),
    Leaf(f"{ISS}/IdFacture", STRING, good=("",)),
    Leaf(f"{ISS}/DateFacture", DATE, optional=True, **DATES),
    Leaf(f"{ISS}/IdMandatDP", STRING, optional=True),
]

# --------------------------------------------------------------------------- generation

# a change edits the document in place, or returns the document that replaces it
Change = Callable[[etree._Element], etree._Element | None]


@dataclass(frozen=True)
class Case:
    """One generated document: how it differs from the base, and whether it is valid."""

    label: str
    change: Change
    valid: bool = field(compare=False)


def _at(root: etree._Element, path: str) -> etree._Element:
    return root if not path else root.find(path)


def _text(path: str, value: str, xsi_type: str | None = None) -> Change:
    def change(root: etree._Element) -> None:
        element = _at(root, path)
        element.text = value
        if xsi_type is not None:
            element.set(XSI_TYPE, xsi_type)

    return change


def _typed(path: str, xsi_type: str) -> Change:
    return lambda root: _at(root, path).set(XSI_TYPE, xsi_type)


def _absent(path: str) -> Change:
    def change(root: etree._Element) -> None:
        for element in root.findall(path):
            element.getparent().remove(element)

    return change


def _twice(path: str) -> Change:
    def change(root: etree._Element) -> None:
        element = root.find(path)
        element.addnext(copy.deepcopy(element))

    return change


def _child(path: str) -> Change:
    return lambda root: etree.SubElement(_at(root, path), "b").set("lang", "fr")


def _foreign_attribute(path: str) -> Change:
    return lambda root: _at(root, path).set("lang", "fr")


def _attribute(path: str, name: str, value: str | None) -> Change:
    def change(root: etree._Element) -> None:
        element = _at(root, path)
        if value is None:
            del element.attrib[name]
        else:
            element.set(name, value)

    return change


def _own_prefix(path: str) -> Change:
    """xsi:type with a prefix declared on the element itself, as .NET serializers write.

    Written as text: lxml drops a declaration that repeats an ancestor's namespace."""

    def change(root: etree._Element) -> etree._Element:
        _at(root, path).set("own-prefix", "")
        text = etree.tostring(root, encoding="unicode").replace(
            ' own-prefix=""', f' xmlns:q1="{XS}" xsi:type="q1:string"'
        )
        return etree.fromstring(text)

    return change


def _leaf_cases(leaf: Leaf) -> Iterator[Case]:
    path, kind = leaf.path, leaf.kind
    name = path.rsplit("/", 1)[-1]
    text_like = kind in (STRING, UNTYPED)
    # xsi:type: only where the official type is a built-in type or none at all
    yield Case(f"{name} xsi:type=xs:string", _typed(path, "xs:string"), text_like)
    if kind in BUILT_IN:
        yield Case(f"{name} xsi:type=xs:{kind}", _typed(path, f"xs:{kind}"), True)
    if kind in DERIVED:
        derived, value = DERIVED[kind]
        yield Case(f"{name} xsi:type=xs:{derived}", _text(path, value, f"xs:{derived}"), True)
    if kind == UNTYPED:
        yield Case(f"{name} xsi:type=xs:integer 12", _text(path, "12", "xs:integer"), True)
        yield Case(f"{name} xsi:type=xs:integer x", _text(path, "x", "xs:integer"), False)
        yield Case(f"{name} own prefix", _own_prefix(path), True)
    yield Case(f"{name} xsi:type=xs:unknown", _typed(path, "xs:unknown"), False)
    yield Case(f"{name} child element", _child(path), kind == UNTYPED)
    yield Case(f"{name} attribute", _foreign_attribute(path), kind == UNTYPED)
    yield Case(f"{name} absent", _absent(path), leaf.optional)
    yield Case(f"{name} twice", _twice(path), False)
    if text_like:
        yield Case(f"{name} empty", _text(path, ""), True)
        yield Case(f"{name} long", _text(path, "x" * 1000), True)
    if leaf.length is not None:
        for size in (leaf.length - 1, leaf.length, leaf.length + 1):
            yield Case(f"{name} {size} chars", _text(path, "x" * size), size == leaf.length)
    if leaf.min_length is not None:
        yield Case(f"{name} at min", _text(path, "x" * leaf.min_length), True)
        yield Case(f"{name} under min", _text(path, "x" * (leaf.min_length - 1)), False)
    if leaf.max_length is not None:
        yield Case(f"{name} at max", _text(path, "x" * leaf.max_length), True)
        yield Case(f"{name} over max", _text(path, "x" * (leaf.max_length + 1)), False)
    for value in leaf.enum:
        yield Case(f"{name} = {value!r}", _text(path, value), True)
    if leaf.enum:
        yield Case(f"{name} outside its list", _text(path, "ZZ9"), False)
    for value in leaf.good:
        yield Case(f"{name} = {value!r}", _text(path, value), True)
    for value in leaf.bad:
        yield Case(f"{name} = {value!r}", _text(path, value), False)


def _node_cases(node: Node) -> Iterator[Case]:
    name = node.path.rsplit("/", 1)[-1]
    yield Case(f"{name} absent", _absent(node.path), node.optional)
    yield Case(f"{name} twice", _twice(node.path), node.repeats)
    yield Case(f"{name} attribute", _foreign_attribute(node.path), False)
    yield Case(f"{name} text", _text(node.path, "x"), False)
    yield Case(f"{name} xsi:type=xs:string", _typed(node.path, "xs:string"), False)
    if node.min_occurs > 1:
        yield Case(f"{name} under minOccurs", _absent(f"{node.path}[1]"), False)


def _attribute_cases(attribute: Attribute) -> Iterator[Case]:
    path, name = attribute.path, attribute.name
    yield Case(f"@{name} absent", _attribute(path, name, None), not attribute.required)
    for value in attribute.good:
        yield Case(f"@{name} = {value!r}", _attribute(path, name, value), True)
    for value in attribute.bad:
        yield Case(f"@{name} = {value!r}", _attribute(path, name, value), False)


def cases(entry: Entry) -> list[Case]:
    if isinstance(entry, Leaf):
        return list(_leaf_cases(entry))
    if isinstance(entry, Node):
        return list(_node_cases(entry))
    return list(_attribute_cases(entry))


# --------------------------------------------------------------------------- judging

BASES = {"pivot": PIVOT, "flow status": FLOW_STATUSES, "invoice status": INVOICE_STATUSES}
TABLES = {
    "pivot": PIVOT_TABLE,
    "flow status": FLOW_STATUS_TABLE,
    "invoice status": INVOICE_STATUS_TABLE,
}


def base(kind: str) -> etree._Element:
    return etree.fromstring(BASES[kind].encode())


def entry_id(entry: Entry) -> str:
    if isinstance(entry, Attribute):
        return f"{entry.path or '/'}@{entry.name}"
    return entry.path


PARAMS = [
    pytest.param(kind, entry, id=f"{kind}:{entry_id(entry)}")
    for kind, table in TABLES.items()
    for entry in table
]


Judges = dict[str, list[tuple[str, etree.XMLSchema]]]


@pytest.fixture(scope="module")
def judges(
    our_pivot_schema: etree.XMLSchema,
    our_statut_schema: etree.XMLSchema,
    maybe_official_pivot_schema: etree.XMLSchema | None,
    maybe_official_statut_schema: etree.XMLSchema | None,
) -> Judges:
    """For each kind of document: our schema, and the official one when ../shared has it."""
    pivot = [("ours", our_pivot_schema), ("official", maybe_official_pivot_schema)]
    statut = [("ours", our_statut_schema), ("official", maybe_official_statut_schema)]
    pivot = [(name, schema) for name, schema in pivot if schema is not None]
    statut = [(name, schema) for name, schema in statut if schema is not None]
    return {"pivot": pivot, "flow status": statut, "invoice status": statut}


def test_the_base_documents_are_valid(judges: Judges) -> None:
    for kind in BASES:
        for name, schema in judges[kind]:
            assert schema.validate(base(kind)), (kind, name, schema.error_log)


@pytest.mark.parametrize(("kind", "entry"), PARAMS)
def test_every_generated_document_is_judged_as_generated(
    kind: str, entry: Entry, judges: Judges
) -> None:
    """Ours gives the verdict the generation expects; the official one, when present,
    gives the same (so ours never refuses what it accepts)."""
    wrong = []
    for case in cases(entry):
        document = base(kind)
        replaced = case.change(document)
        if replaced is not None:
            document = replaced
        for name, schema in judges[kind]:
            if schema.validate(document) != case.valid:
                expected = "valid" if case.valid else "invalid"
                wrong.append(f"{name} schema: {case.label} should be {expected}")
    assert wrong == []


def _paths(root: etree._Element) -> set[str]:
    """Every element and attribute of a document, as table paths (no positions)."""
    tree = root.getroottree()
    found = set()
    for element in root.iter(etree.Element):
        path = re.sub(r"\[\d+\]", "", tree.getpath(element)).partition("/")[2].partition("/")[2]
        found.add(path)
        found.update(f"{path}@{name}" for name in element.attrib if not name.startswith("{"))
    return found


def test_the_table_covers_every_element_and_attribute_of_the_base_documents() -> None:
    for kind, table in TABLES.items():
        root = base(kind)
        in_document = {p for p in _paths(root) if p}
        if kind == "invoice status":  # its envelope is the one the flow statuses test
            in_document = {p for p in in_document if not p.startswith(("Enveloppe", "@"))}
        in_table = {f"{e.path}@{e.name}" if isinstance(e, Attribute) else e.path for e in table}
        assert sorted(in_document ^ in_table) == [], kind


@pytest.mark.parametrize("name", [schemas.PIVOT_XSD, schemas.STATUT_XSD])
def test_the_table_names_every_declaration_of_our_schemas(name: str) -> None:
    """A new element in our schema fails here until the table says what it accepts."""
    declared = {
        node.get("name")
        for node in etree.parse(str(schemas.path(name))).iter(
            f"{{{XS}}}element", f"{{{XS}}}attribute"
        )
    }
    tables = (
        [PIVOT_TABLE] if name == schemas.PIVOT_XSD else [FLOW_STATUS_TABLE, INVOICE_STATUS_TABLE]
    )
    named = {
        e.name if isinstance(e, Attribute) else e.path.rsplit("/", 1)[-1] for t in tables for e in t
    }
    named |= {"CPPFacturePivot", "CPPStatut"}
    assert sorted(declared - named) == []


# --------------------------------------------------------------------------- parts

PIVOT_PARTS = [
    "Enveloppe",
    "EnveloppeUnitaire",
    "Parametres",
    "ParametreIndiv",
    "Partenaires",
    "Recepteur",
    "Emetteur",
    "CPPFactures",
    "CPPFacturePivotUnitaire",
    "Fournisseur",
    "ReferenceBancaire",
    "Debiteur",
    "DonneesFacture",
    "ModePaiement",
    "Montants",
    "TVAs",
    "TVA",
    "Engagement",
    "Lignes",
    "Ligne",
    "PJ",
    "CycleDeValidation",
    "ValidationUnitaire",
    "ProducteurStatut",
]
STATUT_PARTS = [
    "Enveloppe",
    "EnveloppeUnitaire",
    "Parametres",
    "ParametreIndiv",
    "Partenaires",
    "Recepteur",
    "Emetteur",
    "CPPFluxStatuts",
    "CPPFluxStatutUnitaire",
    "Details",
    "LigneErreurDetail",
    "CPPFactureStatuts",
    "CPPFactureStatutUnitaire",
    "Fournisseur",
    "Debiteur",
    "Producteur",
]


def _parts() -> Iterator[tuple[str, str]]:
    yield from (("pivot", name) for name in PIVOT_PARTS)
    for name in STATUT_PARTS:
        found = base("flow status").find(f".//{name}") is not None
        yield ("flow status" if found else "invoice status", name)


@pytest.mark.parametrize(("kind", "name"), list(_parts()))
def test_a_lone_part_is_valid_as_there_yet_no_flow_for_the_engine(
    kind: str, name: str, judges: Judges
) -> None:
    """The official schemas declare these elements globally, so each alone is a valid
    document; ours too. The engine still refuses it by its root, before any schema."""
    part = copy.deepcopy(base(kind).find(f".//{name}"))
    for judge, schema in judges[kind]:
        assert schema.validate(part), (judge, schema.error_log)
    with pytest.raises(FlowRejected) as refused:
        identify.syntax_of(part)
    assert [problem.code for problem in refused.value.problems] == ["UNKNOWN_SYNTAX"]


# Where ours accepts more (docs/mapping.md, "Our schemas and the official ones"): an
# xsi:type naming the built-in type of an element whose official type is an anonymous
# restriction of it without facets, or naming one of our own named types.
OURS_ACCEPTS_MORE = [
    ("pivot", f"{DF}/IdCPRO", "xs:integer"),
    ("pivot", f"{DF}/DateLivraison", "xs:date"),
    ("pivot", f"{DF}/DateMiseADispositionMOE", "xs:date"),
    ("pivot", F, "SupplierType"),
    ("pivot", f"{F}/TypeIdentifiant", "SupplierIdKind"),
    ("pivot", f"{PJ}/NomPJ", "Reference50"),
    ("invoice status", f"{ISS}/IdStatut", "InvoiceStatusCode"),
    ("flow status", f"{FSD}/IdStatut", "FlowStatusCode"),
]


@pytest.mark.parametrize(("kind", "path", "xsi_type"), OURS_ACCEPTS_MORE)
def test_where_ours_accepts_more(kind: str, path: str, xsi_type: str, judges: Judges) -> None:
    document = base(kind)
    _typed(path, xsi_type)(document)
    for judge, schema in judges[kind]:
        assert schema.validate(document) == (judge == "ours"), judge


# --------------------------------------------------------------------------- reading


def _unit(root: etree._Element) -> etree._Element:
    (unit,) = invoice_elements(root)
    return unit


def _text_leaves(table: list[Entry]) -> list[str]:
    return [e.path for e in table if isinstance(e, Leaf) and e.kind in (STRING, UNTYPED)]


def test_xsi_type_on_every_text_element_reads_as_without(
    our_pivot_schema: etree.XMLSchema, our_statut_schema: etree.XMLSchema
) -> None:
    """What the hub's serializer writes changes nothing the engine reads."""
    for kind, schema in (
        ("pivot", our_pivot_schema),
        ("flow status", our_statut_schema),
        ("invoice status", our_statut_schema),
    ):
        typed = base(kind)
        for path in _text_leaves(TABLES[kind]):
            typed.find(path).set(XSI_TYPE, "xs:string")
        assert schema.validate(typed), (kind, schema.error_log)
        if kind == "pivot":
            assert read_invoice(_unit(typed)) == read_invoice(_unit(base(kind)))
        else:
            assert read_statut(typed) == read_statut(base(kind))


@pytest.mark.parametrize(
    "path",
    [  # the engine reads past CycleDeValidation and its untyped ProducteurStatut texts
        e.path
        for e in PIVOT_TABLE
        if isinstance(e, Leaf) and e.kind == UNTYPED and "CycleDeValidation" not in e.path
    ],
)
def test_markup_where_the_schemas_allow_anything_is_refused_by_the_reader(
    path: str, our_pivot_schema: etree.XMLSchema
) -> None:
    document = base("pivot")
    _child(path)(document)
    assert our_pivot_schema.validate(document), our_pivot_schema.error_log
    with pytest.raises(ConversionError) as refused:
        read_invoice(_unit(document))
    assert refused.value.code == "MARKUP_IN_TEXT"
    assert refused.value.element == f"/CPPFacturePivot/{path}"
    assert "<b>" in refused.value.message
    assert refused.value.value == base("pivot").findtext(path)


# valid for both schemas, refused by the reader with a code and the element at fault
READER_REFUSALS = {
    "empty supplier identifier": (_text(f"{F}/Identifiant", ""), "MISSING_ELEMENT", "Identifiant"),
    "empty supplier name": (_text(f"{F}/RaisonSociale", ""), "MISSING_ELEMENT", "RaisonSociale"),
    "country not letters": (_text(f"{F}/CodePays", "F1"), "INVALID_FORMAT", "CodePays"),
    "empty invoice number": (_text(f"{DF}/Id", ""), "MISSING_ELEMENT", "DonneesFacture/Id"),
    "no attachment content": (_absent(f"{PJ}/Contenu"), "MISSING_ELEMENT", "PJ/Contenu"),
    "content not base64": (_text(f"{PJ}/Contenu", "ab!d"), "INVALID_BASE64", "PJ/Contenu"),
    "blank attachment name": (_text(f"{PJ}/NomPJ", "   "), "MISSING_ELEMENT", "PJ/NomPJ"),
    "MIME type a word": (_text(f"{PJ}/MimeTypePJ", "pdf"), "INVALID_FORMAT", "MimeTypePJ"),
    "empty MIME type": (_text(f"{PJ}/MimeTypePJ", ""), "MISSING_ELEMENT", "PJ/MimeTypePJ"),
}


@pytest.mark.parametrize("name", sorted(READER_REFUSALS))
def test_newly_valid_pivots_the_engine_cannot_use_are_refused_with_a_code(
    name: str, judges: Judges
) -> None:
    change, code, where = READER_REFUSALS[name]
    document = base("pivot")
    change(document)
    for judge, schema in judges["pivot"]:
        assert schema.validate(document), (judge, schema.error_log)
    with pytest.raises(ConversionError) as refused:
        read_invoice(_unit(document))
    assert refused.value.code == code
    assert refused.value.element.endswith(where)


def test_newly_valid_pivots_the_engine_can_use_are_read() -> None:
    document = base("pivot")
    for change in (
        _text(f"{PJ}/NomPJ", " facture "),
        _text(f"{PJ}/MimeTypePJ", " application/xml; charset=UTF-8 "),
        _text(f"{F}/CodePays", "fr"),
        _text(f"{D}/Identifiant", "1975000160001A"),  # RECIPIENT_INVALID for the controls
    ):
        change(document)
    invoice = read_invoice(_unit(document))
    (attachment,) = invoice.attachments
    assert (attachment.name, attachment.mime_type) == ("facture", "application/xml; charset=UTF-8")
    assert invoice.supplier.country_code == "FR"
    assert invoice.debiteur.siret == "1975000160001A"
    # the pivot the engine writes names the attachment with an extension
    fixed = dataclasses.replace(
        invoice, debiteur=dataclasses.replace(invoice.debiteur, siret="19750001600014")
    )
    written = etree.fromstring(write_pivot([fixed], read_envelope(base("pivot"))))
    assert written.findtext(f"{PJ}/NomPJ") == "facture.xml"


def test_newly_valid_statuses_are_read(our_statut_schema: etree.XMLSchema) -> None:
    """A status needs its supplier's identifier and invoice number, nothing else."""
    document = base("invoice status")
    _text(f"{ISF}/RaisonSociale", "")(document)
    _text(f"{ISF}/CodePays", "f1")(document)
    _text(f"{ISD}/Identifiant", "1975000160001A")(document)
    assert our_statut_schema.validate(document), our_statut_schema.error_log
    _, (status,) = read_statut(document)
    assert (status.supplier.name, status.supplier.country_code) == ("", "F1")
    assert status.supplier.identifier == "73282932000074"
    assert status.debiteur.siret == "1975000160001A"


def test_a_flow_status_naming_no_flow_is_refused_by_the_reader(
    our_statut_schema: etree.XMLSchema,
) -> None:
    document = base("flow status")
    _text(f"{FSD}/IdFlux", "")(document)
    assert our_statut_schema.validate(document), our_statut_schema.error_log
    with pytest.raises(ConversionError) as refused:
        read_statut(document)
    assert (refused.value.code, refused.value.element) == (
        "MISSING_ELEMENT",
        f"/CPPStatut/{FSD}/IdFlux",
    )
