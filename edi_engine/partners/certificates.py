"""Partners' certificates: OpenSSH public keys and X.509 certificates (issue 4, item 6).

Pure functions on bytes: no database, no settings. ``parse`` reads what a partner sent
(an ``authorized_keys``-style file, an RFC 4716 public key, PEM or DER certificates)
into frozen ``Certificate`` values; the referential stores them and enforces
"one fingerprint, one partner" (docs/architecture.md#words,
docs/architecture.md#business-controls) with ``duplicates``.

A private key sent by mistake is refused without ever echoing a byte of it
(docs/architecture.md#data-safety), and no refusal quotes the refused line: only its
number and what is wrong with it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import posixpath
import re
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa

from ..errors import RefusedError, UsageError
from ..problems import shown
from .registry import check_code

OPENSSH = "openssh"
X509 = "x509"
SSH_KEY_TYPES = (
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
)
MIN_RSA_BITS = 2048
MAX_FILE_BYTES = 1024 * 1024  # a key file is a few kB; a chain of certificates, tens

# same rule as partners.CODE, repeated so that this module stays free of the ledger;
# it also keeps the forced command of an authorized_keys line free of quotes and spaces
SAFE_PATH = re.compile(r"^/[A-Za-z0-9._/-]*$")
KEY_TYPE = re.compile(r"^[a-z0-9][a-z0-9@.-]{1,63}$")
PEM_BEGIN = re.compile(r"^-----BEGIN ([A-Z0-9 ]{1,40})-----\s*$")
RFC4716_BEGIN = re.compile(r"^---- BEGIN SSH2 ([A-Z ]{1,40}) ----\s*$")
PRIVATE_MARKS = (
    (re.compile(r"^-----BEGIN ([A-Z0-9 ]*PRIVATE KEY)-----"), None),
    (re.compile(r"^---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----"), "SSH2 ENCRYPTED PRIVATE KEY"),
    (re.compile(r"^PuTTY-User-Key-File-\d+:"), "PuTTY key file"),
)
NOT_CERTIFICATE_HINTS = {
    "PUBLIC KEY": "a bare public key: give the certificate, or convert the key for SSH "
    "with `ssh-keygen -i -m PKCS8 -f FILE`",
    "RSA PUBLIC KEY": "a bare public key: give the certificate, or convert the key for SSH "
    "with `ssh-keygen -i -m PEM -f FILE`",
    "CERTIFICATE REQUEST": "a certificate signing request: give the signed certificate",
    "NEW CERTIFICATE REQUEST": "a certificate signing request: give the signed certificate",
    "X509 CRL": "a revocation list: give the partner's certificate",
    "PKCS7": "a PKCS#7 bundle: extract the certificate with `openssl pkcs7 -print_certs`",
}


class CertificateRefused(RefusedError):
    """The key or certificate was refused."""


@dataclass(frozen=True)
class Certificate:
    """One partner credential, as parsed; ``fingerprint`` is its identity.

    ``ssh_key`` is the OpenSSH public key ("type base64", no comment) a partner logs in
    with over SFTP: the key itself, or the key of an X.509 certificate when OpenSSH can
    use it (RSA, NIST P-256/384/521 EC, Ed25519); ``ssh_fingerprint`` is its
    ``SHA256:…`` fingerprint, equal to ``fingerprint`` for an OpenSSH key.
    """

    kind: str  # OPENSSH | X509
    algorithm: str  # "ssh-ed25519", "ssh-rsa", "ecdsa-sha2-nistp256" | "RSA 2048", "Ed25519", …
    bits: int
    fingerprint: str
    label: str  # the OpenSSH comment (maybe "") | the X.509 subject (RFC 4514)
    public_text: str  # the normalised key line | the PEM
    not_before: datetime | None = None
    not_after: datetime | None = None
    ssh_key: str | None = None
    ssh_fingerprint: str | None = None

    @property
    def identities(self) -> frozenset[str]:
        """Every fingerprint this credential answers to: a key shared through an X.509
        certificate is as much a duplicate as the same certificate."""
        return frozenset(f for f in (self.fingerprint, self.ssh_fingerprint) if f)


def parse(data: bytes, source: str) -> list[Certificate]:
    """Read every public key or certificate of a file; refuse the file as a whole.

    Text files hold OpenSSH public key lines (``authorized_keys`` style: options before
    the key type are skipped, blank and ``#`` lines ignored), RFC 4716 blocks
    (``---- BEGIN SSH2 PUBLIC KEY ----``) or PEM certificates; around PEM blocks other
    text is ignored, as openssl does. A binary file is one DER certificate. The same
    credential twice in one file is kept once. A certificate that issued another one of
    the file is refused: a chain's CA would make every partner of that CA a duplicate.
    """
    if len(data) > MAX_FILE_BYTES:
        raise _refused(source, "", f"{len(data)} bytes is too large for a key or certificate file")
    text = _text(data)
    found = _parse_der(data, source) if text is None else _parse_text(text, source)
    first = {c.fingerprint: c for c in reversed(found)}
    unique = [c for c in found if first[c.fingerprint] is c]
    _refuse_chain(unique, source)
    return unique


def expiring(
    certificates: Iterable[Certificate], now: datetime, within_days: int = 30
) -> list[Certificate]:
    """Certificates expired or expiring within ``within_days`` of ``now``, soonest first.

    OpenSSH keys do not expire and are never listed.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    limit = now + timedelta(days=within_days)
    due = [c for c in certificates if c.not_after is not None and c.not_after <= limit]
    return sorted(due, key=lambda c: c.not_after or limit)


def duplicates(pairs: Iterable[tuple[str, Certificate]]) -> dict[str, list[str]]:
    """Fingerprint -> sorted codes of the partners that hold it, when more than one does.

    A key is matched whichever form carries it: partner A's OpenSSH key inside partner
    B's X.509 certificate is reported under the key's ``SHA256:`` fingerprint. The same
    certificate held twice is reported once, under its certificate fingerprint.
    """
    holders: dict[str, set[str]] = {}
    key_of_certificate: dict[str, str] = {}
    for code, certificate in pairs:
        for identity in certificate.identities:
            holders.setdefault(identity, set()).add(code)
        if certificate.kind == X509 and certificate.ssh_fingerprint:
            key_of_certificate[certificate.fingerprint] = certificate.ssh_fingerprint
    shared = {fp: sorted(codes) for fp, codes in holders.items() if len(codes) > 1}
    for fp, key in key_of_certificate.items():
        if fp in shared and shared.get(key) == shared[fp]:
            del shared[key]
    return shared


def authorized_keys_line(
    certificate: Certificate, partner_code: str, chroot_root: str = "/"
) -> str:
    """An ``authorized_keys`` line that lets the partner's key do SFTP and nothing else.

    ``restrict`` turns off forwarding, agent, X11, pty and ~/.ssh/rc; the forced
    ``internal-sftp`` refuses any shell or command, starts in ``<chroot_root>/<PARTNER>``
    (``chroot_root`` is the folder holding the partners' folders *as seen inside the
    chroot*, "/" by default) and denies symlink and hard-link creation, so a partner
    cannot plant a link that the engine, outside the chroot, would follow.

    ``-d`` only chooses where the session starts: the confinement is the chroot, which
    OpenSSH applies per account, never per key. So the operator gives each partner its
    own account and puts only that partner's lines in that account's keys file::

        Subsystem sftp internal-sftp          # global: sftp clients ask for it first

        Match Group edi-partners
            AuthorizedKeysFile /etc/ssh/edi-keys/%u
            ChrootDirectory /srv/edi-sftp/%u
            ForceCommand internal-sftp -P symlink,hardlink
            DisableForwarding yes
            PermitTTY no

    ``/srv/edi-sftp`` and ``/srv/edi-sftp/<account>`` belong to root, mode 0755 (sshd
    refuses a chroot that anyone else can write), and so does ``<account>/<PARTNER>``,
    so that the partner cannot add folders of its own; in it, ``inbox/`` is writable by
    the partner's account and is the engine's ``inbox/<PARTNER>`` (a bind mount, or the
    partner's channel folder), ``outbox/`` is the engine's ``outbox/<PARTNER>``, which
    the partner reads and empties. ``ForceCommand`` wins over the key's ``command=`` and
    keeps SFTP-only even for a key line written by hand; since it drops the key's
    ``-d``, give the account ``<chroot_root>/<PARTNER>`` as home directory: sshd starts
    there after the chroot. Refused for a certificate without an SSH-usable key (see
    ``Certificate.ssh_key``).
    """
    if certificate.ssh_key is None:
        named = shown(certificate.label or certificate.fingerprint)
        raise CertificateRefused(
            f"The {certificate.algorithm} key of {named} "
            "cannot be used by OpenSSH, so it cannot log in over SFTP."
        )
    check_code(partner_code)
    parts = chroot_root.split("/")
    if not SAFE_PATH.match(chroot_root) or ".." in parts:
        raise UsageError(
            f"The SFTP root {chroot_root!r} must be an absolute path inside the chroot, "
            "of letters, digits, '.', '_', '-' and '/', without '..'."
        )
    start = posixpath.join(chroot_root, partner_code)
    command = f"internal-sftp -d {start} -P symlink,hardlink"
    return f'restrict,command="{command}" {certificate.ssh_key} edi-engine partner {partner_code}'


# -- reading ---------------------------------------------------------------------------


def _text(data: bytes) -> str | None:
    """The file as text, or None when it is binary (a DER certificate is never UTF-8)."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text):
        return None
    return text


def _parse_text(text: str, source: str) -> list[Certificate]:
    lines = text.splitlines()
    _refuse_private(lines, source)
    pem = any(PEM_BEGIN.match(line.strip()) for line in lines)
    found: list[Certificate] = []
    blocks = 0
    index = 0
    while index < len(lines):
        line = lines[index].strip()
        begin = PEM_BEGIN.match(line) or RFC4716_BEGIN.match(line)
        if begin:
            blocks += 1
            end = _block_end(lines, index, line, source)
            where = f", block {blocks} (line {index + 1})"
            body = [entry.strip() for entry in lines[index + 1 : end]]
            if begin.re is PEM_BEGIN:
                found.append(_pem_certificate(begin.group(1), body, source, where))
            else:
                found.append(_rfc4716_key(begin.group(1), body, source, where))
            index = end + 1
            continue
        if line and not line.startswith("#") and not pem:
            found.append(_key_line(line, source, f", line {index + 1}"))
        index += 1
    if not found:
        what = "is empty" if not text.strip() else "holds only blank and comment lines"
        raise _refused(source, "", f"{what}: no public key or certificate in it")
    return found


def _refuse_private(lines: list[str], source: str) -> None:
    for number, line in enumerate(lines, 1):
        for mark, name in PRIVATE_MARKS:
            match = mark.match(line.strip())
            if match:
                raise _private(source, f", line {number}", name or match.group(1))


def _block_end(lines: list[str], start: int, begin: str, source: str) -> int:
    end_line = begin.replace("BEGIN", "END", 1)
    for index in range(start + 1, len(lines)):
        if lines[index].strip() == end_line:
            return index
    raise _refused(source, f", line {start + 1}", "the block has no END line (truncated file)")


def _key_line(line: str, source: str, where: str) -> Certificate:
    parts = _key_parts(line)
    if parts is None:
        parts = _key_parts(_skip_options(line) or "")
    if parts is None:
        raise _refused(
            source,
            where,
            "not an OpenSSH public key line (expected: [options] TYPE BASE64 [comment])",
        )
    key_type, encoded, comment = parts
    return _ssh_key(key_type, _decode(encoded, source, where), comment, source, where)


def _key_parts(line: str) -> tuple[str, str, str] | None:
    """(type, base64, comment) when the line starts with a key; every SSH key blob
    starts with the 4-byte length of a short name, so its base64 starts with 'AAAA'."""
    tokens = line.split(None, 2)
    if len(tokens) < 2 or not KEY_TYPE.match(tokens[0]) or not tokens[1].startswith("AAAA"):
        return None
    return tokens[0], tokens[1], tokens[2].strip() if len(tokens) == 3 else ""


def _skip_options(line: str) -> str | None:
    """The line after its options (``a,b="x y"``): up to the first blank outside quotes."""
    quoted = escaped = False
    for index, char in enumerate(line):
        if escaped:
            escaped = False
        elif char == "\\" and quoted:
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif char in " \t" and not quoted:
            return line[index:].strip()
    return None


def _rfc4716_key(label: str, body: list[str], source: str, where: str) -> Certificate:
    if label != "PUBLIC KEY":
        raise _refused(source, where, f"an SSH2 {label} block, not a public key")
    comment, data, continued = "", [], False
    for entry in body:
        if continued or (not data and ":" in entry):
            if entry.lower().startswith("comment:"):
                comment = entry.split(":", 1)[1].strip().strip('"')
            continued = entry.endswith("\\")
        else:
            data.append(entry)
    blob = _decode("".join(data), source, where)
    key_type = _blob_type(blob)
    if key_type is None or not KEY_TYPE.match(key_type):
        raise _refused(source, where, "the key data is truncated or damaged")
    return _ssh_key(key_type, blob, comment, source, where)


def _decode(encoded: str, source: str, where: str) -> bytes:
    try:
        return base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _refused(
            source, where, "the key data is not valid base64 (truncated or damaged)"
        ) from None


def _blob_type(blob: bytes) -> str | None:
    if len(blob) < 4:
        return None
    (length,) = struct.unpack(">I", blob[:4])
    name = blob[4 : 4 + length]
    if len(name) != length:
        return None
    return name.decode("ascii", "replace")


def _ssh_key(key_type: str, blob: bytes, comment: str, source: str, where: str) -> Certificate:
    if key_type not in SSH_KEY_TYPES:
        raise _refused(source, where, _why_not(key_type))
    if _blob_type(blob) != key_type:
        raise _refused(
            source, where, f"the key data is truncated, damaged or not of type {key_type}"
        )
    try:
        key = serialization.load_ssh_public_key(key_type.encode() + b" " + base64.b64encode(blob))
    except (ValueError, UnsupportedAlgorithm):
        raise _refused(source, where, "the key data is truncated or damaged") from None
    _check_size(key, source, where)
    ssh_key = _openssh(key)
    assert ssh_key is not None  # every type of SSH_KEY_TYPES can be written back
    fingerprint = _ssh_fingerprint(ssh_key)
    return Certificate(
        kind=OPENSSH,
        algorithm=key_type,
        bits=_describe(key)[1],
        fingerprint=fingerprint,
        label=comment,
        public_text=f"{ssh_key} {comment}".strip(),
        ssh_key=ssh_key,
        ssh_fingerprint=fingerprint,
    )


def _why_not(key_type: str) -> str:
    if key_type == "ssh-dss":
        return "DSA (ssh-dss) keys are refused: OpenSSH no longer accepts them"
    if key_type.startswith("sk-"):
        return (
            f"{key_type} is a security-key type, which needs a touch on the token at every "
            "login, so a batch connection cannot use it"
        )
    if "-cert-" in key_type:
        return f"{key_type} is an OpenSSH certificate: give the partner's plain public key"
    return f"unknown key type {key_type!r} (accepted: {', '.join(SSH_KEY_TYPES)})"


def _pem_certificate(label: str, body: list[str], source: str, where: str) -> Certificate:
    if label not in ("CERTIFICATE", "X509 CERTIFICATE"):
        hint = NOT_CERTIFICATE_HINTS.get(label, "give the partner's certificate")
        raise _refused(source, where, f"a PEM {label} block is not a certificate: {hint}")
    try:
        der = base64.b64decode("".join(body), validate=True)
    except (binascii.Error, ValueError):
        raise _refused(source, where, "the certificate's base64 is damaged or truncated") from None
    return _x509(der, source, where)


def _parse_der(data: bytes, source: str) -> list[Certificate]:
    try:
        x509.load_der_x509_certificate(data)
    except ValueError:
        if _is_private_der(data):
            raise _private(source, "", "DER") from None
        if _is_pkcs12(data):
            raise _private(source, "", "in a PKCS#12 bundle") from None
        raise _refused(
            source,
            "",
            "neither OpenSSH public keys, PEM certificates nor a DER certificate (unreadable)",
        ) from None
    return [_x509(data, source, "")]


def _is_private_der(data: bytes) -> bool:
    try:
        serialization.load_der_private_key(data, password=None)
    except TypeError:
        return True  # an encrypted private key: it wants a password
    except (ValueError, UnsupportedAlgorithm):
        return False
    return True


def _is_pkcs12(data: bytes) -> bool:
    # PFX ::= SEQUENCE { version 3, authSafe ContentInfo (pkcs7-data | pkcs7-signedData) }
    return b"\x02\x01\x03\x30" in data[:12] and b"\x2a\x86\x48\x86\xf7\x0d\x01\x07" in data[:32]


def _x509(der: bytes, source: str, where: str) -> Certificate:
    try:
        certificate = x509.load_der_x509_certificate(der)
        key = certificate.public_key()
    except (ValueError, UnsupportedAlgorithm):
        raise _refused(source, where, "the certificate is damaged or truncated") from None
    _check_size(key, source, where)
    ssh_key = _openssh(key)
    algorithm, bits = _describe(key)
    return Certificate(
        kind=X509,
        algorithm=algorithm,
        bits=bits,
        fingerprint=certificate.fingerprint(hashes.SHA256()).hex(":").upper(),
        label=certificate.subject.rfc4514_string(),
        public_text=certificate.public_bytes(serialization.Encoding.PEM).decode("ascii"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        ssh_key=ssh_key,
        ssh_fingerprint=_ssh_fingerprint(ssh_key) if ssh_key else None,
    )


def _refuse_chain(found: list[Certificate], source: str) -> None:
    """A certificate that signed another one of the file is a CA of the partner's chain.

    Self-signed certificates never count: a partner renewing one may give the old and
    the new, with the same subject, in one file.
    """
    loaded = [
        x509.load_pem_x509_certificate(c.public_text.encode()) for c in found if c.kind == X509
    ]
    for issuer in loaded:
        for issued in loaded:
            if issued is issuer or issued.issuer == issued.subject:
                continue
            try:
                issued.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                continue
            raise _refused(
                source,
                "",
                f"the certificate of {shown(issuer.subject.rfc4514_string())} issued another "
                "one of the file: give only the partner's own certificate, not its chain",
            )


def _check_size(key: object, source: str, where: str) -> None:
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey) and key.key_size < MIN_RSA_BITS:
        name = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
        raise _refused(
            source,
            where,
            f"the {name} key has {key.key_size} bits, too weak: "
            f"at least {MIN_RSA_BITS} are required",
        )


def _openssh(key: object) -> str | None:
    """'type base64' of a key OpenSSH can use, or None."""
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        return None  # DSA is no longer accepted by OpenSSH; Ed448 never was
    try:
        line = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    except ValueError:
        return None  # an EC curve OpenSSH does not know (brainpool, …)
    return line.decode("ascii")


def _ssh_fingerprint(ssh_key: str) -> str:
    """As ``ssh-keygen -l`` prints it: SHA-256 of the key blob, unpadded base64."""
    blob = base64.b64decode(ssh_key.split()[1])
    return "SHA256:" + base64.b64encode(hashlib.sha256(blob).digest()).decode().rstrip("=")


def _describe(key: object) -> tuple[str, int]:
    """The key's type and size: ("RSA 3072", 3072), ("EC 256 secp256r1", 256), ("Ed25519", 256)."""
    if isinstance(key, rsa.RSAPublicKey | dsa.DSAPublicKey):
        name = "RSA" if isinstance(key, rsa.RSAPublicKey) else "DSA"
        return f"{name} {key.key_size}", key.key_size
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.key_size} {key.curve.name}", key.curve.key_size
    if isinstance(key, ed448.Ed448PublicKey):
        return "Ed448", 456
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "Ed25519", 256
    return type(key).__name__, 0


def _refused(source: str, where: str, what: str) -> CertificateRefused:
    return CertificateRefused(f"{source}{where}: {what}.")


def _private(source: str, where: str, kind: str) -> CertificateRefused:
    # never the content: only where it is and what it is (docs/architecture.md#data-safety)
    return _refused(
        source,
        where,
        f"this is a PRIVATE key ({kind}), not a public key or certificate; it is not shown "
        "and must not be registered: ask the partner for its public key "
        "(`ssh-keygen -y -f KEY`) or its certificate, and to replace this key, since it "
        "has left its owner",
    )
