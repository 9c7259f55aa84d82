"""A recipient reached over SFTP that leaves a folder on its own server under the name of
its next pivot holds back that pivot only (issue 13, item 2): the supplier's flow is
integrated and its CR uploaded, the folder is neither entered, emptied nor removed, and
the pivot is uploaded once, whole, when the name is free. Against the real sshd of
conftest.py, end to end through the CLI."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from click.testing import Result

from .test_sftp_partners import _drop, hub, server_folders

__all__ = ["hub", "server_folders"]  # the fixtures this module uses
pytestmark = pytest.mark.usefixtures("quick_pickup")


def _invoice_status(hub: Callable[..., Result], number: str) -> str:
    (invoice,) = json.loads(hub("flows", "show", number, "--json").stdout)["invoice_list"]
    return invoice["status"]


def test_a_folder_planted_on_the_recipients_server_holds_back_its_pivot_only(
    hub: Callable[..., Result], server_folders: dict[str, Path]
) -> None:
    pivot = "PIVOT_DEST01_FL0000000001_1.xml"  # flow numbers are sequential: foreseeable
    planted = server_folders["dest-out"] / pivot
    planted.mkdir()
    (planted / "inside.txt").write_bytes(b"the recipient's own")
    _drop(server_folders["four-in"], "facture.xml", "ubl-invoice.xml")

    # its channel failing, as README says of any: named on stderr, run --once exits 3
    held = hub("run", "--once", "--json", code=3)

    (flow,) = json.loads(held.stdout)
    assert (flow["number"], flow["status"]) == ("FL0000000001", "IN_INTEGRE"), held.stderr
    assert [p.name for p in server_folders["four-out"].iterdir()] == ["CR_FOUR01_FL0000000001.xml"]
    assert f"partner DEST01: rename of .{pivot}.tmp to {pivot}" in held.stderr
    # the upload's temporary (a dot name) may stay until the name is free; nothing else
    shown = [p.name for p in server_folders["dest-out"].iterdir() if not p.name.startswith(".")]
    assert shown == [pivot] and planted.is_dir()
    assert (planted / "inside.txt").read_bytes() == b"the recipient's own"
    assert _invoice_status(hub, flow["number"]) == "EN_COURS_ACHEMINEMENT"  # not told 03

    (planted / "inside.txt").unlink()
    planted.rmdir()
    hub("run", "--once")

    assert [p.name for p in server_folders["dest-out"].iterdir()] == [pivot]
    assert planted.is_file() and b"<CPPFacturePivot" in planted.read_bytes()
    assert _invoice_status(hub, flow["number"]) == "MISE_A_DISPOSITION"
    uploaded = planted.stat().st_mtime_ns
    hub("run", "--once")  # nothing is uploaded twice
    assert planted.stat().st_mtime_ns == uploaded
    assert [p.name for p in server_folders["four-out"].iterdir()] == ["CR_FOUR01_FL0000000001.xml"]
