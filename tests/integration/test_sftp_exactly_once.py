"""An SFTP partner receives each output once, whenever the uploading process dies
(docs/reliability.md): killed after the remote rename and before the ledger records it,
the next run records it delivered and uploads nothing again; killed after the rename was
recorded as about to happen and before it was asked, the next run renames the temporary
the server holds; a rename the server refuses leaves the temporary, and the output is
renamed, not uploaded again, once the server takes it. Against the real sshd of
conftest.py, the engine killed at its named points (edi_engine/failpoints.py) in a
process of its own."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import config
from cli import main
from connectors import sftp
from edi_engine import failpoints
from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.statut import write_invoice_statuses

from .conftest import SUPPLIER_SIRET, SftpSite, SshServer

REPO = Path(__file__).resolve().parents[2]
STRUCTURES = config.path("demo/structures.csv")
SUPPLIER, RECIPIENT = "FOUR01", "DEST01"  # the recipient's pivot is uploaded first


pytestmark = pytest.mark.usefixtures("quick_pickup")


class Hub:
    """A home whose supplier and recipient are both reached over SFTP, and its servers'
    folders (the same paths for the server)."""

    def __init__(self, home: Path, server: Path) -> None:
        self.home, self.server = home, server
        self.runner = CliRunner()

    def __call__(self, *args: object, code: int | None = 0) -> Result:
        result = self.runner.invoke(
            main, ["--home", str(self.home), *map(str, args)], catch_exceptions=False
        )
        if code is not None:
            assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    def out(self, partner: str) -> Path:
        return self.server / partner / "out"

    def killed_at(self, point: str) -> str:
        """`run --once` in a process of its own, armed to die at `point`: its stderr."""
        env = {**os.environ, failpoints.VARIABLE: point}
        process = subprocess.Popen(
            [sys.executable, "-m", "cli", "--home", str(self.home), "run", "--once"],
            cwd=REPO, env=env, start_new_session=True,
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            _, said = process.communicate(timeout=120)
        finally:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)  # its workers too
        assert process.returncode == -signal.SIGKILL, said
        return said

    def output(self, name: str) -> tuple:
        """(delivered_at, uploaded_as, delivery_error) of the output named `name`."""
        with contextlib.closing(sqlite3.connect(self.home / "ledger.db")) as ledger:
            return ledger.execute(
                "select delivered_at, uploaded_as, delivery_error from outputs where file_name = ?",
                (name,),
            ).fetchone()

    def invoice(self, number: str) -> dict:
        (invoice,) = json.loads(self("flows", "show", number, "--json").stdout)["invoice_list"]
        return json.loads(self("invoices", "show", invoice["id"], "--json").stdout)


@pytest.fixture
def hub(tmp_path: Path, sshd: SshServer) -> Iterator[Hub]:
    hub = Hub(tmp_path / "home", tmp_path / "server")
    hub.runner.invoke(main, ["init", str(hub.home)], catch_exceptions=False)
    common = ["--sftp-host", sshd.host, "--sftp-port", sshd.port, "--sftp-user", sshd.user,
              "--sftp-key", sshd.client_key, "--known-hosts", sshd.known_hosts]  # fmt: skip
    for code, name in ((SUPPLIER, "Supplier"), (RECIPIENT, "Recipient")):
        for way in ("in", "out"):
            (hub.server / code / way).mkdir(parents=True)
        remote = ["--remote-in", hub.server / code / "in", "--remote-out", hub.out(code)]
        hub("partners", "add", code, "--name", name, *common, *remote)
    hub("partners", "suppliers", "add", SUPPLIER, SUPPLIER_SIRET)
    hub("structures", "import", STRUCTURES)
    yield hub


def _deposit(hub: Hub) -> None:
    invoice = config.path("demo/ubl-invoice.xml").read_bytes()
    (hub.server / SUPPLIER / "in" / "facture.xml").write_bytes(invoice)


def _flow(hub: Hub) -> str:
    (flow,) = json.loads(hub("flows", "list", "--json").stdout)
    return flow["number"]


def _made_available(invoice: dict) -> list[dict]:
    return [e for e in invoice["history"] if e["status"] == "MISE_A_DISPOSITION"]


@pytest.mark.parametrize("taken", [True, False], ids=["partner-took-it", "left-there"])
def test_killed_after_the_remote_rename_the_next_run_records_it_and_uploads_nothing_again(
    hub: Hub, taken: bool
) -> None:
    _deposit(hub)

    hub.killed_at("after-remote-rename")  # the first upload: the recipient's pivot

    number = _flow(hub)
    pivot = f"PIVOT_{RECIPIENT}_{number}_1.xml"
    received = hub.out(RECIPIENT) / pivot
    assert sorted(os.listdir(hub.out(RECIPIENT))) == [pivot]  # renamed, whole
    local = hub.home / "outbox" / RECIPIENT / pivot
    assert received.read_bytes() == local.read_bytes()
    delivered_at, uploaded_as, _ = hub.output(pivot)
    assert (delivered_at, uploaded_as) == (None, pivot)  # the ledger was not told
    first = received.stat()
    if taken:  # the recipient's system took it at once
        received.unlink()

    said = hub("run", "--once").stderr

    assert os.listdir(hub.out(RECIPIENT)) == ([] if taken else [pivot])  # not uploaded again
    if not taken:
        now = received.stat()
        assert (now.st_ino, now.st_mtime_ns) == (first.st_ino, first.st_mtime_ns)
    assert f"{pivot} was renamed on its SFTP server by a run that stopped" in said
    delivered_at, uploaded_as, error = hub.output(pivot)
    assert delivered_at is not None and (uploaded_as, error) == (None, None)
    invoice = hub.invoice(number)
    assert invoice["status"] == "MISE_A_DISPOSITION"
    assert len(_made_available(invoice)) == 1
    assert os.listdir(hub.out(SUPPLIER)) == [f"CR_{SUPPLIER}_{number}.xml"]  # then the CR
    hub("run", "--once")
    assert os.listdir(hub.out(RECIPIENT)) == ([] if taken else [pivot])
    assert hub("check").exit_code == 0


def test_a_recipient_answering_a_pivot_whose_rename_was_not_recorded_is_not_refused(
    hub: Hub,
) -> None:
    """The recipient took the pivot a killed run renamed on its server, and says 07 at
    once: the next run records the delivery (03) before it reads that status, so the
    status is applied, never refused as 'not received yet' (found by the crash soak)."""
    _deposit(hub)
    hub.killed_at("after-remote-rename")
    number = _flow(hub)
    pivot = f"PIVOT_{RECIPIENT}_{number}_1.xml"
    (hub.out(RECIPIENT) / pivot).unlink()  # taken by the recipient, which answers it
    invoice = hub.invoice(number)
    assert invoice["status"] == "EN_COURS_ACHEMINEMENT"
    supplier = Supplier(invoice["supplier"], "1", "Supplier", "FR")
    done = InvoiceStatus(
        "07", supplier, Debiteur(invoice["recipient"]), invoice["number"],
        datetime(2026, 11, 20, tzinfo=UTC),
    )  # fmt: skip
    envelope = Envelope("ST1", date(2026, 11, 20), RECIPIENT, "EDIHUB")
    (hub.server / RECIPIENT / "in" / "statuts.xml").write_bytes(
        write_invoice_statuses([done], envelope)
    )

    ran = json.loads(hub("run", "--once", "--json").stdout)

    (answer,) = [flow for flow in ran if flow["partner"] == RECIPIENT]
    detail = json.loads(hub("flows", "show", answer["number"], "--json").stdout)
    assert [e["code"] for e in detail["errors"]] == ["STATUS_APPLIED"], detail
    invoice = hub.invoice(number)
    assert invoice["status"] == "SERVICE_FAIT"
    statuses = [e["status"] for e in invoice["history"]]
    assert statuses.index("MISE_A_DISPOSITION") < statuses.index("SERVICE_FAIT")
    assert os.listdir(hub.out(RECIPIENT)) == [f"CR_{RECIPIENT}_{answer['number']}.xml"]


def test_killed_before_the_rename_the_next_run_renames_what_the_server_holds(
    hub: Hub,
) -> None:
    _deposit(hub)

    hub.killed_at("before-remote-rename")

    number = _flow(hub)
    pivot = f"PIVOT_{RECIPIENT}_{number}_1.xml"
    temporary = hub.out(RECIPIENT) / f".{pivot}.tmp"
    assert os.listdir(hub.out(RECIPIENT)) == [temporary.name]  # nothing to take yet
    local = hub.home / "outbox" / RECIPIENT / pivot
    assert temporary.read_bytes() == local.read_bytes()
    assert hub.output(pivot)[:2] == (None, pivot)
    uploaded = temporary.stat().st_ino
    local.unlink()  # its bytes are on the server: the local copy is read no more
    assert json.loads(hub("check", "--json").stdout)["sound"] is True

    hub("run", "--once")

    assert os.listdir(hub.out(RECIPIENT)) == [pivot]
    assert (hub.out(RECIPIENT) / pivot).stat().st_ino == uploaded  # renamed, not sent again
    delivered_at, uploaded_as, _ = hub.output(pivot)
    assert delivered_at is not None and uploaded_as is None
    invoice = hub.invoice(number)
    assert invoice["status"] == "MISE_A_DISPOSITION"
    assert len(_made_available(invoice)) == 1


def test_a_rename_the_server_refuses_leaves_the_temporary_and_is_made_once_it_takes_it(
    hub: Hub,
) -> None:
    _deposit(hub)
    hub("run", "--once")  # received, answered and delivered: the supplier's CR is on its server
    number = _flow(hub)
    cr = f"CR_{SUPPLIER}_{number}.xml"
    assert os.listdir(hub.out(SUPPLIER)) == [cr]
    (hub.out(SUPPLIER) / cr).unlink()  # taken by the supplier
    pivot = f"PIVOT_{RECIPIENT}_{number}_1.xml"
    assert os.listdir(hub.out(RECIPIENT)) == [pivot]
    (hub.out(RECIPIENT) / pivot).unlink()
    (hub.out(RECIPIENT) / pivot).mkdir()  # the name taken by a folder: no rename onto it
    # the invoice delivered again (a re-run): its pivot is queued again under its name
    hub("flows", "rerun", number, "--force", "--reason", "test")

    refused = hub("run", "--once", code=3)

    temporary = hub.out(RECIPIENT) / f".{pivot}.tmp"
    assert sorted(os.listdir(hub.out(RECIPIENT))) == sorted([temporary.name, pivot])
    local = hub.home / "outbox" / RECIPIENT / pivot
    assert temporary.read_bytes() == local.read_bytes()  # left whole for the next try
    delivered_at, uploaded_as, error = hub.output(pivot)
    assert (delivered_at, uploaded_as) == (None, pivot)
    assert f"rename of {temporary.name} to {pivot}" in error, error
    assert f"rename of {temporary.name} to {pivot}" in refused.stderr
    uploaded = temporary.stat().st_ino

    (hub.out(RECIPIENT) / pivot).rmdir()  # the partner frees its name
    hub("run", "--once")

    assert os.listdir(hub.out(RECIPIENT)) == [pivot]
    assert (hub.out(RECIPIENT) / pivot).stat().st_ino == uploaded  # renamed, not sent again
    assert hub.output(pivot)[:2][1] is None and hub.output(pivot)[0] is not None


def test_a_re_run_after_a_kill_before_the_rename_uploads_its_new_files_once(hub: Hub) -> None:
    _deposit(hub)
    hub.killed_at("before-remote-rename:2")  # the recipient's pivot, then the supplier's CR
    number = _flow(hub)
    cr, pivot = f"CR_{SUPPLIER}_{number}.xml", f"PIVOT_{RECIPIENT}_{number}_1.xml"
    assert os.listdir(hub.out(SUPPLIER)) == [f".{cr}.tmp"]
    first_cr = (hub.out(SUPPLIER) / f".{cr}.tmp").read_bytes()
    (hub.out(RECIPIENT) / pivot).unlink()  # the recipient took its pivot
    assert hub.output(cr)[:2] == (None, cr)

    # a re-run keeps the first CR as CR_…_1 (still renaming on the server) and writes the
    # pivot again under its name (queued again: its new bytes are to upload)
    hub("flows", "rerun", number, "--force", "--reason", "test")
    hub("run", "--once")

    kept = sorted(os.listdir(hub.out(SUPPLIER)))
    assert len(kept) == 2 and cr in kept, kept  # each once, nothing hidden left
    (earlier,) = [name for name in kept if name != cr]
    assert (hub.out(SUPPLIER) / earlier).read_bytes() == first_cr  # renamed to its new name
    local = hub.home / "outbox" / SUPPLIER / cr
    assert (hub.out(SUPPLIER) / cr).read_bytes() == local.read_bytes() != first_cr
    assert os.listdir(hub.out(RECIPIENT)) == [pivot]  # delivered again, as the re-run asks
    for name in (cr, earlier, pivot):
        delivered_at, uploaded_as, _ = hub.output(name)
        assert delivered_at is not None and uploaded_as is None, name


@pytest.mark.parametrize("server", ["sshd", "sshd_without_posix_rename"])
def test_a_rename_asked_again_once_made_leaves_the_partners_file_as_it_is(
    sftp_site: SftpSite, tmp_path: Path, request: pytest.FixtureRequest, server: str
) -> None:
    sshd: SshServer = request.getfixturevalue(server)
    endpoint = sftp_site.endpoint(port=sshd.port, known_hosts=sshd.known_hosts)
    local = tmp_path / "pivot.xml"
    local.write_bytes(b"<pivot>first</pivot>")
    name = "PIVOT_ABC001_20250101000001_1.xml"
    seen: list[list[str]] = []

    with sftp.SftpConnection(endpoint) as connection:
        connection.upload(
            local, name, renaming=lambda: seen.append(os.listdir(sftp_site.remote_out))
        )
        uploaded = (sftp_site.remote_out / name).stat().st_ino
        # a run that died after the rename, finishing the upload: nothing to rename
        assert connection.rename_upload(name, name) is False

    assert seen == [[f".{name}.tmp"]]  # told once the temporary was whole, before the rename
    assert os.listdir(sftp_site.remote_out) == [name]  # the partner's file was not removed
    assert (sftp_site.remote_out / name).stat().st_ino == uploaded
