"""What a depositor's software reads in its CR (issue 12, points 2 and 4): each error line
names its invoice (position, number, supplier, recipient) with the XML line and path, in
French first; a one-invoice UBL or CII document refused as a whole is named as it carries
its invoice; the CR echoes the depositor's own references (its file name, a pivot's IdFlx)
and keeps the hub's flow number findable; a flow given up IN_INCIDENTE gets a CR that asks
for the flow again, as one more attempt when it had a CR already
(docs/errors.md#reading-a-cr)."""

from __future__ import annotations

import errno
import json
import os
import re
import zipfile
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from lxml import etree

from connectors import outgoing
from edi_engine.controls import CATALOGUE
from edi_engine.processing.report import parse
from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.statut import write_invoice_statuses

from .conftest import HAUT_VERNAY, RECIPIENT, SUPPLIER_1, SUPPLIER_2, VALBRUNE, Home, sample

UNKNOWN_SIRET = "73282932000074"  # well formed, in no referential
SUPPLIER_2_SIRET = "82345678500018"
BAD_IBAN = "FR7530099004560008765432148"  # the sample's account, wrong check digits
UNIT = "/CPPFacturePivot/CPPFactures/CPPFacturePivotUnitaire"
SUPPLIER_1_SIRET = "81234567600025"
CBC = "{urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2}"


