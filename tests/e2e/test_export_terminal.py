"""`invoices export` never writes the suppliers' values to a terminal (issue 13 item 2).

The CSV keeps every value exactly, an ESC or a bidi override in a supplier's name
included: shown on a terminal, those would rewrite the screen. So, on a terminal, the
command refuses (exit 2, a usage error) and asks for --output or a pipe; into a pipe or a
file it writes as before. The command runs as a child process whose stdout is a real
pseudo-terminal (pty.openpty), as an operator's shell gives it.
"""

from __future__ import annotations

import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import SUPPLIER_1, Home

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture
def exported(home: Home) -> Home:
    """A home with one accepted invoice to export."""
    home.drop(SUPPLIER_1, "facture.xml", sample="ubl-invoice.xml")
    (flow,) = home.run()
    assert flow["status"] == "IN_INTEGRE"
    return home


def _export(home: Home, *args: str, stdout: int) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "cli", "--home", str(home.path), "invoices", "export", *args],
        cwd=REPO,
        env=dict(os.environ),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=120,
        check=False,
    )


def _on_a_terminal(home: Home, *args: str) -> tuple[subprocess.CompletedProcess[bytes], bytes]:
    """The command with a pseudo-terminal as stdout, and what that terminal received."""
    terminal, device = pty.openpty()
    try:
        done = _export(home, *args, stdout=device)
    finally:
        os.close(device)
    shown = b""
    ready = select.poll()  # not select.select: a test process may hold over 1,024 files
    ready.register(terminal, select.POLLIN)
    try:
        while ready.poll(0):
            chunk = os.read(terminal, 65536)
            if not chunk:
                break
            shown += chunk
    except OSError:  # EIO: nothing more, the device side is closed
        pass
    finally:
        os.close(terminal)
    return done, shown


def test_on_a_terminal_the_export_is_refused_and_asks_for_a_file_or_a_pipe(
    exported: Home,
) -> None:
    done, shown = _on_a_terminal(exported)

    assert done.returncode == 2
    assert shown == b""  # not a line of CSV reached the terminal
    message = done.stderr.decode()
    assert "--output FILE, or pipe it" in message
    assert "control characters" in message


def test_on_a_terminal_with_output_the_csv_goes_to_the_file(exported: Home, tmp_path: Path) -> None:
    target = tmp_path / "invoices.csv"

    done, shown = _on_a_terminal(exported, "--output", str(target))

    assert done.returncode == 0, done.stderr
    assert shown == b""
    header, line = target.read_text(encoding="utf-8").splitlines()
    assert header.startswith("number,supplier,") and "81234567600025" in line


def test_into_a_pipe_the_csv_is_written_as_before(exported: Home) -> None:
    done = _export(exported, stdout=subprocess.PIPE)

    assert done.returncode == 0, done.stderr
    header, line = done.stdout.decode().splitlines()
    assert header.startswith("number,supplier,") and "81234567600025" in line
