"""The end of a test run says how many tests skipped and why, grouped by cause, and
pytest's own closing line ("N passed, M skipped in …", which CI reads) stays the last."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]

SAMPLE = """
import pytest

def test_runs():
    pass

def test_needs_the_corpus():
    pytest.skip("reference material /elsewhere/corpus is absent (../shared is not beside the clone)")

@pytest.mark.parametrize("n", [1, 2])
def test_needs_sshd(n):
    pytest.skip("/usr/sbin/sshd is missing: the SFTP tests need OpenSSH (`make test` installs it)")

def test_needs_postgresql():
    pytest.skip("no PostgreSQL at 127.0.0.1:5432 (database test, user postgres): refused")

def test_fails():
    assert False
"""


def run_sample(tmp_path: Path) -> list[str]:
    """pytest -q on a sample file, with the project's tests/conftest.py as a plugin."""
    (tmp_path / "test_sample.py").write_text(SAMPLE)
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "conftest",
         "--rootdir", str(tmp_path), "-c", os.devnull, str(tmp_path / "test_sample.py")],
        capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert result.returncode == 1, result.stdout + result.stderr  # test_fails fails
    return result.stdout.rstrip("\n").splitlines()


def test_skips_are_counted_and_grouped_by_cause_above_the_closing_line(tmp_path: Path) -> None:
    lines = run_sample(tmp_path)
    start = lines.index("skipped: 4 of 6 (66.7 %)")
    assert lines[start + 1 : start + 5] == [
        "  OpenSSH sshd missing (`make test` installs openssh-server as root) (2)",
        "  ../shared is absent: public corpus (1)",
        "  PostgreSQL not reachable at 127.0.0.1:5432 (1)",
        "  more than 5 % of the tests skipped",
    ]
    assert lines[-1].startswith("1 failed, 1 passed, 4 skipped in ")
    assert "FAILED test_sample.py::test_fails - assert False" in lines[start + 5 :]
