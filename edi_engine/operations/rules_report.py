"""`edi-engine validate --rules` and `edi-engine rules list`: the official business rules
(edi_engine/reception/rules.py) as a supplier's developer and an operator see them
(docs/errors.md#business-rules).

`validate --rules` says the XSD's verdict and the rules' apart, and runs the rules even on
a document the XSD refuses: a diagnostic, to fix everything in one go (`run` rejects on
the XSD alone and never runs the rules then).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from lxml import etree

from ..controls.catalogue import severity_of
from ..ledger.states import Syntax
from ..problems import REJECT, FlowRejected, Problem
from ..reception import documents, facturx_pdf, rules
from ..reception.identify import Container
from ..settings import RuleSettings, Settings
from . import checking

FATAL = "fatal"
WARNING = "warning"
CHECKED = (Syntax.UBL, Syntax.CII, Syntax.FACTURX)  # EN 16931 syntaxes: the rules apply


def without_rules(settings: Settings) -> Settings:
    """These settings with no rule set: `validate --rules` takes the XSD's verdict with
    them, and runs the rules apart (on XSD-invalid documents too), once."""
    return replace(settings, rules=RuleSettings(en16931=False, br_fr=False))


def sets_in_force(settings: Settings) -> tuple[tuple[str, ...], bool]:
    """The hub's rule sets, and whether EN 16931's were taken because none is on."""
    if settings.rules.sets:
        return settings.rules.sets, False
    return (rules.EN16931,), True


def hub_severity(rule_id: str, flag: str, settings: Settings) -> str:
    """What this hub does when the rule fails: its [controls.severity] line for the rule,
    else what the norm's flag says (fatal rejects, warning warns)."""
    own = severity_of(rule_id, settings.controls.severity)
    return own or ("reject" if flag == FATAL else "warn")


# -- validate --rules ----------------------------------------------------------------------


def validate_file(
    path: Path, settings: Settings, sets: Sequence[str], explain: bool = False
) -> dict[str, Any]:
    """`validate`'s report of one file (the XSD's, unchanged) with the rules' beside it:
    `schema_valid`, `rules_valid` (every invoice checked, and no finding this hub rejects
    on: what `run` would do), `rules`."""
    quiet = without_rules(settings)
    result = checking.validate_file(path, quiet, explain)
    findings: list[dict[str, Any]] = []
    notes: list[str] = []
    if result["syntax"] is None:
        _noted(notes, None)("the file could not be read as a document: the rules were not run.")
        checked_all = False
    elif result["syntax"] in (Syntax.PIVOT, Syntax.STATUT):
        _noted(notes, None)(_NOT_APPLICABLE)
        checked_all = True
    else:
        checked_all = _check_documents(path, quiet, sets, findings, notes)
    result["schema_valid"] = result["valid"]
    result["rules_valid"] = checked_all and all(f["severity"] != "reject" for f in findings)
    result["rules"] = findings
    result["rule_sets"] = list(sets)
    result["rules_notes"] = notes
    result["valid"] = result["schema_valid"] and result["rules_valid"]
    return result


_NOT_APPLICABLE = (
    "a pivot or status document is not EN 16931 syntax: the business rules do not apply "
    "to it (the hub's own controls do)."
)


def _check_documents(
    path: Path,
    settings: Settings,
    sets: Sequence[str],
    findings: list[dict[str, Any]],
    notes: list[str],
) -> bool:
    """Run the rules on each UBL and CII document of the file (a batch's members one by
    one), adding to `findings` and `notes`; False when one of them could not be read,
    so was not checked."""
    checked_all = True
    try:
        unpacked = documents.unpacked(path, path.name, settings)
        several = unpacked.container in (Container.ZIP, Container.TAR_GZ)  # a batch
        for document in unpacked.documents:
            say = _noted(notes, document.name if several else None)
            if document.tree is None:
                say("not readable as a document: the rules were not run.")
                checked_all = False
            elif document.syntax not in CHECKED:
                say(_NOT_APPLICABLE)
            else:
                if document.problems:
                    say(
                        "the XSD refuses this document: the rules were run on it as a "
                        "diagnostic (a flow is rejected on the XSD alone)."
                    )
                content = _xml_of(document, settings)
                for problem in rules.check(content, document.tree, sets):
                    findings.append(_finding(problem, settings, document.name, several))
    except (OSError, FlowRejected):  # validate_file has said why already
        return False
    return checked_all


def _noted(notes: list[str], member: str | None) -> Callable[[str], None]:
    """Adds a note, about a batch's member when it names one."""

    def say(text: str) -> None:
        notes.append(f"{member}: {text}" if member else text[:1].upper() + text[1:])

    return say


def _xml_of(document: documents.Document, settings: Settings) -> bytes:
    """The XML bytes the rules read: the document as deposited, or a Factur-X PDF's CII."""
    original = document.original
    if original is not None and original.mime_type == documents.PDF_MIME:
        return facturx_pdf.invoice_xml(original.content, document.name, settings.limits)
    if original is not None:
        return original.content
    return etree.tostring(document.tree, encoding="UTF-8", xml_declaration=True)


def _finding(problem: Problem, settings: Settings, name: str, several: bool) -> dict[str, Any]:
    flag = FATAL if problem.severity == REJECT else WARNING
    found: dict[str, Any] = {
        "id": problem.code,
        "flag": flag,
        "location": problem.path,
        "message": problem.message,
        "line": problem.line,
        "element": problem.element,
        "severity": hub_severity(problem.code, flag, settings),
    }
    if several:
        found["document"] = name
    return found


# -- rules list ----------------------------------------------------------------------------


def stylesheets_of(name: str) -> list[tuple[str, str]]:
    """(syntax, stylesheet) of every stylesheet of a set: UBL's, then every CII profile's
    (EN 16931's first, the others' only add what it has not)."""
    found = [("UBL", rules.UBL_STYLESHEETS[name])]
    if name == rules.EN16931:
        profiles = dict.fromkeys([rules.CII_DEFAULT, *rules.CII_PROFILES.values()])
        found += [("CII", stylesheet) for stylesheet in profiles]
    else:
        found.append(("CII", rules.CII_BR_FR))
    return found


def rules_in_force(sets: Iterable[str], settings: Settings) -> list[dict[str, Any]]:
    """One row per rule identifier of these sets: the norm's flag (fatal or warning), this
    hub's severity, its set, the syntaxes it is checked in and its message (the first
    stylesheet's; a computed part shown as {…}). An identifier flagged differently in UBL
    and in CII (BR-51: a warning in UBL, unflagged so fatal in Factur-X) has a row for each."""
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for name in sets:
        for syntax, stylesheet in stylesheets_of(name):
            for rule in rules.listed(stylesheet):
                row = rows.setdefault(
                    (rule.id, rule.flag),
                    {
                        "id": rule.id,
                        "flag": rule.flag,
                        "severity": hub_severity(rule.id, rule.flag, settings),
                        "set": name,
                        "syntaxes": [],
                        "message": rule.message,
                    },
                )
                if syntax not in row["syntaxes"]:
                    row["syntaxes"].append(syntax)
    return [rows[key] for key in sorted(rows, key=lambda key: (_natural(key[0]), key[1]))]


def _natural(identifier: str) -> list[Any]:
    """BR-2 before BR-10: numbers compared as numbers."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", identifier)]
