"""The API channel as a partner's software uses it: a real `edi-engine api serve` on
127.0.0.1, called with httpx. A deposit takes the road an inbox file takes; every
refusal is a JSON {"error", "message"} with its status; no partner sees another's flow."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import pytest

from edi_engine.api.flows import uploads_dir
from edi_engine.settings import load

from .api_server import (
    UBL,
    Credentials,
    Server,
    bearer,
    client_of,
    deposit,
    token,
)
from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_2, Home, sample


def test_a_partner_deposits_over_the_api_and_follows_its_flow_to_its_cr(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    value = token(server, client_of(home, SUPPLIER_1))
    answer = deposit(server, value, "facture-001.xml", sample(UBL))
    assert answer.status_code == 202, answer.text
    number = answer.json()["number"]
    assert answer.json()["status"] == "IN_RECU"
    with server.client() as http:
        waiting = http.get(f"/v1/flows/{number}", headers=bearer(value)).json()
        assert waiting["status"] == "IN_RECU" and waiting["file_name"] == "facture-001.xml"
        assert http.get(f"/v1/flows/{number}/report", headers=bearer(value)).status_code == 404
        home.run()
        flow = http.get(f"/v1/flows/{number}", headers=bearer(value)).json()
        report = http.get(f"/v1/flows/{number}/report", headers=bearer(value))
    shown = home.show(number)
    assert set(flow) == set(shown)  # the keys of `flows show --json`
    assert flow["status"] == shown["status"] == "IN_INTEGRE"
    assert flow["sha256"] == shown["sha256"] and flow["partner"] == SUPPLIER_1
    assert [o["partner"] for o in flow["outputs"]] == [SUPPLIER_1]  # its CR, not the pivot
    assert all(i["pivot_file"] is None for i in flow["invoice_list"])
    assert report.status_code == 200 and report.headers["content-type"] == "application/xml"
    cr = f"CR_{SUPPLIER_1}_{number}.xml"
    assert report.content == (home.path / "outbox" / SUPPLIER_1 / cr).read_bytes()
    assert home.outbox(RECIPIENT)  # delivered on the road files take


def test_a_deposit_is_the_same_flow_as_the_same_file_in_the_inbox(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    value = token(server, client_of(home, SUPPLIER_1))
    home.drop(SUPPLIER_1, "by-file.xml", sample(UBL))
    by_file = home.run()[0]["number"]
    by_api = deposit(server, value, "by-api.xml", sample(UBL)).json()["number"]
    home.run()
    first, again = home.show(by_file), home.show(by_api)
    assert again["sha256"] == first["sha256"] and again["size"] == first["size"]
    assert again["duplicate_of"] == by_file  # the duplicate-flow rule, as for a file
    assert again["status"] == "IN_REJETE"
    assert not list(uploads_dir(load(home.path)).iterdir())  # nothing left behind


def test_no_partner_sees_another_s_flow_and_cannot_tell_it_exists(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    own = token(server, client_of(home, SUPPLIER_1))
    other = token(server, client_of(home, SUPPLIER_2))
    number = deposit(server, own, "mine.xml", sample(UBL)).json()["number"]
    home.run()
    with server.client() as http:
        for path in (f"/v1/flows/{number}", f"/v1/flows/{number}/report"):
            theirs = http.get(path, headers=bearer(other))
            nothing = http.get(path.replace(number, "FL0999999999"), headers=bearer(other))
            assert theirs.status_code == nothing.status_code == 404
            assert (
                theirs.json()
                == nothing.json()
                == {
                    "error": "not_found",
                    "message": "No flow of yours has this number.",
                }
            )


def test_calls_without_a_valid_token_are_refused_as_unauthenticated(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    value = token(server, client_of(home, SUPPLIER_1))
    forged = value[:-4] + ("AAAA" if not value.endswith("AAAA") else "BBBB")
    with server.client() as http:
        for headers in (
            {},
            {"Authorization": "Bearer"},
            bearer(forged),
            {"Authorization": "Basic x"},
        ):
            answer = http.get("/v1/flows/1", headers=headers)
            assert answer.status_code == 401, headers
            assert answer.json()["error"] == "invalid_token"
            assert answer.headers["www-authenticate"].startswith("Bearer")
        assert http.get("/v1/health").json() == {"status": "ok"}  # no token needed
        assert http.get("/v1/ready").json() == {"status": "ready"}
        assert "/v1/flows" in http.get("/openapi.json").json()["paths"]
        assert http.get("/docs").status_code == 200


def test_a_token_is_given_to_a_client_that_proves_its_secret_only(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    known = client_of(home, SUPPLIER_1)
    grant = {"grant_type": "client_credentials"}
    with server.client() as http:
        by_form = http.post(
            "/oauth/token",
            data={**grant, "client_id": known.client_id, "client_secret": known.client_secret},
        )
        assert by_form.status_code == 200
        assert by_form.json()["token_type"] == "Bearer" and by_form.json()["expires_in"] == 3600
        assert by_form.headers["cache-control"] == "no-store"
        wrong = http.post("/oauth/token", data=grant, auth=(known.client_id, "not-it"))
        unknown = http.post("/oauth/token", data=grant, auth=("edi_0000", known.client_secret))
        for refused in (wrong, unknown):
            assert refused.status_code == 401 and refused.json()["error"] == "invalid_client"
        assert wrong.json() == unknown.json()  # which of the two is not told
        other_grant = http.post(
            "/oauth/token",
            data={"grant_type": "password"},
            auth=(known.client_id, known.client_secret),
        )
        assert other_grant.status_code == 400
        assert other_grant.json()["error"] == "unsupported_grant_type"
        as_json = http.post("/oauth/token", json=grant, auth=(known.client_id, known.client_secret))
        assert as_json.status_code == 422 and as_json.json()["message"].startswith("content-type")


def test_revoking_or_rotating_a_client_ends_its_tokens(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    first = client_of(home, SUPPLIER_1)
    before = token(server, first)
    rotated = json.loads(
        home.invoke("partners", "api-client", "rotate", first.client_id, "--json").stdout
    )
    renewed = Credentials(rotated["client_id"], rotated["client_secret"])
    with server.client() as http:
        assert http.get("/v1/flows/1", headers=bearer(before)).status_code == 401
        grant = {"grant_type": "client_credentials"}
        old = http.post("/oauth/token", data=grant, auth=(first.client_id, first.client_secret))
        assert old.status_code == 401
        after = token(server, renewed)
        assert http.get("/v1/flows/1", headers=bearer(after)).status_code == 404  # known
        home.invoke("partners", "api-client", "revoke", first.client_id)
        assert http.get("/v1/flows/1", headers=bearer(after)).status_code == 401
        again = http.post(
            "/oauth/token", data=grant, auth=(renewed.client_id, renewed.client_secret)
        )
        assert again.status_code == 401


def test_a_token_expires(
    home: Home, serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_API_TOKEN_SECONDS", "1")
    server = serve()
    value = token(server, client_of(home, SUPPLIER_1))
    with server.client() as http:
        assert http.get("/v1/flows/1", headers=bearer(value)).status_code == 404
        time.sleep(2.1)
        assert http.get("/v1/flows/1", headers=bearer(value)).status_code == 401


def test_bad_deposits_are_refused_naming_what_is_wrong_and_nothing_is_recorded(
    home: Home, serve: Callable[..., Server], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("EDI_ENGINE_LIMITS_MAX_FILE_BYTES", "20000")
    server = serve()
    value = token(server, client_of(home, SUPPLIER_1))
    small = sample(UBL)
    assert len(small) < 20000
    with server.client() as http:
        cases = {
            "content-type": http.post(
                "/v1/flows",
                headers={**bearer(value), "Content-Type": "application/xml"},
                content=small,
            ),
            "unknown": http.post(
                "/v1/flows",
                headers=bearer(value),
                files={"file": ("a.xml", small)},
                data={"unknown": "x"},
            ),
            "file": http.post("/v1/flows", headers=bearer(value), data={"note": "no file"}),
            "slash": http.post(
                "/v1/flows", headers=bearer(value), files={"file": ("../etc/passwd", small)}
            ),
            "multipart": http.post(
                "/v1/flows",
                headers={**bearer(value), "Content-Type": "multipart/form-data; boundary=xyz"},
                content=b"--xyz\r\nnot a header line at all\r\n\r\n" + small,
            ),
        }
    for field, answer in cases.items():
        assert answer.status_code == 422, (field, answer.text)
        assert answer.json()["error"] == "invalid_request"
    assert cases["content-type"].json()["message"].startswith("content-type:")
    assert cases["unknown"].json()["message"].startswith("unknown:")
    assert cases["slash"].json()["message"].startswith("file:")
    assert cases["multipart"].json()["message"].startswith("multipart:")
    too_large = deposit(server, value, "big.xml", b"<a>" + b" " * 30000 + b"</a>")
    assert too_large.status_code == 413 and too_large.json()["error"] == "file_too_large"
    assert json.loads(home.invoke("flows", "list", "--json").stdout) == []
    assert not list(uploads_dir(load(home.path)).iterdir())


def test_every_call_is_logged_with_client_route_status_and_no_secret(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    credentials = client_of(home, SUPPLIER_1)
    value = token(server, credentials)
    deposit(server, value, "logged.xml", sample(UBL))
    with server.client() as http:
        http.get("/v1/flows/FL0999999999", headers=bearer(value))
    time.sleep(0.2)
    lines = [json.loads(line) for line in server.logged().splitlines() if '"api client=' in line]
    said = "\n".join(line["message"] for line in lines)
    assert f"api client={credentials.client_id} POST /oauth/token 200" in said
    assert f"api client={credentials.client_id} POST /v1/flows 202" in said
    assert f"api client={credentials.client_id} GET /v1/flows/{{number}} 404" in said
    everything = server.logged()
    assert credentials.client_secret not in everything and value not in everything


def test_a_server_starting_removes_what_a_stopped_one_left_of_a_deposit_only(
    home: Home, serve: Callable[..., Server]
) -> None:
    folder = uploads_dir(load(home.path))
    stale, arriving = folder / "tmpstale", folder / "tmparriving"
    for each in (stale, arriving):
        each.mkdir(parents=True)
        (each / "facture.xml").write_bytes(b"<half")
    hour_ago = time.time() - 3700
    for path in (stale / "facture.xml", stale):
        os.utime(path, (hour_ago, hour_ago))
    serve()
    assert not stale.exists() and (arriving / "facture.xml").is_file()


def test_a_cr_replaced_in_the_partners_outbox_is_never_served(
    home: Home, serve: Callable[..., Server]
) -> None:
    """The partner owns its outbox: a link left under its CR's name (to another partner's
    pivot) or other bytes are not the CR the engine wrote, and are not served."""
    server = serve()
    value = token(server, client_of(home, SUPPLIER_1))
    number = deposit(server, value, "mine.xml", sample(UBL)).json()["number"]
    home.run()
    cr = home.path / "outbox" / SUPPLIER_1 / f"CR_{SUPPLIER_1}_{number}.xml"
    (pivot,) = home.outbox(RECIPIENT)
    with server.client() as http:
        assert http.get(f"/v1/flows/{number}/report", headers=bearer(value)).status_code == 200
        cr.unlink()
        cr.symlink_to(home.path / "outbox" / RECIPIENT / pivot)
        linked = http.get(f"/v1/flows/{number}/report", headers=bearer(value))
        cr.unlink()
        cr.write_bytes(b"<CR>not the engine's</CR>")
        rewritten = http.get(f"/v1/flows/{number}/report", headers=bearer(value))
    for answer in (linked, rewritten):
        assert answer.status_code == 410 and answer.json()["error"] == "report_gone"


def test_deposits_arriving_together_are_each_recorded_once_and_answered_their_own(
    home: Home, serve: Callable[..., Server]
) -> None:
    """Deposits made at once are recorded in groups (one commit for those waiting): each
    gets its own flow, and the duplicate-flow rule holds inside a group as across them."""
    server = serve()
    value = token(server, client_of(home, SUPPLIER_1))
    content = sample(UBL)
    names = [f"together-{n:02}.xml" for n in range(24)]
    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(lambda name: deposit(server, value, name, content), names))
    assert [a.status_code for a in answers] == [202] * len(names)
    numbers = [a.json()["number"] for a in answers]
    assert len(set(numbers)) == len(names)
    flows = {f["number"]: f for f in json.loads(home.invoke("flows", "list", "--json").stdout)}
    assert sorted(flows) == sorted(numbers)
    assert {flows[n]["file_name"] for n in numbers} == set(names)  # each its own name
    shown = [home.show(n) for n in sorted(numbers)]
    first = shown[0]["number"]
    assert first == min(numbers) and shown[0]["duplicate_of"] is None
    assert all(s["duplicate_of"] == first for s in shown[1:])  # the same bytes: one flow stands
