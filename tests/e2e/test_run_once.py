"""`run --once` on real folders: every outcome a depositor and a recipient can see."""

from __future__ import annotations

import hashlib
import io
import json
import zipfile

import pytest
from lxml import etree

from edi_engine.cli import runs

from .conftest import (
    HAUT_VERNAY,
    MONTCLAIR,
    RECIPIENT,
    SUPPLIER_1,
    SUPPLIER_2,
    VALBRUNE,
    Home,
    sample,
)


def _by_file(rows: list[dict]) -> dict[str, dict]:
    return {row["file_name"]: row for row in rows}


def _cr(home: Home, partner: str, number: str) -> etree._Element:
    return etree.parse(str(home.path / "outbox" / partner / f"CR_{partner}_{number}.xml")).getroot()


def _cr_codes(cr: etree._Element) -> list[str]:
    return cr.xpath("//LigneErreurDetail/CodeErreur/text()")


def test_each_sample_flow_ends_in_the_state_its_content_deserves(home: Home) -> None:
    for name in ("ubl-invoice.xml", "ubl-creditnote.xml", "ubl-inactive.xml", "xsd-invalid.xml"):
        home.drop(SUPPLIER_1, name, sample=name)
    for name in ("cii-invoice.xml", "pivot-multi.xml"):
        home.drop(SUPPLIER_2, name, sample=name)

    flows = _by_file(home.run())

    expected = {
        "ubl-invoice.xml": ("IN_DP_E1_UBL_INVOICE", "IN_INTEGRE", 1, 0),
        "ubl-creditnote.xml": ("IN_DP_E1_UBL_INVOICE", "IN_INTEGRE", 1, 0),
        "ubl-inactive.xml": ("IN_DP_E1_UBL_INVOICE", "IN_REJETE", 1, 1),
        "xsd-invalid.xml": ("IN_DP_E1_UBL_INVOICE", "IN_REJETE", 0, 0),
        "cii-invoice.xml": ("IN_DP_E1_CII_16B", "IN_INTEGRE", 1, 0),
        "pivot-multi.xml": ("IN_DP_E2_CPP_FACTURE", "IN_INTEGRE_PARTIEL", 3, 1),
    }
    found = {n: (f["syntax"], f["status"], f["invoices"], f["rejected"]) for n, f in flows.items()}
    assert found == expected


def test_accepted_invoice_becomes_a_pivot_in_the_recipient_outbox(
    home: Home, pivot_schemas: list[tuple[str, etree.XMLSchema]]
) -> None:
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    number = flow["number"]

    name = f"PIVOT_{RECIPIENT}_{number}_1.xml"
    assert home.outbox(RECIPIENT) == [name]
    pivot = etree.parse(str(home.path / "outbox" / RECIPIENT / name))
    for schema_name, schema in pivot_schemas:
        assert schema.validate(pivot), (schema_name, schema.error_log)
    unit = pivot.getroot().find("CPPFactures/CPPFacturePivotUnitaire")
    assert unit.findtext("DonneesFacture/Id") == "F01-2026-000101"
    assert unit.findtext("DonneesFacture/Renvoi") == "Non"  # a first delivery
    assert unit.findtext("Debiteur/Identifiant") == VALBRUNE
    assert unit.findtext("Debiteur/CodeService") == "SERV-SCOL"
    assert unit.findtext("DonneesFacture/Engagement/NumeroEngagement") == "EJ-VAL-2026-0412"
    assert unit.findtext("DonneesFacture/Montants/MontantHT") == "709.10"
    assert unit.findtext("DonneesFacture/Montants/MontantTTC") == "800.11"
    assert len(unit.findall("DonneesFacture/TVAs/TVA")) == 2
    # the deposited document travels with its pivot as PJ 01
    original = [pj for pj in unit.findall("PJ") if pj.findtext("TypePJ") == "01"]
    assert len(original) == 1
    assert pivot.getroot().xpath("string(//ParametreIndiv[Code='IdFlx']/Valeurparametre)") == number

    detail = home.show(number)
    (invoice,) = detail["invoice_list"]
    assert invoice == {
        "id": invoice["id"],  # for `invoices show`
        "number": "F01-2026-000101",
        "supplier": invoice["supplier"],
        "recipient": VALBRUNE,
        "status": "MISE_A_DISPOSITION",
        "status_code": "03",
        "in_lifecycle": True,
        "pivot_file": name,
        "attempt": 1,
    }
    # the pivot names the invoice as the hub knows it: its id in the ledger (IdCPRO)
    assert unit.findtext("DonneesFacture/IdCPRO") == str(invoice["id"])


