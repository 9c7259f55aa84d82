"""Statuses over the API, as partners' software uses them against a real `edi-engine api
serve`: a recipient (or its accountant) sets a status under the rules of a status flow,
with the same refusals and the same history; the supplier reads the changes of its
invoices, those its status flows tell it, page by page, none skipped nor repeated."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from lxml import etree

from pivot_format.statut import read_statut

from .api_server import UBL, Server, bearer, client_of, deposit, token
from .conftest import MONTCLAIR, RECIPIENT, SUPPLIER_1, SUPPLIER_2, VALBRUNE, Home, sample
from .test_statuses_in import status, statut_flow

ACCOUNTANT = "HELIOS"
FIRST, SECOND = "F01-2026-000101", "F01-2026-000102"  # the demo's UBL invoice, and a copy
NOT_FOUND = {"error": "not_found", "message": "No invoice of yours has this id."}


def invoice_id(home: Home, number: str) -> int:
    (found,) = json.loads(home.invoke("invoices", "search", "--number", number, "--json").stdout)
    return int(found["id"])


def shown(home: Home, number: str) -> dict[str, Any]:
    return json.loads(home.invoke("invoices", "show", invoice_id(home, number), "--json").stdout)


def delivered(home: Home, server: Server, *numbers: str) -> dict[str, int]:
    """FOUR01 deposits the demo's invoice under each number over the API; the engine
    runs and delivers them to DEST01 (MISE_A_DISPOSITION). Their ids by number."""
    supplier = token(server, client_of(home, SUPPLIER_1))
    for number in numbers:
        content = sample(UBL).replace(FIRST.encode(), number.encode())
        assert deposit(server, supplier, f"{number}.xml", content).status_code == 202
    home.run()
    ids = {number: invoice_id(home, number) for number in numbers}
    assert all(shown(home, n)["status"] == "MISE_A_DISPOSITION" for n in numbers)
    return ids


def post(http: httpx.Client, who: str, invoice: int | str, **body: Any) -> httpx.Response:
    return http.post(f"/v1/invoices/{invoice}/statuses", headers=bearer(who), json=body)


def without_times(event: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in event.items() if k not in ("at", "produced_at")}


def test_a_recipient_sets_a_status_as_its_status_flow_would_with_the_same_refusals(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    ids = delivered(home, server, FIRST, SECOND)
    recipient = token(server, client_of(home, RECIPIENT))
    # the same status by both doors: FIRST by a status flow, SECOND over the API
    home.drop(RECIPIENT, "statuts.xml", statut_flow(RECIPIENT, status("07", comment="fait")))
    (flow,) = home.run()
    assert flow["status"] == "IN_INTEGRE"
    with server.client() as http:
        applied = post(http, recipient, ids[SECOND], status="07", comment="fait")
        assert applied.status_code == 200, applied.text
        answer = applied.json()
        assert {k: v for k, v in answer.items() if k != "at"} == {
            "outcome": "applied",
            "invoice": ids[SECOND],
            "status": "SERVICE_FAIT",
            "status_code": "07",
            "warnings": [],
        }
        by_flow, by_api = shown(home, FIRST), shown(home, SECOND)
        assert by_api["status"] == "SERVICE_FAIT" and by_api["status_date"] == answer["at"]
        codes = [e["status_code"] for e in by_api["history"]]
        assert codes == [e["status_code"] for e in by_flow["history"]] == ["01", "02", "03", "07"]
        # the same event: actor partner:DEST01, the reason, the recipient then, told to the
        # supplier (only the times differ: a status flow's is its Horodatage)
        assert without_times(by_api["history"][-1]) == without_times(by_flow["history"][-1])
        assert by_api["history"][-1]["at"] == answer["at"]

        # what the lifecycle refuses, with the code a status flow's CR gives
        refusals = {
            "status_transition_refused": post(http, recipient, ids[SECOND], status="07"),
            "status_not_yours_to_set": post(http, recipient, ids[SECOND], status="03"),
            "status_reason_missing": post(http, recipient, ids[SECOND], status="06"),
            "status_mandate_too_long": post(
                http, recipient, ids[SECOND], status="08", mandate="M" * 51
            ),
        }
        for code, refused in refusals.items():
            assert refused.status_code == 409, (code, refused.text)
            assert refused.json()["error"] == code, refused.text
        assert "already SERVICE_FAIT" in refusals["status_transition_refused"].json()["message"]
        assert len(shown(home, SECOND)["history"]) == len(by_api["history"])  # nothing applied

        mandated = post(http, recipient, ids[SECOND], status="08", mandate="M-2026-0042")
        assert mandated.status_code == 200 and mandated.json()["status"] == "MANDATEE"
        after = shown(home, SECOND)
        assert after["mandate"] == after["history"][-1]["mandate"] == "M-2026-0042"

        # another partner's invoice is not found, exactly as one that does not exist
        other = token(server, client_of(home, SUPPLIER_2))
        theirs = post(http, other, ids[SECOND], status="05", comment="non")
        for missing in (
            post(http, other, 999999, status="05", comment="non"),
            post(http, recipient, 999999, status="05", comment="non"),
            post(http, recipient, "abc", status="05", comment="non"),
            post(http, recipient, ids[SECOND] * 10**12, status="05", comment="non"),
        ):
            assert theirs.status_code == missing.status_code == 404
            assert theirs.json() == missing.json() == NOT_FOUND
        # its supplier knows it, but a recipient's status is not the supplier's to set
        supplier = token(server, client_of(home, SUPPLIER_1))
        theirs = post(http, supplier, ids[SECOND], status="10")
        assert theirs.status_code == 409 and theirs.json()["error"] == "status_not_yours_to_set"

        # what is not a status is refused naming the field
        url = f"/v1/invoices/{ids[SECOND]}/statuses"
        bad = {
            "reason": post(http, recipient, ids[SECOND], status="10", reason="x"),
            "status": post(http, recipient, ids[SECOND], status="7"),
            "status ": post(http, recipient, ids[SECOND], status="13"),
            "comment": post(http, recipient, ids[SECOND], status="10", comment=12),
            "body": http.post(
                url,
                headers={**bearer(recipient), "Content-Type": "application/json"},
                content=b"{not json",
            ),
            "content-type": http.post(url, headers=bearer(recipient), data={"status": "10"}),
        }
        for field, refused in bad.items():
            assert refused.status_code == 422, (field, refused.text)
            assert refused.json()["error"] == "invalid_request"
            assert refused.json()["message"].startswith(f"{field.strip()}:"), refused.text
        assert "not used by the hub" in bad["status "].json()["message"]
        huge = post(http, recipient, ids[SECOND], status="10", comment="x" * 70000)
        assert huge.status_code == 413 and huge.json()["error"] == "body_too_large"
        assert shown(home, SECOND)["status"] == "MANDATEE"
        assert http.post(url, json={"status": "10"}).status_code == 401  # no token
        assert "/v1/invoices/{invoice_id}/statuses" in http.get("/openapi.json").json()["paths"]


def test_the_accountant_and_the_supplier_set_theirs_and_the_supplier_completes(
    home: Home, serve: Callable[..., Server], tmp_path: Path
) -> None:
    home.invoke("partners", "add", ACCOUNTANT, "--name", "DGFiP Hélios")
    structures = tmp_path / "structures.csv"
    structures.write_text(
        "siret,designation,active,partner,accountant\n"
        f"{VALBRUNE},Commune de Valbrune,true,{RECIPIENT},{ACCOUNTANT}\n"
        f"{MONTCLAIR},Centre hospitalier de Montclair,true,{RECIPIENT},\n"
    )
    home.invoke("structures", "import", structures)
    server = serve()
    ids = delivered(home, server, FIRST)
    recipient = token(server, client_of(home, RECIPIENT))
    accountant = token(server, client_of(home, ACCOUNTANT))
    supplier = token(server, client_of(home, SUPPLIER_1))
    pivots = len(home.outbox(RECIPIENT))
    with server.client() as http:
        suspended = post(http, recipient, ids[FIRST], status="06", comment="pièce manquante")
        assert suspended.status_code == 200, suspended.text
        completed = post(http, supplier, ids[FIRST], status="12")
        assert completed.status_code == 200 and completed.json()["status"] == "COMPLETEE"
        after = shown(home, FIRST)  # its recipient gets it again at once, as after a flow's 12
        assert after["status"] == "MISE_A_DISPOSITION"
        assert [e["status_code"] for e in after["history"]][-4:] == ["06", "12", "02", "03"]
        assert len(home.outbox(RECIPIENT)) == pivots + 1
        # Hélios sends 09 (a mandate's number is kept, not required, as in a status flow)
        # and 11; 10 is the recipient's
        refused = post(http, accountant, ids[FIRST], status="10")
        assert refused.status_code == 409 and refused.json()["error"] == "status_not_yours_to_set"
        assert post(http, accountant, ids[FIRST], status="09").status_code == 200
        assert post(http, recipient, ids[FIRST], status="10").status_code == 200
        paid = post(http, accountant, ids[FIRST], status="11")
        assert paid.status_code == 200, paid.text
        assert shown(home, FIRST)["history"][-1]["actor"] == f"partner:{ACCOUNTANT}"
        ended = post(http, recipient, ids[FIRST], status="05", comment="trop tard")
        assert ended.status_code == 409 and ended.json()["error"] == "status_transition_refused"
        home.invoke("partners", "update", RECIPIENT, "--inactive")
        inactive = post(http, recipient, ids[FIRST], status="05", comment="x")
        assert inactive.status_code == 409 and inactive.json()["error"] == "partner_inactive"


def statut_files(home: Home, partner: str) -> list[tuple[str, str]]:
    """(invoice number, IdStatut) of every status the partner's status flows told it."""
    told = []
    files = (home.path / "outbox" / partner).glob(f"STATUT_{partner}_*.xml")
    for path in sorted(files, key=lambda p: int(p.stem.rsplit("_", 1)[1])):
        _, statuses = read_statut(etree.parse(str(path)).getroot())
        told += [(s.invoice_number, s.code) for s in statuses]
    return told


