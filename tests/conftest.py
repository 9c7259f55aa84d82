"""Fixtures shared by every tier of tests, and the skip summary at the end of a run.

Every test checks the engine's output against the project's own schemas (schemas/).
The official Chorus Pro schemas and the public corpus live in ../shared beside the clone
(or $EDI_SHARED_DIR) and are not part of the project: when present they add a further
check inside the same tests (``pivot_schemas``, ``statut_schemas``); only a test that is
about the reference material alone skips without it, saying so.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path

import pytest
from lxml import etree

from edi_engine.reception import validation
from edi_engine.reception.identify import PIVOT, STATUT

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDI_SHARED_DIR", REPO.parent / "shared"))


def _shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"reference material {path} is absent (../shared is not beside the clone)")
    return path


OFFICIAL_PIVOT_XSD = "reference/chorus-pro/CPPFacturePivot_V2_02.xsd"
OFFICIAL_STATUT_XSD = "reference/chorus-pro/CPPStatutPivot_V1_19.xsd"

Schemas = list[tuple[str, etree.XMLSchema]]


def _official(relative: str) -> etree.XMLSchema | None:
    path = SHARED / relative
    return etree.XMLSchema(etree.parse(str(path))) if path.exists() else None


@pytest.fixture(scope="session")
def our_pivot_schema() -> etree.XMLSchema:
    """schemas/CPPFacturePivot.xsd, compiled where the engine compiles it."""
    return validation.compiled(PIVOT)


@pytest.fixture(scope="session")
def our_statut_schema() -> etree.XMLSchema:
    """schemas/CPPStatut.xsd, compiled where the engine compiles it."""
    return validation.compiled(STATUT)


@pytest.fixture(scope="session")
def maybe_official_pivot_schema() -> etree.XMLSchema | None:
    """The official CPPFacturePivot_V2_02.xsd, or None when ../shared is absent."""
    return _official(OFFICIAL_PIVOT_XSD)


@pytest.fixture(scope="session")
def maybe_official_statut_schema() -> etree.XMLSchema | None:
    """The official CPPStatutPivot_V1_19.xsd, or None when ../shared is absent."""
    return _official(OFFICIAL_STATUT_XSD)


@pytest.fixture(scope="session")
def pivot_schemas(
    our_pivot_schema: etree.XMLSchema, maybe_official_pivot_schema: etree.XMLSchema | None
) -> Schemas:
    """Every pivot schema to check against: ours always, the official one when present."""
    return _ours_and_official(our_pivot_schema, maybe_official_pivot_schema)


@pytest.fixture(scope="session")
def statut_schemas(
    our_statut_schema: etree.XMLSchema, maybe_official_statut_schema: etree.XMLSchema | None
) -> Schemas:
    """Every status schema to check against: ours always, the official one when present."""
    return _ours_and_official(our_statut_schema, maybe_official_statut_schema)


def _ours_and_official(ours: etree.XMLSchema, official: etree.XMLSchema | None) -> Schemas:
    return [("ours", ours)] if official is None else [("ours", ours), ("official", official)]


@pytest.fixture(scope="session")
def cii_d16b_dir() -> Path:
    return _shared("reference/cii-d16b")


# --------------------------------------------------------------------------- skip summary

OUTCOMES = ("passed", "failed", "error", "skipped", "xfailed", "xpassed")
MAX_SKIPPED_SHARE = 5.0  # percent of the suite, on a clean clone without ../shared
_SHARED_PARTS = (
    ("reference/chorus-pro", "official Chorus Pro schemas"),
    ("reference/cii-d16b", "UN/CEFACT CII D16B schemas"),
    ("corpus", "public corpus"),
)


def skip_reason_group(reason: str) -> str:
    """One label per cause, so that a hundred skips for one missing folder read as one line."""
    reason = reason.removeprefix("Skipped: ").strip()
    if str(SHARED) in reason or "../shared" in reason:
        where = next((label for part, label in _SHARED_PARTS if part in reason), "reference")
        return f"../shared is absent: {where}"
    if "the SFTP tests need OpenSSH" in reason:
        return "OpenSSH sshd missing (`make test` installs openssh-server as root)"
    if re.search(r"\bsshd\b", reason):
        return "OpenSSH sshd cannot run here"
    if "no PostgreSQL at" in reason:
        return "PostgreSQL not reachable at 127.0.0.1:5432"
    if reason.startswith("got empty parameter set"):
        return "no cases to run (empty parameter set)"
    return reason.splitlines()[0][:120] if reason else "no reason given"


def _skip_reason(report: pytest.TestReport | pytest.CollectReport) -> str:
    longrepr = report.longrepr
    if isinstance(longrepr, tuple) and len(longrepr) == 3:
        return str(longrepr[2])
    return str(longrepr or "")


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """How many tests skipped and why, just above pytest's own closing line (which CI reads)."""
    counted = {
        outcome: [
            report
            for report in terminalreporter.stats.get(outcome, [])
            if getattr(report, "count_towards_summary", True)
        ]
        for outcome in OUTCOMES
    }
    total = sum(len(reports) for reports in counted.values())
    if not total:
        return
    skipped = counted["skipped"]
    share = 100 * len(skipped) / total
    write = terminalreporter.write_line
    write(f"skipped: {len(skipped)} of {total} ({share:.1f} %)")
    groups = Counter(skip_reason_group(_skip_reason(report)) for report in skipped)
    for label, count in sorted(groups.items(), key=lambda item: (-item[1], item[0])):
        write(f"  {label} ({count})")
    if share > MAX_SKIPPED_SHARE:
        write(f"  more than {MAX_SKIPPED_SHARE:.0f} % of the tests skipped", yellow=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> object:
    """Captured output as text any process can send: a hostile file name read with
    surrogates (os.fsdecode) in a log line stopped pytest-xdist's worker that sent it."""
    outcome = yield
    report = outcome.get_result()
    report.sections = [(title, _sendable(text)) for title, text in report.sections]


def _sendable(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
