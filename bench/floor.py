"""The floor: what reading, parsing and XSD-validating the files costs with lxml alone.

One process, one file after the other, with the engine's own parser options
(edi_engine/reception/xmlsafe.py) and the very schemas it validates each document against
(edi_engine/reception/validation.py). The schemas are compiled before the clock starts, as a
long-running engine has them compiled already; the engine's time includes its start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from edi_engine.reception import validation, xmlsafe
from edi_engine.settings import LIBXML_TEXT_NODE

from .generate import Corpus


class InvalidFlow(Exception):
    """A generated file is not valid against its schema: the generator is wrong."""


@dataclass(frozen=True)
class Floor:
    seconds: float
    invoices: int
    bytes: int

    @property
    def invoices_per_s(self) -> float:
        return self.invoices / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.bytes / 1e6 / self.seconds


def measure(corpus: Corpus) -> Floor:
    """Parse and validate every file of the corpus; raises InvalidFlow on the first invalid."""
    first = {flow.kind: flow for flow in reversed(corpus.flows)}
    for flow in first.values():  # compile every schema the corpus uses
        _check(flow.path.read_bytes(), flow.path.name)
    start = time.perf_counter()
    for flow in corpus.flows:
        _check(flow.path.read_bytes(), flow.path.name)
    seconds = time.perf_counter() - start
    return Floor(seconds, corpus.invoices, corpus.bytes)


def _check(content: bytes, name: str) -> None:
    tree = xmlsafe.parse(content, huge=len(content) > LIBXML_TEXT_NODE)  # as the engine does
    problems = validation.problems(tree)
    if problems:
        raise InvalidFlow(f"{name} is not valid: {problems[0].message}")
