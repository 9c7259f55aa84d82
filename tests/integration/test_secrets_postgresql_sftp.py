"""Secrets never show (issue 16, item 4), with a real PostgreSQL that takes the ledger's
password and a real OpenSSH sshd: tests/e2e/test_secrets.py's sweep where the secrets
are used, not only refused.

The ledger is a PostgreSQL database whose URL carries a password (the local server
trusts loopback, so it takes any: the password really reaches the driver); SFTPA logs
in with its key, SFTPB's copy of that key is protected by a passphrase, SFTPC's key is
one the server does not know. Every command is run with --verbose and --json, the
daemon as a real process, an unexpected failure forced; then a few with the password in
a password file and in PGPASSWORD. Every output, every file of the test's folders and
every value of every table of the database is searched for each secret.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import secret_sweep
from secret_sweep import Sweep, existing_key, key_file, locked_copy, secret

from .conftest import SshServer


@pytest.fixture(autouse=True)
def quick(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [n for n in os.environ if n.startswith(("EDI_ENGINE_", "PG"))]:
        monkeypatch.delenv(name)
    for name, value in {
        "PICKUP_STABLE_SECONDS": "0", "PROCESSING_FSYNC": "false",
        "RULES_EN16931": "false",  # about secrets, not the norm
        "SFTP_RETRY_ATTEMPTS": "1", "SFTP_CONNECT_TIMEOUT": "5",
    }.items():  # fmt: skip
        monkeypatch.setenv(f"EDI_ENGINE_{name}", value)


def test_no_secret_shows_with_a_real_database_and_real_sftp_servers(
    tmp_path: Path, pg_database: str, sshd: SshServer
) -> None:
    passwords = {name: secret(name) for name in ("url", "file", "pgpassword")}
    url = f"postgresql+psycopg://postgres:{{}}@127.0.0.1:5432/{pg_database}"
    client = existing_key(sshd.client_key, sshd.client_key.with_suffix(".pub"))
    locked = locked_copy(sshd.client_key, tmp_path, secret("passphrase"))
    stranger = existing_key(sshd.stranger_key, sshd.stranger_key.with_suffix(".pub"))
    registered = key_file(tmp_path, "registered_ed25519").public  # a public key: no secret
    keys = {"SFTPA": client.path, "SFTPB": locked.path, "SFTPC": stranger.path}
    channels = {}
    for code, key in keys.items():
        for way in ("in", "out"):
            (tmp_path / "server" / code / way).mkdir(parents=True)
        channels[code] = [
            "--sftp-host", sshd.host, "--sftp-port", sshd.port, "--sftp-user", sshd.user,
            "--sftp-key", key, "--known-hosts", sshd.known_hosts,
            "--remote-in", tmp_path / "server" / code / "in",
            "--remote-out", tmp_path / "server" / code / "out",
        ]  # fmt: skip
    with_password = {"EDI_ENGINE_DATABASE_URL": url.format(passwords["url"])}
    sweep = Sweep(tmp_path / "home", env=with_password)
    assert sweep("init", sweep.home) == 0  # the server took the password

    assert secret_sweep.setup(sweep, tmp_path, channels) == 3  # SFTPB and SFTPC fail
    told = sweep.said[-1][1]
    assert "SFTPB" in told and "it is protected by a passphrase" in told
    assert "SFTPC" in told and "authentication failed" in told
    assert list((tmp_path / "server" / "SFTPA" / "out").glob("CR_SFTPA_*"))  # its key works
    secret_sweep.every_command(sweep, tmp_path, client.path, stranger.path, registered)
    secret_sweep.daemon(sweep, with_password)
    secret_sweep.forced_failure(sweep)
    password_file = tmp_path / "ledger-password"
    password_file.write_text(passwords["file"] + "\n")
    for env in (
        {"EDI_ENGINE_DATABASE_PASSWORD_FILE": str(password_file)},
        {"PGPASSWORD": passwords["pgpassword"]},
    ):
        sweep.env = env  # the URL of edi-engine.toml, recorded by init without its password
        assert sweep("flows", "list", "--json") == 0
        sweep("run", "--once")
        sweep("jobs", "list")

    kept = {f"database password ({name})": [value] for name, value in passwords.items()}
    kept |= {"client key": client.fragments(), "passphrase key": locked.fragments()}
    kept["stranger key"] = stranger.fragments()
    given = {locked.path, password_file}
    said = [
        *sweep.said,
        *((where, text) for where, text in secret_sweep.files_of(tmp_path)
          if Path(where) not in given),
        *secret_sweep.ledger_rows(url.format(passwords["url"])),
    ]  # fmt: skip
    assert sweep.ran == set(secret_sweep.commands())
    found = secret_sweep.leaks(said, kept)
    assert not found, "\n".join(found[:20])
