"""The XSDs the engine owns (its own pivot and status schemas), shipped as package data."""

from __future__ import annotations

from importlib.resources import as_file, files
from pathlib import Path

PIVOT_XSD = "CPPFacturePivot.xsd"
STATUT_XSD = "CPPStatut.xsd"


def path(name: str) -> Path:
    """The file system path of one of our schemas, wherever the package is installed."""
    with as_file(files(__name__) / name) as found:
        return Path(found)
