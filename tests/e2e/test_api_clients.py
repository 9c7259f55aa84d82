"""API clients (issue 18, items 2 and 4) through the CLI, on a real ledger: a secret is
printed once and kept only as its argon2id hash; rotating and revoking stop the old secret;
a client is tied only to a certificate of its own partner; the partners' API quotas."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.orm import Session

from edi_engine.ledger import db
from edi_engine.partners import api_clients

from .conftest import Home
from .test_api_tls import Authority
from .test_partner_certificates import _ssh_key

CLIENT_ID = re.compile(r"edi_[0-9a-f]{24}")
SECRET_KEYS = {"partner", "client_id", "client_secret"}
LISTED_KEYS = {
    "partner",
    "client_id",
    "generation",
    "certificate",
    "created_at",
    "rotated_at",
    "revoked_at",
}


@pytest.fixture
def partners_home(bare_home: Home) -> Home:
    bare_home.invoke("partners", "add", "ABC001", "--name", "A")
    bare_home.invoke("partners", "add", "XYZ002", "--name", "X")
    return bare_home


@contextmanager
def ledger(home: Home) -> Iterator[Session]:
    with db.session_scope(f"sqlite:///{home.path / 'ledger.db'}") as session:
        yield session


def _add(home: Home, code: str = "ABC001", *more: str) -> dict:
    return json.loads(home.invoke("partners", "api-client", "add", code, "--json", *more).stdout)


def _x509(tmp_path: Path, name: str) -> tuple[Path, str]:
    """An X.509 certificate (PEM) and its fingerprint as `partners cert list` shows it."""
    folder = tmp_path / f"pki-{name}"
    folder.mkdir()
    issued = Authority(folder).issue(name)
    return issued.certificate, issued.fingerprint


# -- add, list ----------------------------------------------------------------------------


def test_add_prints_the_client_id_and_the_secret_once(partners_home: Home) -> None:
    result = partners_home.invoke("partners", "api-client", "add", "ABC001")

    client_line, secret_line = result.stdout.splitlines()
    client_id = client_line.removeprefix("client_id: ")
    secret = secret_line.removeprefix("client_secret: ")
    assert CLIENT_ID.fullmatch(client_id), result.stdout
    assert len(secret) >= 43 and secret != secret_line
    assert "will not be shown again" in result.stderr and secret not in result.stderr
    with ledger(partners_home) as session:
        client = api_clients.authenticate(session, client_id, secret)
    assert client == api_clients.ApiClient(client_id, "ABC001", 1, None, False)


def test_add_in_json_gives_client_id_and_client_secret(partners_home: Home) -> None:
    added = _add(partners_home)

    assert set(added) == SECRET_KEYS and added["partner"] == "ABC001"
    assert CLIENT_ID.fullmatch(added["client_id"])
    with ledger(partners_home) as session:
        assert api_clients.authenticate(session, added["client_id"], added["client_secret"])


def test_the_ledger_keeps_an_argon2id_hash_never_the_secret(partners_home: Home) -> None:
    added = _add(partners_home)
    rotated = json.loads(
        partners_home.invoke(
            "partners", "api-client", "rotate", added["client_id"], "--json"
        ).stdout
    )

    with ledger(partners_home) as session:
        (hashed,) = session.execute(text("select secret_hash from api_clients")).scalars()
    assert hashed.startswith("$argon2id$")
    files = sorted(partners_home.path.glob("ledger.db*"))  # the WAL too
    assert files
    for secret in (added["client_secret"], rotated["client_secret"]):
        assert all(secret.encode() not in file.read_bytes() for file in files)


def test_list_shows_the_clients_never_a_secret_or_its_hash(partners_home: Home) -> None:
    first = _add(partners_home, "ABC001")
    second = _add(partners_home, "XYZ002")

    listed = json.loads(partners_home.invoke("partners", "api-client", "list", "--json").stdout)
    table = partners_home.invoke("partners", "api-client", "list").stdout
    own = json.loads(
        partners_home.invoke("partners", "api-client", "list", "XYZ002", "--json").stdout
    )

    assert [(c["partner"], c["client_id"]) for c in listed] == [
        ("ABC001", first["client_id"]),
        ("XYZ002", second["client_id"]),
    ]
    assert all(set(c) == LISTED_KEYS for c in listed)
    assert listed[0]["generation"] == 1 and listed[0]["created_at"]
    assert (listed[0]["rotated_at"], listed[0]["revoked_at"], listed[0]["certificate"]) == (
        None,
        None,
        None,
    )
    assert [c["client_id"] for c in own] == [second["client_id"]]
    for shown in (json.dumps(listed), table):
        assert "argon2" not in shown
        assert first["client_secret"] not in shown and second["client_secret"] not in shown
    for column in ("partner", "client_id", "created_at", "rotated_at", "revoked_at", "certificate"):
        assert column in table
    assert first["client_id"] in table


def test_an_unknown_partner_is_refused(partners_home: Home) -> None:
    for command in (("add", "NOPE01"), ("list", "NOPE01")):
        result = partners_home.invoke("partners", "api-client", *command, code=1)
        assert "No partner is registered with the code 'NOPE01'" in result.stderr
    refused = partners_home.invoke("partners", "api-client", "add", "NOPE01", "--json", code=1)
    assert json.loads(refused.stdout)["error"] == "unknown_partner"
    with ledger(partners_home) as session:
        assert api_clients.listed(session) == []


# -- authenticate, rotate, revoke ---------------------------------------------------------


def test_a_wrong_secret_or_an_unknown_client_is_not_authenticated(partners_home: Home) -> None:
    added = _add(partners_home)
    with ledger(partners_home) as session:
        assert api_clients.authenticate(session, added["client_id"], "wrong") is None
        assert api_clients.authenticate(session, added["client_id"], "") is None
        other = "edi_" + "0" * 24
        assert api_clients.authenticate(session, other, added["client_secret"]) is None
        assert api_clients.current(session, other) is None
        assert api_clients.current(session, added["client_id"]).partner_code == "ABC001"


def test_rotate_gives_a_new_secret_and_the_old_one_stops_working(partners_home: Home) -> None:
    added = _add(partners_home)

    result = partners_home.invoke("partners", "api-client", "rotate", added["client_id"], "--json")

    rotated = json.loads(result.stdout)
    assert set(rotated) == SECRET_KEYS and "will not be shown again" in result.stderr
    assert rotated["client_id"] == added["client_id"]
    assert rotated["client_secret"] != added["client_secret"]
    with ledger(partners_home) as session:
        assert api_clients.authenticate(session, added["client_id"], added["client_secret"]) is None
        client = api_clients.authenticate(session, added["client_id"], rotated["client_secret"])
        assert client is not None and client.generation == 2
        assert api_clients.current(session, added["client_id"]).generation == 2
    (listed,) = json.loads(partners_home.invoke("partners", "api-client", "list", "--json").stdout)
    assert listed["generation"] == 2 and listed["rotated_at"] and not listed["revoked_at"]
    text_result = partners_home.invoke("partners", "api-client", "rotate", added["client_id"])
    assert text_result.stdout.startswith(f"client_id: {added['client_id']}\nclient_secret: ")


def test_revoke_stops_the_client_for_good(partners_home: Home) -> None:
    added = _add(partners_home)

    result = partners_home.invoke("partners", "api-client", "revoke", added["client_id"])

    assert f"API client {added['client_id']} of partner ABC001 is revoked" in result.stderr
    with ledger(partners_home) as session:
        assert api_clients.authenticate(session, added["client_id"], added["client_secret"]) is None
        assert api_clients.current(session, added["client_id"]) is None
    (listed,) = json.loads(partners_home.invoke("partners", "api-client", "list", "--json").stdout)
    assert listed["revoked_at"]
    partners_home.invoke("partners", "api-client", "revoke", added["client_id"])  # no change
    refused = partners_home.invoke("partners", "api-client", "rotate", added["client_id"], code=1)
    assert "is revoked: it cannot be rotated" in refused.stderr


def test_an_unknown_client_is_refused(partners_home: Home) -> None:
    for command in ("rotate", "revoke"):
        result = partners_home.invoke("partners", "api-client", command, "edi_nope", code=1)
        assert "No API client has the client_id 'edi_nope'" in result.stderr
    refused = partners_home.invoke("partners", "api-client", "rotate", "edi_nope", "--json", code=1)
    assert json.loads(refused.stdout)["error"] == "unknown_api_client"


# -- certificates -------------------------------------------------------------------------


def test_a_client_is_tied_to_a_certificate_of_its_own_partner(
    partners_home: Home, tmp_path: Path
) -> None:
    public, fingerprint = _x509(tmp_path, "abc-key")
    partners_home.invoke("partners", "cert", "add", "ABC001", public)

    added = _add(partners_home, "ABC001", "--certificate", fingerprint)

    assert set(added) == SECRET_KEYS | {"certificate"} and added["certificate"] == fingerprint
    (listed,) = json.loads(partners_home.invoke("partners", "api-client", "list", "--json").stdout)
    assert listed["certificate"] == fingerprint
    with ledger(partners_home) as session:
        client = api_clients.authenticate(session, added["client_id"], added["client_secret"])
    assert client is not None and client.certificate_fingerprint == fingerprint


def test_another_partners_or_an_unknown_certificate_is_refused(
    partners_home: Home, tmp_path: Path
) -> None:
    public, fingerprint = _x509(tmp_path, "xyz-key")
    partners_home.invoke("partners", "cert", "add", "XYZ002", public)

    theirs = partners_home.invoke(
        "partners", "api-client", "add", "ABC001", "--certificate", fingerprint, code=1
    )
    unknown = partners_home.invoke(
        "partners", "api-client", "add", "ABC001", "--certificate", "SHA256:nothing", "--json",
        code=1,
    )  # fmt: skip

    assert f"The certificate {fingerprint} belongs to partner XYZ002, not ABC001" in theirs.stderr
    assert "No certificate SHA256:nothing is registered for partner ABC001" in unknown.stderr
    assert json.loads(unknown.stdout)["error"] == "certificate_refused"
    with ledger(partners_home) as session:
        assert api_clients.listed(session) == []


def test_an_expired_certificate_is_refused(partners_home: Home, tmp_path: Path) -> None:
    public, fingerprint = _x509(tmp_path, "old-key")
    partners_home.invoke("partners", "cert", "add", "ABC001", public)
    with ledger(partners_home) as session:
        session.execute(text("update certificates set not_after = '2020-01-01 00:00:00'"))
        session.commit()

    result = partners_home.invoke(
        "partners", "api-client", "add", "ABC001", "--certificate", fingerprint, code=1
    )

    assert "expired on 2020-01-01" in result.stderr


def test_an_ssh_key_is_refused_since_a_client_presents_a_certificate_over_tls(
    partners_home: Home, tmp_path: Path
) -> None:
    public, fingerprint = _ssh_key(tmp_path, "sftp-key")
    partners_home.invoke("partners", "cert", "add", "ABC001", public)

    result = partners_home.invoke(
        "partners", "api-client", "add", "ABC001", "--certificate", fingerprint, code=1
    )

    assert f"The credential {fingerprint} of partner ABC001 is an SSH key" in result.stderr
    with ledger(partners_home) as session:
        assert api_clients.listed(session) == []


# -- quotas -------------------------------------------------------------------------------


def _shown(home: Home, code: str = "ABC001") -> dict:
    return json.loads(home.invoke("partners", "show", code, "--json").stdout)


def test_a_partner_has_the_hubs_quotas_until_given_its_own(partners_home: Home) -> None:
    shown = _shown(partners_home)
    assert (shown["api_rate"], shown["api_rate_own"]) == (20, False)
    assert (shown["api_daily"], shown["api_daily_own"]) == (100000, False)

    result = partners_home.invoke(
        "partners", "update", "ABC001", "--api-rate", "5/second", "--api-daily", "2500"
    )

    assert "API 5/second, 2500 a day" in result.stderr
    shown = _shown(partners_home)
    assert (shown["api_rate"], shown["api_rate_own"]) == (5, True)
    assert (shown["api_daily"], shown["api_daily_own"]) == (2500, True)
    table = partners_home.invoke("partners", "show", "ABC001").stdout
    assert "5/second" in table and "2500 a day" in table
    assert _shown(partners_home, "XYZ002")["api_rate"] == 20
    partners_home.invoke("partners", "update", "ABC001", "--api-rate", "7/s")
    assert (_shown(partners_home)["api_rate"], _shown(partners_home)["api_daily"]) == (7, 2500)


def test_default_goes_back_to_the_hubs_quotas(partners_home: Home) -> None:
    partners_home.invoke("partners", "update", "ABC001", "--api-rate", "5/s", "--api-daily", "9")

    partners_home.invoke(
        "partners", "update", "ABC001", "--api-rate", "default", "--api-daily", "default"
    )

    shown = _shown(partners_home)
    assert (shown["api_rate"], shown["api_rate_own"]) == (20, False)
    assert (shown["api_daily"], shown["api_daily_own"]) == (100000, False)


def test_the_hubs_quotas_come_from_the_api_section(
    partners_home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_API_RATE_PER_SECOND", "3")
    monkeypatch.setenv("EDI_ENGINE_API_DAILY", "40")
    shown = _shown(partners_home)
    assert (shown["api_rate"], shown["api_daily"]) == (3, 40)


@pytest.mark.parametrize(
    ("flag", "given"),
    [
        ("--api-rate", "20/minute"),
        ("--api-rate", "0/second"),
        ("--api-rate", "-1"),
        ("--api-rate", "abc"),
        ("--api-rate", "20"),
        ("--api-rate", "9" * 5000 + "/s"),
        ("--api-daily", "-1"),
        ("--api-daily", "0"),
        ("--api-daily", "abc"),
        ("--api-daily", "1.5"),
        ("--api-daily", "20/second"),
    ],
)
def test_a_bad_quota_is_refused_saying_what_to_give(
    partners_home: Home, flag: str, given: str
) -> None:
    result = partners_home.invoke("partners", "update", "ABC001", flag, given, code=2)

    said = result.stderr
    assert said.startswith(f"edi-engine: {flag} ") and "or default (the hub's [api]" in said
    if flag == "--api-rate":
        assert "give the requests per second as N/second (or N/s)" in said
    else:
        assert "give the requests per day as a whole number from 1 to 1,000,000,000" in said
    shown = _shown(partners_home)
    assert (shown["api_rate_own"], shown["api_daily_own"]) == (False, False)
