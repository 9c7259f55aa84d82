"""The memory tests' yardstick (tests/child_memory.py) measures the child alone.

wait4's ru_maxrss counted the test process's own peak into every child it started (late
in a full run, 800 MiB for a child that used 130): eight memory tests failed in the
suite and passed alone. These tests hold a large allocation in this process while the
child runs, so a measure that still counted it would fail here, alone as in the suite.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import child_memory
import pytest

MiB = 1024 * 1024
CHILD = 200 * MiB
PARENT = 500 * MiB


@pytest.fixture(scope="module")
def parent_holds_memory() -> Iterator[bytes]:
    """500 MiB resident in this process (non-zero bytes: every page touched)."""
    held = b"\x01" * PARENT
    yield held
    del held


@pytest.fixture
def programs(tmp_path: Path) -> Path:
    (tmp_path / "hog.py").write_text(
        f"held = b'\\x01' * {CHILD}\nprint(len(held))\n", encoding="ascii"
    )
    (tmp_path / "trivial.py").write_text("print('hello')\n", encoding="ascii")
    (tmp_path / "refuses.py").write_text("import sys\nsys.exit(3)\n", encoding="ascii")
    (tmp_path / "hangs.py").write_text("import time\ntime.sleep(600)\n", encoding="ascii")
    return tmp_path


def _run(programs: Path, module: str, **kwargs: object) -> child_memory.Measured:
    return child_memory.run_module(
        module, [], cwd=programs, env=dict(os.environ), stdout=subprocess.DEVNULL, **kwargs
    )  # type: ignore[arg-type]


def test_a_child_that_allocates_reports_at_least_what_it_allocated(
    programs: Path, parent_holds_memory: bytes
) -> None:
    measured = _run(programs, "hog")

    assert measured.code == 0
    assert measured.peak_bytes is not None and measured.peak_bytes >= CHILD


def test_a_trivial_child_reports_its_own_peak_not_its_parents(
    programs: Path, parent_holds_memory: bytes
) -> None:
    measured = _run(programs, "trivial")

    assert measured.code == 0
    assert measured.peak_bytes is not None and measured.peak_bytes < 100 * MiB
    assert len(parent_holds_memory) == PARENT  # held while the child ran


def test_a_child_leaving_by_sys_exit_still_reports_its_peak(programs: Path) -> None:
    measured = _run(programs, "refuses")

    assert measured.code == 3
    assert measured.peak_bytes is not None and 0 < measured.peak_bytes < 100 * MiB


def test_a_child_killed_on_timeout_reports_no_peak(programs: Path) -> None:
    measured = _run(programs, "hangs", timeout=1)

    assert (measured.killed, measured.peak_bytes) == (True, None)
