"""Certificates (fiches de raccordement) through the CLI, with real keys and certificates."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from edi_engine.ledger import db

from .conftest import Home


def _ssh_key(tmp_path: Path, name: str) -> tuple[Path, str]:
    key = tmp_path / name
    subprocess.run(
        ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(key)], check=True
    )
    printed = subprocess.run(
        ["ssh-keygen", "-lf", f"{key}.pub"], check=True, capture_output=True, text=True
    )
    return key.with_suffix(".pub"), printed.stdout.split()[1]


def _x509(tmp_path: Path, name: str, days_left: int) -> Path:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=400))
        .not_valid_after(now + timedelta(days=days_left))
        .sign(key, hashes.SHA256())
    )
    path = tmp_path / f"{x509.random_serial_number()}.pem"  # a CN may hold any character
    path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    return path


@pytest.fixture
def partners_home(bare_home: Home) -> Home:
    bare_home.invoke("partners", "add", "ABC001", "--name", "A")
    bare_home.invoke("partners", "add", "XYZ002", "--name", "X")
    return bare_home


def test_a_key_is_registered_with_the_fingerprint_openssh_prints(
    partners_home: Home, tmp_path: Path
) -> None:
    public, fingerprint = _ssh_key(tmp_path, "abc-key")
    partners_home.invoke("partners", "cert", "add", "ABC001", public)

    (row,) = json.loads(partners_home.invoke("partners", "cert", "list", "ABC001", "--json").stdout)
    assert (row["kind"], row["fingerprint"], row["label"]) == ("openssh", fingerprint, "abc-key")
    shown = json.loads(partners_home.invoke("partners", "show", "ABC001", "--json").stdout)
    assert [c["fingerprint"] for c in shown["certificates"]] == [fingerprint]


def test_partners_add_takes_certificates_at_once(bare_home: Home, tmp_path: Path) -> None:
    public, fingerprint = _ssh_key(tmp_path, "new-key")
    bare_home.invoke("partners", "add", "NEW001", "--name", "N", "--cert", public)
    (row,) = json.loads(bare_home.invoke("partners", "cert", "list", "--json").stdout)
    assert (row["partner"], row["fingerprint"]) == ("NEW001", fingerprint)


def test_a_fingerprint_of_another_partner_is_refused_naming_it(
    partners_home: Home, tmp_path: Path
) -> None:
    public, fingerprint = _ssh_key(tmp_path, "shared-key")
    partners_home.invoke("partners", "cert", "add", "ABC001", public)

    result = partners_home.invoke("partners", "cert", "add", "XYZ002", public, code=1)

    assert "ABC001" in result.stderr and fingerprint in result.stderr
    assert (
        json.loads(partners_home.invoke("partners", "cert", "list", "XYZ002", "--json").stdout)
        == []
    )


def test_adding_the_same_key_again_changes_nothing(partners_home: Home, tmp_path: Path) -> None:
    public, _ = _ssh_key(tmp_path, "twice")
    partners_home.invoke("partners", "cert", "add", "ABC001", public)
    result = partners_home.invoke("partners", "cert", "add", "ABC001", public)
    assert "already registered" in result.stderr
    assert len(json.loads(partners_home.invoke("partners", "cert", "list", "--json").stdout)) == 1


def test_a_private_key_is_refused_without_being_echoed(partners_home: Home, tmp_path: Path) -> None:
    _ssh_key(tmp_path, "oops")
    private = tmp_path / "oops"
    result = partners_home.invoke("partners", "cert", "add", "ABC001", private, code=1)
    assert "private" in result.stderr.lower()
    secret_lines = [line for line in private.read_text().splitlines() if "PRIVATE" not in line]
    assert not any(line in result.stderr for line in secret_lines if len(line) > 10)


def test_check_reports_duplicates_from_an_import_and_expiring_certificates(
    partners_home: Home, tmp_path: Path
) -> None:
    public, fingerprint = _ssh_key(tmp_path, "imported")
    partners_home.invoke("partners", "cert", "add", "ABC001", public)
    partners_home.invoke("partners", "cert", "add", "ABC001", _x509(tmp_path, "soon", 10))
    partners_home.invoke("partners", "cert", "add", "XYZ002", _x509(tmp_path, "later", 365))
    # an import that bypassed the rules: the same key row copied to another partner, and a
    # certificate already expired
    url = f"sqlite:///{partners_home.path / 'ledger.db'}"
    expired = _x509(tmp_path, "expired", -3).read_text()
    with db.engine_for(url).begin() as connection:
        connection.execute(
            text(
                "insert into certificates (partner_code, kind, algorithm, fingerprint, label,"
                " public_text, added_at) values ('ABC001', 'x509', 'EC 256', 'imported',"
                " 'CN=expired', :pem, '2026-01-01 00:00:00')"
            ),
            {"pem": expired},
        )
        connection.execute(
            text(
                "insert into certificates (partner_code, kind, algorithm, fingerprint, ssh_fingerprint,"
                " label, public_text, added_at) select 'XYZ002', kind, algorithm, fingerprint,"
                " ssh_fingerprint, label, public_text, added_at from certificates where kind = 'openssh'"
            )
        )

    result = partners_home.invoke("partners", "check", "--json", code=1)

    found = json.loads(result.stdout)
    assert found["duplicates"] == [{"fingerprint": fingerprint, "partners": ["ABC001", "XYZ002"]}]
    assert [(c["partner"], c["label"]) for c in found["expiring"]] == [
        ("ABC001", "CN=expired"),
        ("ABC001", "CN=soon"),
    ]


def test_check_is_quiet_and_zero_when_all_is_well(partners_home: Home, tmp_path: Path) -> None:
    partners_home.invoke("partners", "cert", "add", "XYZ002", _x509(tmp_path, "fine", 365))
    result = partners_home.invoke("partners", "check")
    assert "No duplicate" in result.stderr


def test_authorized_keys_lines_are_restricted_and_valid(
    partners_home: Home, tmp_path: Path
) -> None:
    public, fingerprint = _ssh_key(tmp_path, "login")
    partners_home.invoke("partners", "cert", "add", "ABC001", public)

    out = partners_home.invoke("partners", "authorized-keys", "ABC001").stdout

    assert out.startswith("# partner ABC001")
    (line,) = [line for line in out.splitlines() if not line.startswith("#")]
    assert line.startswith("restrict,") and "internal-sftp" in line and line.endswith("ABC001")
    keys = tmp_path / "authorized_keys"
    keys.write_text(out)
    printed = subprocess.run(
        ["ssh-keygen", "-lf", str(keys)], check=True, capture_output=True, text=True
    )
    assert fingerprint in printed.stdout


def test_an_expired_certificate_is_refused(partners_home: Home, tmp_path: Path) -> None:
    result = partners_home.invoke(
        "partners", "cert", "add", "ABC001", _x509(tmp_path, "old", -3), code=1
    )
    assert "expired on" in result.stderr
    assert json.loads(partners_home.invoke("partners", "cert", "list", "--json").stdout) == []


def test_a_missing_certificate_file_is_a_usage_error(bare_home: Home, tmp_path: Path) -> None:
    result = bare_home.invoke(
        "partners", "add", "NEW001", "--name", "N", "--cert", tmp_path / "none.pem", code=2
    )
    assert "no such file" in result.stderr
    assert json.loads(bare_home.invoke("partners", "list", "--json").stdout) == []
    assert not (bare_home.path / "inbox" / "NEW001").exists()
