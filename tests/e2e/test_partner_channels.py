"""Partners with an SFTP channel: registered, updated and shown without a secret."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from .conftest import Home


@pytest.fixture
def key_files(tmp_path: Path) -> tuple[Path, Path]:
    key = tmp_path / "id_ed25519"
    key.write_text(
        "-----BEGIN OPENSSH PRIVATE KEY-----\nSECRETSECRET\n-----END OPENSSH PRIVATE KEY-----\n"
    )
    known_hosts = tmp_path / "known_hosts"
    known_hosts.write_text(
        "[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFakeFakeFakeFakeFakeFakeFakeFakeFakeFake\n"
    )
    return key, known_hosts


def _sftp_args(key: Path, known_hosts: Path) -> list[str]:
    return [
        "--sftp-host", "127.0.0.1", "--sftp-port", "2222", "--sftp-user", "abc",
        "--sftp-key", str(key), "--known-hosts", str(known_hosts),
        "--remote-in", "/depot", "--remote-out", "/retour",
    ]  # fmt: skip


def test_sftp_partner_is_registered_and_shown_without_its_key(bare_home: Home, key_files) -> None:
    key, known_hosts = key_files
    bare_home.invoke(
        "partners", "add", "ABC001", "--name", "Fournisseur ABC", *_sftp_args(key, known_hosts)
    )

    shown = json.loads(bare_home.invoke("partners", "show", "ABC001", "--json").stdout)
    assert shown["channel"] == "sftp"
    assert shown["sftp"] == {
        "host": "127.0.0.1",
        "port": 2222,
        "user": "abc",
        "key_file": str(key),
        "known_hosts": str(known_hosts),
        "remote_in": "/depot",
        "remote_out": "/retour",
        "remote_done": None,
        "markers": False,
    }
    everything = (
        bare_home.invoke("partners", "show", "ABC001").stdout
        + bare_home.invoke("partners", "list", "--json").stdout
    )
    assert "SECRETSECRET" not in everything
    assert (bare_home.path / "inbox" / "ABC001").is_dir()


def test_an_incomplete_channel_is_refused_naming_what_is_missing(
    bare_home: Home, key_files
) -> None:
    result = bare_home.invoke(
        "partners", "add", "ABC001", "--name", "A", "--sftp-host", "h", code=2
    )
    for flag in ("--sftp-user", "--sftp-key", "--known-hosts", "--remote-in", "--remote-out"):
        assert flag in result.stderr
    assert json.loads(bare_home.invoke("partners", "list", "--json").stdout) == []


def test_a_missing_key_file_is_refused(bare_home: Home, key_files, tmp_path: Path) -> None:
    _, known_hosts = key_files
    args = _sftp_args(tmp_path / "nope", known_hosts)
    result = bare_home.invoke("partners", "add", "ABC001", "--name", "A", *args, code=2)
    assert "--sftp-key" in result.stderr and "no such file" in result.stderr


def test_update_changes_only_what_is_given(bare_home: Home, key_files) -> None:
    key, known_hosts = key_files
    bare_home.invoke("partners", "add", "ABC001", "--name", "A", *_sftp_args(key, known_hosts))

    bare_home.invoke(
        "partners", "update", "ABC001", "--sftp-port", "2200", "--markers", "--remote-done", "/done"
    )

    sftp = json.loads(bare_home.invoke("partners", "show", "ABC001", "--json").stdout)["sftp"]
    assert (sftp["port"], sftp["markers"], sftp["remote_done"], sftp["host"]) == (
        2200,
        True,
        "/done",
        "127.0.0.1",
    )


def test_a_local_partner_can_be_given_an_sftp_channel(bare_home: Home, key_files) -> None:
    key, known_hosts = key_files
    bare_home.invoke("partners", "add", "ABC001", "--name", "A")
    bare_home.invoke("partners", "update", "ABC001", *_sftp_args(key, known_hosts))
    assert (
        json.loads(bare_home.invoke("partners", "show", "ABC001", "--json").stdout)["channel"]
        == "sftp"
    )


def test_unknown_partner_is_refused(bare_home: Home) -> None:
    result = bare_home.invoke("partners", "show", "NOPE01", code=1)
    assert "NOPE01" in result.stderr


def test_remote_out_or_done_equal_to_remote_in_is_refused(bare_home: Home, key_files) -> None:
    key, known_hosts = key_files
    args = _sftp_args(key, known_hosts)
    args[args.index("/retour")] = "/depot/"
    result = bare_home.invoke("partners", "add", "ABC001", "--name", "A", *args, code=2)
    assert "--remote-out must differ from --remote-in" in result.stderr
    bare_home.invoke("partners", "add", "ABC001", "--name", "A", *_sftp_args(key, known_hosts))
    result = bare_home.invoke("partners", "update", "ABC001", "--remote-done", "/depot", code=2)
    assert "--remote-done must differ" in result.stderr
