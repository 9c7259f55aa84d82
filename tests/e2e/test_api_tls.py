"""The API over TLS: `api serve --tls-cert --tls-key` serves HTTPS, `--client-ca` asks for
client certificates, and an API client tied to its partner's registered certificate gets a
token only when it presents that very certificate. Certificates are made here, with a CA
of the test's own."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from ipaddress import IPv4Address
from pathlib import Path

import httpx
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from .api_server import UBL, Server, bearer, deposit
from .conftest import SUPPLIER_1, SUPPLIER_2, Home, sample

GRANT = {"grant_type": "client_credentials"}


@dataclass
class Issued:
    certificate: Path
    key: Path
    fingerprint: str  # as `partners cert list` shows an X.509 certificate's


class Authority:
    """A CA of the test's own, signing the server's certificate and partners' ones."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test hub CA")])
        self.certificate = self._signed(self.name, self.key.public_key(), ca=True)
        self.path = folder / "ca.pem"
        self.path.write_bytes(self.certificate.public_bytes(serialization.Encoding.PEM))

    def issue(self, name: str, server: bool = False) -> Issued:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        certificate = self._signed(subject, key.public_key(), server=server)
        issued = Issued(self.folder / f"{name}.pem", self.folder / f"{name}.key", "")
        issued.certificate.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        issued.key.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        issued.fingerprint = certificate.fingerprint(hashes.SHA256()).hex(":").upper()
        return issued

    def _signed(
        self, subject: x509.Name, public: object, ca: bool = False, server: bool = False
    ) -> x509.Certificate:
        now = datetime.now(UTC)
        builder = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name if not ca else subject)
            .public_key(public)  # type: ignore[arg-type]
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName([x509.IPAddress(IPv4Address("127.0.0.1"))]),
                critical=False,
            )
        return builder.sign(self.key, hashes.SHA256())


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    folder = tmp_path / "pki"
    folder.mkdir()
    return Authority(folder)


def https(serve: Callable[..., Server], authority: Authority) -> Server:
    host = authority.issue("api-host", server=True)
    return serve(
        "--tls-cert",
        str(host.certificate),
        "--tls-key",
        str(host.key),
        "--client-ca",
        str(authority.path),
        trusted=authority.path,
    )


def api_client(home: Home, partner: str, *options: str) -> tuple[str, str]:
    made = home.invoke("partners", "api-client", "add", partner, "--json", *options).stdout
    return json.loads(made)["client_id"], json.loads(made)["client_secret"]


def test_a_client_tied_to_its_certificate_gets_a_token_only_when_presenting_it(
    home: Home, serve: Callable[..., Server], authority: Authority
) -> None:
    own, other = authority.issue("four01-software"), authority.issue("four02-software")
    home.invoke("partners", "cert", "add", SUPPLIER_1, own.certificate)
    home.invoke("partners", "cert", "add", SUPPLIER_2, other.certificate)
    tied = api_client(home, SUPPLIER_1, "--certificate", own.fingerprint)
    untied = api_client(home, SUPPLIER_1)
    server = https(serve, authority)
    assert server.url.startswith("https://")
    with server.client() as bare:
        refused = bare.post("/oauth/token", data=GRANT, auth=tied)
        assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert bare.post("/oauth/token", data=GRANT, auth=untied).status_code == 200
    with server.client((other.certificate, other.key)) as wrong:
        refused = wrong.post("/oauth/token", data=GRANT, auth=tied)
        assert refused.status_code == 401  # another partner's certificate, signed by the CA
    with server.client((own.certificate, own.key)) as right:
        granted = right.post("/oauth/token", data=GRANT, auth=tied)
        assert granted.status_code == 200, granted.text
        value = granted.json()["access_token"]
    answer = deposit(server, value, "over-tls.xml", sample(UBL))
    assert answer.status_code == 202, answer.text


def test_a_client_certificate_no_trusted_ca_signed_is_refused_by_tls(
    home: Home, serve: Callable[..., Server], authority: Authority, tmp_path: Path
) -> None:
    server = https(serve, authority)
    stranger_folder = tmp_path / "stranger"
    stranger_folder.mkdir()
    stranger = Authority(stranger_folder).issue("someone")
    with (
        server.client((stranger.certificate, stranger.key)) as client,
        pytest.raises(httpx.TransportError),
    ):
        client.get("/v1/health")
    with server.client() as client:  # asked for, not required: no certificate is fine
        assert client.get("/v1/health").json() == {"status": "ok"}
        assert client.get("/v1/flows/1", headers=bearer("x.y")).status_code == 401


def test_serve_refuses_a_certificate_without_its_key_and_a_ca_without_tls(
    home: Home, authority: Authority
) -> None:
    host = authority.issue("api-host", server=True)
    alone = home.invoke("api", "serve", "--tls-cert", host.certificate, code=2)
    assert "--tls-cert and --tls-key go together" in alone.stderr
    plain = home.invoke("api", "serve", "--client-ca", authority.path, code=2)
    assert "--client-ca asks for client certificates over TLS" in plain.stderr
