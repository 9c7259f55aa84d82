"""`api serve --workers N`: N server processes on one address, each listening on a socket
of its own (SO_REUSEPORT), so that the kernel spreads connections over them evenly.

uvicorn's own workers share one listening socket: when many connections open at once, the
worker that wakes first accepts nearly all of them, and as partners' software keeps its
connections open, one worker then serves the load while the other idles (measured: 37
connections against 5, and half the lookups a second). A worker that dies after it has
served is started again; one that cannot start stops the server. SIGINT or SIGTERM stops
every worker, each finishing the calls it has begun."""

from __future__ import annotations

import logging
import multiprocessing
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
NOT_STARTED = 3  # a worker's exit status when it could not start serving
STOP_SIGNALS = (signal.SIGINT, signal.SIGTERM)


def bound_socket(host: str, port: int) -> socket.socket:
    """A TCP socket bound to the address, sharing its port with the others bound so."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
    except OSError:
        sock.close()
        raise
    return sock


def run(options: dict[str, Any], workers: int) -> int:
    """Serve `uvicorn.Config(**options)` with `workers` processes until SIGINT or SIGTERM;
    the exit status (0, or NOT_STARTED when a worker could not start)."""
    host, port = options["host"], options["port"]
    try:
        # bound and never listening: the port is taken for the workers (an error is told
        # here, once), and no connection waits on this socket
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
    status = 0
    try:
        running += [start() for _ in range(workers)]
        while not stopping.wait(WATCH_SECONDS):
            for index, (process, ready) in enumerate(running):
                if process.is_alive():
                    continue
                if not ready.is_set():
                    log.error("api: a worker could not start (exit status %s)", process.exitcode)
                    status = NOT_STARTED
                    stopping.set()
                    break
                log.warning(
                    "api: worker %s stopped (exit status %s); starting another",
                    process.pid,
                    process.exitcode,
                )
                time.sleep(RESTART_PAUSE)
                running[index] = start()
    finally:
        _stop([process for process, _ in running])
        reserved.close()
        for sig, handler in before.items():
            signal.signal(sig, handler)
    return status


def _serve(options: dict[str, Any], ready: Event) -> None:
    """One worker: its own listening socket on the address, uvicorn serving on it."""
    sock = bound_socket(options["host"], options["port"])
    server = uvicorn.Server(uvicorn.Config(**options))

    def note_started() -> None:
        while not server.started and not server.should_exit:
            time.sleep(0.05)
        if server.started:
            ready.set()

    threading.Thread(target=note_started, daemon=True).start()
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
