"""Secrets never show (issue 16, item 4): not on stdout or stderr, in `--json`, in a log
line, a traceback, a file of the home or the ledger, whatever the command and however
it fails.

The home has partners reached over SFTP with private keys (one plain, one protected by a
passphrase the engine cannot type, one cut short; a key given as a known-hosts file),
each server a loopback port where nothing listens. Every command of the CLI is run (tests/secret_sweep.py reads them
from its click groups), with its typical arguments, --verbose, and --json when it has
it, `run --daemon` as a real process; an unexpected failure is forced. Then every
command again with a PostgreSQL URL carrying a password in each of the ways the engine
takes one, to a server that is not there, and with passwords that break the URL. Each
secret is a random string found nowhere else. The same against a real sshd and a real
PostgreSQL that accepts the password: tests/integration/test_secrets_postgresql_sftp.py.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest
import secret_sweep
from secret_sweep import Sweep, closed_port, key_file, secret


@dataclass
class Swept:
    said: list[tuple[str, str]]  # (where, text) of everything looked at
    secrets: dict[str, list[str]]  # name -> the strings that would give it away
    ran: set[tuple[str, ...]]


def sftp_options(key: Path, known_hosts: Path, port: int, name: str) -> list[object]:
    return [
        "--sftp-host", "127.0.0.1", "--sftp-port", port, "--sftp-user", "hub",
        "--sftp-key", key, "--known-hosts", known_hosts,
        "--remote-in", f"/{name}/in", "--remote-out", f"/{name}/out",
    ]  # fmt: skip


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory) -> Swept:
    folder = tmp_path_factory.mktemp("secrets")
    with pytest.MonkeyPatch.context() as env:
        for name in [n for n in os.environ if n.startswith(("EDI_ENGINE_", "PG"))]:
            env.delenv(name)
        for name, value in {
            "PICKUP_STABLE_SECONDS": "0", "PROCESSING_FSYNC": "false",
            "RULES_EN16931": "false",  # about secrets, not the norm
            "SFTP_RETRY_ATTEMPTS": "1", "SFTP_CONNECT_TIMEOUT": "5",
        }.items():  # fmt: skip
            env.setenv(f"EDI_ENGINE_{name}", value)
        return _sweep(folder)


def _sweep(folder: Path) -> Swept:
    plain = key_file(folder, "plain_ed25519")
    locked = key_file(folder, "locked_ed25519", passphrase=secret("passphrase"))
    whole = key_file(folder, "cut_ed25519")
    cut = folder / "cut_short"
    cut.write_text("".join(whole.path.read_text().splitlines(keepends=True)[:3]))
    registered = key_file(folder, "registered_ed25519").public  # a public key: no secret
    known_hosts = folder / "known_hosts"
    known_hosts.write_text(registered.read_text().replace("ssh-ed25519", "127.0.0.1 ssh-ed25519"))
    port = closed_port()
    sweep = Sweep(folder / "home")
    sweep("init", sweep.home)
    keys = {"SFTPA": plain.path, "SFTPB": locked.path, "SFTPC": cut}
    channels = {code: sftp_options(key, known_hosts, port, code) for code, key in keys.items()}
    assert secret_sweep.setup(sweep, folder, channels) == 3  # every channel fails, and says why
    told = sweep.said[-1][1]
    assert "SFTPA" in told and "Unable to connect to port" in told
    assert "SFTPB" in told and "it is protected by a passphrase" in told
    assert "SFTPC" in told and "not a private key paramiko can read" in told
    secret_sweep.every_command(sweep, folder, plain.path, cut, registered)
    # the key and the known-hosts file swapped: the key is read as host keys
    sweep("partners", "update", "SFTPA", "--known-hosts", plain.path)
    assert sweep("run", "--once") == 3
    assert "SFTPA" in sweep.said[-1][1] and "known-hosts file" in sweep.said[-1][1]
    sweep("partners", "update", "SFTPA", "--known-hosts", known_hosts)
    secret_sweep.daemon(sweep)
    secret_sweep.forced_failure(sweep)
    kept = {
        "private key": plain.fragments(),
        "passphrase key": locked.fragments(),
        "key cut short": whole.fragments()[:2],  # its first body lines: all that is in the file
    }
    kept.update(_unreachable_database(sweep, folder))
    given = {plain.path, locked.path, whole.path, cut, folder / "ledger-password"}
    said = [
        *sweep.said,  # every home made (the sweep's, init's, demo's), every file written
        *((where, text) for where, text in secret_sweep.files_of(folder)
          if Path(where) not in given),
        *secret_sweep.ledger_rows(f"sqlite:///{sweep.home / 'ledger.db'}"),
    ]  # fmt: skip
    return Swept(said, kept, sweep.ran)


def _unreachable_database(sweep: Sweep, folder: Path) -> dict[str, list[str]]:
    """Every command again, the ledger a PostgreSQL server not there, its password given
    in the URL; then a few with the password in the URL's query, in a password file, in
    PGPASSWORD, and with passwords that break the URL (an '@' or a ':' not escaped)."""
    found = {name: secret(name) for name in ("url", "query", "file", "pgpassword")}
    found |= {name: secret(name) for name in ("at-left", "at-right", "colon")}
    port = closed_port()
    server = f"postgresql+psycopg://postgres:{{}}@127.0.0.1:{port}/edi"
    password_file = folder / "ledger-password"
    password_file.write_text(found["file"] + "\n")
    replayed = [argv for argv in sweep.argvs if argv[0] not in ("demo", "init")]
    sweep.env = {"EDI_ENGINE_DATABASE_URL": server.format(found["url"])}
    for argv in replayed:
        sweep(*argv)
    sweep("run", "--daemon")  # it cannot reach its ledger: stops at once
    sweep("init", folder / "postgresql-home")
    variants = [
        {"EDI_ENGINE_DATABASE_URL": server.format("").replace(":@", "@")
         + f"?password={found['query']}"},
        {"EDI_ENGINE_DATABASE_URL": server.format("").replace(":@", "@"),
         "EDI_ENGINE_DATABASE_PASSWORD_FILE": str(password_file)},
        {"EDI_ENGINE_DATABASE_URL": server.format("").replace(":@", "@"),
         "PGPASSWORD": found["pgpassword"]},
        {"EDI_ENGINE_DATABASE_URL": server.format(f"{found['at-left']}@{found['at-right']}")},
        {"EDI_ENGINE_DATABASE_URL": server.format(f"{found['at-left']}@x:{found['colon']}")},
    ]  # fmt: skip
    for variant in variants:
        sweep.env = variant
        sweep("flows", "list", "--json")
        sweep("run", "--once")
        sweep("init", folder / f"home-{len(sweep.said)}")
    sweep.env = {}
    assert any(f"postgres:***@127.0.0.1:{port}" in text for _, text in sweep.said)
    return {f"database password ({name})": [value] for name, value in found.items()}


# -- the tests ----------------------------------------------------------------------------


def test_every_command_of_the_cli_was_run(swept: Swept) -> None:
    assert swept.ran == set(secret_sweep.commands())


def test_no_secret_shows_anywhere(swept: Swept) -> None:
    found = secret_sweep.leaks(swept.said, swept.secrets)
    assert not found, "\n".join(found[:20])
