"""`partners authorized-keys` on a real sshd: a registered key logs in, restricted to SFTP;
an expired certificate's key does not."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cli import main
from connectors import sftp
from edi_engine.ledger import db

from .conftest import SshKeys, _serve


def _hub(tmp_path: Path) -> tuple[Path, Callable[..., str]]:
    runner = CliRunner()
    home = tmp_path / "home"
    runner.invoke(main, ["init", str(home)], catch_exceptions=False)

    def invoke(*args: object) -> str:
        result = runner.invoke(main, ["--home", str(home), *map(str, args)], catch_exceptions=False)
        assert result.exit_code == 0, result.stderr
        return result.stdout

    invoke("partners", "add", "ABC001", "--name", "A")
    return home, invoke


def _login(server, key: Path, folder: Path) -> list[sftp.RemoteFile]:
    endpoint = sftp.SftpEndpoint(
        partner="ABC001", host=server.host, port=server.port, user=server.user, key_file=key,
        known_hosts=server.known_hosts, remote_in=str(folder), remote_out=str(folder),
        connect_timeout=5, read_timeout=5, retry_attempts=1,
    )  # fmt: skip
    return sftp.list_stable(endpoint, 0, 10)


def _served(ssh_keys: SshKeys, authorized: Path, home: Path):
    return _serve(dataclasses.replace(ssh_keys, authorized=authorized), home, "internal-sftp")


def test_a_registered_key_logs_in_through_the_printed_lines(
    ssh_keys: SshKeys, tmp_path: Path
) -> None:
    _, invoke = _hub(tmp_path)
    invoke("partners", "cert", "add", "ABC001", ssh_keys.client_key.with_suffix(".pub"))
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(invoke("partners", "authorized-keys"))
    folder = tmp_path / "depot"
    folder.mkdir()
    (folder / "a.xml").write_text("<a/>")

    server_home = tmp_path / "sshd"
    server_home.mkdir()
    serving = _served(ssh_keys, authorized, server_home)
    server = next(serving)
    try:
        assert [f.name for f in _login(server, ssh_keys.client_key, folder)] == ["a.xml"]
        with pytest.raises(sftp.AuthenticationRefused):  # a key nobody registered
            _login(server, ssh_keys.stranger_key, folder)
    finally:
        serving.close()


def test_the_key_of_an_expired_certificate_no_longer_logs_in(
    ssh_keys: SshKeys, tmp_path: Path
) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    home, invoke = _hub(tmp_path)
    client = serialization.load_ssh_private_key(ssh_keys.client_key.read_bytes(), None)
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "ABC001 connection")])
    issuer = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer)
        .public_key(client.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now - timedelta(days=1))
        .sign(issuer_key, hashes.SHA256())
    )
    pem = certificate.public_bytes(serialization.Encoding.PEM).decode()
    # registered while it was valid (an import): `cert add` refuses an expired one today
    with db.engine_for(f"sqlite:///{home / 'ledger.db'}").begin() as connection:
        connection.execute(
            text(
                "insert into certificates (partner_code, kind, algorithm, fingerprint, label,"
                " public_text, added_at) values ('ABC001', 'x509', 'Ed25519', 'old', 'CN=old',"
                " :pem, '2025-01-01 00:00:00')"
            ),
            {"pem": pem},
        )
    lines = invoke("partners", "authorized-keys")
    assert "ssh-ed25519" not in lines
    authorized = tmp_path / "authorized_keys"
    authorized.write_text(lines)
    folder = tmp_path / "depot"
    folder.mkdir()

    server_home = tmp_path / "sshd"
    server_home.mkdir()
    serving = _served(ssh_keys, authorized, server_home)
    server = next(serving)
    try:
        with pytest.raises(sftp.AuthenticationRefused):
            _login(server, ssh_keys.client_key, folder)
    finally:
        serving.close()
