"""A real `edi-engine api serve` for the API tests, and a partner's software calling it."""

from __future__ import annotations

import json
import os
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.api import listening

from .conftest import Home

REPO = Path(__file__).resolve().parents[2]
UBL = "ubl-invoice.xml"
COMMAND = (sys.executable, "-m", "cli")
# tests call faster than a partner's software may ([api] rate_per_second, 20): the servers
# they start allow more a second by default; tests/e2e/test_api_quotas.py sets partners' own
QUICK_CLIENTS = {"EDI_ENGINE_API_RATE_PER_SECOND": "1000"}


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log: Path
    trusted: Path | None = None  # the CA of its TLS certificate, when it serves HTTPS

    def client(self, certificate: tuple[Path, Path] | None = None) -> httpx.Client:
        """A partner's software calling it (over TLS with `certificate`, PEM and key)."""
        if self.trusted is None:
            return httpx.Client(base_url=self.url, timeout=30)
        tls = ssl.create_default_context(cafile=str(self.trusted))
        if certificate is not None:
            tls.load_cert_chain(*certificate)
        return httpx.Client(base_url=self.url, timeout=30, verify=tls)

    def logged(self) -> str:
        return self.log.read_text()


@dataclass
class Credentials:
    client_id: str
    client_secret: str


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serving(home: Home, tmp_path: Path) -> Iterator[Callable[..., Server]]:
    """Start servers over `home` (options of `api serve` given), each stopped at the end:
    the `serve` fixture (tests/e2e/conftest.py)."""
    started: list[tuple[subprocess.Popen, Any]] = []

    def start(*options: str, trusted: Path | None = None) -> Server:
        port = free_port()
        workers = int(options[options.index("--workers") + 1]) if "--workers" in options else 1
        log = tmp_path / f"api-{port}.log"
        written = log.open("wb")
        process = subprocess.Popen(
            [*COMMAND, "--home", str(home.path), "api", "serve", "--port", str(port), *options],
            cwd=REPO,
            env=os.environ | QUICK_CLIENTS,
            stdout=subprocess.DEVNULL,
            stderr=written,
        )
        started.append((process, written))
        url = f"{'https' if trusted else 'http'}://127.0.0.1:{port}"
        server = Server(url, process, log, trusted)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            assert process.poll() is None, log.read_text()
            try:
                with server.client() as probe:
                    up = probe.get("/v1/health", timeout=1).status_code == 200
                if up and listening(port) == workers:  # each worker takes its share
                    return server
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        raise AssertionError(f"the API did not start: {log.read_text()}")

    yield start
    for process, written in started:
        process.terminate()
        process.wait(timeout=30)
        written.close()


def client_of(home: Home, partner: str) -> Credentials:
    made = json.loads(home.invoke("partners", "api-client", "add", partner, "--json").stdout)
    return Credentials(made["client_id"], made["client_secret"])


def token(server: Server, credentials: Credentials) -> str:
    with server.client() as http:
        answer = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            auth=(credentials.client_id, credentials.client_secret),
        )
    assert answer.status_code == 200, answer.text
    return answer.json()["access_token"]


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}


def deposit(server: Server, value: str, name: str, content: bytes) -> httpx.Response:
    with server.client() as http:
        return http.post("/v1/flows", headers=bearer(value), files={"file": (name, content)})
