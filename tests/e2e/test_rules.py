"""The official business rules end to end (issue 15, item 5): an invoice of our own
generator that breaks exactly one rule (tests/generated/breakers.py) is refused under that
rule's identifier with the norm's own message, in the CR, the ledger and `flows show`, and
is delivered to no one; its mended twin, dropped in the same run, is integrated. A rule
flagged `warning` is kept as a warning, `[controls.severity]` lowers a rule, `[rules]`
turns the rules off, and every corpus invoice the hub accepted before still passes.

All the breakers and their twins go through one run of one home (module fixture `ran`),
each as its own one-invoice flow; each breaker's assertions are then read from that run,
so that a hundred flows cost one engine start. The BR-FR ones have a run of their own, in
a home with the French rules on (EDI_ENGINE_RULES_BR_FR).
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
from click.testing import CliRunner
from generated.breakers import BASE, BREAKERS, Breaker
from generated.catalogue import write
from generated.corpus import CORPUS  # EDI_SHARED_DIR, or ../shared beside the clone
from generated.spec import EN16931
from lxml import etree

import config
from cli import main
from edi_engine.problems import REJECT
from edi_engine.processing.report import parse
from edi_engine.reception import documents, rules
from edi_engine.settings import RuleSettings, Settings

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_1_SIRET, Home

EN16931_BREAKERS = [b for b in BREAKERS if not b.fr]
FRENCH_BREAKERS = [b for b in BREAKERS if b.fr]


# -- a home, its run, and what each party sees --------------------------------------------


def _home(path: Path) -> Home:
    """A home as tests/e2e/conftest.py's `home` fixture makes it, for a module fixture."""
    runner = CliRunner()

    def invoke(*args: str, code: int | None = 0):
        result = runner.invoke(main, ["--home", str(path), *map(str, args)], catch_exceptions=False)
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return result

    runner.invoke(main, ["init", str(path)], catch_exceptions=False)
    home = Home(path, invoke)
    home.invoke("partners", "add", SUPPLIER_1, "--name", "Papeteries Delorme SAS")
    home.invoke("partners", "add", RECIPIENT, "--name", "Recipient system")
    home.invoke("partners", "suppliers", "add", SUPPLIER_1, SUPPLIER_1_SIRET)
    home.invoke("structures", "import", config.path("demo/structures.csv"))
    return home


@dataclass
class Seen:
    """One flow after the run, as the depositor (its CR) and the operator (`flows show`)
    see it."""

    flow: dict
    detail: dict
    cr: etree._Element

    @property
    def cr_lines(self) -> list[etree._Element]:
        return list(self.cr.iter("LigneErreurDetail"))


@dataclass
class Run:
    home: Home
    seen: dict[str, Seen]  # by file name
    delivered: set[str]  # the invoice numbers of the pivots in the recipient's outbox


def _seen(home: Home, flow: dict) -> Seen:
    partner, number = flow["partner"], flow["number"]
    cr = etree.parse(str(home.path / "outbox" / partner / f"CR_{partner}_{number}.xml"))
    return Seen(flow, home.show(number), cr.getroot())


def delivered(home: Home) -> set[str]:
    folder = home.path / "outbox" / RECIPIENT
    return {
        etree.parse(str(path)).findtext("CPPFactures/CPPFacturePivotUnitaire/DonneesFacture/Id")
        for path in folder.glob("PIVOT_*.xml")
    }


def deposit(home: Home, files: dict[str, bytes]) -> Run:
    """Drop each file as its own flow, run once, and see every flow."""
    for name, content in files.items():
        home.drop(SUPPLIER_1, name, content)
    flows = {flow["file_name"]: flow for flow in home.run()}
    assert set(flows) == set(files)
    return Run(home, {name: _seen(home, flow) for name, flow in flows.items()}, delivered(home))


