"""A home: configuration, ledger and folders in one directory (ARCHITECTURE §8)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import config

from . import db, settings
from .errors import UsageError

TEMP = "tmp"  # run/tmp: outputs are written here, then renamed into outbox/<PARTNER>/
# what versions before run/ left in partners' folders: the intake lock, output temporaries
LEGACY_LOCK = ".intake.lock"
LEGACY_TEMP_PREFIXES = (".CR_", ".PIVOT_", ".STATUT_")
LEGACY_TEMP_SUFFIX = ".xml.tmp"
log = logging.getLogger(__name__)
_ready: set[Path] = set()  # run folders this process has seen in place


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
    ensure_run(loaded)
    db.migrate(loaded.database_url)
    return loaded, created


def temp_dir(loaded: settings.Settings) -> Path:
    return loaded.run / TEMP


def ensure_run(loaded: settings.Settings) -> Path:
    """The engine's own folder (locks, temporaries), made when missing: a home created
    before it existed has it from its first run, and loses then what the engine used to
    leave in partners' folders. Returns the folder for temporaries."""
    temp = temp_dir(loaded)
    if loaded.run in _ready:
        return temp
    if not temp.is_dir():
        temp.mkdir(parents=True, exist_ok=True)
        for leftover in _legacy_leftovers(loaded):
            leftover.unlink(missing_ok=True)
            log.info("removed %s, left in a partner's folder by an earlier version", leftover)
    _ready.add(loaded.run)
    return temp


def _legacy_leftovers(loaded: settings.Settings) -> list[Path]:
    found = [loaded.inbox / LEGACY_LOCK] if (loaded.inbox / LEGACY_LOCK).is_file() else []
    folders = [p for p in loaded.outbox.iterdir() if p.is_dir()] if loaded.outbox.is_dir() else []
    for folder in folders:
        found += [
            p
            for p in folder.iterdir()
            if p.name.startswith(LEGACY_TEMP_PREFIXES)
            and p.name.endswith(LEGACY_TEMP_SUFFIX)
            and p.is_file()
        ]
    return found