def test_the_depositor_gets_a_cr_with_the_right_code(
    home: Home, statut_schemas: list[tuple[str, etree.XMLSchema]]
) -> None:
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "xsd-invalid.xml", sample="xsd-invalid.xml")
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample="pivot-multi.xml")
    flows = _by_file(home.run())

    for file_name, partner, code in (
        ("ubl-invoice.xml", SUPPLIER_1, "90"),
        ("xsd-invalid.xml", SUPPLIER_1, "93"),
        ("pivot-multi.xml", SUPPLIER_2, "96"),
    ):
        cr = _cr(home, partner, flows[file_name]["number"])
        for schema_name, schema in statut_schemas:
            assert schema.validate(cr.getroottree()), (schema_name, schema.error_log)
        assert cr.findtext(".//DonneesStatut/IdStatut") == code
        # IdFlux is the depositor's own id of its flow: a pivot's IdFlx, else its file name;
        # the hub's flow number is the CR's envelope IdFlx, and in its Note
        own = "FOUR02-20261109-0001" if file_name == "pivot-multi.xml" else file_name
        assert cr.findtext(".//DonneesStatut/IdFlux") == own
        number = flows[file_name]["number"]
        assert cr.findtext(".//ParametreIndiv[Code='IdFlx']/Valeurparametre") == number
        assert f"flux={number}" in cr.findtext(".//DonneesStatut/Note")

    assert _cr_codes(_cr(home, SUPPLIER_1, flows["ubl-invoice.xml"]["number"])) == []
    invalid = _cr(home, SUPPLIER_1, flows["xsd-invalid.xml"]["number"])
    assert set(_cr_codes(invalid)) == {"XSD_INVALID"}
    line = invalid.find(".//LigneErreurDetail")
    assert line.findtext("LibelleErreur") == "Le document n'est pas valide selon son schéma XSD."
    assert "DocumentCurrencyCode" in line.findtext("DescriptionErreur")  # after "en: "
    assert line.get("IdLigne") == "0"  # the flow, never an XML line
    partial = _cr(home, SUPPLIER_2, flows["pivot-multi.xml"]["number"])
    assert _cr_codes(partial) == ["RECIPIENT_UNKNOWN"]
    assert "21990404200013" in partial.findtext(".//LigneErreurDetail/DescriptionErreur")


def test_xsd_errors_are_recorded_with_line_and_path(home: Home) -> None:
    home.drop(SUPPLIER_1, "xsd-invalid.xml", sample="xsd-invalid.xml")
    (flow,) = home.run()
    errors = home.show(flow["number"])["errors"]
    assert errors and all(e["code"] == "XSD_INVALID" for e in errors)
    assert all(e["line"] and e["path"] for e in errors)
    assert home.outbox(RECIPIENT) == []


def test_invoice_to_an_inactive_structure_is_rejected_naming_it(home: Home) -> None:
    home.drop(SUPPLIER_1, "ubl-inactive.xml", sample="ubl-inactive.xml")
    (flow,) = home.run()
    detail = home.show(flow["number"])
    (error,) = detail["errors"]
    assert error["code"] == "RECIPIENT_INACTIVE"
    assert error["value"] == HAUT_VERNAY
    assert detail["invoice_list"][0]["status"] == "REFUSEE_RECEPTION"
    assert home.outbox(RECIPIENT) == []


def test_same_content_again_is_a_duplicate_flow_naming_the_original(home: Home) -> None:
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    (first,) = home.run()
    home.drop(SUPPLIER_1, "again.xml", sample="ubl-invoice.xml")
    (second,) = home.run()

    assert second["status"] == "IN_REJETE"
    detail = home.show(second["number"])
    assert detail["duplicate_of"] == first["number"]
    assert [e["code"] for e in detail["errors"]] == ["DUPLICATE_FLOW"]
    assert first["number"] in detail["errors"][0]["message"]
    # no second pivot for the same content
    assert len(home.outbox(RECIPIENT)) == 1


def test_zip_batch_members_are_the_flows_documents(home: Home) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as batch:
        batch.writestr("a/ubl-batch-1.xml", sample("batch/ubl-batch-1.xml"))
        batch.writestr("ubl-batch-2.xml", sample("batch/ubl-batch-2.xml"))
        batch.writestr("broken.xml", sample("xsd-invalid.xml"))
    home.drop(SUPPLIER_1, "batch.zip", buffer.getvalue())

    (flow,) = home.run()

    assert (flow["syntax"], flow["status"], flow["invoices"], flow["rejected"]) == (
        "IN_DP_E1_UBL_INVOICE",
        "IN_INTEGRE_PARTIEL",
        2,
        0,
    )
    errors = home.show(flow["number"])["errors"]
    assert {e["document"] for e in errors} == {"broken.xml"}
    assert len(home.outbox(RECIPIENT)) == 2


