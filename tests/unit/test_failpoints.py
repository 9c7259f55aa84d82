"""The crash tests' named points (edi_engine/failpoints.py): unset, nothing happens; set,
the process dies by SIGKILL the time it is told, at the point it is told, and a name that
is no point is refused. Each case runs in a child process, which reads the variable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from edi_engine import failpoints

REPO = Path(__file__).resolve().parents[2]

# reaches every point three times, then the armed one five times, saying each time
CHILD = """
from edi_engine import failpoints
for point in sorted(failpoints.POINTS):
    if point != "after-commit":
        for _ in range(3):
            failpoints.reached(point)
print("others passed", flush=True)
print("callback", failpoints.progress("mid-upload") is not None, flush=True)
for n in range(1, 6):
    failpoints.reached("after-commit")
    print("reached", n, flush=True)
"""


def child(value: str | None) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != failpoints.VARIABLE}
    if value is not None:
        env[failpoints.VARIABLE] = value
    return subprocess.run(
        [sys.executable, "-c", CHILD], cwd=REPO, env=env, capture_output=True, text=True
    )


def test_unset_every_point_is_passed_and_no_transfer_is_watched() -> None:
    done = child(None)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "others passed",
        "callback False",
        *(f"reached {n}" for n in range(1, 6)),
    ]


@pytest.mark.parametrize(("value", "lived"), [("after-commit", 0), ("after-commit:3", 2)])
def test_set_the_process_dies_by_sigkill_the_time_it_is_told(value: str, lived: int) -> None:
    done = child(value)
    assert done.returncode == -signal.SIGKILL
    assert done.stdout.splitlines() == [
        "others passed",
        "callback False",
        *(f"reached {n}" for n in range(1, lived + 1)),
    ]


def test_an_armed_transfer_point_dies_in_the_transfers_callback() -> None:
    program = (
        "from edi_engine import failpoints\n"
        "sent = failpoints.progress('mid-upload')\n"
        "sent(32768, 65536)\n"
        "print('first chunk', flush=True)\n"
        "sent(65536, 65536)\n"
        "print('never', flush=True)\n"
    )
    env = {**os.environ, failpoints.VARIABLE: "mid-upload:2"}
    done = subprocess.run(
        [sys.executable, "-c", program], cwd=REPO, env=env, capture_output=True, text=True
    )
    assert (done.returncode, done.stdout) == (-signal.SIGKILL, "first chunk\n")


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("after-archiving", "'after-archiving' is not one of after-archive, after-commit"),
        ("after-commit:0", "the count after ':' must be 1 or more"),
        ("after-commit:x", "the count after ':' must be 1 or more"),
    ],
)
def test_a_name_that_is_no_point_is_refused_saying_which_are(value: str, said: str) -> None:
    with pytest.raises(failpoints.UnknownFailpoint, match=said):
        failpoints.parse(value)
    done = child(value)  # the engine refuses to run with it, rather than never dying
    assert done.returncode == 1 and said in done.stderr
    assert "others passed" not in done.stdout
