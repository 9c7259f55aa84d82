"""The CR's parts a depositor's software relies on (docs/errors.md#reading-a-cr): the
description's items read back whole whatever the values, French for every code, IdLigne
never an XML line, partners' values bounded, the producer's IdFlx found only where it is."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st
from lxml import etree

from edi_engine.controls import CATALOGUE
from edi_engine.display import escaped
from edi_engine.lifecycle.statuses_in import CODES as STATUS_CODES
from edi_engine.problems import FRENCH, Problem
from edi_engine.processing.report import Identity, error_line, items, parse
from edi_engine.reception import origin
from pivot_format.model import Envelope, FlowStatus
from pivot_format.statut import read_statut, write_flow_statuses

from .test_docs import _codes_in_sources

# what an XML text node can carry (the CR is XML), semicolons and backslashes included; a
# character no reader sees is read back as its code point (`<U+200B>`), as shown everywhere
TEXT = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="\ufffe\uffff"),
    max_size=60,
) | st.sampled_from(["", ";", "\\", "\\;", "a; b=c", "x\\", "=", "en: not the message"])


@given(st.lists(st.tuples(st.sampled_from(["facture", "valeur", "chemin"]), TEXT), max_size=4))
def test_items_read_back_whole(pairs: list[tuple[str, str]]) -> None:
    kept = [(key, value) for key, value in pairs if value]  # an empty item is left out
    bounded = [(key, value) for key, value in kept if len(escaped(value)) <= 200]
    text = items(bounded)
    assert parse(text) == ([(key, escaped(value)) for key, value in bounded] or [("", "")])


@given(number=TEXT, message=TEXT)
def test_a_description_gives_the_invoice_and_the_english_message_back(
    number: str, message: str
) -> None:
    problem = Problem("VALUE_TOO_LONG", message or "x", invoice_seq=2, value=number or None)
    line = error_line(problem, Identity(number or None, "82345678500018", None))
    found = parse(line.detail)
    assert ("en", escaped((message or "x").rstrip("."))) in found
    if number:
        shown = escaped(number, 200)  # a value's bound
        assert ("facture", shown) in found and ("invoice", shown) in found
        assert ("valeur", shown) in found and ("value", shown) in found
    assert line.line_id == "2"


def test_every_code_the_engine_raises_has_a_french_label() -> None:
    french = set(FRENCH) | set(CATALOGUE) | set(STATUS_CODES)
    assert sorted(_codes_in_sources() - french) == []
    assert set(FRENCH).isdisjoint(CATALOGUE), "in_french gives a control its own message"
    assert Problem("XSD_INVALID", "Element 'x': not expected.").message_fr == FRENCH["XSD_INVALID"]


def test_a_flow_level_line_is_numbered_0_and_its_xml_line_is_in_the_description() -> None:
    problem = Problem("XSD_INVALID", "Element 'x': not expected.", line=14, path="/*/x")
    line = error_line(problem)
    assert (line.line_id, line.nature, line.message) == ("0", "Fichier", FRENCH["XSD_INVALID"])
    found = dict(parse(line.detail))
    assert (found["ligne"], found["chemin"], found["gravité"]) == ("14", "/*/x", "rejet")
    assert found["en"] == "Element 'x': not expected"


def test_partners_values_are_bounded() -> None:
    problem = Problem("VALUE_TOO_LONG", "too long: " + "x" * 5000, invoice_seq=1, value="v" * 900)
    line = error_line(problem, Identity("n" * 300, "s" * 300, "r" * 300))
    found = dict(parse(line.detail))
    assert all(len(found[key]) <= 200 for key in ("facture", "fournisseur", "valeur"))
    assert found["valeur"].endswith("…") and len(found["en"]) <= 1000


def test_the_note_is_written_and_read_back() -> None:
    status = FlowStatus(
        "90", "LOT-7", datetime(2026, 11, 20, tzinfo=UTC), note="fichier=a.xml; flux=FL1"
    )
    envelope = Envelope("FL1", datetime(2026, 11, 20).date(), "EDIHUB", "FOUR01")
    root = etree.fromstring(write_flow_statuses([status], envelope))
    (read,) = read_statut(root)[1]
    assert (read.note, read.flow_id) == ("fichier=a.xml; flux=FL1", "LOT-7")


def _pivot(tmp_path: Path, flow_id: str, head: str = "") -> Path:
    path = tmp_path / "flow.xml"
    path.write_text(
        f'<?xml version="1.0"?>{head}<CPPFacturePivot><Enveloppe><EnveloppeUnitaire>'
        "<Parametres><ParametreIndiv><Code>DtPrd</Code><Valeurparametre>2026-11-20"
        "</Valeurparametre></ParametreIndiv><ParametreIndiv><Code>IdFlx</Code>"
        f"<Valeurparametre>{flow_id}</Valeurparametre></ParametreIndiv></Parametres>"
        "</EnveloppeUnitaire></Enveloppe><CPPFactures/></CPPFacturePivot>"
    )
    return path


def test_the_producers_flow_id_is_read_from_the_envelope_only(tmp_path: Path) -> None:
    assert origin.producer_flow_id(_pivot(tmp_path, " LOT-7 ")) == "LOT-7"
    assert origin.producer_flow_id(_pivot(tmp_path, "L" * 500)) == "L" * 100  # bounded
    assert origin.producer_flow_id(_pivot(tmp_path, "")) is None
    doctype = '<!DOCTYPE CPPFacturePivot [<!ENTITY e "x">]>'
    assert origin.producer_flow_id(_pivot(tmp_path, "&e;", doctype)) is None  # refused
    padded = _pivot(tmp_path, "LOT-7", "<!--" + " " * origin.HEAD_BYTES + "-->")
    assert origin.producer_flow_id(padded) is None  # beyond the head: not looked for
    other = tmp_path / "other.xml"
    other.write_text("<Invoice><Parametres><ParametreIndiv><Code>IdFlx</Code>"
                     "<Valeurparametre>X</Valeurparametre></ParametreIndiv></Parametres>"
                     "</Invoice>")  # fmt: skip
    assert origin.producer_flow_id(other) is None
