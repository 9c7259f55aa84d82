"""Partners over SFTP, end to end through the CLI against a real OpenSSH sshd on loopback."""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import config
from cli import main

from .conftest import SUPPLIER_SIRET, SshServer

STRUCTURES = config.path("demo/structures.csv")


pytestmark = pytest.mark.usefixtures("quick_pickup")


@pytest.fixture
def server_folders(tmp_path: Path) -> dict[str, Path]:
    folders = {
        name: tmp_path / "server" / name for name in ("four-in", "four-out", "dest-out", "dest-in")
    }
    for folder in folders.values():
        folder.mkdir(parents=True)
    return folders


@pytest.fixture
def hub(tmp_path: Path, sshd: SshServer, server_folders: dict[str, Path]) -> Callable[..., Result]:
    """A home with FOUR01 (supplier) and DEST01 (recipient), both reached over SFTP."""
    runner = CliRunner()
    home = tmp_path / "home"

    def invoke(*args: object, code: int | None = 0) -> Result:
        result = runner.invoke(main, ["--home", str(home), *map(str, args)], catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    runner.invoke(main, ["init", str(home)], catch_exceptions=False)
    common = ["--sftp-host", sshd.host, "--sftp-port", sshd.port, "--sftp-user", sshd.user,
              "--sftp-key", sshd.client_key, "--known-hosts", sshd.known_hosts]  # fmt: skip
    invoke("partners", "add", "FOUR01", "--name", "Supplier", *common,
           "--remote-in", server_folders["four-in"], "--remote-out", server_folders["four-out"])  # fmt: skip
    invoke("partners", "add", "DEST01", "--name", "Recipient", *common,
           "--remote-in", server_folders["dest-in"], "--remote-out", server_folders["dest-out"])  # fmt: skip
    invoke("partners", "suppliers", "add", "FOUR01", SUPPLIER_SIRET)
    invoke("structures", "import", STRUCTURES)
    invoke.home = home  # type: ignore[attr-defined]
    return invoke


def _drop(folder: Path, name: str, sample: str) -> Path:
    path = folder / name
    path.write_bytes(config.path(f"demo/{sample}").read_bytes())
    return path


def test_a_flow_fetched_over_sftp_is_answered_and_delivered_over_sftp(
    hub: Callable[..., Result], server_folders: dict[str, Path]
) -> None:
    remote = _drop(server_folders["four-in"], "facture.xml", "ubl-invoice.xml")

    (flow,) = json.loads(hub("run", "--once", "--json").stdout)

    assert (flow["partner"], flow["file_name"], flow["status"]) == (
        "FOUR01",
        "facture.xml",
        "IN_INTEGRE",
    )
    assert not remote.exists()  # acknowledged at the source once recorded
    number = flow["number"]
    assert [p.name for p in server_folders["four-out"].iterdir()] == [f"CR_FOUR01_{number}.xml"]
    assert [p.name for p in server_folders["dest-out"].iterdir()] == [
        f"PIVOT_DEST01_{number}_1.xml"
    ]
    (invoice,) = json.loads(hub("flows", "show", number, "--json").stdout)["invoice_list"]
    assert invoice["status"] == "MISE_A_DISPOSITION"
    assert not any((hub.home / "landing").rglob("*.xml"))  # type: ignore[attr-defined]


def test_a_refused_host_key_keeps_outputs_queued_until_it_is_fixed(
    hub: Callable[..., Result], server_folders: dict[str, Path], sshd: SshServer, tmp_path: Path
) -> None:
    liar = tmp_path / "known_hosts_liar"
    liar.write_text(f"[{sshd.host}]:{sshd.port} {sshd.other_host_key_pub.read_text()}")
    hub("partners", "update", "DEST01", "--known-hosts", liar)
    _drop(server_folders["four-in"], "facture.xml", "ubl-invoice.xml")

    result = hub("run", "--once", "--json", code=3)

    (flow,) = json.loads(result.stdout)
    assert "DEST01" in result.stderr and "SHA256:" in result.stderr
    assert list(server_folders["dest-out"].iterdir()) == []
    (invoice,) = json.loads(hub("flows", "show", flow["number"], "--json").stdout)["invoice_list"]
    assert invoice["status"] == "EN_COURS_ACHEMINEMENT"

    hub("partners", "update", "DEST01", "--known-hosts", sshd.known_hosts)
    hub("run", "--once")

    assert [p.name for p in server_folders["dest-out"].iterdir()] == [
        f"PIVOT_DEST01_{flow['number']}_1.xml"
    ]
    (invoice,) = json.loads(hub("flows", "show", flow["number"], "--json").stdout)["invoice_list"]
    assert invoice["status"] == "MISE_A_DISPOSITION"
    (delivered,) = server_folders["dest-out"].iterdir()
    first_upload = delivered.stat().st_mtime_ns
    hub("run", "--once")  # nothing is delivered twice
    assert [p.stat().st_mtime_ns for p in server_folders["dest-out"].iterdir()] == [first_upload]


def test_a_file_fetched_again_after_a_lost_acknowledgement_makes_one_flow(
    hub: Callable[..., Result], server_folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = _drop(server_folders["four-in"], "facture.xml", "ubl-invoice.xml")
    from connectors import sftp

    def lost(self, remote_file):
        raise sftp.TransientSftpError("connection dropped while acknowledging")

    monkeypatch.setattr(sftp.SftpConnection, "acknowledge", lost)
    result = hub("run", "--once", code=3)  # reported: the file is still at the source
    monkeypatch.undo()
    assert "connection dropped while acknowledging" in result.stderr
    assert remote.exists()

    hub("run", "--once")

    assert not remote.exists()
    flows = json.loads(hub("flows", "list", "--json").stdout)
    assert [(f["file_name"], f["status"]) for f in flows] == [("facture.xml", "IN_INTEGRE")]


def test_a_new_version_uploaded_meanwhile_is_not_acknowledged_away(
    hub: Callable[..., Result], server_folders: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = _drop(server_folders["four-in"], "facture.xml", "ubl-invoice.xml")
    from edi_engine.reception import pickup

    real = pickup.acknowledge

    def partner_sends_again(*args, **kwargs):
        remote.write_bytes(config.path("demo/ubl-creditnote.xml").read_bytes())
        os.utime(remote, (remote.stat().st_mtime + 5, remote.stat().st_mtime + 5))
        return real(*args, **kwargs)

    monkeypatch.setattr(pickup, "acknowledge", partner_sends_again)
    hub("run", "--once")
    monkeypatch.undo()

    assert remote.exists()  # the new version was not deleted
    hub("run", "--once")
    flows = json.loads(hub("flows", "list", "--json").stdout)
    assert [f["status"] for f in flows] == ["IN_INTEGRE", "IN_INTEGRE"]
    assert not remote.exists()


def test_a_local_partner_switched_to_sftp_does_not_receive_its_history_again(
    tmp_path: Path, sshd: SshServer, server_folders: dict[str, Path]
) -> None:
    runner = CliRunner()
    home = tmp_path / "local-first"

    def invoke(*args: object) -> Result:
        result = runner.invoke(main, ["--home", str(home), *map(str, args)], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        return result

    runner.invoke(main, ["init", str(home)], catch_exceptions=False)
    invoke("partners", "add", "FOUR01", "--name", "Supplier")
    invoke("partners", "add", "DEST01", "--name", "Recipient")
    invoke("partners", "suppliers", "add", "FOUR01", SUPPLIER_SIRET)
    invoke("structures", "import", STRUCTURES)
    (home / "inbox" / "FOUR01" / "facture.xml").write_bytes(
        config.path("demo/ubl-invoice.xml").read_bytes()
    )
    invoke("run", "--once")

    invoke("partners", "update", "FOUR01", "--sftp-host", sshd.host, "--sftp-port", sshd.port,
           "--sftp-user", sshd.user, "--sftp-key", sshd.client_key, "--known-hosts", sshd.known_hosts,
           "--remote-in", server_folders["four-in"], "--remote-out", server_folders["four-out"])  # fmt: skip
    invoke("run", "--once")

    assert list(server_folders["four-out"].iterdir()) == []


def test_a_recycled_invoice_for_an_sftp_partner_is_made_available_once_uploaded(
    hub: Callable[..., Result], server_folders: dict[str, Path]
) -> None:
    _drop(server_folders["four-in"], "facture.xml", "ubl-invoice.xml")
    (flow,) = json.loads(hub("run", "--once", "--json").stdout)
    number = flow["number"]
    (invoice,) = json.loads(hub("flows", "show", number, "--json").stdout)["invoice_list"]
    hub("invoices", "set-status", invoice["id"], "A_RECYCLER", "--comment", "wrong structure")

    hub("invoices", "recycle", invoice["id"], "--siret", "26990202900017")
    recycled = f"PIVOT_DEST01_{number}_2.xml"
    shown = json.loads(hub("invoices", "show", invoice["id"], "--json").stdout)
    assert (shown["status"], shown["pivot_file"]) == ("EN_COURS_ACHEMINEMENT", recycled)
    assert recycled not in [p.name for p in server_folders["dest-out"].iterdir()]

    hub("run", "--once")
    assert recycled in [p.name for p in server_folders["dest-out"].iterdir()]
    shown = json.loads(hub("invoices", "show", invoice["id"], "--json").stdout)
    assert shown["status"] == "MISE_A_DISPOSITION"
    assert "uploaded to partner DEST01" in shown["history"][-1]["detail"]


def test_statuses_emit_uploads_a_status_flow_to_an_sftp_supplier_at_once(
    hub: Callable[..., Result], server_folders: dict[str, Path]
) -> None:
    _drop(server_folders["four-in"], "facture.xml", "ubl-invoice.xml")
    hub("run", "--once")
    (emitted,) = json.loads(hub("statuses", "emit", "--json").stdout)
    assert emitted["file_name"] == "STATUT_FOUR01_1.xml"
    assert "STATUT_FOUR01_1.xml" in [p.name for p in server_folders["four-out"].iterdir()]
