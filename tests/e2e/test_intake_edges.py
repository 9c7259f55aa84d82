"""What depositors really do to inbox folders: slow uploads, odd names, clocks ahead."""

from __future__ import annotations

import json
import os
import time

import pytest

from edi_engine.reception import archive

from .conftest import SUPPLIER_1, Home, sample


def test_upload_resumed_after_archiving_is_not_lost(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    dropped = home.drop(SUPPLIER_1, "slow.xml", sample("ubl-invoice.xml")[:500])
    real_store = archive.store

    def upload_resumes(archive_dir, source, fsync=True, **listed):
        stored = real_store(archive_dir, source, fsync, **listed)
        with open(source, "ab") as handle:  # the client sends the rest after a pause
            handle.write(b"<!-- rest -->")
        return stored

    monkeypatch.setattr(archive, "store", upload_resumes)
    assert home.run() == []
    monkeypatch.undo()
    archived = [p for p in (home.path / "archive").rglob("*") if p.is_file()]
    assert archived == []  # the copy of its first part is not left behind, no flow has it

    assert dropped.read_bytes().endswith(b"<!-- rest -->")
    (flow,) = home.run()
    assert flow["file_name"] == "slow.xml"


def test_file_removed_by_its_depositor_is_skipped(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    gone = home.drop(SUPPLIER_1, "a-gone.xml", sample=("ubl-invoice.xml"))
    home.drop(SUPPLIER_1, "b-kept.xml", sample="ubl-creditnote.xml")
    real_store = archive.store

    def vanish_first(archive_dir, source, fsync=True, **listed):
        if source == gone:
            source.unlink()
        return real_store(archive_dir, source, fsync, **listed)

    monkeypatch.setattr(archive, "store", vanish_first)
    flows = home.run()

    assert [f["file_name"] for f in flows] == ["b-kept.xml"]


def test_names_that_are_not_utf8_or_printable_are_received(home: Home) -> None:
    folder = home.path / "inbox" / SUPPLIER_1
    os.makedirs(folder, exist_ok=True)
    latin1 = os.path.join(os.fsencode(folder), b"factur\xe9.xml")
    with open(latin1, "wb") as handle:
        handle.write(sample("ubl-invoice.xml"))
    home.drop(SUPPLIER_1, "ctl\x01name.xml", sample="ubl-creditnote.xml")

    flows = {f["file_name"]: f for f in home.run()}

    # each byte that is not UTF-8 and each control shown as its code point, the way every
    # screen and the CR show it (docs/errors.md#how-a-partners-value-is-shown)
    assert set(flows) == {"factur<U+DCE9>.xml", "ctl<U+0001>name.xml"}
    assert {f["status"] for f in flows.values()} == {"IN_INTEGRE"}
    assert not os.path.exists(latin1)


def test_a_clock_ahead_does_not_hold_the_run(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("EDI_ENGINE_PICKUP_STABLE_SECONDS", "2")
    dropped = home.drop(SUPPLIER_1, "ahead.xml", sample="ubl-invoice.xml")
    future = time.time() + 7200
    os.utime(dropped, (future, future))
    waits: list[float] = []
    monkeypatch.setattr("connectors.local.time.sleep", waits.append)

    (flow,) = home.run()

    assert flow["status"] == "IN_INTEGRE"
    assert waits and max(waits) <= 2


def test_subfolders_and_links_in_an_inbox_are_reported(home: Home) -> None:
    inbox = home.path / "inbox" / SUPPLIER_1
    (inbox / "sub").mkdir(parents=True)
    (inbox / "link.xml").symlink_to("/etc/hostname")

    result = home.invoke("run", "--once")

    assert "sub" in result.stderr and "link.xml" in result.stderr
    assert (inbox / "link.xml").is_symlink()
    assert json.loads(home.invoke("flows", "list", "--json").stdout) == []


def test_list_filters_are_checked(home: Home) -> None:
    assert "IN_REJETE" in home.invoke("flows", "list", "--status", "BOGUS", code=2).stderr
    home.invoke("flows", "list", "--limit", "0", code=2)


def test_convert_to_a_folder_that_does_not_exist_is_a_usage_error(home: Home, tmp_path) -> None:
    from config import path

    result = home.invoke(
        "convert", path("demo/ubl-invoice.xml"), "-o", tmp_path / "no" / "x.xml", code=2
    )
    assert "Cannot write" in result.stderr
