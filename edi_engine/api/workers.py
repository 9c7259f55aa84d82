"""`api serve --workers N`: N server processes on one address, each listening on a socket
of its own (SO_REUSEPORT), so that the kernel spreads connections over them evenly.

uvicorn's own workers share one listening socket: when many connections open at once, the
worker that wakes first accepts nearly all of them, and as partners' software keeps its
connections open, one worker then serves the load while the other idles (measured: 37
connections against 5, and half the lookups a second). A worker that dies after it has
served is started again; one that cannot start at first stops the server, a replacement
that cannot is tried again, less and less often. SIGINT or SIGTERM stops every worker,
each finishing the calls it has begun; a second signal stops them at once. A worker whose
parent is killed stops too."""

from __future__ import annotations

import logging
import multiprocessing
import multiprocessing.connection
import signal
import socket
import sys
import threading
import time
from multiprocessing.process import BaseProcess
from multiprocessing.synchronize import Event
from typing import Any

import uvicorn

log = logging.getLogger(__name__)
STOP_SECONDS = 30.0  # a worker still finishing its calls past this is killed
WATCH_SECONDS = 0.5  # how often the workers are looked at
RESTART_PAUSE = 1.0  # before a dead worker's replacement, so that a crash cannot spin
MAX_RESTART_PAUSE = 60.0
GRACE_SECONDS = STOP_SECONDS - 5  # uvicorn's own wait for the calls begun, within STOP
NOT_STARTED = 3  # a worker's exit status when it could not start serving
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def bound_socket(host: str, port: int, shared: bool = True) -> socket.socket:
    """A TCP socket bound to the address; `shared`: sharing its port with the others bound
    so (each worker's), else alone on it."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run(options: dict[str, Any], workers: int) -> int:
    """Serve `uvicorn.Config(**options)` with `workers` processes until SIGINT or SIGTERM;
    the exit status (0, or NOT_STARTED when the port is taken or a worker could not
    start)."""
    host, port = options["host"], options["port"]
    try:
        # alone first: a port another server listens on is refused, even one whose own
        # workers share it (another `api serve`, maybe over another home)
        bound_socket(host, port, shared=False).close()
        # then bound and never listening: the port is kept for the workers, and no
        # connection waits on this socket
        reserved = bound_socket(host, port)
    except OSError as exc:
        log.error("api: cannot listen on %s port %d: %s", host, port, exc.strerror or exc)
        return NOT_STARTED
    spawn = multiprocessing.get_context("spawn")
    stopping = threading.Event()
    before = {sig: signal.signal(sig, lambda *_: stopping.set()) for sig in STOP_SIGNALS}

    def start() -> tuple[BaseProcess, Event]:
        ready = spawn.Event()
        process = spawn.Process(target=_serve, args=(options, ready), daemon=False)
        process.start()
        return process, ready

    running: list[tuple[BaseProcess, Event]] = []
    pauses = [RESTART_PAUSE] * workers  # each worker's, doubled while its replacements fail
    status = 0
    try:
        running += [start() for _ in range(workers)]
        first = [True] * workers
        while not stopping.wait(WATCH_SECONDS):
            for index, (process, ready) in enumerate(running):
                if process.is_alive():
                    continue
                if not ready.is_set() and first[index]:
                    log.error("api: a worker could not start (exit status %s)", process.exitcode)
                    status = NOT_STARTED
                    stopping.set()
                    break
                if ready.is_set():
                    pauses[index] = RESTART_PAUSE
                    log.warning(
                        "api: worker %s stopped (exit status %s); starting another",
                        process.pid,
                        process.exitcode,
                    )
                else:  # a replacement that could not start (settings changed since?)
                    pauses[index] = min(pauses[index] * 2, MAX_RESTART_PAUSE)
                    log.error(
                        "api: a worker could not start again (exit status %s); trying in %d s",
                        process.exitcode,
                        pauses[index],
                    )
                first[index] = False
                if stopping.wait(pauses[index]):
                    break
                running[index] = start()
    finally:
        for sig, handler in before.items():  # a second signal stops at once
            signal.signal(sig, handler)
        _stop([process for process, _ in running])
        reserved.close()
    return status


def _serve(options: dict[str, Any], ready: Event) -> None:
    """One worker: its own listening socket on the address, uvicorn serving on it, until
    told to stop or its parent is gone (killed: a worker never serves on alone)."""
    sock = bound_socket(options["host"], options["port"])
    server = uvicorn.Server(uvicorn.Config(**options))

    def note_started() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            ready.set()

    def watch_parent() -> None:
        parent = multiprocessing.parent_process()
        if parent is not None:
            multiprocessing.connection.wait([parent.sentinel])
            server.should_exit = True

    threading.Thread(target=note_started, daemon=True).start()
    threading.Thread(target=watch_parent, daemon=True).start()
    server.run(sockets=[sock])
    if not server.started:
        sys.exit(NOT_STARTED)


def _stop(processes: list[BaseProcess]) -> None:
    for process in processes:
        if process.is_alive():
            process.terminate()  # SIGTERM: uvicorn finishes the calls begun, then exits
    deadline = time.monotonic() + STOP_SECONDS
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            log.warning("api: worker %s did not stop in time; killed", process.pid)
            process.kill()
            process.join()
