"""`edi-engine structures`: load the recipient structures, their services and published
commitments from CSV files (all or nothing), list them, show one."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from .. import settings
from ..controls import structures
from ..ledger import db
from .shared import (
    INPUT_FILE,
    EngineGroup,
    echo_json,
    json_option,
    page_options,
    pass_settings,
    progress,
    render,
    say,
)


@click.group("structures", cls=EngineGroup)
def group() -> None:
    """Load and list the recipient structures."""


@group.command("import")
@click.argument("file", type=INPUT_FILE)
@pass_settings
def structures_import(loaded: settings.Settings, file: Path) -> None:
    """Load or update structures from a CSV with columns siret,designation,active,partner
    (optional: engagement_required, service_code_required, engagement_or_service_code,
    accountant)."""
    _import(loaded, file, structures.import_csv)


@group.command("import-services")
@click.argument("file", type=INPUT_FILE)
@pass_settings
def structures_import_services(loaded: settings.Settings, file: Path) -> None:
    """Load or update structures' services from a CSV with columns siret,code,name,active."""
    _import(loaded, file, structures.import_services)


@group.command("import-engagements")
@click.argument("file", type=INPUT_FILE)
@pass_settings
def structures_import_engagements(loaded: settings.Settings, file: Path) -> None:
    """Load or update published commitments: siret,engagement,supplier,service_code
    (supplier may be empty), optional active (false: withdrawn, invoices citing it are
    refused). A service code the structure does not list among its services refuses the
    file, naming the line."""
    _import(loaded, file, structures.import_engagements)


def _import(
    loaded: settings.Settings, file: Path, load: Callable[[Any, Path], dict[str, int]]
) -> None:
    """All or nothing: the importer refuses a bad file before anything is written."""
    with db.session_scope(loaded.database_url) as session, progress(None, "importing"):
        counts = load(session, file)
        session.commit()
    say(
        f"Imported {file}: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged."
    )


@group.command("show")
@click.argument("siret")
@json_option
@pass_settings
def structures_show(loaded: settings.Settings, siret: str, as_json: bool) -> None:
    """Show a structure: its requirements, services and published commitments."""
    with db.session_scope(loaded.database_url, write=False) as session:
        shown = structures.show(session, siret)
    if as_json:
        echo_json(shown)
        return
    rows = [{"field": k, "value": v} for k, v in shown.items() if not isinstance(v, list)]
    render(rows, ["field", "value"], False, title=f"Structure {siret}")
    render(shown["services"], ["code", "name", "active"], False, title="Services")
    render(
        shown["engagements"],
        ["engagement", "supplier", "service_code", "active"],
        False,
        title="Engagements",
    )


@group.command("list")
@page_options("structures")
@json_option
@pass_settings
def structures_list(loaded: settings.Settings, limit: int, offset: int, as_json: bool) -> None:
    """List structures by designation, then SIRET, 50 at a time."""
    with db.session_scope(loaded.database_url, write=False) as session:
        rows = structures.list_structures(session, limit, offset)
    render(rows, ["siret", "designation", "active", "partner"], as_json)
