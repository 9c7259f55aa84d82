"""A home: configuration, ledger and folders in one directory (ARCHITECTURE §8)."""

from __future__ import annotations

import shutil
from pathlib import Path

import config

from . import db, settings
from .errors import UsageError


def init(directory: Path) -> tuple[settings.Settings, bool]:
    """Create (or complete) a home; returns its settings and whether it was new."""
    directory = directory.resolve()
    if directory.exists() and not directory.is_dir():
        raise UsageError(f"{directory} exists and is not a directory.")
    directory.mkdir(parents=True, exist_ok=True)
    target = directory / settings.CONFIG_FILE
    created = not target.exists()
    if created:
        shutil.copyfile(config.path(config.DEFAULT_CONFIG), target)
    loaded = settings.load(directory)
    for folder in (loaded.inbox, loaded.outbox, loaded.archive):
        folder.mkdir(parents=True, exist_ok=True)
    db.migrate(loaded.database_url)
    return loaded, created
