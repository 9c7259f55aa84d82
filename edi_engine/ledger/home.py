"""A home: configuration, ledger and folders in one directory (docs/architecture.md#the-home)."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
from pathlib import Path

import config

from .. import settings
from ..errors import ConfigurationError, UsageError
from . import db

URL_VARIABLE = settings.env_name("database", "url")

TEMP = "tmp"  # run/tmp: temporaries renamed into place once complete
# run/outgoing: outputs staged until the commit that records them, then renamed into
# outbox/<PARTNER>/ (edi_engine/delivery/publication.py)
OUTGOING = "outgoing"
# what versions before run/ left in partners' folders: the intake lock, output temporaries
LEGACY_LOCK = ".intake.lock"
LEGACY_TEMP_PREFIXES = (".CR_", ".PIVOT_", ".STATUT_")
LEGACY_TEMP_SUFFIX = ".xml.tmp"
log = logging.getLogger(__name__)


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
    given = os.environ.get(URL_VARIABLE)
    if given:  # later commands, run without the variable, use this ledger too
        _record_url(target, without_password(given))
    loaded = settings.load(directory)
    for folder in (loaded.inbox, loaded.outbox, loaded.archive):
        folder.mkdir(parents=True, exist_ok=True)
    ensure_run(loaded)
    db.migrate(loaded.database_url)
    return loaded, created


def temp_dir(loaded: settings.Settings) -> Path:
    return loaded.run / TEMP


def outgoing_dir(loaded: settings.Settings) -> Path:
    return loaded.run / OUTGOING


def ensure_run(loaded: settings.Settings) -> Path:
    """The engine's own folder (locks, temporaries), made when missing: a home created
    before it existed has it from its first run, and loses then what the engine used to
    leave in partners' folders. Refuses a run/ from which outputs cannot be renamed into
    the outbox, before anything is taken. Returns the folder for temporaries."""
    temp = temp_dir(loaded)
    if not temp.is_dir():
        temp.mkdir(parents=True, exist_ok=True)
        for leftover in _legacy_leftovers(loaded):
            leftover.unlink(missing_ok=True)
            log.info("removed %s, left in a partner's folder by an earlier version", leftover)
    _same_file_system(loaded, temp)
    outgoing = outgoing_dir(loaded)
    outgoing.mkdir(exist_ok=True)
    if outgoing.stat().st_dev != temp.stat().st_dev:  # a mount inside run/
        raise ConfigurationError(
            f"{outgoing} is on another file system than {temp} and the outbox: outputs "
            "staged there could not be renamed into partners' folders."
        )
    return temp


def _same_file_system(loaded: settings.Settings, temp: Path) -> None:
    """An output is renamed from run/tmp into outbox/<PARTNER>/: only possible within one
    file system. A partner's folder mounted elsewhere is refused too."""
    device = temp.stat().st_dev
    outbox = loaded.outbox
    folders = [outbox] if outbox.is_dir() else [_existing_parent(outbox)]
    if outbox.is_dir():
        folders += sorted(p for p in outbox.iterdir() if p.is_dir())
    elsewhere = [str(f) for f in folders if f.stat().st_dev != device]
    if not elsewhere:
        return
    fix = (
        f"outputs are written in {temp} and renamed into the outbox, which works only within "
        f"one file system. Set [paths] run (or {settings.env_name('paths', 'run')}) to a "
        "folder on the outbox's file system"
    )
    if elsewhere[0] != str(folders[0]):  # the outbox is fine, a partner's folder is not
        raise ConfigurationError(
            f"{', '.join(elsewhere)} is on another file system than the outbox and [paths] "
            f"run {loaded.run}: {fix}, and keep partners' folders on it too."
        )
    raise ConfigurationError(
        f"[paths] run {loaded.run} is on another file system than the outbox {elsewhere[0]}: {fix}."
    )


def _existing_parent(path: Path) -> Path:
    """Where a folder not made yet will be: its nearest existing parent's file system."""
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


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


def without_password(url: str) -> str:
    """The URL as edi-engine.toml keeps it: the password stays in the environment
    (EDI_ENGINE_DATABASE_URL, PGPASSWORD) or in [database] password_file."""
    try:
        return db.without_secrets(db.read(url)).render_as_string(hide_password=False)
    except ConfigurationError:  # nothing of it quoted: a word may be of its password
        raise UsageError(f"{URL_VARIABLE} is not a database URL: {db.URL_FORM}.") from None


def has_password(url: str) -> bool:
    try:
        parsed = db.read(url)
    except ConfigurationError:
        return False
    return parsed.password is not None or any(k in parsed.query for k in db.QUERY_SECRETS)


def _record_url(config_file: Path, url: str) -> None:
    """Set [database] url in the file, keeping every other line and comment as written."""
    text = config_file.read_text(encoding="utf-8")
    line = f"url = {json.dumps(url)}"  # a JSON string is a valid TOML basic string
    section = re.search(r"(?ms)^\[database\][ \t]*(?:#[^\n]*)?\n(.*?)(?=^\[|\Z)", text)
    if section is None:
        changed = f"{text.rstrip()}\n\n[database]\n{line}\n"
    else:
        body = section.group(1)
        key = re.search(r"(?m)^url[ \t]*=.*$", body)
        body = f"{body[: key.start()]}{line}{body[key.end() :]}" if key else f"{line}\n{body}"
        changed = text[: section.start(1)] + body + text[section.end(1) :]
    if changed != text:
        config_file.write_text(changed, encoding="utf-8")
