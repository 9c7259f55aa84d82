"""A client's daily API quota holds across two servers on one PostgreSQL ledger (issue 18,
item 4; docs/api.md#quotas): two `api serve` processes, as two hosts would run, each
counting in memory, and the client's calls spread over both. Against the server on
127.0.0.1:5432 (database `test`, user postgres, trust); skipped, saying why, without it."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from edi_engine.api.quotas import DAILY
from tests.crash.sshd import free_port

from .conftest import PG_ADMIN, REPO, SUPPLIER

psycopg = pytest.importorskip("psycopg", reason="psycopg is not installed")

Hub = Callable[..., subprocess.CompletedProcess]


@pytest.fixture
def servers(hub: Hub, tmp_path: Path) -> Iterator[Callable[[], tuple[str, Path]]]:
    """Start `api serve` processes over the hub's home and ledger; each stopped at the end."""
    started: list[subprocess.Popen] = []

    def start() -> tuple[str, Path]:
        port = free_port()
        log = tmp_path / f"api-{port}.log"
        with log.open("wb") as written:
            process = subprocess.Popen(
                [sys.executable, "-m", "cli", "api", "serve", "--port", str(port)],
                cwd=REPO, env=hub.env, stdout=subprocess.DEVNULL, stderr=written,
            )  # fmt: skip
        started.append(process)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                if httpx.get(f"{url}/v1/health", timeout=1).status_code == 200:
                    return url, log
            except httpx.TransportError:
                time.sleep(0.1)
        raise AssertionError(f"the API did not start: {log.read_text()}")

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=30)


def _served(log: Path, client_id: str) -> Counter:
    lines = [json.loads(line) for line in log.read_text().splitlines() if '"api client=' in line]
    mine = [line["message"] for line in lines if f"api client={client_id} GET" in line["message"]]
    return Counter(message.split()[4] for message in mine)


def test_the_daily_quota_holds_across_two_servers_on_one_ledger(
    hub: Hub, servers: Callable[[], tuple[str, Path]], pg_database: str
) -> None:
    hub("partners", "update", SUPPLIER, "--api-rate", "1000/second", "--api-daily", "12")
    made = json.loads(hub("partners", "api-client", "add", SUPPLIER, "--json").stdout)
    (first, first_log), (second, second_log) = servers(), servers()
    answer = httpx.post(
        f"{first}/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(made["client_id"], made["client_secret"]),
    )
    bearer = {"Authorization": f"Bearer {answer.json()['access_token']}"}  # good on both

    def call(index: int) -> object:
        url = (first, second)[index % 2]  # the client's calls spread over both servers
        with httpx.Client(base_url=url, timeout=30) as http:
            got = http.get("/v1/flows/FL0999999999", headers=bearer)
        return got.status_code if got.status_code != 429 else got.json()["error"]

    with ThreadPoolExecutor(8) as pool:
        answers = Counter(pool.map(call, range(30)))

    assert answers == {404: 12, DAILY: 18}  # the day's 12, not one more, over both
    time.sleep(0.3)  # a log line is written after its answer
    on_first, on_second = (
        _served(first_log, made["client_id"]),
        _served(second_log, made["client_id"]),
    )
    assert on_first["404"] and on_second["404"], (on_first, on_second)  # both served some
    assert on_first["404"] + on_second["404"] == 12
    with psycopg.connect(PG_ADMIN.replace("dbname=test", f"dbname={pg_database}")) as ledger:
        counted = ledger.execute(
            """select count from api_usage where client_id = %s and "window" like 'd:%%'""",
            (made["client_id"],),
        ).fetchall()
    assert counted == [(12,)]  # the refused calls are not counted
