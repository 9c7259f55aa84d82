"""A preparation that really crashes (SIGSEGV) the worker process preparing a flow named
KILLER, as a bug in a parser's C code would; every other flow is prepared as usual. A
module of its own: worker processes start from a fork server, which imports the
preparation by its module's name (tests/e2e/test_worker_segfault.py installs it)."""

from __future__ import annotations

import ctypes

from edi_engine.processing import preparing
from edi_engine.settings import Settings

KILLER = "a-segfault.xml"


def segfaults_on_the_killer(
    settings: Settings, flow_id: int, path: str, name: str, size: int, *ahead: object
) -> preparing.Prepared:
    if name == KILLER:
        ctypes.string_at(0)  # reads address 0: the kernel sends SIGSEGV
    return preparing.prepare(settings, flow_id, path, name, size, *ahead)  # type: ignore[arg-type]