def test_the_supplier_reads_its_changes_in_order_and_pages_never_skip_nor_repeat(
    home: Home, serve: Callable[..., Server]
) -> None:
    server = serve()
    ids = delivered(home, server, FIRST, SECOND)
    recipient = token(server, client_of(home, RECIPIENT))
    supplier = token(server, client_of(home, SUPPLIER_1))
    with server.client() as http:
        assert post(http, recipient, ids[FIRST], status="07").status_code == 200

        def page(since: str | None = None, limit: int | None = None) -> dict[str, Any]:
            params = {k: v for k, v in (("since", since), ("limit", limit)) if v is not None}
            answer = http.get("/v1/statuses", headers=bearer(supplier), params=params)
            assert answer.status_code == 200, answer.text
            return answer.json()

        everything = page()
        changes = everything["changes"]
        for number, codes in ((FIRST, ["01", "02", "03", "07"]), (SECOND, ["01", "02", "03"])):
            assert [c["status_code"] for c in changes if c["number"] == number] == codes
            assert {c["invoice"] for c in changes if c["number"] == number} == {ids[number]}
        last = changes[-1]
        assert (last["invoice"], last["status"], last["comment"]) == (
            ids[FIRST],
            "SERVICE_FAIT",
            None,
        )
        assert last["recipient"] == VALBRUNE and everything["more"] is False
        assert page(everything["next"]) == {
            "changes": [],
            "next": everything["next"],
            "more": False,
        }

        # one change a page, while the recipient goes on between pages: each seen once
        between = [  # made between pages: FIRST's 08, then SECOND suspended and rejected
            (ids[FIRST], {"status": "08", "mandate": "M-1"}),
            (ids[SECOND], {"status": "06", "comment": "pièce"}),
            (ids[SECOND], {"status": "05", "comment": "non"}),
        ]
        walked: list[dict[str, Any]] = []
        since: str | None = None
        while True:
            answer = page(since, limit=1)
            walked += answer["changes"]
            since = answer["next"]
            if between:
                target, body = between.pop(0)
                assert post(http, recipient, target, **body).status_code == 200
            elif not answer["changes"]:
                break
        final = page()
        assert walked == final["changes"] and final["next"] == since
        assert [c["status_code"] for c in walked][-3:] == ["08", "06", "05"]
        assert walked[-2]["comment"] == "pièce" and walked[-3]["mandate"] == "M-1"

        # exactly what its status flows tell it
        home.invoke("statuses", "emit", "--partner", SUPPLIER_1)
        assert statut_files(home, SUPPLIER_1) == [(c["number"], c["status_code"]) for c in walked]

        # nothing of another's invoices; bad cursors and limits named
        other = token(server, client_of(home, SUPPLIER_2))
        assert http.get("/v1/statuses", headers=bearer(other)).json() == {
            "changes": [], "next": "0", "more": False
        }  # fmt: skip
        for params, field in (
            ({"since": "abc"}, "since"),
            ({"since": "-1"}, "since"),
            ({"since": "9" * 30}, "since"),
            ({"limit": "0"}, "limit"),
            ({"limit": "1001"}, "limit"),
            ({"cursor": "1"}, "cursor"),
            ([("since", "1"), ("since", "2")], "since"),
        ):
            refused = http.get("/v1/statuses", headers=bearer(supplier), params=params)
            assert refused.status_code == 422, (params, refused.text)
            assert refused.json()["message"].startswith(f"{field}:"), refused.text
