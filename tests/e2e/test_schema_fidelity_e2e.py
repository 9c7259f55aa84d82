"""A pivot flow as the hub itself writes it validates and is integrated (issue 11).

The hub's serializer declares ``xsi:type="xs:string"`` on Fournisseur/Identifiant,
Fournisseur/RaisonSociale, Debiteur/Nom and PJ/MimeTypePJ, elements the official
CPPFacturePivot_V2_02.xsd leaves untyped. Such a flow used to be refused whole as
XSD_INVALID; it is now validated and integrated like any other.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result
from lxml import etree

from edi_engine.reception import validation
from edi_engine.reception.identify import PIVOT

from .conftest import MONTCLAIR, RECIPIENT, SUPPLIER_2, VALBRUNE, Home

XS = "http://www.w3.org/2001/XMLSchema"
XSI = "http://www.w3.org/2001/XMLSchema-instance"
TYPED = ("Fournisseur/Identifiant", "Fournisseur/RaisonSociale", "Debiteur/Nom", "PJ/MimeTypePJ")
VALID_IBAN = "FR7630006000011234567890189"
# the real flow's IBAN: the same account with check digits that do not verify
WRONG_IBAN = "FR7730006000011234567890189"
PDF = base64.b64encode(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj <<>> endobj\n%%EOF\n").decode()


def _invoice(position: int, siret: str, mime_type: str, iban: str = VALID_IBAN) -> str:
    """One CPPFacturePivotUnitaire in the hub's style: xsi:type on four elements."""
    string = 'xsi:type="xs:string"'
    return f"""
    <CPPFacturePivotUnitaire NumOrdre="{position}">
      <Fournisseur>
        <TypeIdentifiant>1</TypeIdentifiant>
        <Identifiant {string}>82345678500018</Identifiant>
        <RaisonSociale {string}>Ateliers Numériques Garnier SARL</RaisonSociale>
        <CodePays>FR</CodePays>
        <ReferenceBancaire Type="IBAN">
          <Compte>{iban}</Compte>
          <Etablissement>AGRIFRPP</Etablissement>
        </ReferenceBancaire>
        <ModeEmission>flux</ModeEmission>
      </Fournisseur>
      <Debiteur>
        <TypeIdentifiant>1</TypeIdentifiant>
        <Identifiant>{siret}</Identifiant>
        <Nom {string}>Structure publique</Nom>
      </Debiteur>
      <DonneesFacture>
        <Id>HUB-2026-{position:04d}</Id>
        <IdCPRO>{90000 + position}</IdCPRO>
        <Renvoi>Non</Renvoi>
        <Type>380</Type>
        <Cadre>A1</Cadre>
        <DateEmissionFacture>2026-11-02</DateEmissionFacture>
        <DateLivraison>2026-11-02</DateLivraison>
        <ModePaiement><Code>30</Code></ModePaiement>
        <DateReception>2026-11-03</DateReception>
        <Devise>EUR</Devise>
        <Montants>
          <MontantHT>100.00</MontantHT>
          <MontantTTC>120.00</MontantTTC>
          <MontantNetAPayer>120.00</MontantNetAPayer>
        </Montants>
        <TVAs><TVA><Taux>20.00</Taux><BaseHt>100.00</BaseHt><MontantTVA>20.00</MontantTVA></TVA></TVAs>
        <Lignes>
          <Ligne NumOrdre="1">
            <ReferenceProduit>PRESTA-{position}</ReferenceProduit>
            <PrixUnitaire>50.00</PrixUnitaire>
            <Quantite>2</Quantite>
            <MontantHT>100.00</MontantHT>
            <TauxTVA>20.00</TauxTVA>
          </Ligne>
        </Lignes>
      </DonneesFacture>
      <PJ NumOrdre="1">
        <Contenu>{PDF}</Contenu>
        <NomPJ>HUB-2026-{position:04d}.pdf</NomPJ>
        <TypePJ>01</TypePJ>
        <MimeTypePJ {string}>{mime_type}</MimeTypePJ>
      </PJ>
    </CPPFacturePivotUnitaire>"""


