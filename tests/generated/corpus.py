"""The public EN 16931 corpus of ../shared, when it is beside the clone: an additional
set of cases for the tests that run on the generated documents, never the only one."""

from __future__ import annotations

import os
from pathlib import Path

from lxml import etree

# same lookup as tests/conftest.SHARED; parametrizing needs the names at collection time
SHARED = Path(
    os.environ.get("EDI_SHARED_DIR", Path(__file__).resolve().parents[2].parent / "shared")
)
CORPUS = SHARED / "corpus"
PREFIX = "corpus/"  # a case id that names a corpus file, relative to CORPUS
PARSER = etree.XMLParser(resolve_entities=False, no_network=True)


def corpus_cases(folder: str = "") -> list[str]:
    """``corpus/<folder>/<name>`` for each corpus file under ``folder``; none when absent."""
    base = CORPUS / folder
    if not base.is_dir():
        return []
    return sorted(PREFIX + str(p.relative_to(CORPUS)) for p in base.rglob("*") if p.is_file())


def corpus_path(case: str) -> Path:
    return CORPUS / case.removeprefix(PREFIX)


def is_corpus(case: str) -> bool:
    return case.startswith(PREFIX)


def case_content(case: str) -> bytes:
    """The bytes of a case: a generated sample by name, or a corpus file."""
    from .catalogue import SAMPLES

    return corpus_path(case).read_bytes() if is_corpus(case) else SAMPLES[case].content


def case_root(case: str) -> etree._Element:
    """A fresh tree of a case, so that a test may edit it."""
    return etree.fromstring(case_content(case), PARSER)
