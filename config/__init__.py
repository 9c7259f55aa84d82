"""Default and example configuration files, shipped as package data."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

DEFAULT_CONFIG = "edi-engine.toml"


def path(name: str) -> Path:
    """The file system path of a shipped configuration or demo file."""
    with as_file(files(__name__) / name) as found:
        return Path(found)
