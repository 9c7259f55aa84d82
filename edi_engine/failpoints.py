"""Named crash points, for the crash tests only: a process kills itself where a test says.

The crash tests (tests/crash/) prove that nothing is lost or done twice whatever moment
the engine dies at. Random kills rarely land in the narrow windows that matter, so the
engine names them, and a process started with

    EDI_ENGINE_FAILPOINT=NAME        (or NAME:N)

sends itself SIGKILL, as the OOM killer or a power cut would, the first (or N-th) time it
reaches the point NAME. The points, each one line in the code:

- ``after-archive``: intake, a batch's archive copies durable, its flows not yet recorded
- ``after-record``: intake, the flows committed, their files not yet removed from the
  inbox or the partner's SFTP server
- ``after-commit``: a transaction that staged outputs (pivots, CRs, status flows)
  committed, nothing of it published yet
- ``mid-publication``: right after one output of a batch was renamed into its partner's
  folder, before the next (and before the ledger marks any published)
- ``mid-status-flow``: a status flow numbered and its changes assigned to it (committed),
  its file not yet written
- ``mid-upload``: an output being uploaded to an SFTP partner, some bytes sent, not yet
  renamed to its name on the server
- ``before-remote-rename``: an upload whole under its temporary name on the server and
  recorded as renaming (committed), the rename not yet asked
- ``after-remote-rename``: an upload renamed to its name on the server, the ledger not
  yet told that it was delivered

The variable is read once, when this module is imported: unset (always, outside tests),
`reached` is one comparison and nothing else. A name that is no point is refused at
import, so that a test cannot believe it armed a point it misspelt.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable

VARIABLE = "EDI_ENGINE_FAILPOINT"
POINTS = frozenset(
    {
        "after-archive",
        "after-record",
        "after-commit",
        "mid-publication",
        "mid-status-flow",
        "mid-upload",
        "before-remote-rename",
        "after-remote-rename",
    }
)


class UnknownFailpoint(ValueError):
    """EDI_ENGINE_FAILPOINT names no point of the engine, or counts wrong."""


def parse(value: str | None) -> tuple[str, int] | None:
    """(point, on which time it kills) from the variable's value; None when unset."""
    if not value:
        return None
    name, _, count = value.partition(":")
    if name not in POINTS:
        known = ", ".join(sorted(POINTS))
        raise UnknownFailpoint(f"{VARIABLE}={value!r}: {name!r} is not one of {known}")
    if count and not (count.isdigit() and int(count) >= 1):
        raise UnknownFailpoint(f"{VARIABLE}={value!r}: the count after ':' must be 1 or more")
    return name, int(count or 1)


_armed = parse(os.environ.get(VARIABLE))
_times = 0  # how often this process reached the armed point


def reached(point: str) -> None:
    """The engine is at `point`: die here if the test armed it, and this is the time."""
    if _armed is None or _armed[0] != point:
        return
    global _times
    _times += 1
    if _times == _armed[1]:
        os.kill(os.getpid(), signal.SIGKILL)


def progress(point: str) -> Callable[[int, int], None] | None:
    """A transfer's progress callback `(sent, total)` that reaches `point` each time it is
    called; None (no callback at all) unless that point is armed."""
    if _armed is None or _armed[0] != point:
        return None
    return lambda sent, total: reached(point)
