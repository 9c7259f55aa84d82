"""Every output-named file in a partner's outbox is one the ledger knows.

Only the engine writes `CR_<PARTNER>_…`, `PIVOT_<PARTNER>_…` and `STATUT_<PARTNER>_…` into
`outbox/<PARTNER>/`, and only after the commit that records them: such a file the ledger
does not know was published outside a commit (or left by a hand). The partner's other
files are theirs and are not looked at. Each folder is walked with `os.scandir` and its
names looked up in the ledger a few hundred at a time."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session

from ...ledger.models import Output, Partner
from ...settings import Settings
from . import findings as kinds
from .findings import Findings, Problem
from .reading import IN_CHUNK, relative

KINDS = ("CR", "PIVOT", "STATUT")


def check(settings: Settings, session: Session, found: Findings) -> None:
    partners = list(session.scalars(select(Partner.code).order_by(Partner.code)))
    session.rollback()
    for code in partners:
        prefixes = tuple(f"{kind}_{code}_" for kind in KINDS)
        batch: list[str] = []
        for name in _files(settings.outbox / code):
            if not name.startswith(prefixes):
                continue
            found.count("outbox_files")
            batch.append(name)
            if len(batch) >= IN_CHUNK:
                _known(settings, session, found, code, batch)
                batch = []
        _known(settings, session, found, code, batch)


def _files(folder: Path) -> Iterator[str]:
    """The plain files of a folder, by name (a partner's folder, a link, a pipe hold a
    name but are not files the engine wrote)."""
    try:
        entries = os.scandir(folder)
    except (FileNotFoundError, NotADirectoryError):
        return
    with entries:
        for entry in entries:
            try:
                if entry.is_file(follow_symlinks=False):
                    yield entry.name
            except OSError:
                continue


def _known(
    settings: Settings, session: Session, found: Findings, code: str, names: list[str]
) -> None:
    if not names:
        return
    # the engine's names are ASCII (partner code, flow number): another is none of them,
    # and one that is not UTF-8 could not even be asked about
    asked = [name for name in names if name.isascii()]
    query = select(Output.file_name).where(Output.partner_code == code, Output.file_name.in_(asked))
    known = set(session.scalars(query)) if asked else set()
    session.rollback()
    for name in names:
        path = settings.outbox / code / name
        if name in known or not path.exists():  # gone meanwhile: a purge removing it
            continue
        shown = relative(path, settings.home)
        message = (
            f"a file named as an output of the engine for partner {code}, which the ledger "
            "does not know: it was put there outside a commit."
        )
        mend = (
            "find who wrote it (the engine publishes only what a commit recorded); move it out "
            "of the partner's folder before the partner takes it for the hub's."
        )
        found.add(Problem(kinds.OUTPUT_UNKNOWN, shown, message, mend, partner=code, path=shown))
