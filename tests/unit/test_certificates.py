"""Partners' certificates (issue 4, item 6): real keys from ssh-keygen, real X.509
certificates from cryptography, fingerprints checked against ssh-keygen and openssl."""

from __future__ import annotations

import base64
import shutil
import struct
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from edi_engine.errors import InvalidPartnerCode, RefusedError, UsageError
from edi_engine.partners import certificates
from edi_engine.partners.certificates import Certificate, CertificateRefused

pytestmark = pytest.mark.skipif(
    not (shutil.which("ssh-keygen") and shutil.which("openssl")),
    reason="ssh-keygen and openssl are needed to check fingerprints against OpenSSH and OpenSSL",
)

NOW = datetime.now(UTC).replace(microsecond=0)


def keygen(tmp_path: Path, kind: str, bits: int | None = None, comment: str = "") -> Path:
    """A key pair made by ssh-keygen; returns the private key (the public one is `.pub`)."""
    path = tmp_path / f"id_{kind}_{bits or 'default'}"
    size = ["-b", str(bits)] if bits else []
    comment = comment or f"{kind}@partner.example"
    run("ssh-keygen", "-q", "-t", kind, *size, "-N", "", "-C", comment, "-f", str(path))
    return path


def run(*args: str) -> str:
    # bytes, decoded here: text mode would turn a "\r" that ssh-keygen echoes into a line break
    return subprocess.run(args, check=True, capture_output=True).stdout.decode()


def ssh_keygen_fingerprints(path: Path) -> list[str]:
    """`ssh-keygen -lf` prints "BITS SHA256:… COMMENT (TYPE)", one line per key."""
    # split on "\n" only: ssh-keygen keeps the "\r" of a CRLF line in its comment
    return [line.split()[1] for line in run("ssh-keygen", "-lf", str(path)).split("\n") if line]


def openssl_fingerprint(path: Path, form: str = "PEM") -> str:
    out = run(
        "openssl", "x509", "-inform", form, "-noout", "-fingerprint", "-sha256", "-in", str(path)
    )
    return out.strip().split("=", 1)[1]  # "sha256 Fingerprint=AB:CD:…"


def self_signed(
    key, common_name: str, not_before: datetime, not_after: datetime, issuer_key=None, issuer=None
) -> x509.Certificate:
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
    signer = issuer_key or key
    algorithm = (
        None
        if isinstance(signer, ed25519.Ed25519PrivateKey | ed448.Ed448PrivateKey)
        else hashes.SHA256()
    )
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .sign(signer, algorithm)
    )


def pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def one(data: bytes, source: str = "partner.pub") -> Certificate:
    (found,) = certificates.parse(data, source)
    return found


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One private key per type ssh-keygen makes; `.pub` beside each."""
    folder = tmp_path_factory.mktemp("keys")
    return {kind: keygen(folder, kind) for kind in ("ed25519", "rsa", "ecdsa")}


@pytest.fixture(scope="module")
def dated(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Self-signed certificates: expired, expiring in 10 days, valid for a year."""
    folder = tmp_path_factory.mktemp("x509")
    made = {
        "expired": (
            rsa.generate_private_key(65537, 2048),
            NOW - timedelta(days=400),
            NOW - timedelta(days=35),
        ),
        "soon": (
            ec.generate_private_key(ec.SECP256R1()),
            NOW - timedelta(days=355),
            NOW + timedelta(days=10),
        ),
        "year": (ed25519.Ed25519PrivateKey.generate(), NOW, NOW + timedelta(days=365)),
    }
    paths = {}
    for name, (key, start, end) in made.items():
        paths[name] = folder / f"{name}.pem"
        paths[name].write_bytes(pem(self_signed(key, f"{name}.partner.example", start, end)))
    return paths


# -- OpenSSH keys ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "algorithm", "bits"),
    [
        ("ed25519", "ssh-ed25519", 256),
        ("rsa", "ssh-rsa", 3072),
        ("ecdsa", "ecdsa-sha2-nistp256", 256),
    ],
)
def test_openssh_key_fingerprint_is_the_one_ssh_keygen_prints(keys, kind, algorithm, bits) -> None:
    public = Path(f"{keys[kind]}.pub")
    key = one(public.read_bytes())
    assert key.kind == "openssh"
    assert key.algorithm == algorithm
    assert key.bits == bits
    assert [key.fingerprint] == ssh_keygen_fingerprints(public)
    assert key.ssh_fingerprint == key.fingerprint
    assert key.label == f"{kind}@partner.example"
    assert key.public_text == public.read_text().strip()
    assert key.ssh_key == " ".join(public.read_text().split()[:2])
    assert key.not_before is None and key.not_after is None


