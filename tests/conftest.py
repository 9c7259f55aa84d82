"""Fixtures shared by every tier of tests.

The reference material lives in ../shared beside the clone (ARCHITECTURE §10);
tests that need it skip with a clear reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from lxml import etree

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("EDI_SHARED_DIR", REPO.parent / "shared"))


def _shared(relative: str) -> Path:
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"reference material {path} is absent (../shared is not beside the clone)")
    return path


@pytest.fixture(scope="session")
def corpus_dir() -> Path:
    return _shared("corpus")


@pytest.fixture(scope="session")
def corpus_files(corpus_dir: Path) -> list[Path]:
    return sorted(p for p in corpus_dir.rglob("*") if p.is_file())


@pytest.fixture(scope="session")
def official_pivot_schema() -> etree.XMLSchema:
    return etree.XMLSchema(
        etree.parse(str(_shared("reference/chorus-pro/CPPFacturePivot_V2_02.xsd")))
    )


@pytest.fixture(scope="session")
def official_statut_schema() -> etree.XMLSchema:
    return etree.XMLSchema(
        etree.parse(str(_shared("reference/chorus-pro/CPPStatutPivot_V1_19.xsd")))
    )


@pytest.fixture(scope="session")
def cii_d16b_dir() -> Path:
    return _shared("reference/cii-d16b")
