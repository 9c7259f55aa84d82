"""`edi-engine api`: the API channel's server."""

from __future__ import annotations

import logging
import ssl
from pathlib import Path

import click

from .. import settings
from ..errors import UsageError
from .shared import EngineGroup, pass_settings

FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


@click.group("api", cls=EngineGroup)
def group() -> None:
    """The API channel: partners' software deposits flows and follows them over HTTPS."""


@group.command("serve")
@click.option("--host", help="The address to listen on (else [api] host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(1, 65535), help="The port (else [api] port, 8080).")
@click.option(
    "--workers", type=click.IntRange(1, 64), help="Server processes (else [api] workers, 1)."
)
@click.option("--tls-cert", type=FILE, help="Serve HTTPS with this certificate (PEM).")
@click.option("--tls-key", type=FILE, help="The private key of --tls-cert (PEM).")
@click.option(
    "--client-ca",
    type=FILE,
    help="Ask clients for a certificate signed by these CAs (PEM): required of API clients "
    "tied to a registered certificate.",
)
@pass_settings
def api_serve(
    loaded: settings.Settings,
    host: str | None,
    port: int | None,
    workers: int | None,
    tls_cert: Path | None,
    tls_key: Path | None,
    client_ca: Path | None,
) -> None:
    """Serve the API over this home's ledger and folders until stopped (SIGINT or
    SIGTERM): OpenAPI at /openapi.json and /docs, /v1/health and /v1/ready unauthenticated.
    Behind a reverse proxy, serve plain HTTP on 127.0.0.1 and let the proxy hold TLS."""
    if (tls_cert is None) != (tls_key is None):
        raise UsageError("--tls-cert and --tls-key go together.")
    if client_ca is not None and tls_cert is None:
        raise UsageError("--client-ca asks for client certificates over TLS: give --tls-cert.")
    if tls_cert is not None and tls_key is not None:
        _check_tls(tls_cert, tls_key, client_ca)
    from ..api import server  # FastAPI and uvicorn: loaded by this command only

    api = loaded.api
    server.serve(
        loaded,
        host or api.host,
        port or api.port,
        workers or api.workers,
        tls_cert,
        tls_key,
        client_ca,
        click.get_current_context().find_root().meta.get("log_level", logging.WARNING),
    )


def _check_tls(cert: Path, key: Path, client_ca: Path | None) -> None:
    """Refused here, told once: each worker loading them would fail alone."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    try:
        # an empty password: a key encrypted is refused here, not asked for at a prompt
        context.load_cert_chain(cert, key, password=b"")
    except (ssl.SSLError, OSError) as exc:
        raise UsageError(
            f"--tls-cert and --tls-key: cannot serve TLS with them ({exc}): give the PEM "
            "certificate and its own private key, unencrypted."
        ) from None
    if client_ca is not None:
        try:
            context.load_verify_locations(client_ca)
        except (ssl.SSLError, OSError) as exc:
            raise UsageError(f"--client-ca: not PEM CA certificates ({exc}).") from None