def test_several_keys_in_one_file_with_comments_blank_lines_and_options(keys, tmp_path) -> None:
    lines = [Path(f"{keys[kind]}.pub").read_text().strip() for kind in ("ed25519", "rsa", "ecdsa")]
    text = "\n".join(
        [
            "# keys of partner ABC001",
            lines[0],
            "",
            f'restrict,command="echo a, b \\"c\\"",from="10.0.0.1" {lines[1]}',
            "   ",
            f"no-pty,no-port-forwarding\t{lines[2]}",
        ]
    )
    path = tmp_path / "authorized_keys"
    path.write_text(text + "\r\n")
    found = certificates.parse(path.read_bytes(), "authorized_keys")
    assert [c.fingerprint for c in found] == ssh_keygen_fingerprints(path)
    assert [c.algorithm for c in found] == ["ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256"]
    assert found[1].public_text == lines[1], "options are not part of the normalised key"


def test_a_key_without_comment_and_the_same_key_twice(keys) -> None:
    key_only = " ".join(Path(f"{keys['ed25519']}.pub").read_text().split()[:2])
    found = certificates.parse(f"{key_only}\n{key_only} again\n".encode(), "twice.pub")
    assert len(found) == 1
    assert found[0].label == ""
    assert found[0].public_text == key_only


def test_rfc4716_public_key_is_read(keys, tmp_path) -> None:
    public = Path(f"{keys['rsa']}.pub")
    converted = tmp_path / "ssh2.pub"
    converted.write_text(run("ssh-keygen", "-e", "-f", str(public)))
    key = one(converted.read_bytes(), "ssh2.pub")
    assert [key.fingerprint] == ssh_keygen_fingerprints(public)
    assert key.algorithm == "ssh-rsa"
    assert "converted by" in key.label


# -- refusals --------------------------------------------------------------------------


def private_key_files(keys: dict[str, Path], tmp_path: Path) -> list[Path]:
    pkcs8 = tmp_path / "pkcs8.pem"
    run(
        "openssl",
        "genpkey",
        "-algorithm",
        "EC",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-out",
        str(pkcs8),
    )
    traditional = tmp_path / "traditional.pem"
    run("openssl", "ec", "-in", str(pkcs8), "-out", str(traditional))
    encrypted = tmp_path / "encrypted.pem"
    run(
        "openssl",
        "pkcs8",
        "-topk8",
        "-in",
        str(pkcs8),
        "-passout",
        "pass:secret",
        "-out",
        str(encrypted),
    )
    return [keys["ed25519"], keys["rsa"], pkcs8, traditional, encrypted]


def test_a_private_key_is_refused_and_never_echoed(keys, tmp_path) -> None:
    for private in private_key_files(keys, tmp_path):
        content = private.read_text()
        with pytest.raises(CertificateRefused) as refused:
            certificates.parse(content.encode(), private.name)
        message = str(refused.value)
        assert "PRIVATE key" in message and private.name in message and "line 1" in message
        for line in content.splitlines():
            assert line.strip() not in message, (
                f"{private.name}: a line of the private key is echoed"
            )


def test_a_private_key_pasted_after_a_public_key_names_its_line(keys) -> None:
    public = Path(f"{keys['ecdsa']}.pub").read_text()
    private = keys["ed25519"].read_text()
    with pytest.raises(CertificateRefused, match=r"^mixed\.txt, line 3: this is a PRIVATE key"):
        certificates.parse(f"{public}\n{private}".encode(), "mixed.txt")


