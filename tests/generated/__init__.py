"""Invoices the test suite writes itself, covering what the public EN 16931 corpus covers.

``SAMPLES`` maps a file name to a ``Sample``: a ``Spec`` (tests/generated/spec.py)
written as UBL 2.1 (tests/generated/ubl.py) or as CII in one Factur-X profile
(tests/generated/cii.py). Together they cover every Factur-X profile, UBL invoices and
credit notes, document and line allowances and charges, several VAT rates and the
exempt categories with their reasons, embedded and referenced attachments, every
identifier scheme the readers know, prepaid amounts and rounding, notes, payment terms,
delivery, negative quantities and suppliers without SIRET. Each document is valid against
its standard schema (``Sample.schema``); the tests check it.

The API, for any test: ``SAMPLES[name].content`` (bytes), ``.root()`` (a fresh tree to
edit), ``.spec`` (what it says), ``.expected_*`` (what a reader must find), and
``write(spec, syntax, profile)`` for a document of one's own. ``corpus_cases(folder)``
adds the files of ../shared/corpus as further cases when it is there (``case_root``
and ``case_content`` open either kind).
"""

from __future__ import annotations

from .catalogue import SAMPLES, Sample, samples_where, write
from .corpus import case_content, case_root, corpus_cases, corpus_path, is_corpus
from .spec import (
    BASIC,
    BASIC_WL,
    EN16931,
    EXTENDED,
    MINIMUM,
    PROFILES,
    AllowanceCharge,
    Attachment,
    Id,
    Line,
    Party,
    PaymentMeans,
    Spec,
    Vat,
    iban,
    siret,
)

__all__ = [
    "BASIC",
    "BASIC_WL",
    "EN16931",
    "EXTENDED",
    "MINIMUM",
    "PROFILES",
    "SAMPLES",
    "AllowanceCharge",
    "Attachment",
    "Id",
    "Line",
    "Party",
    "PaymentMeans",
    "Sample",
    "Spec",
    "Vat",
    "case_content",
    "case_root",
    "corpus_cases",
    "corpus_path",
    "iban",
    "is_corpus",
    "samples_where",
    "siret",
    "write",
]
