"""The certificate a client presented over TLS, for the calls of its connection: an API
client tied to its partner's registered certificate gets a token only when it presents
that very certificate. uvicorn gives the application no peer certificate, so the server's
HTTP protocol notes each connection's, by the client's address, in this process."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any

_presented: dict[tuple[str, int], str] = {}  # (host, port) -> SHA-256 fingerprint


def fingerprint(scope: Mapping[str, Any]) -> str | None:
    """As `partners cert list` shows an X.509 certificate's: SHA-256, hex, colons."""
    client = scope.get("client")
    return _presented.get((client[0], client[1])) if client else None


class NotingCertificates:
    """Mixed into uvicorn's HTTP protocol (edi_engine/api/server.py): notes each TLS
    connection's client certificate while the connection lasts."""

    _peer: tuple[str, int] | None = None

    def connection_made(self, transport: Any) -> None:
        super().connection_made(transport)  # type: ignore[misc]
        tls = transport.get_extra_info("ssl_object")
        peer = transport.get_extra_info("peername")
        der = tls.getpeercert(binary_form=True) if tls is not None else None
        if der and peer:
            self._peer = (peer[0], peer[1])
            _presented[self._peer] = hashlib.sha256(der).digest().hex(":").upper()

    def connection_lost(self, exc: Exception | None) -> None:
        if self._peer is not None:
            _presented.pop(self._peer, None)
        super().connection_lost(exc)  # type: ignore[misc]
