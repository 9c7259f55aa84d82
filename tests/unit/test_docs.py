"""Docs that cannot rot: every command has help and appears in the README; every error
code the engine can put in a CR is explained in docs/errors.md."""

from __future__ import annotations

import re
from pathlib import Path

import click
import pytest

from cli import main
from edi_engine.controls import CATALOGUE
from edi_engine.statuses_in import CODES as STATUS_CODES

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