def test_tar_gz_batch_is_read_like_a_zip(home: Home) -> None:
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as batch:
        for name in ("batch/ubl-batch-1.xml", "batch/ubl-batch-2.xml"):
            content = sample(name)
            info = tarfile.TarInfo(name.split("/")[1])
            info.size = len(content)
            batch.addfile(info, io.BytesIO(content))
    home.drop(SUPPLIER_1, "batch.tar.gz", buffer.getvalue())

    (flow,) = home.run()

    assert (flow["status"], flow["invoices"]) == ("IN_INTEGRE", 2)
    assert len(home.outbox(RECIPIENT)) == 2


def test_inbox_is_emptied_only_into_the_archive(home: Home) -> None:
    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    content = dropped.read_bytes()
    digest = hashlib.sha256(content).hexdigest()

    (flow,) = home.run()

    assert not dropped.exists()
    archived = home.path / "archive" / digest[:2] / digest[2:4] / digest
    assert archived.read_bytes() == content
    assert home.show(flow["number"])["sha256"] == digest


def test_a_second_run_changes_nothing(home: Home) -> None:
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample="pivot-multi.xml")
    home.run()
    before = {p: p.read_bytes() for p in (home.path / "outbox").rglob("*") if p.is_file()}
    flows_before = home.invoke("flows", "list", "--json").stdout

    assert home.run() == []

    after = {p: p.read_bytes() for p in (home.path / "outbox").rglob("*") if p.is_file()}
    assert after == before
    assert home.invoke("flows", "list", "--json").stdout == flows_before


def test_folder_of_no_known_partner_is_left_untouched_and_reported(home: Home) -> None:
    stray = home.drop("NOBODY", "lost.xml", sample="ubl-invoice.xml")
    result = home.invoke("run", "--once")
    assert stray.exists()
    assert "NOBODY" in result.stderr and "no registered partner" in result.stderr
    assert json.loads(home.invoke("flows", "list", "--json").stdout) == []


def test_pivot_flow_sends_each_invoice_to_its_structures_partner(home: Home) -> None:
    home.drop(SUPPLIER_2, "pivot-multi.xml", sample="pivot-multi.xml")
    (flow,) = home.run()
    invoices = home.show(flow["number"])["invoice_list"]
    assert [(i["number"], i["recipient"], i["status"]) for i in invoices] == [
        ("F02-2026-000502", MONTCLAIR, "MISE_A_DISPOSITION"),
        ("F02-2026-000503", VALBRUNE, "MISE_A_DISPOSITION"),
        ("F02-2026-000504", "21990404200013", "REFUSEE_RECEPTION"),
    ]
    number = flow["number"]
    assert home.outbox(RECIPIENT) == [
        f"PIVOT_{RECIPIENT}_{number}_1.xml",
        f"PIVOT_{RECIPIENT}_{number}_2.xml",
    ]


@pytest.mark.parametrize(
    ("name", "content", "code"),
    [
        ("empty.xml", b"", "EMPTY_FILE"),
        ("notes.txt", b"this is not an invoice\n", "NOT_XML"),
        ("other.xml", b"<?xml version='1.0'?><Order xmlns='urn:x'/>", "UNKNOWN_SYNTAX"),
        (
            "xxe.xml",
            b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY x SYSTEM 'file:///etc/passwd'>]><r>&x;</r>",
            "DTD_FORBIDDEN",
        ),
        ("broken.zip", b"PK\x03\x04 not really a zip", "CORRUPT_ARCHIVE"),
    ],
)
def test_bad_input_is_rejected_with_a_specific_reason(
    home: Home, name: str, content: bytes, code: str
) -> None:
    home.drop(SUPPLIER_1, name, content)
    home.drop(SUPPLIER_1, "zz-good.xml", sample="ubl-invoice.xml")

    flows = _by_file(home.run())

    assert flows[name]["status"] == "IN_REJETE"
    assert [e["code"] for e in home.show(flows[name]["number"])["errors"]] == [code]
    assert _cr_codes(_cr(home, SUPPLIER_1, flows[name]["number"])) == [code]
    # the run goes on
    assert flows["zz-good.xml"]["status"] == "IN_INTEGRE"


