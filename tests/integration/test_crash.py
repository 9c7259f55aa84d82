"""The engine killed again and again loses nothing and does nothing twice: the crash
harness (tests/crash/) at a small count, on SQLite with `--workers 2` and SFTP partners
on the real sshd of conftest.py. `make soak` runs it at length.

About sixty suppliers' flows of every kind (UBL, CII, multi-invoice pivots, zip
batches, an invoice to an inactive structure, files sent again) and the recipients'
status flows answering their pivots, through local folders and SFTP servers, while
`run --once`, `run --daemon` and `statuses emit` are killed with SIGKILL at moments drawn
and at each named crash point (edi_engine/failpoints.py), then restarted, until the work
is done. Then: every file one flow, every accepted invoice in exactly one pivot received
by its recipient and in exactly one status flow per change told to its supplier, every
CR received, `edi-engine check` sound (tests/crash/verify.py).

Seeded: EDI_CRASH_SEED=N replays the flows and the kills' plan (the moments a loaded
machine reaches are its own); a failure prints its seed and the whole summary."""

from __future__ import annotations

import os
import time
from pathlib import Path

from edi_engine import failpoints
from tests.crash.harness import Harness, Plan, cycle, settle, tidy
from tests.crash.verify import summary, verify

from .conftest import SshServer

SEED = int(os.environ.get("EDI_CRASH_SEED", "16"))
PLAN = Plan(seed=SEED, flows=60, waves=4, random_kills=4)


def test_the_engine_killed_at_random_and_at_each_named_point_loses_nothing_and_does_nothing_twice(
    tmp_path: Path, sshd: SshServer
) -> None:
    started = time.monotonic()
    with Harness(tmp_path / "crash", PLAN, sshd) as h:
        cycle(h)
        settle(h)
        tidy(h)
        h.stop_draining()  # the partners' systems take what is left
        verdict = verify(h)
    told = "\n".join(summary(h, verdict, time.monotonic() - started))
    print(told)  # shown with -s or -rP
    replay = f"replay: EDI_CRASH_SEED={SEED} python -m pytest {__file__}"
    assert verdict.sound, f"{told}\n{replay}"
    assert set(h.tally.kills) == failpoints.POINTS | {"random"}, f"{told}\n{replay}"
