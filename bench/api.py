"""The API channel's throughput: invoice lookups and one-invoice deposits a second, with
their p50 and p99 latencies, against a real `edi-engine api serve` on this machine, loaded
by wrk (a C load generator, so that the client costs little of the cores it shares).

    python -m bench.api [--workers 2] [--seconds 10] [--connections 32] [--invoices 2000]
                        [--database sqlite|postgresql]

A home is made in a temporary folder (SQLite, fsync on as in production; or a PostgreSQL
database made for the run on 127.0.0.1:5432 and dropped afterwards), `--invoices`
one-invoice UBL flows run through the engine to give invoices to look up, then:
- lookups: `GET /v1/invoices/{id}` of random invoices;
- deposits: `POST /v1/flows` of one-invoice UBL files, each with its own invoice number;
  a deposit counts when answered 202, and the ledger is then asked how many were recorded
  (accepted and durable: the answer comes after the commit).
Targets (issue 18): 1,200 lookups/s and 300 deposits/s.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import httpx
from sqlalchemy import func, select

from bench import engine as engine_bench
from bench.generate import Options, generate
from edi_engine.ledger import db
from edi_engine.ledger.models import Flow, Invoice
from edi_engine.partners import api_clients, registry

REPO = Path(__file__).resolve().parents[1]
LOOKUPS_TARGET, DEPOSITS_TARGET = 1200, 300
BOUNDARY = "benchboundary7d3a"
LOOKUP_SCRIPT = """
local ids = {}
for line in io.lines(os.getenv("BENCH_IDS")) do ids[#ids + 1] = line end
local token = os.getenv("BENCH_TOKEN")
local route = os.getenv("BENCH_ROUTE")
math.randomseed(os.time())
request = function()
  local path = string.gsub(route, "{id}", ids[math.random(#ids)])
  return wrk.format("GET", path, {["Authorization"] = "Bearer " .. token})
end
"""
DEPOSIT_SCRIPT = """
local template = io.open(os.getenv("BENCH_TEMPLATE"), "rb"):read("*a")
local marker = os.getenv("BENCH_MARKER")
local token = os.getenv("BENCH_TOKEN")
local boundary = os.getenv("BENCH_BOUNDARY")
local counter, id = 0, 0
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("id", threads)
end
request = function()
  counter = counter + 1
  local number = "D" .. id .. "-" .. counter
  local content = string.gsub(template, marker, number)
  local body = "--" .. boundary .. "\\r\\n"
    .. 'Content-Disposition: form-data; name="file"; filename="dep-' .. number .. '.xml"\\r\\n'
    .. "Content-Type: application/xml\\r\\n\\r\\n" .. content .. "\\r\\n--" .. boundary .. "--\\r\\n"
  return wrk.format("POST", "/v1/flows", {
    ["Authorization"] = "Bearer " .. token,
    ["Content-Type"] = "multipart/form-data; boundary=" .. boundary,
  }, body)
end
"""


@dataclass
class Load:
    what: str
    route: str
    requests: int
    failed: int  # answers other than 2xx, and socket errors
    seconds: float
    per_second: float
    p50_ms: float
    p99_ms: float
    target: int


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--invoices", type=int, default=2000)
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    options = parser.parse_args()
    wrk = shutil.which("wrk")
    if wrk is None:
        sys.exit("bench.api needs wrk (Debian: apt-get install wrk).")
    with contextlib.ExitStack() as stack:
        root = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="bench-api-")))
        url = None
        if options.database == "postgresql":
            url = stack.enter_context(engine_bench.postgresql_database())
        settings, ids = _home(root, options.invoices, url)
        port = _free_port()
        server = _serve(settings.home, port, options.workers, root / "api.log")
        try:
            url = f"http://127.0.0.1:{port}"
            token = _token(settings, url)
            route = "/v1/invoices/{id}"
            (root / "ids").write_text("\n".join(str(i) for i in ids))
            loads = [
                _wrk(wrk, url, options, root, "lookups", route, LOOKUP_SCRIPT, LOOKUPS_TARGET,
                     {"BENCH_IDS": str(root / "ids"), "BENCH_TOKEN": token, "BENCH_ROUTE": route}),
            ]  # fmt: skip
            template, marker = _one_invoice(root)
            before = _deposited(settings)
            deposits = _wrk(wrk, url, options, root, "deposits", "/v1/flows", DEPOSIT_SCRIPT,
                            DEPOSITS_TARGET, {"BENCH_TEMPLATE": str(template), "BENCH_MARKER":
                            re.escape(marker).replace("\\", "%"), "BENCH_TOKEN": token,
                            "BENCH_BOUNDARY": BOUNDARY})  # fmt: skip
            recorded = _deposited(settings) - before
            loads.append(deposits)
        finally:
            server.terminate()
            server.wait(timeout=60)
    accepted = deposits.requests - deposits.failed
    if options.json:
        print(json.dumps({"workers": options.workers, "database": options.database, "loads": [asdict(x) for x in loads],
                          "deposits_recorded": recorded}, indent=2))  # fmt: skip
        return
    print(f"API on {options.workers} worker(s), {options.database}, {options.connections} connections, "
          f"{options.seconds} s each, {os.cpu_count()} cores")  # fmt: skip
    for load in loads:
        mark = "meets" if load.per_second >= load.target else "below"
        print(f"  {load.what:<9} {load.route:<22} {load.per_second:8.0f}/s  "
              f"p50 {load.p50_ms:6.1f} ms  p99 {load.p99_ms:6.1f} ms  "
              f"({load.requests} requests, {load.failed} failed; {mark} the {load.target}/s target)")  # fmt: skip
    print(f"  deposits answered 202: {accepted}; flows recorded in the ledger: {recorded}")


def _home(root: Path, invoices: int, url: str | None) -> tuple[object, list[int]]:
    """A home whose ledger (at `url`, else SQLite) holds `invoices` accepted one-invoice
    flows; their ids."""
    corpus = generate(root / "corpus", Options(invoices=invoices, mix={"ubl": 100},
                                               lines=(1, 5), attachments=0))  # fmt: skip
    settings = engine_bench.prepare(root / "home", corpus, url)
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    env["EDI_ENGINE_PICKUP_STABLE_SECONDS"] = "0"
    subprocess.run([*engine_bench.command(), "--home", str(settings.home), "run", "--once",
                    "--workers", "2"], check=True, env=env, cwd=REPO,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    with db.session_scope(settings.database_url, write=False) as session:
        ids = list(session.scalars(select(Invoice.id).order_by(Invoice.id)))
    return settings, ids


def _serve(home: Path, port: int, workers: int, log: Path) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    process = subprocess.Popen(
        [*engine_bench.command(), "--home", str(home), "--quiet", "api", "serve", "--port",
         str(port), "--workers", str(workers)],
        env=env, cwd=REPO, stdout=subprocess.DEVNULL, stderr=log.open("wb"),
    )  # fmt: skip
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            up = httpx.get(f"http://127.0.0.1:{port}/v1/ready", timeout=1).status_code == 200
            if up and listening(port) == workers:  # loaded before every worker listens,
                return process  # the first would take every connection of the load
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    process.terminate()
    sys.exit(f"the API did not start: {log.read_text()}")


def _token(settings: object, url: str) -> str:
    with db.session_scope(settings.database_url) as session:  # type: ignore[attr-defined]
        client, secret = api_clients.add(session, engine_bench.DEPOSITOR)
        # quotas above the load (one client's), so that none of its calls is refused: the
        # quotas are still counted, as on a real hub (docs/api.md#quotas)
        partner = registry.get(session, engine_bench.DEPOSITOR)
        partner.api_rate, partner.api_daily = 1_000_000, 1_000_000_000
        session.commit()
    answer = httpx.post(f"{url}/oauth/token", data={"grant_type": "client_credentials"},
                        auth=(client.client_id, secret))  # fmt: skip
    answer.raise_for_status()
    return answer.json()["access_token"]


def _one_invoice(root: Path) -> tuple[Path, str]:
    """A one-invoice UBL flow to deposit, and its invoice number (replaced in each)."""
    corpus = generate(root / "deposit", Options(invoices=1, mix={"ubl": 100}, lines=(1, 5),
                                                attachments=0, seed=7))  # fmt: skip
    content = corpus.flows[0].path.read_bytes()
    number = re.search(rb"<cbc:ID>([^<]+)</cbc:ID>", content).group(1).decode()  # type: ignore[union-attr]
    return corpus.flows[0].path, number


def _deposited(settings: object) -> int:
    with db.session_scope(settings.database_url, write=False) as session:  # type: ignore[attr-defined]
        return session.scalar(select(func.count()).where(Flow.file_name.like("dep-%"))) or 0


def _wrk(
    wrk: str, url: str, options: argparse.Namespace, root: Path, what: str, route: str,
    script: str, target: int, env: dict[str, str],
) -> Load:  # fmt: skip
    lua = root / f"{what}.lua"
    lua.write_text(script)
    done = subprocess.run(
        [wrk, "-t2", f"-c{options.connections}", f"-d{options.seconds}s", "--latency",
         "-s", str(lua), url],
        capture_output=True, text=True, env={**os.environ, **env}, check=True,
    )  # fmt: skip
    out = done.stdout
    requests = int(re.search(r"(\d+) requests in", out).group(1))  # type: ignore[union-attr]
    seconds = _duration(re.search(r"requests in ([\d.]+\w+),", out).group(1))  # type: ignore[union-attr]
    failed = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses: (\d+)", out))
    failed += sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out))
    return Load(what, route, requests, failed, seconds, (requests - failed) / seconds,
                _percentile(out, "50"), _percentile(out, "99"), target)  # fmt: skip


def _duration(text: str) -> float:
    value, unit = re.fullmatch(r"([\d.]+)(\w+)", text).groups()  # type: ignore[union-attr]
    return float(value) * {"ms": 0.001, "s": 1.0, "m": 60.0}[unit]


def _percentile(out: str, which: str) -> float:
    value, unit = re.search(rf"\s{which}%\s+([\d.]+)(us|ms|s)", out).groups()  # type: ignore[union-attr]
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def listening(port: int) -> int:
    """How many sockets listen on the port (Linux): one a worker."""
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            count += state == "0A" and int(local.rsplit(":", 1)[1], 16) == port
    return count


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


if __name__ == "__main__":
    main()
