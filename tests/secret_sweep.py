"""Every command of `edi-engine`, run with secrets configured, and every place a secret
could show searched for it: the harness of tests/e2e/test_secrets.py (SQLite, SFTP servers
that refuse the connection, a PostgreSQL URL that cannot connect) and
tests/integration/test_secrets_postgresql_sftp.py (a real PostgreSQL and a real sshd).

The commands are read from the CLI's click groups, so that a command added later is run
too (without arguments until every_command gives it its typical ones). Each secret is a unique
random string, so that a hit is unambiguous; a private key is searched for by every line
of its base64 body and by every 16 characters of each line, so that a key quoted in part,
cut or wrapped otherwise, is found as well.
"""

from __future__ import annotations

import json
import os
import queue
import secrets
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import click
import httpx
from click.testing import CliRunner
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from sqlalchemy import MetaData, create_engine, select

import config
from cli import main
from edi_engine.partners import registry as partners

WINDOW = 16  # characters of a key's body that are recognisably that key
REPO = Path(__file__).resolve().parents[1]
DEADLINE = 120  # seconds the daemon is given to answer a deposit; never a measure of speed
VALBRUNE, MONTCLAIR = "21990101400015", "26990202900017"  # config/demo/structures.csv
SUPPLIER_1_SIRET, SUPPLIER_2_SIRET = "81234567600025", "82345678500018"  # FOUR01's, FOUR02's
SFTP_PARTNERS = ("SFTPA", "SFTPB", "SFTPC")


def secret(label: str) -> str:
    """A string found nowhere else: any hit is this secret."""
    return f"{label}-{secrets.token_hex(12)}"


def commands(group: click.Group = main, prefix: tuple[str, ...] = ()) -> Iterator[tuple]:
    """The path of every command (not group) of the CLI: ("flows", "show"), ("init",)…"""
    for name, command in sorted(group.commands.items()):
        if isinstance(command, click.Group):
            yield from commands(command, (*prefix, name))
        else:
            yield (*prefix, name)


def command(path: Sequence[str]) -> click.Command:
    found: click.Command = main
    for name in path:
        assert isinstance(found, click.Group)
        found = found.commands[name]
    return found


def takes_json(path: Sequence[str]) -> bool:
    return any("--json" in p.opts for p in command(path).params)


@dataclass(frozen=True)
class KeyFile:
    """A private key written as OpenSSH does, and what of it is secret."""

    path: Path
    public: Path
    passphrase: str | None
    twin: str  # another key of the same kind: what is in both is the format, not a secret

    def fragments(self) -> list[str]:
        """Each line of its base64 body, and every 16 characters of each line, but for
        what any key of its kind has (the format's name, the key type, the cipher) and
        its public key, which is no secret."""
        body = [
            line
            for line in self.path.read_text().splitlines()
            if line and not line.startswith("-----")
        ]
        known = self.twin + self.public.read_text()
        windows = [line[i : i + WINDOW] for line in body for i in range(0, len(line), WINDOW // 2)]
        found = [w for w in (*body, *windows) if len(w) >= WINDOW and w not in known]
        return [*found, self.passphrase] if self.passphrase else found


def _private(key: ed25519.Ed25519PrivateKey, passphrase: str | None) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, encryption
    )


def key_file(folder: Path, name: str, passphrase: str | None = None) -> KeyFile:
    """A fresh Ed25519 key, encrypted with `passphrase` when one is given (bcrypt-pbkdf,
    as `ssh-keygen -N` writes it)."""
    key = ed25519.Ed25519PrivateKey.generate()
    path = folder / name
    path.write_bytes(_private(key, passphrase))
    path.chmod(0o600)
    public = path.with_suffix(".pub")
    public.write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
        )
        + f" {name}\n".encode()
    )
    return existing_key(path, public, passphrase)


def existing_key(path: Path, public: Path, passphrase: str | None = None) -> KeyFile:
    """A key file already written (by key_file, or by ssh-keygen for the sshd fixture)."""
    other = secret("other") if passphrase else None
    twin = _private(ed25519.Ed25519PrivateKey.generate(), other).decode()
    return KeyFile(path, public, passphrase, twin)


