"""Hostile files are answered in bounded memory and disk (issue 13, point 3), measured as
the attacks were: the engine runs as a child process (`run --once` on a real home) and
its own peak resident memory is read from /proc as it ends (tests/child_memory.py).

Each file of the generated hostile corpus (tests/generated/hostile.py) is small on disk
and cost the engine from half a gigabyte to nearly three before it bounded what it
reads; each must now get its own coded answer in a CR, deliver nothing, and keep the
engine under MEMORY_BOUND.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import child_memory
import pytest
from generated import hostile

from .conftest import RECIPIENT, SUPPLIER_2, Home

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
# the engine alone peaks near 130 MiB here; each file below cost it 500 MiB to 2.9 GiB
MEMORY_BOUND = 300 * MiB


def run_measured(home: Home, env: dict[str, str]) -> tuple[list[dict], int]:
    """`run --once` as a child process: its flows, and its own peak resident memory in
    bytes (VmHWM, as the child reports it: tests/child_memory.py says why not wait4)."""
    out, err = home.path.parent / "run.out", home.path.parent / "run.err"
    with open(out, "wb") as stdout, open(err, "wb") as stderr:
        child = child_memory.run_module(
            "cli",
            ["--home", home.path, "run", "--once", "--json"],
            cwd=REPO,
            env={**os.environ, **env},
            stdout=stdout,
            stderr=stderr,
        )
    assert child.code == 0, err.read_text(errors="replace")
    assert child.peak_bytes is not None
    return json.loads(out.read_bytes()), child.peak_bytes


@pytest.mark.parametrize("case", sorted(hostile.CORPUS))
def test_each_hostile_file_gets_its_code_in_bounded_memory(home: Home, case: str) -> None:
    file = hostile.CORPUS[case]()
    home.drop(file.depositor, file.name, file.content)

    (flow,), peak = run_measured(home, file.env)

    assert peak < MEMORY_BOUND, f"{case}: {peak / MiB:.0f} MiB"
    assert flow["status"] == "IN_REJETE"
    detail = home.show(flow["number"])
    assert [e["code"] for e in detail["errors"]] == [file.code]
    assert home.outbox(RECIPIENT) == []  # nothing delivered
    (cr,) = home.outbox(file.depositor)
    assert file.code in (home.path / "outbox" / file.depositor / cr).read_text(encoding="utf-8")


def test_a_file_over_max_file_bytes_keeps_its_hash_size_and_head_only(home: Home) -> None:
    file = hostile.oversized_file(size=8 * MiB, limit=MiB)
    home.drop(file.depositor, file.name, file.content)

    (flow,), _ = run_measured(home, file.env)

    detail = home.show(flow["number"])
    digest = hashlib.sha256(file.content).hexdigest()
    assert (detail["size"], detail["sha256"]) == (len(file.content), digest)
    kept = [p for p in (home.path / "archive").rglob("*") if p.is_file()]
    assert [(p.name, p.read_bytes()) for p in kept] == [
        (f"{digest}.head", file.content[: 64 * 1024])
    ]
    (error,) = detail["errors"]
    assert error["value"] == str(len(file.content))
    assert home.path.joinpath("inbox", file.depositor, file.name).exists() is False


def test_a_file_refused_for_its_size_stays_refused_when_the_limit_is_raised(
    home: Home,
) -> None:
    """Only its head was kept: a re-run under a larger limit cannot read it, and says so
    rather than reading 64 KiB as the document."""
    file = hostile.oversized_file(size=2 * MiB, limit=MiB)
    home.drop(file.depositor, file.name, file.content)
    (flow,), _ = run_measured(home, file.env)

    home.invoke("flows", "rerun", flow["number"], "--reason", "limit raised")

    detail = home.show(flow["number"])
    assert (detail["status"], len(detail["attempts"])) == ("IN_REJETE", 2)
    (error,) = detail["errors"]  # the last attempt's
    assert error["code"] == "FILE_TOO_LARGE"
    assert "over the limit in force at its reception" in error["message"]


def test_a_factur_x_pdf_within_the_limits_is_integrated(home: Home) -> None:
    """The bounded reading finds the invoice as the factur-x library did."""
    home.drop(SUPPLIER_2, "facture.pdf", hostile.facturx_invoice())

    (flow,), _ = run_measured(home, {})

    assert (flow["status"], flow["syntax"]) == ("IN_INTEGRE", "IN_DP_E2_CII_FACTURX")
    (pivot,) = home.outbox(RECIPIENT)
    assert b"facture.pdf" in (home.path / "outbox" / RECIPIENT / pivot).read_bytes()


def test_the_files_a_pdf_embeds_are_bounded_together(home: Home) -> None:
    """Each under the limit of one attachment, together over the invoice's."""
    file = hostile.facturx_attachment_bomb(count=4, size=MiB)
    home.drop(file.depositor, file.name, file.content)
    env = {
        "EDI_ENGINE_LIMITS_MAX_ATTACHMENT_BYTES": str(2 * MiB),
        "EDI_ENGINE_LIMITS_MAX_INVOICE_ATTACHMENTS_BYTES": str(3 * MiB),
    }

    (flow,), _ = run_measured(home, env)

    (error,) = home.show(flow["number"])["errors"]
    assert (error["code"], error["value"]) == ("INVOICE_ATTACHMENTS_TOO_LARGE", str(4 * MiB))