def hub_flow(*mime_types: str, iban: str = VALID_IBAN) -> bytes:
    """A pivot flow with one invoice per MIME type, to Valbrune and Montclair in turn."""
    units = "".join(
        _invoice(n, (VALBRUNE, MONTCLAIR)[n % 2], mime, iban)
        for n, mime in enumerate(mime_types, 1)
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<CPPFacturePivot xmlns:xs="{XS}" xmlns:xsi="{XSI}" Version="V2_02">
  <Enveloppe>
    <EnveloppeUnitaire NumOrdre="1">
      <Parametres>
        <ParametreIndiv NumOrdre="0001">
          <Code>DtPrd</Code><Valeurparametre>2026-11-03</Valeurparametre>
        </ParametreIndiv>
        <ParametreIndiv NumOrdre="0002">
          <Code>IdFlx</Code><Valeurparametre>CPP-20261103-0042</Valeurparametre>
        </ParametreIndiv>
      </Parametres>
      <Partenaires>
        <Recepteur><Id>EDIHUB</Id></Recepteur>
        <Emetteur><Id>{SUPPLIER_2}</Id></Emetteur>
      </Partenaires>
    </EnveloppeUnitaire>
  </Enveloppe>
  <CPPFactures Compteur="{len(mime_types)}">{units}
  </CPPFactures>
</CPPFacturePivot>
""".encode()


FOUR = ("application/pdf",) * 4


def test_the_flow_carries_xsi_type_on_the_four_elements() -> None:
    root = etree.fromstring(hub_flow(*FOUR))
    for path in TYPED:
        typed = root.findall(f"CPPFactures/CPPFacturePivotUnitaire/{path}")
        assert [e.get(f"{{{XSI}}}type") for e in typed] == ["xs:string"] * 4, path


def test_validate_says_the_hubs_flow_is_valid(
    tmp_path: Path, run_cli: Callable[..., Result]
) -> None:
    path = tmp_path / "CPP-20261103-0042.xml"
    path.write_bytes(hub_flow(*FOUR))
    result = run_cli("validate", path)  # exits 0
    assert f"{path.name}: IN_DP_E2_CPP_FACTURE: valid" in result.stdout
    (report,) = json.loads(run_cli("validate", "--json", path).stdout)
    assert report["valid"] is True


def _integrated(home: Home) -> None:
    home.drop(SUPPLIER_2, "CPP-20261103-0042.xml", hub_flow(*FOUR))

    (flow,) = home.run()

    assert (flow["status"], flow["invoices"], flow["rejected"]) == ("IN_INTEGRE", 4, 0)
    pivots = [name for name in home.outbox(RECIPIENT) if name.startswith("PIVOT_")]
    assert len(pivots) == 4
    schema = validation.compiled(PIVOT)
    for name in pivots:
        written = etree.parse(str(home.path / "outbox" / RECIPIENT / name))
        assert schema.validate(written), schema.error_log
        unit = written.getroot().find("CPPFactures/CPPFacturePivotUnitaire")
        assert unit.findtext("Fournisseur/RaisonSociale") == "Ateliers Numériques Garnier SARL"
        assert unit.findtext("PJ/MimeTypePJ") == "application/pdf"
    numbers = sorted(i["number"] for i in home.show(flow["number"])["invoice_list"])
    assert numbers == [f"HUB-2026-{n:04d}" for n in range(1, 5)]


def test_run_once_integrates_the_hubs_flow(home: Home) -> None:
    _integrated(home)


def test_run_once_integrates_the_hubs_flow_read_as_a_stream(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_LIMITS_STREAM_BYTES", "1")
    _integrated(home)


def test_the_real_flow_with_its_wrong_iban_is_integrated_and_the_iban_warned(
    home: Home,
) -> None:
    """Issue 11's "done when": the hub's own flow, IBAN check digits wrong, is delivered."""
    home.drop(SUPPLIER_2, "CPP-20261103-0042.xml", hub_flow(*FOUR, iban=WRONG_IBAN))

    (flow,) = home.run()

    assert (flow["status"], flow["invoices"], flow["rejected"]) == ("IN_INTEGRE", 4, 0)
    shown = home.show(flow["number"])
    assert {i["status"] for i in shown["invoice_list"]} == {"MISE_A_DISPOSITION"}
    warned = [e for e in shown["errors"] if e["code"] == "IBAN_INVALID"]
    assert len(warned) == 4 and {e["severity"] for e in warned} == {"warning"}
    assert {e["value"] for e in warned} == {WRONG_IBAN}
    (cr_name,) = [n for n in home.outbox(SUPPLIER_2) if n.startswith("CR_")]
    cr = etree.parse(str(home.path / "outbox" / SUPPLIER_2 / cr_name)).getroot()
    assert cr.findtext(".//IdStatut") == "90"
    natures = [e.findtext("NatureErreur") for e in cr.iter("LigneErreurDetail")]
    assert natures == ["Avertissement"] * 4


def test_an_invoice_the_schemas_accept_and_the_engine_cannot_use_is_refused_alone(
    home: Home,
) -> None:
    """A MIME type that is no MIME type is valid for the schemas (untyped there): the
    engine refuses that invoice with INVALID_FORMAT and integrates the others."""
    home.drop(SUPPLIER_2, "CPP-mixed.xml", hub_flow("application/pdf", "pdf", "application/pdf"))

    (flow,) = home.run()

    assert (flow["status"], flow["invoices"], flow["rejected"]) == ("IN_INTEGRE_PARTIEL", 3, 1)
    (error,) = home.show(flow["number"])["errors"]
    assert error["code"] == "INVALID_FORMAT"
    assert error["value"] == "pdf"
    assert error["element"].endswith("PJ/MimeTypePJ")
