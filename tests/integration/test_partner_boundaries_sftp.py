"""Over SFTP, a partner receives only its own outputs and changes only the statuses of the
invoices of structures it serves (issue 16, item 4), against a real OpenSSH sshd.

Four partners reached over SFTP, each with its own folders on the server: two suppliers,
the recipients of Valbrune and of Montclair. One home, three steps (invoices, statuses,
status flows); after each, every folder the hub delivers to on the server holds exactly
that partner's files, each addressed to it. The same over local folders, with
accountants, recycling and a structure handed over: tests/e2e/test_partner_boundaries.py.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from lxml import etree

import config
from cli import main
from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.statut import write_invoice_statuses

from .conftest import SUPPLIER_SIRET, SshServer

PARTNERS = ("FOUR01", "FOUR02", "DEST01", "DEST02")
VALBRUNE, MONTCLAIR = "21990101400015", "26990202900017"
FOUR02_SIRET = "82345678500018"
TO_VALBRUNE, TO_MONTCLAIR, FROM_FOUR02 = "F01-2026-000101", "F01-2026-000201", "F02-2026-000501"
INVOICE = config.path("demo/ubl-invoice.xml").read_bytes()  # FOUR01's, to Valbrune


@pytest.fixture(autouse=True)
def _quick(quick_pickup: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDI_ENGINE_RULES_EN16931", "false")  # about partners, not the norm


def statut_flow(sender: str, code: str, number: str, comment: str | None = None) -> bytes:
    supplier = Supplier(SUPPLIER_SIRET, "1", "Papeteries Delorme SAS", "FR")
    status = InvoiceStatus(
        code, supplier, Debiteur(VALBRUNE), number, datetime(2026, 11, 20, tzinfo=UTC),
        comment=comment,
    )  # fmt: skip
    return write_invoice_statuses([status], Envelope("ST1", date(2026, 11, 20), sender, "EDIHUB"))


def test_each_sftp_partner_receives_its_own_outputs_and_sets_its_own_statuses(
    tmp_path: Path, sshd: SshServer
) -> None:
    server = tmp_path / "server"
    remote = {(p, way): server / f"{p.lower()}-{way}" for p in PARTNERS for way in ("in", "out")}
    for folder in remote.values():
        folder.mkdir(parents=True)
    runner, home = CliRunner(), tmp_path / "home"

    def hub(*args: object, code: int = 0) -> Result:
        argv = ["--home", str(home), *map(str, args)]
        result = runner.invoke(main, argv, catch_exceptions=False)
        assert result.exit_code == code, (args, result.stdout, result.stderr)
        return result

    runner.invoke(main, ["init", str(home)], catch_exceptions=False)
    for code in PARTNERS:
        hub("partners", "add", code, "--name", code, "--sftp-host", sshd.host,
            "--sftp-port", sshd.port, "--sftp-user", sshd.user, "--sftp-key", sshd.client_key,
            "--known-hosts", sshd.known_hosts, "--remote-in", remote[code, "in"],
            "--remote-out", remote[code, "out"])  # fmt: skip
    hub("partners", "suppliers", "add", "FOUR01", SUPPLIER_SIRET)
    hub("partners", "suppliers", "add", "FOUR02", FOUR02_SIRET)
    structures = tmp_path / "structures.csv"
    structures.write_text(
        "siret,designation,active,partner\n"
        f"{VALBRUNE},Commune de Valbrune,true,DEST01\n"
        f"{MONTCLAIR},Centre hospitalier de Montclair,true,DEST02\n"
    )
    hub("structures", "import", structures)
    received: dict[str, set[str]] = {p: set() for p in PARTNERS}

    def arrived() -> dict[str, list[str]]:
        """The kinds of the files that reached each partner's server since last asked, each
        checked to be addressed to that partner."""
        new = {}
        for partner in PARTNERS:
            names = {p.name for p in remote[partner, "out"].iterdir()} - received[partner]
            received[partner] |= names
            for name in names:
                root = etree.parse(str(remote[partner, "out"] / name)).getroot()
                assert root.findtext(".//Partenaires/Recepteur/Id") == partner, name
                assert name.split("_")[1] == partner, name
            new[partner] = sorted(name.split("_")[0] for name in names)
        return new

    # 1. FOUR01's invoices to both structures; FOUR02's own, and a copy of FOUR01's
    (remote["FOUR01", "in"] / "valbrune.xml").write_bytes(INVOICE)
    montclair = INVOICE.replace(TO_VALBRUNE.encode(), TO_MONTCLAIR.encode())
    (remote["FOUR01", "in"] / "montclair.xml").write_bytes(montclair.replace(
        VALBRUNE.encode(), MONTCLAIR.encode()))  # fmt: skip
    (remote["FOUR02", "in"] / "cii.xml").write_bytes(
        config.path("demo/cii-invoice.xml").read_bytes()
    )
    (remote["FOUR02", "in"] / "copy.xml").write_bytes(INVOICE)
    flows = json.loads(hub("run", "--once", "--json").stdout)

    by_file = {(f["partner"], f["file_name"]): f["status"] for f in flows}
    assert by_file == {
        ("FOUR01", "valbrune.xml"): "IN_INTEGRE", ("FOUR01", "montclair.xml"): "IN_INTEGRE",
        ("FOUR02", "cii.xml"): "IN_INTEGRE",
        ("FOUR02", "copy.xml"): "IN_REJETE",  # SUPPLIER_NOT_ALLOWED: the channel says who
    }  # fmt: skip
    assert arrived() == {
        "FOUR01": ["CR", "CR"], "FOUR02": ["CR", "CR"],
        "DEST01": ["PIVOT", "PIVOT"], "DEST02": ["PIVOT"],
    }  # fmt: skip
    debtors = {
        partner: set(etree.parse(str(remote[partner, "out"] / name)).xpath(
            "//Debiteur/Identifiant/text()"))
        for partner in ("DEST01", "DEST02")
        for name in received[partner]
    }  # fmt: skip
    assert debtors == {"DEST01": {VALBRUNE}, "DEST02": {MONTCLAIR}}

    # 2. Montclair's recipient tries Valbrune's invoice; Valbrune's sets it
    (remote["DEST02", "in"] / "s.xml").write_bytes(statut_flow("DEST02", "05", TO_VALBRUNE, "M"))
    (remote["DEST01", "in"] / "s.xml").write_bytes(statut_flow("DEST01", "07", TO_VALBRUNE))
    flows = json.loads(hub("run", "--once", "--json").stdout)

    assert {f["partner"]: f["status"] for f in flows} == {
        "DEST02": "IN_REJETE", "DEST01": "IN_INTEGRE",
    }  # fmt: skip
    assert arrived() == {"FOUR01": [], "FOUR02": [], "DEST01": ["CR"], "DEST02": ["CR"]}
    (cr,) = [n for n in received["DEST02"] if n.startswith("CR_")]
    codes = etree.parse(str(remote["DEST02", "out"] / cr)).xpath("//CodeErreur/text()")
    assert codes == ["STATUS_INVOICE_UNKNOWN"]
    found = json.loads(hub("invoices", "search", "--number", TO_VALBRUNE, "--json").stdout)
    (found,) = [i for i in found if i["in_lifecycle"]]  # not FOUR02's copy, refused
    history = json.loads(hub("invoices", "show", found["id"], "--json").stdout)["history"]
    assert [(h["status_code"], h["actor"]) for h in history][3:] == [("07", "partner:DEST01")]

    # 3. status flows: each supplier its own invoices', uploaded to its server only
    hub("statuses", "emit")
    assert arrived() == {"FOUR01": ["STATUT"], "FOUR02": ["STATUT"], "DEST01": [], "DEST02": []}

    def told(partner: str) -> set[str]:
        statut = remote[partner, "out"] / f"STATUT_{partner}_1.xml"
        return set(etree.parse(str(statut)).xpath("//DonneesStatut/IdFacture/text()"))

    assert (told("FOUR01"), told("FOUR02")) == ({TO_VALBRUNE, TO_MONTCLAIR}, {FROM_FOUR02})