def test_a_der_private_key_and_a_pkcs12_bundle_are_refused() -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    der = key.private_bytes(
        serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(CertificateRefused, match=r"^key\.der: this is a PRIVATE key \(DER\)"):
        certificates.parse(der, "key.der")
    certificate = self_signed(key, "p12", NOW, NOW + timedelta(days=1))
    bundle = pkcs12.serialize_key_and_certificates(
        b"p", key, certificate, None, serialization.BestAvailableEncryption(b"secret")
    )
    with pytest.raises(CertificateRefused, match=r"PRIVATE key \(in a PKCS#12 bundle\)"):
        certificates.parse(bundle, "partner.p12")


def test_a_1024_bit_rsa_key_is_refused(tmp_path) -> None:
    public = Path(f"{keygen(tmp_path, 'rsa', 1024)}.pub")
    with pytest.raises(
        CertificateRefused, match=r"^weak\.pub, line 1: the RSA key has 1024 bits.*2048"
    ):
        certificates.parse(public.read_bytes(), "weak.pub")
    key = rsa.generate_private_key(65537, 1024)
    weak = pem(self_signed(key, "weak", NOW, NOW + timedelta(days=30)))
    with pytest.raises(CertificateRefused, match=r"block 1 \(line 1\): the RSA key has 1024 bits"):
        certificates.parse(weak, "weak.pem")


def test_garbage_is_refused_naming_its_line_without_echoing_it(keys) -> None:
    public = Path(f"{keys['ed25519']}.pub").read_text().strip()
    data = f"# partner\n{public}\nthis is not a key at all\n".encode()
    with pytest.raises(CertificateRefused) as refused:
        certificates.parse(data, "keys.txt")
    assert str(refused.value).startswith("keys.txt, line 3: not an OpenSSH public key line")
    assert "this is not" not in str(refused.value)


def test_a_truncated_key_is_refused(keys) -> None:
    key_type, encoded, comment = Path(f"{keys['rsa']}.pub").read_text().split()
    for cut in (encoded[: len(encoded) // 2], encoded[:-8] + "AAAA"):
        with pytest.raises(
            CertificateRefused, match=r"^cut\.pub, line 1: the key data .*(truncated|base64)"
        ):
            certificates.parse(f"{key_type} {cut} {comment}".encode(), "cut.pub")


def ssh_string(value: bytes) -> bytes:
    return struct.pack(">I", len(value)) + value


def test_unknown_and_obsolete_key_types_are_refused() -> None:
    blob = base64.b64encode(ssh_string(b"ssh-foo") + ssh_string(b"x")).decode()
    with pytest.raises(CertificateRefused, match=r"^f\.pub, line 1: unknown key type 'ssh-foo'"):
        certificates.parse(f"ssh-foo {blob} me".encode(), "f.pub")
    # an ssh-dss line as old OpenSSH wrote them (cryptography warns when it writes DSA)
    dss = ssh_string(b"ssh-dss") + b"".join(ssh_string(b"\x01" * 20) for _ in range(4))
    dsa_line = b"ssh-dss " + base64.b64encode(dss) + b" old@partner"
    with pytest.raises(CertificateRefused, match=r"line 2: DSA \(ssh-dss\) keys are refused"):
        certificates.parse(b"\n" + dsa_line, "dsa.pub")
    sk = base64.b64encode(
        ssh_string(b"sk-ssh-ed25519@openssh.com") + ssh_string(b"k" * 32)
    ).decode()
    with pytest.raises(CertificateRefused, match="security-key"):
        certificates.parse(f"sk-ssh-ed25519@openssh.com {sk}".encode(), "sk.pub")


@pytest.mark.parametrize(
    ("data", "what"), [(b"", "is empty"), (b"\n# nothing\n\n", "only blank and comment")]
)
def test_an_empty_file_is_refused(data, what) -> None:
    with pytest.raises(CertificateRefused, match=f"^empty.pub: .*{what}"):
        certificates.parse(data, "empty.pub")


def test_a_pem_that_is_not_a_certificate_is_refused(dated) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    public = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    data = dated["year"].read_bytes() + public
    with pytest.raises(
        CertificateRefused,
        match=r"block 2 \(line \d+\): a PEM PUBLIC KEY block is not a certificate",
    ):
        certificates.parse(data, "bundle.pem")
    truncated = dated["year"].read_bytes().rsplit(b"-----END", 1)[0]
    with pytest.raises(CertificateRefused, match=r"line 1: the block has no END line"):
        certificates.parse(truncated, "cut.pem")


def test_a_binary_file_that_is_no_certificate_is_refused() -> None:
    with pytest.raises(CertificateRefused, match=r"^blob\.bin: neither OpenSSH public keys"):
        certificates.parse(bytes(range(256)), "blob.bin")


def test_a_chain_is_refused_because_its_ca_would_be_shared() -> None:
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca = self_signed(ca_key, "Partner CA", NOW, NOW + timedelta(days=900))
    leaf_key = ec.generate_private_key(ec.SECP256R1())
    leaf = self_signed(leaf_key, "sftp.partner", NOW, NOW + timedelta(days=90), ca_key, ca.subject)
    assert one(pem(leaf), "leaf.pem").label == "CN=sftp.partner"
    with pytest.raises(CertificateRefused, match="CN=Partner CA issued another one"):
        certificates.parse(pem(leaf) + pem(ca), "chain.pem")


def test_a_renewed_self_signed_certificate_and_a_repeated_one_are_kept() -> None:
    old = self_signed(
        ed25519.Ed25519PrivateKey.generate(), "edi.partner", NOW, NOW + timedelta(days=5)
    )
    new = self_signed(
        ed25519.Ed25519PrivateKey.generate(), "edi.partner", NOW, NOW + timedelta(days=400)
    )
    found = certificates.parse(pem(old) + pem(new) + pem(old), "rotation.pem")
    assert [c.not_after for c in found] == [old.not_valid_after_utc, new.not_valid_after_utc]


def test_refusal_is_a_rule_refusal_with_exit_status_1() -> None:
    assert issubclass(CertificateRefused, RefusedError)
    assert CertificateRefused.exit_code == 1


# -- X.509 -----------------------------------------------------------------------------


def test_x509_fingerprints_are_the_ones_openssl_prints(dated) -> None:
    bundle = b"subject=ignored, as openssl does\n" + b"".join(
        p.read_bytes() for p in dated.values()
    )
    found = certificates.parse(bundle, "bundle.pem")
    assert [c.fingerprint for c in found] == [openssl_fingerprint(p) for p in dated.values()]
    expired, soon, year = found
    assert {c.kind for c in found} == {"x509"}
    assert (expired.algorithm, soon.algorithm, year.algorithm) == (
        "RSA 2048",
        "EC 256 secp256r1",
        "Ed25519",
    )
    assert year.label == "CN=year.partner.example"
    assert year.not_before == NOW and year.not_after == NOW + timedelta(days=365)
    assert year.not_after.tzinfo is not None
    assert year.public_text.encode() == dated["year"].read_bytes()


def test_a_certificate_made_by_openssl_is_read(tmp_path) -> None:
    cert = tmp_path / "req.pem"
    subject = "/C=FR/O=Fournisseur SA/CN=edi.fournisseur.example"
    key = str(tmp_path / "k")
    run(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
        "-subj", subject, "-days", "20", "-out", str(cert),
    )  # fmt: skip
    found = one(cert.read_bytes(), "req.pem")
    assert found.fingerprint == openssl_fingerprint(cert)
    assert found.label == "CN=edi.fournisseur.example,O=Fournisseur SA,C=FR"
    assert certificates.expiring([found], NOW) == [found]


def test_der_is_accepted(dated, tmp_path) -> None:
    der = tmp_path / "soon.der"
    run("openssl", "x509", "-in", str(dated["soon"]), "-outform", "DER", "-out", str(der))
    found = one(der.read_bytes(), "soon.der")
    assert (
        found.fingerprint
        == openssl_fingerprint(der, "DER")
        == one(dated["soon"].read_bytes()).fingerprint
    )


@pytest.mark.parametrize("kind", ["ed25519", "rsa", "ecdsa"])
def test_the_key_of_a_certificate_has_the_fingerprint_ssh_keygen_gives_it(keys, kind) -> None:
    private = serialization.load_ssh_private_key(keys[kind].read_bytes(), password=None)
    found = one(pem(self_signed(private, kind, NOW, NOW + timedelta(days=30))), "cert.pem")
    public = Path(f"{keys[kind]}.pub")
    assert [found.ssh_fingerprint] == ssh_keygen_fingerprints(public)
    assert found.ssh_key == " ".join(public.read_text().split()[:2])
    assert found.identities == {found.fingerprint, found.ssh_fingerprint}


def test_a_certificate_whose_key_openssh_cannot_use_has_no_ssh_key() -> None:
    found = one(
        pem(self_signed(ed448.Ed448PrivateKey.generate(), "ed448", NOW, NOW + timedelta(days=9)))
    )
    assert found.algorithm == "Ed448"
    assert found.ssh_key is None and found.ssh_fingerprint is None
    with pytest.raises(CertificateRefused, match="cannot be used by OpenSSH"):
        certificates.authorized_keys_line(found, "ABC001")


# -- expiry and duplicates -------------------------------------------------------------


def test_expiring_lists_expired_and_soon_expiring_certificates(dated, keys) -> None:
    parsed = {name: one(path.read_bytes()) for name, path in dated.items()}
    key = one(Path(f"{keys['rsa']}.pub").read_bytes())
    every = [parsed["year"], key, parsed["soon"], parsed["expired"]]
    assert certificates.expiring(every, NOW) == [parsed["expired"], parsed["soon"]]
    assert certificates.expiring(every, NOW, within_days=5) == [parsed["expired"]]
    assert certificates.expiring(every, NOW + timedelta(days=400)) == [
        parsed["expired"],
        parsed["soon"],
        parsed["year"],
    ]
    with pytest.raises(ValueError, match="timezone-aware"):
        certificates.expiring(every, NOW.replace(tzinfo=None))


def test_duplicates_find_a_key_registered_by_two_partners(keys) -> None:
    shared = one(Path(f"{keys['ed25519']}.pub").read_bytes())
    other = one(Path(f"{keys['rsa']}.pub").read_bytes())
    pairs = [("ABC001", shared), ("XYZ002", other), ("DEF003", shared), ("ABC001", shared)]
    assert certificates.duplicates(pairs) == {shared.fingerprint: ["ABC001", "DEF003"]}
    assert certificates.duplicates(pairs[:2]) == {}


def test_duplicates_see_a_key_inside_a_certificate_and_report_a_shared_certificate_once(
    keys, dated
) -> None:
    key = one(Path(f"{keys['ecdsa']}.pub").read_bytes())
    private = serialization.load_ssh_private_key(keys["ecdsa"].read_bytes(), password=None)
    wrapped = one(pem(self_signed(private, "same key", NOW, NOW + timedelta(days=30))))
    assert certificates.duplicates([("ABC001", key), ("GHI004", wrapped)]) == {
        key.fingerprint: ["ABC001", "GHI004"]
    }
    year = one(dated["year"].read_bytes())
    assert certificates.duplicates([("ABC001", year), ("GHI004", year)]) == {
        year.fingerprint: ["ABC001", "GHI004"]
    }


# -- authorized_keys -------------------------------------------------------------------


def test_authorized_keys_lines_are_restricted_and_accepted_by_ssh_keygen(
    keys, dated, tmp_path
) -> None:
    key = one(Path(f"{keys['rsa']}.pub").read_bytes())
    certificate = one(dated["soon"].read_bytes())
    lines = [
        certificates.authorized_keys_line(key, "ABC001", "/"),
        certificates.authorized_keys_line(certificate, "XYZ-02", "/partners"),
    ]
    path = tmp_path / "authorized_keys"
    path.write_text("\n".join(lines) + "\n")
    assert ssh_keygen_fingerprints(path) == [key.fingerprint, certificate.ssh_fingerprint]
    listed = run("ssh-keygen", "-lf", str(path)).splitlines()
    assert "edi-engine partner ABC001" in listed[0] and "edi-engine partner XYZ-02" in listed[1]
    assert lines[0].startswith(
        'restrict,command="internal-sftp -d /ABC001 -P symlink,hardlink" ssh-rsa '
    )
    assert lines[1].startswith('restrict,command="internal-sftp -d /partners/XYZ-02 ')
    assert lines[0].endswith(" edi-engine partner ABC001")
    assert [
        c.fingerprint for c in certificates.parse(path.read_bytes(), "ak")
    ] == ssh_keygen_fingerprints(path)


@pytest.mark.parametrize("code", ["abc001", 'A"B', "AB", "ABC 01"])
def test_authorized_keys_line_refuses_a_bad_partner_code(keys, code) -> None:
    key = one(Path(f"{keys['ed25519']}.pub").read_bytes())
    with pytest.raises(InvalidPartnerCode):
        certificates.authorized_keys_line(key, code, "/")


@pytest.mark.parametrize("root", ["partners", "/a/../b", '/x" y', "/in box"])
def test_authorized_keys_line_refuses_an_unsafe_root(keys, root) -> None:
    key = one(Path(f"{keys['ed25519']}.pub").read_bytes())
    with pytest.raises(UsageError, match="absolute path inside the chroot"):
        certificates.authorized_keys_line(key, "ABC001", root)