def test_zip_member_leaving_its_folder_rejects_the_batch(home: Home) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as batch:
        batch.writestr("ok.xml", sample("batch/ubl-batch-1.xml"))
        batch.writestr("../../evil.xml", sample("batch/ubl-batch-2.xml"))
    home.drop(SUPPLIER_1, "slip.zip", buffer.getvalue())

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    (error,) = home.show(flow["number"])["errors"]
    assert (error["code"], error["value"]) == ("UNSAFE_MEMBER_PATH", "../../evil.xml")
    assert home.outbox(RECIPIENT) == []
    assert not (home.path / "evil.xml").exists()


def test_zip_bomb_is_rejected(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as batch:
        batch.writestr("zeros.xml", b"\0" * 5_000_000)
    home.drop(SUPPLIER_1, "bomb.zip", buffer.getvalue())

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    assert [e["code"] for e in home.show(flow["number"])["errors"]] == ["ARCHIVE_BOMB"]


def test_file_over_the_size_limit_is_archived_and_rejected(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_LIMITS_MAX_FILE_BYTES", "1000")
    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    size = dropped.stat().st_size

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    (error,) = home.show(flow["number"])["errors"]
    assert error["code"] == "FILE_TOO_LARGE"
    assert error["value"] == str(size)


def test_file_still_being_written_is_left_for_the_next_run(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_PICKUP_STABLE_SECONDS", "30")
    dropped = home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")

    def writer_goes_on(_seconds: float) -> None:  # instead of waiting, the upload grows
        with dropped.open("ab") as handle:
            handle.write(b"<!-- more -->")

    monkeypatch.setattr("connectors.local.time.sleep", writer_goes_on)
    assert home.run() == []
    assert dropped.exists()

    monkeypatch.setenv("EDI_ENGINE_PICKUP_STABLE_SECONDS", "0")
    (flow,) = home.run()
    assert flow["file_name"] == "ubl-invoice.xml"


def test_hidden_and_temporary_names_are_not_taken(home: Home) -> None:
    hidden = home.drop(SUPPLIER_1, ".upload.xml", sample="ubl-invoice.xml")
    partial = home.drop(SUPPLIER_1, "flow.xml.part", sample="ubl-invoice.xml")
    assert home.run() == []
    assert hidden.exists() and partial.exists()


def test_run_needs_exactly_one_mode(home: Home) -> None:
    result = home.invoke("run", code=2)
    assert "--once" in result.stderr


def test_nested_archive_member_is_refused_and_the_others_go_on(home: Home) -> None:
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as nested:
        nested.writestr("x.xml", sample("batch/ubl-batch-2.xml"))
    outer = io.BytesIO()
    with zipfile.ZipFile(outer, "w") as batch:
        batch.writestr("inner.zip", inner.getvalue())
        batch.writestr("ok.xml", sample("batch/ubl-batch-1.xml"))
    home.drop(SUPPLIER_1, "outer.zip", outer.getvalue())

    (flow,) = home.run()

    assert (flow["status"], flow["invoices"]) == ("IN_INTEGRE_PARTIEL", 1)
    (error,) = home.show(flow["number"])["errors"]
    assert (error["code"], error["document"]) == ("NESTED_ARCHIVE", "inner.zip")


def test_empty_batch_is_refused(home: Home) -> None:
    empty = io.BytesIO()
    with zipfile.ZipFile(empty, "w"):
        pass
    home.drop(SUPPLIER_1, "empty.zip", empty.getvalue())

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    assert [e["code"] for e in home.show(flow["number"])["errors"]] == ["EMPTY_BATCH"]


def test_a_large_run_lists_the_flows_needing_attention_and_counts_the_rest(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runs, "RUN_TABLE_ROWS", 2)  # a burst of thousands, in small
    home.drop(SUPPLIER_1, "ubl-invoice.xml", sample="ubl-invoice.xml")
    home.drop(SUPPLIER_1, "broken.xml", b"<not closed")
    home.drop(SUPPLIER_1, "ubl-creditnote.xml", sample="ubl-creditnote.xml")
    home.drop(SUPPLIER_2, "cii-invoice.xml", sample="cii-invoice.xml")

    shown = home.invoke("run", "--once")

    flows = json.loads(home.invoke("flows", "list", "--json").stdout)
    assert len(flows) == 4
    (broken,) = [f["number"] for f in flows if f["status"] == "IN_REJETE"]
    listed = [f["number"] for f in flows if f["number"] in shown.stdout]
    assert broken in listed and len(listed) == 2  # the one needing attention first
    assert "4 processed" in shown.stdout
    assert "2 more flow(s) not shown (2 IN_INTEGRE)" in shown.stderr
    # scripts still get every flow
    home.drop(SUPPLIER_1, "late.xml", b"<late")
    home.drop(SUPPLIER_1, "later.xml", b"<later")
    home.drop(SUPPLIER_1, "latest.xml", b"<latest")
    assert len(home.run()) == 3