class HubDisk:
    """A real technical failure at the hub, as its own disk refusing to stage the pivots
    while `failing` (a recipient's folder can no longer fail a flow: what is in it only
    holds the pivot back, published later)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real, self.failing = outgoing.stage, True

        def stage(path: Path, *args: object) -> None:
            if self.failing and "-PIVOT_" in path.name:
                raise PermissionError(errno.EACCES, "Permission denied", str(path))
            real(path, *args)

        monkeypatch.setattr(outgoing, "stage", stage)


def cr_of(home: Home, flow: dict) -> etree._Element:
    partner, number = flow["partner"], flow["number"]
    return etree.parse(str(home.path / "outbox" / partner / f"CR_{partner}_{number}.xml")).getroot()


def valid(cr: etree._Element, schemas: list[tuple[str, etree.XMLSchema]]) -> None:
    for name, schema in schemas:
        assert schema.validate(cr.getroottree()), (name, schema.error_log)


def lines(cr: etree._Element) -> list[dict[str, str]]:
    """Each LigneErreurDetail as a supplier's software reads it: its elements, IdLigne, and
    the items of its description (French keys, `en`, English keys)."""
    found = []
    for line in cr.iter("LigneErreurDetail"):
        items = parse(line.findtext("DescriptionErreur"))
        found.append(
            {
                "IdLigne": line.get("IdLigne"),
                "NatureErreur": line.findtext("NatureErreur"),
                "CodeErreur": line.findtext("CodeErreur"),
                "LibelleErreur": line.findtext("LibelleErreur"),
                **{f"fr:{k}": v for k, v in items[: _en(items)]},
                "en": items[_en(items)][1],
                **{f"en:{k}": v for k, v in items[_en(items) + 1 :]},
            }
        )
    return found


def _en(items: list[tuple[str, str]]) -> int:
    (index,) = [i for i, (key, _) in enumerate(items) if key == "en"]
    return index


def three_invoices(flow_id: str = "LOT-2026-11;A") -> bytes:
    """pivot-multi.xml (FOUR02's): invoice 1 to Montclair, fine; invoice 2 to an unknown
    SIRET and issued after the deposit (two reasons to refuse it); invoice 3 to Valbrune with
    an IBAN whose check digits are wrong (a warning)."""
    root = etree.fromstring(sample("pivot-multi.xml"))
    root.find(".//ParametreIndiv[Code='IdFlx']/Valeurparametre").text = flow_id
    second, third = root.findall("CPPFactures/CPPFacturePivotUnitaire")[1:]
    second.find("Debiteur/Identifiant").text = UNKNOWN_SIRET
    later = datetime.now(ZoneInfo("Europe/Paris")).date() + timedelta(days=30)
    second.find("DonneesFacture/DateEmissionFacture").text = later.isoformat()
    third.find("Debiteur/Identifiant").text = VALBRUNE
    third.find("Debiteur/CodeService").text = "SERV-TECH"
    third.find("Fournisseur/ReferenceBancaire/Compte").text = BAD_IBAN
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def test_each_line_names_its_invoice_its_supplier_and_its_recipient(
    home: Home, statut_schemas: list[tuple[str, etree.XMLSchema]]
) -> None:
    home.drop(SUPPLIER_2, "factures novembre.xml", three_invoices())
    (flow,) = home.run()
    assert flow["status"] == "IN_INTEGRE_PARTIEL"
    cr = cr_of(home, flow)
    valid(cr, statut_schemas)
    assert cr.findtext(".//IdStatut") == "96"

    refused, warned = lines(cr)[:2], lines(cr)[2:]
    assert sorted(line["CodeErreur"] for line in refused) == [
        "ISSUE_DATE_AFTER_DEPOSIT",
        "RECIPIENT_UNKNOWN",
    ]
    for line in refused:
        # the invoice by its place in the flow, and by what names it for its supplier
        assert (line["IdLigne"], line["NatureErreur"]) == ("2", "Facture")
        assert line["fr:facture"] == line["en:invoice"] == "F02-2026-000503"
        assert line["fr:fournisseur"] == line["en:supplier"] == SUPPLIER_2_SIRET
        assert line["fr:destinataire"] == line["en:recipient"] == UNKNOWN_SIRET
        # where it is: the line its CPPFacturePivotUnitaire starts on, and its path
        assert line["fr:ligne"] == line["en:line"] == "90"
        assert line["fr:chemin"] == line["en:path"] == f"{UNIT}[2]"
        assert (line["fr:gravité"], line["en:severity"]) == ("rejet", "reject")
        # French first: the catalogue's French message, the English one after "en: "
        control = CATALOGUE[line["CodeErreur"]]
        assert line["fr:élément"] == line["en:element"] == control.element
        assert line["LibelleErreur"] != line["en"]
        assert any(w in line["LibelleErreur"] for w in ("structure", "date d'émission"))
    (warning,) = warned
    assert (warning["IdLigne"], warning["NatureErreur"]) == ("3", "Avertissement")
    assert (warning["CodeErreur"], warning["fr:gravité"]) == ("IBAN_INVALID", "avertissement")
    assert (warning["fr:facture"], warning["fr:destinataire"]) == ("F02-2026-000504", VALBRUNE)
    assert (warning["fr:ligne"], warning["fr:chemin"]) == ("159", f"{UNIT}[3]")
    assert warning["fr:valeur"] == BAD_IBAN

    # the same positions in `flows show`, for the operator the supplier calls
    errors = home.show(flow["number"])["errors"]
    assert sorted(e["invoice"] for e in errors) == [2, 2, 3]


def test_the_depositors_references_are_echoed_and_the_hubs_number_stays_findable(
    home: Home, statut_schemas: list[tuple[str, etree.XMLSchema]]
) -> None:
    home.drop(SUPPLIER_2, "lot.xml", three_invoices("LOT-2026-11;A"))
    home.drop(SUPPLIER_1, "Facture 101 (novembre).xml", sample("ubl-invoice.xml"))
    flows = {flow["file_name"]: flow for flow in home.run()}

    pivot, ubl = flows["lot.xml"], flows["Facture 101 (novembre).xml"]
    for flow, own, note in (
        (pivot, "LOT-2026-11;A", [("fichier", "lot.xml"), ("idflx", "LOT-2026-11;A")]),
        (ubl, "Facture 101 (novembre).xml", [("fichier", "Facture 101 (novembre).xml")]),
    ):
        cr = cr_of(home, flow)
        valid(cr, statut_schemas)
        # IdFlux, "the flow's id at its producer": the pivot's IdFlx, else the file name
        assert cr.findtext(".//DonneesStatut/IdFlux") == own
        items = dict(parse(cr.findtext(".//DonneesStatut/Note")))
        assert items == {**dict(note), "flux": flow["number"]}
        # the hub's number: the CR's own envelope IdFlx, its file name, its comment
        assert cr.findtext(".//ParametreIndiv[Code='IdFlx']/Valeurparametre") == flow["number"]
        assert cr.findtext(".//Commentaire").startswith(f"Flux {flow['number']}, fichier ")
    note = cr_of(home, pivot).findtext(".//DonneesStatut/Note")
    assert "idflx=LOT-2026-11\\;A" in note  # a value's semicolon is escaped
    # the operator finds the flow by it too
    assert home.show(pivot["number"])["producer_flow_id"] == "LOT-2026-11;A"
    assert home.show(ubl["number"])["producer_flow_id"] is None


def test_the_depositors_flow_id_is_shown_as_text(home: Home) -> None:
    home.drop(SUPPLIER_2, "lot.xml", three_invoices("[bold]LOT[/bold]"))
    (flow,) = home.run()
    shown = home.invoke("flows", "show", flow["number"]).stdout
    assert "depositor's flow id (IdFlx) [bold]LOT[/bold]" in shown


def test_a_streamed_pivot_gets_the_same_cr_lines(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A large pivot is read invoice by invoice (limits.stream_bytes): its CR names each
    invoice and where it is exactly as the whole road does."""
    monkeypatch.setenv("EDI_ENGINE_LIMITS_STREAM_BYTES", "1")
    home.drop(SUPPLIER_2, "streamed.xml", three_invoices())
    (flow,) = home.run()

    cr = cr_of(home, flow)
    assert cr.findtext(".//IdFlux") == "LOT-2026-11;A"
    assert [
        (
            line["IdLigne"],
            line["CodeErreur"],
            line["fr:facture"],
            line["fr:destinataire"],
            line["fr:ligne"],
            line["fr:chemin"],
        )
        for line in lines(cr)
    ] == [
        ("2", "RECIPIENT_UNKNOWN", "F02-2026-000503", UNKNOWN_SIRET, "90", f"{UNIT}[2]"),
        ("2", "ISSUE_DATE_AFTER_DEPOSIT", "F02-2026-000503", UNKNOWN_SIRET, "90", f"{UNIT}[2]"),
        ("3", "IBAN_INVALID", "F02-2026-000504", VALBRUNE, "159", f"{UNIT}[3]"),
    ]


def test_values_from_partners_are_bounded_and_escaped(home: Home) -> None:
    root = etree.fromstring(sample("ubl-invoice.xml"))
    root.find(f"{CBC}ID").text = "F;01\\2026"
    root.find(f"{CBC}BuyerReference").text = "S" * 500  # over the pivot's 100 characters
    home.drop(SUPPLIER_1, "long.xml", etree.tostring(root, xml_declaration=True))
    (flow,) = home.run()

    (line,) = lines(cr_of(home, flow))
    assert line["CodeErreur"] == "VALUE_TOO_LONG"
    assert line["LibelleErreur"] == "Une valeur dépasse la longueur maximale du format pivot."
    assert line["fr:facture"] == "F;01\\2026"  # escaped in the file, read back whole
    assert line["fr:valeur"] == "S" * 199 + "…"  # 200 characters at most
    assert (line["fr:ligne"], line["fr:chemin"]) == ("2", "/Invoice")  # the invoice's root
    assert line["IdLigne"] == "1"


def test_a_document_the_schema_refuses_names_its_invoice(home: Home) -> None:
    """Nothing of it was read, yet the supplier's software can tell which invoice it was:
    the number, supplier and recipient the document carries, on each of its lines."""
    home.drop(SUPPLIER_1, "xsd-invalid.xml", sample("xsd-invalid.xml"))
    (flow,) = home.run()
    assert flow["status"] == "IN_REJETE"

    (line,) = lines(cr_of(home, flow))
    assert (line["IdLigne"], line["NatureErreur"], line["CodeErreur"]) == (
        "0",
        "Fichier",
        "XSD_INVALID",
    )
    assert (line["fr:facture"], line["fr:fournisseur"], line["fr:destinataire"]) == (
        "F01-2026-000105",
        SUPPLIER_1_SIRET,
        VALBRUNE,
    )
    assert (line["en:invoice"], line["en:supplier"], line["en:recipient"]) == (
        "F01-2026-000105",
        SUPPLIER_1_SIRET,
        VALBRUNE,
    )
    assert (line["fr:ligne"], line["fr:document"]) == ("14", "xsd-invalid.xml")


def test_a_cii_invoice_the_schema_refuses_is_named_too(home: Home) -> None:
    content = sample("cii-invoice.xml").replace(
        b"</rsm:ExchangedDocument>", b"<ram:Inconnu/></rsm:ExchangedDocument>"
    )
    home.drop(SUPPLIER_2, "cii.xml", content)
    (flow,) = home.run()

    found = lines(cr_of(home, flow))
    assert found and {line["CodeErreur"] for line in found} == {"XSD_INVALID"}
    for line in found:
        assert (line["fr:facture"], line["fr:fournisseur"], line["fr:destinataire"]) == (
            "F02-2026-000501",
            SUPPLIER_2_SIRET,
            VALBRUNE,
        )


def test_each_document_of_a_batch_the_schema_refuses_names_its_own_invoice(home: Home) -> None:
    root = etree.fromstring(sample("xsd-invalid.xml"))
    root.find(f"{CBC}ID").text = "F;" + "9" * 500  # bounded, escaped, read back
    batch = Path(home.path / "lot.zip")
    with zipfile.ZipFile(batch, "w") as archive:
        archive.writestr("a.xml", sample("xsd-invalid.xml"))
        archive.writestr("b.xml", etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
    home.drop(SUPPLIER_1, "lot.zip", batch.read_bytes())
    (flow,) = home.run()

    named = {line["fr:document"]: line["fr:facture"] for line in lines(cr_of(home, flow))}
    assert named == {"a.xml": "F01-2026-000105", "b.xml": "F;" + "9" * 98}


def test_a_pivot_the_schema_refuses_names_no_invoice(home: Home) -> None:
    """A pivot holds many invoices: refused as a whole, none of them is named one by one."""
    root = etree.fromstring(three_invoices())
    root.find("CPPFactures/CPPFacturePivotUnitaire").append(etree.Element("Inconnu"))
    home.drop(SUPPLIER_2, "lot.xml", etree.tostring(root, xml_declaration=True))
    (flow,) = home.run()

    found = lines(cr_of(home, flow))
    assert found and {line["CodeErreur"] for line in found} == {"XSD_INVALID"}
    assert not any("fr:facture" in line or "fr:fournisseur" in line for line in found)


def test_a_flow_left_in_incident_gets_a_cr_asking_for_it_again(
    home: Home, statut_schemas: list[tuple[str, etree.XMLSchema]], monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = HubDisk(monkeypatch)  # a real failure: the hub cannot stage the pivot
    home.drop(SUPPLIER_1, "facture.xml", sample("ubl-invoice.xml"))
    (flow,) = json.loads(home.invoke("run", "--once", "--json", code=3).stdout)
    assert flow["status"] == "IN_INCIDENTE"

    cr = cr_of(home, flow)
    valid(cr, statut_schemas)
    data = cr.find(".//DonneesStatut")
    assert (data.findtext("IdStatut"), data.findtext("ComplementStatut")) == (
        "93",
        "IN_INCIDENTE",
    )
    assert data.findtext("IdFlux") == "facture.xml"
    assert "Déposez ce flux à nouveau" in data.findtext("Commentaire")
    (line,) = lines(cr)
    assert (line["IdLigne"], line["NatureErreur"], line["CodeErreur"]) == (
        "0",
        "Fichier",
        "FLOW_INCIDENT",
    )
    assert line["LibelleErreur"].endswith("Déposez ce flux à nouveau.")
    assert "Send the flow again" in line["en"]
    # the operator sees it too; nothing was delivered
    detail = home.show(flow["number"])
    assert [e["code"] for e in detail["errors"]] == ["FLOW_INCIDENT"]
    assert [o["file_name"] for o in detail["outputs"]] == [f"CR_{SUPPLIER_1}_{flow['number']}.xml"]
    assert detail["invoice_list"] == []

    # fixed and re-run by an operator: the same CR file now tells the outcome
    disk.failing = False
    (done,) = json.loads(home.invoke("flows", "rerun", flow["number"], "--json").stdout)
    assert done["after"] == "IN_INTEGRE"
    cr = cr_of(home, flow)
    assert cr.findtext(".//IdStatut") == "90" and list(cr.iter("LigneErreurDetail")) == []
    assert home.show(flow["number"])["errors"] == []


def test_a_failed_rerun_of_a_rejected_flow_is_answered_as_a_new_attempt(
    home: Home,
    tmp_path: Path,
    statut_schemas: list[tuple[str, etree.XMLSchema]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The supplier's last CR always tells the flow's state: a rejected flow re-run and
    given up IN_INCIDENTE gets a CR asking for it again, its first CR kept as _1."""
    home.drop(SUPPLIER_1, "inactive.xml", sample("ubl-inactive.xml"))  # Haut-Vernay inactive
    (flow,) = home.run()
    assert flow["status"] == "IN_REJETE"
    number, outbox = flow["number"], home.path / "outbox" / SUPPLIER_1
    rejected = (outbox / f"CR_{SUPPLIER_1}_{number}.xml").read_bytes()
    fixed = tmp_path / "fixed.csv"
    fixed.write_text(f"siret,designation,active,partner\n{HAUT_VERNAY},Syndicat,true,{RECIPIENT}\n")
    home.invoke("structures", "import", fixed)
    disk = HubDisk(monkeypatch)  # the pivot cannot be staged
    (done,) = json.loads(home.invoke("flows", "rerun", number, "--json", code=3).stdout)
    assert done["after"] == "IN_INCIDENTE"

    first, last = f"CR_{SUPPLIER_1}_{number}_1.xml", f"CR_{SUPPLIER_1}_{number}.xml"
    assert (outbox / first).read_bytes() == rejected
    cr = cr_of(home, flow)
    valid(cr, statut_schemas)
    assert (cr.findtext(".//IdStatut"), cr.findtext(".//ComplementStatut")) == (
        "93",
        "IN_INCIDENTE",
    )
    (line,) = lines(cr)  # nothing was integrated: send it again
    assert line["CodeErreur"] == "FLOW_INCIDENT"
    assert line["LibelleErreur"].endswith("Déposez ce flux à nouveau.")
    detail = home.show(number)
    assert [(a["attempt"], a["cr"]) for a in detail["attempts"]] == [(1, first), (2, last)]
    assert [e["code"] for e in detail["attempts"][0]["errors"]] == ["RECIPIENT_INACTIVE"]
    assert [e["code"] for e in detail["errors"]] == ["FLOW_INCIDENT"]

    # the incident over, a re-run is attempt 3: each earlier CR stays
    disk.failing = False
    (done,) = json.loads(home.invoke("flows", "rerun", number, "--json").stdout)
    assert done["after"] == "IN_INTEGRE"
    crs = [name for name in home.outbox(SUPPLIER_1) if name.startswith("CR_")]
    assert sorted(crs) == sorted([first, f"CR_{SUPPLIER_1}_{number}_2.xml", last])
    kept = etree.parse(str(outbox / f"CR_{SUPPLIER_1}_{number}_2.xml"))
    assert kept.findtext(".//ComplementStatut") == "IN_INCIDENTE"
    assert cr_of(home, flow).findtext(".//IdStatut") == "90"
    *_, month = json.loads(home.invoke("stats", "monthly", "--json").stdout)
    assert (month["inbound_flows"], month["invoices_accepted"]) == (1, 1)  # counted once


def test_a_failed_rerun_of_an_integrated_flow_says_its_invoices_stand(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its invoice was delivered and stays so: the supplier is told of the incident, and
    not asked to send the flow again (its invoice would be refused as a duplicate)."""
    home.drop(SUPPLIER_1, "facture.xml", sample("ubl-invoice.xml"))
    (flow,) = home.run()
    number, outbox = flow["number"], home.path / "outbox" / SUPPLIER_1
    answered = (outbox / f"CR_{SUPPLIER_1}_{number}.xml").read_bytes()
    HubDisk(monkeypatch)  # its pivot cannot be staged again
    (done,) = json.loads(home.invoke("flows", "rerun", number, "--force", "--json", code=3).stdout)
    assert done["after"] == "IN_INCIDENTE"

    assert (outbox / f"CR_{SUPPLIER_1}_{number}_1.xml").read_bytes() == answered
    cr = cr_of(home, flow)
    assert cr.findtext(".//ComplementStatut") == "IN_INCIDENTE"
    (line,) = lines(cr)
    assert line["CodeErreur"] == "FLOW_INCIDENT"
    assert "1 facture(s) intégrée(s)" in line["LibelleErreur"]
    assert line["LibelleErreur"].endswith("Ne déposez pas ce flux à nouveau.")
    assert "Do not send the flow again" in line["en"]
    (invoice,) = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert invoice["status"] == "MISE_A_DISPOSITION"  # delivered, and still so
    *_, month = json.loads(home.invoke("stats", "monthly", "--json").stdout)
    assert month["inbound_flows"] == 1


# -- docs/errors.md shows the CRs the engine writes ------------------------------------

ERRORS_DOC = Path(__file__).resolve().parents[2] / "docs" / "errors.md"
EXAMPLES_TITLE = "## CR examples"
EXAMPLES = (
    ("Integrated (90)", "`facture.xml`, a UBL invoice whose every control passed."),
    (
        "Partially integrated, one invoice refused (96)",
        "`lot.xml`, a pivot of three invoices whose third is addressed to a SIRET no "
        "structure has: `IdFlux` is the pivot's own `IdFlx`.",
    ),
    (
        "Rejected: a document the schema refuses (93)",
        "`xsd-invalid.xml`: the whole document is refused, one line per schema error, "
        "`IdLigne` 0, naming the invoice as the document carries it; the schema's English "
        "reason follows `en: `.",
    ),
    (
        "Rejected: a duplicate flow (93)",
        "`facture-bis.xml`, the same content as `facture.xml`, whose invoice was integrated.",
    ),
    (
        "A status flow answered (90)",
        "A recipient's `CPPStatut` carrying a 07 (service done): one `Information` line per "
        "status applied.",
    ),
    (
        "An incident: send the flow again (93, `IN_INCIDENTE`)",
        "`avoir.xml`, given up after a technical failure at the hub (its own disk refused "
        "the pivot): nothing of it was integrated.",
    ),
)
_FENCED = re.compile(r"```xml\n(.*?)\n```", re.DOTALL)
_STAMPS = (
    (
        re.compile(r"<Horodatage>[^<]*</Horodatage>"),
        "<Horodatage>2026-11-20T09:00:00+00:00</Horodatage>",
    ),
    (re.compile(r"(<Code>DtPrd</Code>\s*<Valeurparametre>)[^<]*"), r"\g<1>2026-11-20"),
)


def test_the_docs_show_the_crs_the_engine_writes(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each example of docs/errors.md is the CR the engine writes for it, dates aside:
    the documentation cannot drift from what suppliers receive."""
    written = [_pretty(cr) for cr in _one_cr_of_each_kind(home, monkeypatch)]
    text = ERRORS_DOC.read_text()
    start = text.index(EXAMPLES_TITLE)
    end = text.find("\n## ", start + 1)
    section = text[start:] if end < 0 else text[start : end + 1]
    if os.environ.get("WRITE_CR_EXAMPLES"):
        intro = section.split("\n### ", 1)[0].rstrip("\n")
        blocks = [
            f"### {title}\n\n{what}\n\n```xml\n{xml}\n```\n"
            for (title, what), xml in zip(EXAMPLES, written, strict=True)
        ]
        new = "\n".join([intro + "\n", *blocks])
        ERRORS_DOC.write_text(text.replace(section, new if end < 0 else new + "\n"))
        section = new
    shown = [_normal(block) for block in _FENCED.findall(section)]
    assert shown == [_normal(xml) for xml in written], (
        "docs/errors.md no longer shows what the engine writes: run this test with "
        "WRITE_CR_EXAMPLES=1 to write the examples again"
    )


def _one_cr_of_each_kind(home: Home, monkeypatch: pytest.MonkeyPatch) -> list[etree._Element]:
    def one(partner: str, name: str, content: bytes, code: int = 0) -> etree._Element:
        home.drop(partner, name, content)
        (flow,) = json.loads(home.invoke("run", "--once", "--json", code=code).stdout)
        return cr_of(home, flow)

    crs = [one(SUPPLIER_1, "facture.xml", sample("ubl-invoice.xml"))]
    crs.append(one(SUPPLIER_2, "lot.xml", sample("pivot-multi.xml")))
    crs.append(one(SUPPLIER_1, "xsd-invalid.xml", sample("xsd-invalid.xml")))
    crs.append(one(SUPPLIER_1, "facture-bis.xml", sample("ubl-invoice.xml")))
    applied = InvoiceStatus(
        code="07",
        supplier=Supplier("81234567600025", "1", "Papeteries Delorme SAS", "FR"),
        debiteur=Debiteur(VALBRUNE),
        invoice_number="F01-2026-000101",
        at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        invoice_date=date(2026, 11, 2),
        comment="service fait le 19/11",
    )
    envelope = Envelope("DEST01-20261120-01", date(2026, 11, 20), RECIPIENT, "EDIHUB")
    crs.append(one(RECIPIENT, "statuts.xml", write_invoice_statuses([applied], envelope)))
    HubDisk(monkeypatch)  # a real failure: the pivot cannot be staged
    crs.append(one(SUPPLIER_1, "avoir.xml", sample("ubl-creditnote.xml"), code=3))
    return crs


def _pretty(cr: etree._Element) -> str:
    tree = etree.ElementTree(etree.fromstring(etree.tostring(cr)))
    etree.indent(tree, space="  ")
    return _normal(etree.tostring(tree, encoding="unicode"))


def _normal(xml: str) -> str:
    for pattern, fixed in _STAMPS:
        xml = pattern.sub(fixed, xml)
    return xml.strip()
