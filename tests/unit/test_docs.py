"""Docs that cannot rot: every command has help and appears in the README; every error
code the engine can put in a CR is explained in docs/errors.md; the docs point only inside
the repository, every link and anchor exists, and docs/architecture.md states the flow
states, the lifecycle and the import direction exactly as the code has them."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import click
import pytest

from cli import main
from edi_engine.controls import CATALOGUE
from edi_engine.ledger.states import CR_CODE, LIFECYCLE, FlowState
from edi_engine.lifecycle.statuses_in import CODES as STATUS_CODES
from edi_engine.lifecycle.transitions import SET_BY, refusal

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()
ERRORS_DOC = REPO / "docs" / "errors.md"


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    found = []
    for name, command in group.commands.items():
        path = f"{prefix}{name}"
        found.append((path, command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{path} ")
    return found


COMMANDS = _commands(main)


@pytest.mark.parametrize(("path", "command"), COMMANDS, ids=[p for p, _ in COMMANDS])
def test_every_command_has_help_and_is_in_the_readme(path: str, command: click.Command) -> None:
    assert (command.help or "").strip(), f"`edi-engine {path}` has no help text"
    if not isinstance(command, click.Group):
        assert f"edi-engine {path}" in README, f"README does not document `edi-engine {path}`"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden:
            assert param.help, f"option {param.opts} of `edi-engine {path}` has no help"


def _codes_in_sources() -> set[str]:
    pattern = re.compile(
        r"(?:Problem|ConversionError|_reject|_error|_fail|FlowRejected)\(\s*\n?\s*\"([A-Z][A-Z0-9_]+)\""
    )
    codes = set()
    for folder in ("edi_engine", "pivot_format"):
        for source in (REPO / folder).rglob("*.py"):
            codes |= set(pattern.findall(source.read_text()))
    return codes | set(CATALOGUE) | set(STATUS_CODES)


def test_every_error_code_is_documented() -> None:
    documented = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", ERRORS_DOC.read_text()))
    codes = _codes_in_sources()
    assert codes, "no error code found in the sources: the pattern is out of date"
    assert sorted(codes - documented) == []


# -- the documentation stands on its own (issue 11) ---------------------------------------

ARCHITECTURE_DOC = REPO / "docs" / "architecture.md"
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
DOC_IDS = [str(doc.relative_to(REPO)) for doc in DOCS]
# a private design note and a private mapping table that readers of the project never see
NEVER_NAMED = ("ARCHITECTURE", "MAPPING.md")
OUTSIDE = "../shared"
FENCE = re.compile(r"^```.*?^```", re.MULTILINE | re.DOTALL)
LINK = re.compile(r"\[[^\]]*\]\(([^)\s]+)\)")


def _section(text: str, title: str) -> str:
    """The body of the `## title` section (up to the next heading of level 1 or 2)."""
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^#{{1,2}} |\Z)", text, re.M | re.S)
    assert match, f"no section `## {title}`"
    return match.group(1)


def _sentences(text: str) -> list[str]:
    """Sentences of each paragraph (a blank line, a heading or a table row ends one)."""
    found = []
    for paragraph in re.split(r"\n\s*\n|\n(?=#|\|)", text):
        flat = re.sub(r"\s+", " ", paragraph).strip()
        found += [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", flat) if s]
    return found


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_docs_never_send_readers_outside_the_repository(doc: Path) -> None:
    """A reader of a clone has no design note and no `../shared`: the one mention allowed
    is README's Development section telling that tests use optional reference material."""
    text = doc.read_text()
    for name in NEVER_NAMED:
        where = [f"line {n}: {line}" for n, line in enumerate(text.splitlines(), 1) if name in line]
        assert not where, f"{doc.name} names {name}, which is not in the repository: {where}"
    outside = [s for s in _sentences(text) if OUTSIDE in s]
    if doc.name != "README.md":
        assert not outside, f"{doc.name} sends readers to {OUTSIDE}: {outside[0]!r}"
        return
    allowed = [s for s in _sentences(_section(text, "Development")) if OUTSIDE in s]
    elsewhere = [s for s in outside if s not in allowed]
    assert not elsewhere, f"README mentions {OUTSIDE} outside its Development section: {elsewhere}"
    assert len(allowed) <= 1, (
        f"README's Development section mentions {OUTSIDE} {len(allowed)} times"
    )
    for sentence in allowed:
        assert "test" in sentence.lower() and "optional" in sentence.lower(), (
            f"README may mention {OUTSIDE} only to say tests use optional reference material "
            f"found there: {sentence!r}"
        )


