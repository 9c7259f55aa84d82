"""`api serve --workers N`: N processes, each listening on a socket of its own, so that
connections are spread over all of them; a worker that dies is replaced; SIGTERM stops
them all; a worker that cannot start stops the server with exit status 3."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization

from edi_engine.api import workers

from .api_server import COMMAND, REPO, Server, free_port, listening
from .conftest import Home
from .test_api_tls import Authority

pytestmark = pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="Linux /proc only")


@pytest.fixture
def authority(tmp_path: Path) -> Authority:
    folder = tmp_path / "pki"
    folder.mkdir()
    return Authority(folder)


def pids_serving(server: Server, calls: int = 24) -> set[int]:
    """The workers that answered `calls` calls, each on a connection of its own."""
    before = len(server.logged())
    for _ in range(calls):
        with server.client() as http:
            assert http.get("/v1/health").status_code == 200
    time.sleep(0.2)  # the log lines written
    logged = server.logged()[before:].splitlines()
    lines = [json.loads(line) for line in logged if line.startswith("{")]
    return {line["pid"] for line in lines if "/v1/health 200" in line["message"]}


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "not in time"
        time.sleep(0.1)


def test_each_worker_listens_and_takes_its_share_of_the_connections(
    serve: Callable[..., Server],
) -> None:
    server = serve("--workers", "2")
    port = int(server.url.rsplit(":", 1)[1])
    assert listening(port) == 2  # one socket each, not one shared
    assert len(pids_serving(server)) == 2


def test_a_worker_that_dies_is_replaced_and_sigterm_stops_them_all(
    serve: Callable[..., Server],
) -> None:
    server = serve("--workers", "2")
    port = int(server.url.rsplit(":", 1)[1])
    first = pids_serving(server)
    killed = min(first)
    os.kill(killed, signal.SIGKILL)
    wait_for(lambda: "starting another" in server.logged())
    wait_for(lambda: listening(port) == 2)
    assert server.process.poll() is None
    now = pids_serving(server, 48)
    assert killed not in now and len(now | first) == 3, (first, now)
    assert f"worker {killed} stopped" in server.logged()

    server.process.send_signal(signal.SIGTERM)
    assert server.process.wait(timeout=30) == 0
    assert listening(port) == 0
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in now), 10)


def test_a_port_taken_is_told_once_with_exit_status_3(home: Home) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = home.invoke("api", "serve", "--port", str(port), "--workers", "2", code=3)
    assert f"cannot listen on 127.0.0.1 port {port}" in done.stderr
    assert done.stderr.count("cannot listen") == 1


def test_workers_that_cannot_start_stop_the_server(tmp_path: Path) -> None:
    options = {"app": "edi_engine.nowhere:application", "factory": True, "log_config": None,
               "host": "127.0.0.1", "port": free_port()}  # fmt: skip
    handlers = {sig: signal.getsignal(sig) for sig in workers.STOP_SIGNALS}
    started = time.monotonic()
    assert workers.run(options, 2) == workers.NOT_STARTED
    assert time.monotonic() - started < 30  # stopped, not started again and again
    assert listening(options["port"]) == 0
    assert {sig: signal.getsignal(sig) for sig in workers.STOP_SIGNALS} == handlers


def test_a_key_not_the_certificates_is_refused_before_serving(
    home: Home, authority: Authority
) -> None:
    host, other = authority.issue("api-host", server=True), authority.issue("other")
    locked = host.key.with_name("locked.key")  # the host's own key, encrypted
    key = serialization.load_pem_private_key(host.key.read_bytes(), None)
    locked.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                         serialization.PrivateFormat.PKCS8,
                                         serialization.BestAvailableEncryption(b"secret")))  # fmt: skip
    for count, wrong in (("1", other.key), ("2", other.key), ("2", locked)):
        done = home.invoke("api", "serve", "--port", str(free_port()), "--workers", count,
                           "--tls-cert", host.certificate, "--tls-key", wrong, code=2)  # fmt: skip
        assert "--tls-cert and --tls-key: cannot serve TLS with them" in done.stderr


def test_a_second_server_on_the_port_of_one_serving_is_refused(
    serve: Callable[..., Server], home: Home
) -> None:
    """Its workers would have shared the port with the first's (another home, maybe), and
    partners' calls been split between the two."""
    server = serve("--workers", "2")
    port = server.url.rsplit(":", 1)[1]
    second = subprocess.run(
        [*COMMAND, "--home", str(home.path), "api", "serve", "--port", port, "--workers", "2"],
        cwd=REPO, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert second.returncode == 3, second.stderr
    assert f"cannot listen on 127.0.0.1 port {port}" in second.stderr
    assert listening(int(port)) == 2  # the first's, serving on
    assert len(pids_serving(server)) == 2


def test_workers_stop_when_their_server_is_killed(serve: Callable[..., Server]) -> None:
    server = serve("--workers", "2")
    port = int(server.url.rsplit(":", 1)[1])
    workers = pids_serving(server)
    server.process.kill()  # SIGKILL: it cannot stop them itself
    server.process.wait(timeout=10)
    wait_for(lambda: listening(port) == 0)
    wait_for(lambda: not any(Path(f"/proc/{pid}").exists() for pid in workers))
