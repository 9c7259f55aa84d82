"""An output served over the API (a CR, a pivot) is read from the partner's outbox, which
the partner owns and may leave anything in: only a plain file of the size and SHA-256 the
ledger recorded is served; a link is never followed, a pipe never waited on."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path


def recorded(path: Path, size: int | None, sha256: str | None) -> bytes | None:
    """The output's bytes, or None when what is there is not what the engine wrote."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as handle:
        found = os.fstat(fd)
        if not stat.S_ISREG(found.st_mode) or (size is not None and found.st_size != size):
            return None
        content = handle.read()
    if sha256 and hashlib.sha256(content).hexdigest() != sha256:
        return None
    return content