def locked_copy(key: Path, folder: Path, passphrase: str) -> KeyFile:
    """The same key, protected by `passphrase`: the server knows it, the engine cannot
    type the passphrase."""
    loaded = serialization.load_ssh_private_key(key.read_bytes(), None)
    assert isinstance(loaded, ed25519.Ed25519PrivateKey)
    path = folder / f"{key.name}_locked"
    path.write_bytes(_private(loaded, passphrase))
    path.chmod(0o600)
    return existing_key(path, key.with_suffix(".pub"), passphrase)


def closed_port() -> int:
    """A loopback port nothing listens on: a connection there is refused at once."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Sweep:
    """Runs commands in-process as `edi-engine` would and keeps everything they said."""

    home: Path
    env: dict[str, str] = field(default_factory=dict)
    said: list[tuple[str, str]] = field(default_factory=list)  # (where, text)
    ran: set[tuple[str, ...]] = field(default_factory=set)
    argvs: list[list[str]] = field(default_factory=list)  # every command line, in order

    def __call__(self, *args: object) -> int:
        """The command, logging every event (--verbose); its exit status."""
        argv = [str(a) for a in args]
        self.ran.add(self._path(argv))
        self.argvs.append(argv)
        home = ["--verbose", "--home", str(self.home)]
        done = CliRunner(env=self.env).invoke(main, [*home, *argv])
        label = " ".join(argv)
        self.said += [(f"{label}: stdout", done.stdout), (f"{label}: stderr", done.stderr)]
        if done.exception is not None and not isinstance(done.exception, SystemExit):
            exc = done.exception
            trace = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
            self.said.append((f"{label}: exception", trace))
        return done.exit_code

    def every_way(self, *args: object) -> None:
        """The command as given, then with --json when it has it."""
        self(*args)
        path = self._path([str(a) for a in args])
        if takes_json(path) and "--json" not in args:
            self(*args, "--json")

    @staticmethod
    def _path(argv: list[str]) -> tuple[str, ...]:
        path: list[str] = []
        group: click.Command = main
        for word in argv:
            if not isinstance(group, click.Group) or word not in group.commands:
                break
            group = group.commands[word]
            path.append(word)
        return tuple(path)

    def run_the_rest(self) -> None:
        """Each command no step ran, as it comes: without arguments, and with --json."""
        for path in commands():
            if path not in self.ran:
                self.every_way(*path)


def files_of(folder: Path) -> list[tuple[str, str]]:
    """Every file under `folder` (the configuration, logs, outputs, the archive, the
    SQLite ledger and its journal), read as text whatever its bytes."""
    return [
        (str(path), path.read_bytes().decode("latin-1"))
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    ]


def ledger_rows(url: str) -> list[tuple[str, str]]:
    """Every value of every table of the ledger as text (events, errors, partners, job
    runs, the scheduler's pickled jobs…), whatever the tables are called."""
    engine = create_engine(url)
    metadata = MetaData()
    try:
        metadata.reflect(engine)
        found = []
        with engine.connect() as connection:
            for table in metadata.sorted_tables:
                for row in connection.execute(select(table)):
                    found += [(table.name, _text(value)) for value in row if value is not None]
        return found
    finally:
        engine.dispose()


def _text(value: object) -> str:
    return bytes(value).decode("latin-1") if isinstance(value, bytes | memoryview) else str(value)


def leaks(said: Sequence[tuple[str, str]], kept: dict[str, list[str]]) -> list[str]:
    """Where each secret (or a recognisable part of one) shows: `where: secret (part)`,
    once per place and secret."""
    found = []
    for where, text in said:
        for name, fragments in kept.items():
            hit = next((f for f in fragments if f in text), None)
            if hit is not None:
                at = text.index(hit)
                found.append(f"{where}: {name} ({hit!r} in {text[max(at - 80, 0) : at + 40]!r})")
    return found


# -- the commands, as an operator runs them ----------------------------------------------


def setup(sweep: Sweep, folder: Path, channels: dict[str, list[object]]) -> int:
    """FOUR01 and DEST01 local; SFTPA a supplier over SFTP, SFTPB Montclair's recipient,
    SFTPC a third channel, each with `channels[code]`'s SFTP options. Invoices of FOUR01
    to both structures, of SFTPA (deposited in its local inbox) to Valbrune, taken by
    `run --once`: pickups, deliveries and the CR to SFTPA try their channels. Returns its
    exit status."""
    sweep("partners", "add", "FOUR01", "--name", "Supplier")
    sweep("partners", "add", "DEST01", "--name", "Recipient")
    for code in SFTP_PARTNERS:
        sweep("partners", "add", code, "--name", code, *channels[code])
    sweep("partners", "suppliers", "add", "FOUR01", SUPPLIER_1_SIRET)
    suppliers = folder / "suppliers.csv"
    suppliers.write_text(f"identifier\n{SUPPLIER_2_SIRET}\n")
    sweep("partners", "suppliers", "import", "SFTPA", suppliers)
    structures = folder / "structures.csv"
    structures.write_text(
        "siret,designation,active,partner\n"
        f"{VALBRUNE},Commune de Valbrune,true,DEST01\n"
        f"{MONTCLAIR},Centre hospitalier de Montclair,true,SFTPB\n"
    )
    sweep("structures", "import", structures)
    invoice = config.path("demo/ubl-invoice.xml").read_bytes()
    inbox = sweep.home / "inbox"
    (inbox / "FOUR01" / "valbrune.xml").write_bytes(invoice)
    to_montclair = invoice.replace(b"F01-2026-000101", b"F01-2026-000201")
    (inbox / "FOUR01" / "montclair.xml").write_bytes(
        to_montclair.replace(VALBRUNE.encode(), MONTCLAIR.encode())
    )
    (inbox / "SFTPA" / "cii.xml").write_bytes(config.path("demo/cii-invoice.xml").read_bytes())
    return sweep("run", "--once", "--json")


def every_command(sweep: Sweep, folder: Path, key: Path, other_key: Path, public: Path) -> None:
    """Each command with its typical arguments (and --json when it has it), some with a
    private key where a file is expected (a certificate, a document, a CSV), then each
    command no step ran, without arguments. `key`: SFTPA's private key; `other_key`
    another private key; `public`: a public key, no secret."""
    way = sweep.every_way
    sweep("structures", "import-services", config.path("demo/services.csv"))
    sweep("structures", "import-engagements", config.path("demo/engagements.csv"))
    for code in SFTP_PARTNERS:
        way("partners", "show", code)
    way("partners", "list")
    way("partners", "check")
    way("partners", "authorized-keys")
    way("partners", "cert", "add", "SFTPA", public)
    way("partners", "cert", "add", "SFTPA", key)  # a private key: refused
    way("partners", "add", "SFTPD", "--name", "D", "--cert", other_key)
    way("partners", "cert", "list")
    way("partners", "update", "SFTPA", "--sftp-key", other_key, "--rules", "none")
    way("partners", "update", "SFTPA", "--sftp-key", key)
    way("partners", "suppliers", "list", "SFTPA")
    way("partners", "suppliers", "import", "SFTPA", key)
    way("partners", "suppliers", "remove", "SFTPA", SUPPLIER_1_SIRET)
    way("structures", "list")
    way("structures", "show", MONTCLAIR)
    way("structures", "import", key)
    way("flows", "list", "--partner", "SFTPA")
    for number in ("1", "2", "3"):
        way("flows", "show", number)
    way("flows", "rerun", "3", "--force", "--reason", "sweep")
    way("flows", "rerun", "--status", "IN_REJETE", "--dry-run")
    way("invoices", "search")
    way("invoices", "search", "--delivery-incident")
    for invoice in ("1", "2", "3"):
        way("invoices", "show", invoice)
    way("invoices", "set-status", "1", "SERVICE_FAIT")
    way("invoices", "set-status", "1", "A_RECYCLER")  # no --comment: refused
    way("invoices", "redeliver", "2")
    way("invoices", "recycle", "2", "--siret", VALBRUNE)
    way("invoices", "export", "-o", folder / "export.csv")
    way("statuses", "emit")
    way("statuses", "emit", "--partner", "SFTPA")
    way("run", "--once")
    way("stats", "accounting")
    way("stats", "monthly")
    way("stats", "monthly", "--csv")
    way("jobs", "list")
    way("purge", "--dry-run")
    way("purge")
    way("validate", config.path("demo/ubl-invoice.xml"))
    way("validate", "--explain", key)
    way("convert", config.path("demo/ubl-invoice.xml"), "-o", folder / "pivot.xml")
    way("convert", key)
    way("rules", "list")
    way("init", folder / "other-home")
    way("demo", folder / "demo-home")
    api_server(sweep)
    sweep.run_the_rest()


def api_server(sweep: Sweep) -> None:
    """`api serve` as a real process (it serves until stopped): a client made, a token
    asked for with a wrong secret and the right one, a deposit and its flow read; then
    SIGTERM, and everything it said kept."""
    sweep("partners", "api-client", "add", "FOUR01", "--json")
    made = json.loads(sweep.said[-2][1])
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with subprocess.Popen(
        [sys.executable, "-m", "cli", "--verbose", "--home", str(sweep.home), "api", "serve",
         "--port", str(port)],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        try:
            deadline = time.monotonic() + DEADLINE
            while time.monotonic() < deadline:
                try:
                    httpx.get(f"{url}/v1/ready", timeout=1)
                    break
                except httpx.TransportError:
                    time.sleep(0.1)
            grant = {"grant_type": "client_credentials"}
            httpx.post(f"{url}/oauth/token", data=grant, auth=(made["client_id"], "wrong"))
            value = httpx.post(
                f"{url}/oauth/token", data=grant, auth=(made["client_id"], made["client_secret"])
            ).json()["access_token"]
            headers = {"Authorization": f"Bearer {value}"}
            files = {"file": ("api.xml", config.path("demo/ubl-invoice.xml").read_bytes())}
            number = httpx.post(f"{url}/v1/flows", headers=headers, files=files).json()["number"]
            httpx.get(f"{url}/v1/flows/{number}", headers=headers)
        finally:
            process.terminate()
            stdout, stderr = process.communicate(timeout=DEADLINE)
    sweep.ran.add(("api", "serve"))
    sweep.said += [("api serve: stdout", stdout), ("api serve: stderr", stderr)]


def daemon(sweep: Sweep, env: dict[str, str] | None = None) -> None:
    """`run --daemon` as a real process, stopped by SIGTERM once it answered a deposit and
    tried every SFTP partner's server (its report names the last, SFTPC)."""
    (sweep.home / "inbox" / "FOUR01" / "again.xml").write_bytes(b"<not-an-invoice/>")
    lines: queue.Queue[str] = queue.Queue()
    said: list[str] = []
    with subprocess.Popen(
        [sys.executable, "-m", "cli", "--verbose", "--home", str(sweep.home), "run", "--daemon"],
        cwd=REPO, env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    ) as process:  # fmt: skip
        reader = threading.Thread(target=lambda: [lines.put(line) for line in process.stderr])
        reader.start()
        deadline = time.monotonic() + DEADLINE
        try:
            while not any("SFTP: partner SFTPC" in line for line in said):
                said.append(lines.get(timeout=max(deadline - time.monotonic(), 0.1)))
        finally:
            process.terminate()  # SIGTERM: the daemon finishes what it does and stops
            stdout = process.stdout.read()
            process.wait(timeout=DEADLINE)
            reader.join()
    while not lines.empty():
        said.append(lines.get())
    sweep.ran.add(("run",))
    sweep.said += [("run --daemon: stdout", stdout), ("run --daemon: stderr", "".join(said))]


def forced_failure(sweep: Sweep) -> None:
    """A bug in a command: its traceback is logged, the command exits 3."""
    real = partners.list_partners

    def broken(*args: object) -> object:
        raise RuntimeError("a bug while listing partners")

    partners.list_partners = broken
    try:
        assert sweep("partners", "list", "--json") == 3
    finally:
        partners.list_partners = real
    assert "a bug while listing partners" in sweep.said[-1][1]
