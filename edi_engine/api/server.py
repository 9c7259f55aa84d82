"""`edi-engine api serve`: the API application on uvicorn, over the home's ledger and
folders. Several workers are processes of their own (api/workers.py), each loading the
home named by EDI_ENGINE_HOME, which `serve` sets for them."""

from __future__ import annotations

import logging
import os
import ssl
import sys
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from .. import logs, settings
from . import app, peers
from . import workers as api_workers

HOME_VARIABLE = "EDI_ENGINE_HOME"
LEVEL_VARIABLE = "_EDI_ENGINE_API_LOG_LEVEL"  # the command's --verbose/--quiet, for workers


class Protocol(peers.NotingCertificates, HttpToolsProtocol):  # type: ignore[misc]
    """uvicorn's HTTP protocol, noting the client certificate of each TLS connection."""


def application() -> FastAPI:
    """What each worker serves (uvicorn's factory): the home EDI_ENGINE_HOME names."""
    loaded = settings.load(settings.resolve_home(None))
    level = int(os.environ.get(LEVEL_VARIABLE, logging.WARNING))
    if not logging.getLogger().handlers:  # a worker process of its own
        logs.configure(level)
    # each call is logged (with its client, route, status and duration) unless --quiet
    logging.getLogger(app.log.name).setLevel(logging.INFO if level < logging.ERROR else level)
    return app.create_app(loaded)


def serve(
    loaded: settings.Settings,
    host: str,
    port: int,
    workers: int,
    tls_cert: Path | None = None,
    tls_key: Path | None = None,
    client_ca: Path | None = None,
    log_level: int = logging.WARNING,
) -> None:
    os.environ[HOME_VARIABLE] = str(loaded.home)
    os.environ[LEVEL_VARIABLE] = str(log_level)
    options: dict[str, Any] = {
        "app": f"{__name__}:application",
        "factory": True,
        "host": host,
        "port": port,
        "http": Protocol,
        "ssl_certfile": tls_cert,
        "ssl_keyfile": tls_key,
        "ssl_ca_certs": client_ca,
        # a client certificate is asked for, not required: a client tied to none has none
        "ssl_cert_reqs": ssl.CERT_OPTIONAL if client_ca else ssl.CERT_NONE,
        "log_config": None,  # the engine's own logging (edi_engine/logs.py)
        "access_log": False,  # each call is logged by the application, with its client
        "server_header": False,
        # calls begun are finished within this at a stop, then cut (one worker or several)
        "timeout_graceful_shutdown": api_workers.GRACE_SECONDS,
    }
    if workers > 1:  # processes of our own, each listening on a socket of its own
        status = api_workers.run(options, workers)
        if status:
            sys.exit(status)
        return
    uvicorn.run(**options)