@pytest.fixture(scope="module")
def clean_env() -> Iterator[pytest.MonkeyPatch]:
    """What conftest's autouse `clean_environment` does, for the module's fixtures."""
    with pytest.MonkeyPatch.context() as patch:
        for name in list(os.environ):
            if name.startswith("EDI_ENGINE_"):
                patch.delenv(name)
        patch.setenv("EDI_ENGINE_PICKUP_STABLE_SECONDS", "0")
        patch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "false")
        yield patch


def broken_file(breaker: Breaker) -> str:
    return f"KO-{breaker.index:03d}-{breaker.name}.xml"


def mended_file(breaker: Breaker) -> str:
    return f"OK-{breaker.index:03d}-{breaker.name}.xml"


def _files(breakers: list[Breaker]) -> dict[str, bytes]:
    files = {}
    for breaker in breakers:
        files[broken_file(breaker)] = breaker.broken()
        files[mended_file(breaker)] = breaker.mended()
    return files


@pytest.fixture(scope="module")
def ran(clean_env: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """Every EN 16931 breaker and its mended twin, one flow each, in one run."""
    home = _home(tmp_path_factory.mktemp("rules") / "home")
    warnings = {
        "WARN-cii-empty-delivery.xml": write(
            replace(BASE, number="WARN-001", delivery_date=None), "cii", EN16931
        ),
        "WARN-ubl-buyer-contact-id.xml": write(
            replace(BASE, number="WARN-002", buyer=replace(BASE.buyer, contact_id="SERV-SCOL"))
        ),
    }
    return deposit(home, {**_files(EN16931_BREAKERS), **warnings})


@pytest.fixture(scope="module")
def ran_french(clean_env: pytest.MonkeyPatch, tmp_path_factory: pytest.TempPathFactory) -> Run:
    """The BR-FR breakers, in a home with the French reform's rules on as well."""
    home = _home(tmp_path_factory.mktemp("rules-fr") / "home")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("EDI_ENGINE_RULES_BR_FR", "true")
        return deposit(home, _files(FRENCH_BREAKERS))


# -- the official message of a rule -------------------------------------------------------


def official(breaker: Breaker, message: str) -> bool:
    """Whether `message` is the one the official stylesheet gives `breaker.rule`: its
    fixed text whole, up to the first computed part when it has one."""
    stylesheets = rules.stylesheets(etree.fromstring(breaker.broken()), breaker.sets)
    texts = [r.message for s in stylesheets for r in rules.listed(s) if r.id == breaker.rule]
    assert texts, f"{breaker.rule} is in none of {stylesheets}"
    for text in texts:
        fixed = text.split("{", 1)[0].strip()
        if message == text or ("{" in text and message.startswith(fixed)):
            return True
    return False


# -- a broken invoice is refused under its rule, its twin integrated ----------------------


def cr_lines(seen: Seen) -> list[tuple[str, str, str, str, str]]:
    """(code, NatureErreur, LibelleErreur, severity, English message) of each CR line."""
    found = []
    for line in seen.cr_lines:
        items = dict(parse(line.findtext("DescriptionErreur")))
        code, nature = line.findtext("CodeErreur"), line.findtext("NatureErreur")
        found.append((code, nature, line.findtext("LibelleErreur"), items["severity"], items["en"]))
    return sorted(found)


def ledger_lines(seen: Seen, nature: str) -> list[tuple[str, str, str, str, str]]:
    """The same, as `flows show --json` lists the errors."""
    return sorted(
        (e["code"], nature, e["message_fr"], e["severity"], e["message"].rstrip("."))
        for e in seen.detail["errors"]
    )


def assert_refused(run: Run, breaker: Breaker) -> None:
    seen = run.seen[broken_file(breaker)]
    assert seen.flow["status"] == "IN_REJETE", seen.detail["errors"]
    (invoice,) = seen.detail["invoice_list"]
    assert (invoice["status"], invoice["pivot_file"]) == ("REFUSEE_RECEPTION", None)
    # the ledger: this rule alone, rejecting, with the norm's own message and where
    assert {e["code"] for e in seen.detail["errors"]} == {breaker.rule}, seen.detail["errors"]
    for error in seen.detail["errors"]:
        assert error["severity"] == "reject"
        assert official(breaker, error["message"]), error["message"]
        assert error["path"].startswith("/") and error["line"], error
    # the CR in the supplier's outbox says the same
    assert seen.cr.findtext(".//IdStatut") == "93"
    assert cr_lines(seen) == ledger_lines(seen, "Facture")
    assert invoice["number"] not in run.delivered


def assert_integrated(run: Run, breaker: Breaker) -> None:
    seen = run.seen[mended_file(breaker)]
    assert seen.flow["status"] == "IN_INTEGRE", seen.detail["errors"]
    assert seen.detail["errors"] == [] and seen.cr_lines == []
    (invoice,) = seen.detail["invoice_list"]
    assert invoice["status"] == "MISE_A_DISPOSITION" and invoice["pivot_file"]
    assert invoice["number"] in run.delivered


@pytest.mark.parametrize("breaker", EN16931_BREAKERS, ids=lambda b: b.name)
def test_an_invoice_breaking_one_rule_is_refused_under_it_and_its_twin_integrated(
    ran: Run, breaker: Breaker
) -> None:
    assert_refused(ran, breaker)
    assert_integrated(ran, breaker)


@pytest.mark.parametrize("breaker", FRENCH_BREAKERS, ids=lambda b: b.name)
def test_with_br_fr_on_an_invoice_breaking_one_french_rule_is_refused_under_it(
    ran_french: Run, breaker: Breaker
) -> None:
    assert_refused(ran_french, breaker)
    assert_integrated(ran_french, breaker)


def test_the_breakers_cover_thirty_rules_of_every_family() -> None:
    assert len({b.name for b in BREAKERS}) == len(BREAKERS)
    covered = {b.rule for b in BREAKERS}
    families = {re.sub(r"-?\d+.*$", "", rule) for rule in covered}
    assert len(covered) >= 30
    assert {
        "BR",
        "BR-CO",
        "BR-DEC",
        "BR-S",
        "BR-Z",
        "BR-E",
        "BR-AE",
        "BR-IC",
        "BR-G",
        "BR-O",
        "BR-AF",
        "BR-AG",
        "BR-FR",
    } <= families


# -- a warning is kept as a warning ---------------------------------------------------------


def assert_warned(run: Run, name: str, codes: set[str]) -> None:
    """The flow and its invoice integrated and delivered, its warnings in the ledger, the
    CR and `invoices show`."""
    seen = run.seen[name]
    assert seen.flow["status"] == "IN_INTEGRE", seen.detail["errors"]
    (invoice,) = seen.detail["invoice_list"]
    assert invoice["status"] == "MISE_A_DISPOSITION" and invoice["number"] in run.delivered
    assert {e["code"] for e in seen.detail["errors"]} == codes
    assert {e["severity"] for e in seen.detail["errors"]} == {"warning"}
    assert seen.cr.findtext(".//IdStatut") == "90"
    assert cr_lines(seen) == ledger_lines(seen, "Avertissement")
    shown = json.loads(run.home.invoke("invoices", "show", invoice["id"], "--json").stdout)
    assert shown["errors"] == []
    assert {w["code"] for w in shown["warnings"]} == codes


def test_a_rule_flagged_warning_is_kept_as_a_warning(ran: Run) -> None:
    # an empty ApplicableHeaderTradeDelivery (no delivery information): Peppol's R008
    assert_warned(ran, "WARN-cii-empty-delivery.xml", {"PEPPOL-EN16931-R008"})
    # the service code as the buyer's contact ID, as older Chorus Pro flows put it
    assert_warned(ran, "WARN-ubl-buyer-contact-id.xml", {"UBL-CR-253"})


# -- the hub sets the rules: a severity, a rule set off -----------------------------------


def _configure(home: Home, old: str, new: str) -> None:
    config = home.path / "edi-engine.toml"
    text = config.read_text()
    assert text.count(old) == 1, old
    config.write_text(text.replace(old, new))


def test_a_rule_lowered_to_warn_lets_its_invoice_through_with_a_warning(home: Home) -> None:
    _configure(home, "[controls.severity]\n", '[controls.severity]\n"BR-CO-10" = "warn"\n')
    lowered = [b for b in EN16931_BREAKERS if b.rule == "BR-CO-10"]
    assert len(lowered) == 2  # UBL and CII
    run = deposit(home, {broken_file(b): b.broken() for b in lowered})
    for breaker in lowered:
        assert_warned(run, broken_file(breaker), {"BR-CO-10"})


def test_with_the_rules_off_every_breaker_is_accepted(home: Home) -> None:
    _configure(home, "en16931 = true\n", "en16931 = false\n")
    run = deposit(home, {broken_file(b): b.broken() for b in EN16931_BREAKERS})
    for breaker in EN16931_BREAKERS:
        seen = run.seen[broken_file(breaker)]
        assert (seen.flow["status"], seen.detail["errors"]) == ("IN_INTEGRE", []), breaker.name
        assert f"KO-{breaker.index:03d}" in run.delivered


# -- the public corpus ------------------------------------------------------------------------

# corpus invoices the rules refuse, each with the rules that do and why it really breaks them
REFUSED = {
    "en16931-cii/CII-BR-CO-10-RoundingIssue.xml": (
        {"FX-SCH-A-000556"},
        "BT-24 is ZUGFeRD 1.0's urn:ferd:CrossIndustryDocument:invoice:1p0:comfort, no "
        "Factur-X profile's identifier: the Factur-X code list refuses it",
    ),
    "en16931-cii/CII_business_example_02.xml": (
        {"FX-SCH-A-000556"},
        "BT-24 is ZUGFeRD 1.0's comfort identifier, which Factur-X refuses",
    ),
    "en16931-cii/CII_business_example_Z.xml": (
        {"FX-SCH-A-000556"},
        "BT-24 is ZUGFeRD 1.0's comfort identifier, which Factur-X refuses",
    ),
    "en16931-cii/CII_example5.xml": (
        {"FX-PROFILE"},
        "two header AdditionalReferencedDocument without TypeCode: EN 16931 maps only 50 "
        "(tender, BT-17), 130 (object, BT-18) and 916 (supporting document, BG-24) there",
    ),
    "en16931-cii/huf_example_cii.xml": (
        {"FX-PROFILE"},
        "a header AdditionalReferencedDocument without TypeCode, which EN 16931 does not map",
    ),
    "en16931-cii/XRechnung-O.xml": (
        {"FX-SCH-A-000616", "FX-SCH-A-000589"},
        "line object references (BT-128) without their TypeCode 130, and a VATEX code in "
        "lower case (vatex-eu-132-1a), which the code list (VATEX-EU-132-1A) does not hold",
    ),
}


def _corpus() -> list[str]:
    if not CORPUS.is_dir():
        return []
    return sorted(str(p.relative_to(CORPUS)) for p in CORPUS.rglob("*.xml"))


@pytest.mark.skipif(not CORPUS.is_dir(), reason=f"the public corpus {CORPUS} is absent")
def test_every_corpus_invoice_accepted_without_the_rules_passes_them_or_is_named() -> None:
    off = Settings(CORPUS, rules=RuleSettings(en16931=False))
    on = Settings(CORPUS, rules=RuleSettings(en16931=True))
    refused, checked = {}, 0
    for name in _corpus():
        content = (CORPUS / name).read_bytes()
        without = documents.document(name, content, off)
        if not without.valid:
            continue  # refused before the rules
        checked += 1
        found = documents.document(name, content, on)
        assert found.valid, name
        codes = {f.code for f in found.findings if f.severity == REJECT}
        if codes:
            refused[name] = codes
    assert checked >= 30
    assert refused == {name: codes for name, (codes, _) in REFUSED.items()}