def slug(heading: str) -> str:
    """The anchor GitHub gives a heading: link text kept, punctuation dropped, spaces as -."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading).strip().lower()
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(doc: Path) -> set[str]:
    found: set[str] = set()
    seen: dict[str, int] = {}
    for match in re.finditer(r"^#{1,6}[ \t]+(.+?)[ \t#]*$", FENCE.sub("", doc.read_text()), re.M):
        base = slug(match.group(1))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")  # GitHub numbers repeats
    return found


def test_slugs_are_githubs() -> None:
    assert slug("Status flows (one status of a `CPPFactureStatuts`)") == (
        "status-flows-one-status-of-a-cppfacturestatuts"
    )
    assert slug("EN 16931 → CPPFacturePivot V2_02: the mapping") == (
        "en-16931--cppfacturepivot-v2_02-the-mapping"
    )


@pytest.mark.parametrize("doc", DOCS, ids=DOC_IDS)
def test_every_relative_link_points_to_a_file_and_heading_that_exist(doc: Path) -> None:
    text = re.sub(r"`[^`\n]*`", "", FENCE.sub("", doc.read_text()))  # code is not a link
    for target in LINK.findall(text):
        if re.match(r"[a-z][a-z0-9+.-]*:", target):  # https:, mailto:
            continue
        path, _, anchor = target.partition("#")
        linked = (doc.parent / path).resolve() if path else doc
        assert linked.exists(), f"{doc.name} links to {target}: {path} does not exist"
        if anchor and linked.suffix == ".md":
            assert anchor in anchors(linked), (
                f"{doc.name} links to {target}: {linked.name} has no heading with the anchor "
                f"#{anchor} (it has {', '.join(sorted(anchors(linked)))})"
            )


def _table(section: str) -> dict[str, list[str]]:
    """The rows of the section's table by their first cell, without backticks."""
    rows = {}
    for line in section.splitlines():
        cells = [cell.strip().strip("`") for cell in line.strip().strip("|").split("|")]
        if line.startswith("|") and not set(cells[0]) <= {"-", " "}:
            rows[cells[0]] = cells[1:]
    return rows


def test_architecture_lists_every_flow_state_with_its_cr_code() -> None:
    rows = _table(_section(ARCHITECTURE_DOC.read_text(), "Flow states"))
    for state in FlowState:
        assert state.value in rows, f"docs/architecture.md does not describe {state.value}"
        expected = CR_CODE.get(state, "none")
        assert rows[state.value][-1].startswith(expected), (
            f"docs/architecture.md gives {state.value} the CR {rows[state.value][-1]!r}; "
            f"the engine writes {expected}"
        )


def test_architecture_lifecycle_table_is_the_code_s() -> None:
    """Every status with its code, who sets it, and exactly the statuses
    edi_engine.lifecycle.transitions allows after it: the table cannot drift from the rules."""
    rows = _table(_section(ARCHITECTURE_DOC.read_text(), "The invoice lifecycle"))
    rows.pop("code", None)
    assert sorted(rows) == sorted(state.code for state in LIFECYCLE)
    for state in LIFECYCLE:
        name, set_by, follows = rows[state.code]
        assert name == state.value, f"status {state.code} is {state.value}, not {name}"
        roles = re.findall(
            r"\b(engine|recipient|accountant|supplier)\b", re.sub(r"\(.*?\)", "", set_by)
        )
        assert set(roles) == SET_BY[state], f"{state.value} is set by {sorted(SET_BY[state])}"
        allowed = sorted(new.code for new in LIFECYCLE if refusal(state, new) is None)
        assert sorted(re.findall(r"\b\d\d\b", follows)) == allowed, (
            f"after {state.value} the lifecycle allows {allowed or 'nothing'}, "
            f"the table says {follows!r}"
        )


def _imports(folder: str) -> set[tuple[str, str]]:
    found = set()
    for source in (REPO / folder).rglob("*.py"):
        for node in ast.walk(ast.parse(source.read_text())):
            if isinstance(node, ast.Import):
                found |= {(source.name, alias.name.split(".")[0]) for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                found.add((source.name, node.module.split(".")[0]))
    return found


@pytest.mark.parametrize(
    ("folder", "never"),
    [
        ("pivot_format", {"edi_engine", "jobs", "cli", "connectors"}),
        ("connectors", {"edi_engine", "jobs", "cli", "pivot_format"}),
        ("edi_engine", {"jobs", "cli"}),
    ],
)
def test_imports_go_the_way_the_architecture_says(folder: str, never: set[str]) -> None:
    wrong = sorted(
        f"{name} imports {module}" for name, module in _imports(folder) if module in never
    )
    assert not wrong, f"{folder}/ must not import {', '.join(sorted(never))}: {wrong}"
