"""The official business rules as the engine runs them (edi_engine/reception/rules.py): the
stylesheet of the syntax and of the Factur-X profile an invoice declares, every failure
at once with the rule's identifier, where it is, and its severity."""

from __future__ import annotations

import pytest
from lxml import etree

from bench.generate import Options, _Maker
from edi_engine.problems import REJECT
from edi_engine.reception import rules
from tests.generated import cii, ubl

UBL_NS = {
    "cac": "urn:oasis:names:specification:ubl:schema:xsd:CommonAggregateComponents-2",
    "cbc": "urn:oasis:names:specification:ubl:schema:xsd:CommonBasicComponents-2",
}
EN16931 = (rules.EN16931,)


def _spec():
    return _Maker(Options(lines=(3, 3), attachments=0)).spec()


def _check(content: bytes, sets: tuple[str, ...] = EN16931) -> list:
    return rules.check(content, etree.ElementTree(etree.fromstring(content)), sets)


def test_every_factur_x_profile_is_checked_by_its_own_stylesheet() -> None:
    """Each profile's stylesheet refuses the others' identifiers (BT-24): run through the
    EN 16931 one, a BASIC or EXTENDED invoice would fail on its profile alone."""
    spec = _spec()
    for profile in (cii.BASIC, cii.EN16931, cii.EXTENDED):
        content = cii.write(spec, profile)
        root = etree.fromstring(content)
        (stylesheet,) = rules.stylesheets(root, EN16931)
        assert stylesheet == rules.CII_PROFILES[cii.GUIDELINES[profile]]
        assert _check(content) == [], profile


def test_every_failure_of_an_invoice_is_named_by_its_rule_where_it_is() -> None:
    root = etree.fromstring(ubl.write(_spec()))
    buyer = "cac:AccountingCustomerParty/cac:Party/cac:PostalAddress/cac:Country"
    root.find(f"{buyer}/cbc:IdentificationCode", UBL_NS).text = "XX"  # BR-CL-14
    root.find("cbc:DocumentCurrencyCode", UBL_NS).text = "ZZZ"  # BR-CL-04
    content = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)

    found = {problem.code: problem for problem in _check(content)}

    assert {"BR-CL-14", "BR-CL-04"} <= set(found)
    country = found["BR-CL-14"]
    assert country.severity == REJECT
    assert country.message.startswith("[BR-CL-14]-Country codes in an invoice MUST be coded")
    assert country.path == f"/Invoice/{buyer}/cbc:IdentificationCode"
    assert country.element == "IdentificationCode"
    assert content.splitlines()[country.line - 1].strip().startswith(b"<cbc:IdentificationCode>XX")
    assert (
        country.message_fr == "La facture ne respecte pas la règle BR-CL-14 de la norme EN 16931."
    )


def test_the_french_rules_apply_only_when_asked_and_speak_french() -> None:
    content = ubl.write(_spec())
    assert _check(content) == []
    french = _check(content, (rules.EN16931, rules.BR_FR))
    assert french and all(problem.code.startswith("BR-FR-") for problem in french)
    assert all(problem.message_fr == problem.message for problem in french)


def test_no_rule_applies_to_a_pivot_nor_to_a_lineless_profile_for_the_french_rules() -> None:
    pivot = etree.fromstring(b"<CPPFacturePivot/>")
    assert rules.stylesheets(pivot, rules.SETS) == []
    minimum = etree.fromstring(cii.write(_spec(), cii.MINIMUM))
    assert rules.stylesheets(minimum, rules.SETS) == [
        rules.CII_PROFILES[cii.GUIDELINES[cii.MINIMUM]]
    ]


def test_a_generated_identifier_gives_way_to_the_rule_the_message_names() -> None:
    assert rules.rule_of("FX-SCH-A-000047", "[BR-CO-16]-Amount due for payment") == "BR-CO-16"
    assert rules.rule_of("BR-CO-10", "[BR-CO-10]-Sum of Invoice line net amount") == "BR-CO-10"
    assert rules.rule_of("FX-SCH-A-000555", "Value of 'ram:TypeCode' is not allowed.") == (
        "FX-SCH-A-000555"
    )
    assert rules.rule_of(None, "Element ram:Note is marked as not used") == rules.PROFILE_RULE


def test_the_rules_of_a_stylesheet_are_listed_with_their_flag() -> None:
    listed = {rule.id: rule for rule in rules.listed(rules.UBL_STYLESHEETS[rules.EN16931])}
    assert listed["BR-CO-10"].flag == "fatal"
    assert "Sum of Invoice line net amount" in listed["BR-CO-10"].message
    assert any(rule.flag == "warning" for rule in listed.values())
    assert rules.known("BR-CO-10") and not rules.known("BR-XX-99")


def test_a_rule_family_is_given_its_severity_once_for_all_its_variants(tmp_path) -> None:
    """The French rules name each variant BR-FR-12_BT-49, BR-FR-12_BT-50...: the hub lowers
    "BR-FR-12" and every variant warns; a code no rule has is refused at start."""
    from edi_engine import settings as settings_module
    from edi_engine.controls.catalogue import graded
    from edi_engine.errors import ConfigurationError
    from edi_engine.problems import Problem

    (tmp_path / "edi-engine.toml").write_text('[controls.severity]\n"BR-FR-12" = "warn"\n')
    loaded = settings_module.load(tmp_path)
    variants = [rule.id for rule in rules.listed(rules.UBL_STYLESHEETS[rules.BR_FR])]
    variant = next(code for code in variants if code.startswith("BR-FR-12_"))
    (found,) = graded([Problem(variant, "…")], loaded.controls.severity)
    assert found.severity == "warning"
    (other,) = graded([Problem("BR-FR-13_BT-1", "…")], loaded.controls.severity)
    assert other.severity == REJECT

    (tmp_path / "edi-engine.toml").write_text('[controls.severity]\n"BR-FR-99" = "warn"\n')
    with pytest.raises(ConfigurationError, match=r"BR-FR-99.*rules list"):
        settings_module.load(tmp_path)


def test_the_engine_s_lean_stylesheets_find_exactly_what_the_shipped_ones_find() -> None:
    """The engine compiles each stylesheet without the report's fired-rule elements and
    reads its code lists once (rules._lean): on every breaker and its mended twin, and on
    an invoice of every Factur-X profile, it reports the same failures (rule, flag,
    location, line, message) as the stylesheet compiled from the package's file."""
    from tests.generated.breakers import BREAKERS

    samples = [(content, b.sets) for b in BREAKERS for content in (b.broken(), b.mended())]
    samples += [(cii.write(_spec(), profile), rules.SETS) for profile in cii.GUIDELINES]
    shipped: dict[str, object] = {}
    compared: set[str] = set()
    for content, sets in samples:
        tree = etree.ElementTree(etree.fromstring(content))
        text = rules._text(content, tree)
        for stylesheet in rules.stylesheets(tree.getroot(), sets):
            if stylesheet not in shipped:
                assert rules._lean(rules.FOLDER / stylesheet) is not None, stylesheet
                shipped[stylesheet] = rules.as_shipped(rules.FOLDER / stylesheet)
            lean = rules._compiled(stylesheet).transform_to_string(xdm_node=rules._parsed(text))
            official = shipped[stylesheet].transform_to_string(xdm_node=rules._parsed(text))
            assert "fired-rule" in official and "fired-rule" not in lean
            french = stylesheet in rules.FRENCH
            assert rules._findings(lean, tree, french) == rules._findings(official, tree, french)
            compared.add(stylesheet)
    assert compared == set(rules._all_stylesheets())
