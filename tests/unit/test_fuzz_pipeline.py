"""Whatever a partner deposits, the road of a flow ends in one of two ways (issue 13): an
accepted invoice whose pivot validates against our own schema, or a coded rejection, a
Problem whose code the CR can name (docs/errors.md). Any other exception would put the flow
IN_INCIDENTE and leave its supplier without an answer.

The inputs are valid documents (the demo's UBL, CII, pivot and Factur-X, the generated
UBL and CII samples, a CPPStatut) mutated as a careless or hostile supplier would: a
value replaced (odd amounts, dates, codes, markup, bidi and zero-width characters), an
element dropped or repeated, bytes flipped, cut or inserted (a DOCTYPE, an entity, a
BOM), the document put in a zip or tar.gz under hostile member names; and random bytes.
Each goes through identify -> validate -> read (flow_parts.parts, the road of every flow:
documents, reading, and the streamed road of a large pivot) and each invoice read
through the controls that need no ledger, then convert (pivot.write_pivot, checked
against our schema as pipeline._deliver does).

A few seconds in `make test`: derandomized, no example database, so CI runs the same
examples every time. With atheris installed (the test extra installs it where it has
wheels: Linux x86_64, Python 3.11-3.13), `make test` also runs the same property
coverage-guided for a few seconds, and `python tests/unit/test_fuzz_pipeline.py
[corpus_dir]` for as long as one likes; without it that one test skips, saying why.
"""

from __future__ import annotations

import gc
import io
import re
import resource
import subprocess
import sys
import tarfile
import tempfile
import types
import warnings
import zipfile
from dataclasses import replace
from datetime import UTC, date, datetime
from decimal import Decimal
from functools import cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

import config
from edi_engine import settings as engine_settings
from edi_engine import siret
from edi_engine.controls import amounts, identifiers, numbers
from edi_engine.controls.catalogue import CATALOGUE
from edi_engine.delivery import outputs
from edi_engine.ledger.models import Flow
from edi_engine.lifecycle.statuses_in import CODES as STATUS_CODES
from edi_engine.problems import FRENCH, REJECT, FlowRejected, Problem
from edi_engine.reception import flow_parts
from edi_engine.reception.identify import PIVOT
from pivot_format import pivot
from pivot_format.errors import ConversionError
from pivot_format.model import Debiteur, Envelope, Invoice, InvoiceStatus, Supplier
from pivot_format.statut import write_invoice_statuses

CODES = set(FRENCH) | set(CATALOGUE) | set(STATUS_CODES)  # what a CR can name
FUZZ = settings(
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
PARSER = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
DEMO = ("ubl-invoice.xml", "ubl-creditnote.xml", "cii-invoice.xml", "pivot-multi.xml")
GENERATED = ("ubl-invoice-full.xml", "cii-invoice-full.xml", "cii-minimal.xml", "ubl-minimal.xml")
DEPOSIT = date(2026, 12, 1)
TOLERANCE, VAT_TOLERANCE = Decimal("0.01"), Decimal("1")

# -- the road, as pipeline.process_flow takes it ----------------------------------------


@cache
def _home() -> Path:
    """A folder standing for the engine's archive (module-wide: hypothesis tests take no
    function-scoped fixture); removed with the process's temporary files."""
    return Path(tempfile.mkdtemp(prefix="edi-fuzz-"))


@cache
def _settings(streamed: bool) -> engine_settings.Settings:
    loaded = engine_settings.load(_home(), require_file=False)
    if not streamed:
        return loaded
    return replace(loaded, limits=replace(loaded.limits, stream_bytes=0))


def road(content: bytes, name: str = "flow.xml", streamed: bool = False) -> list[Invoice]:
    """The invoices accepted from `content`; raises AssertionError for any outcome other
    than an accepted invoice or a coded rejection."""
    loaded = _settings(streamed)
    accepted: list[Invoice] = []
    try:
        for part in flow_parts.parts(loaded, _archived(content, name)):
            _coded(part.problems)
            for read in part.reads:
                if read.problem is not None:
                    _coded([read.problem])
                elif _controlled(read.invoice):
                    accepted.append(_converted(read.invoice))
    except FlowRejected as rejected:
        _coded(rejected.problems)
    return accepted


def _archived(content: bytes, name: str) -> Flow:
    """A flow whose original the archive holds (not recorded: the road needs no ledger)."""
    archived = _settings(False).archive / "fuzz" / "original"
    archived.parent.mkdir(parents=True, exist_ok=True)
    archived.write_bytes(content)
    return Flow(file_name=name, size=len(content), archive_path="fuzz/original")


def _coded(problems: list[Problem] | tuple[Problem, ...]) -> None:
    for problem in problems:
        assert problem.code in CODES, f"{problem.code} is in no catalogue: {problem.message}"
        assert problem.message, problem.code


def _controlled(invoice: Invoice) -> bool:
    """The controls that need no ledger (routing needs a buyer SIRET, as `convert` says):
    an invoice they refuse never reaches the pivot writer."""
    if not invoice.debiteur.siret or not siret.is_valid(invoice.debiteur.siret):
        return False
    found = [
        *numbers.check(invoice),
        *identifiers.currency(invoice),
        *amounts.totals(invoice, TOLERANCE, VAT_TOLERANCE),
        *identifiers.iban(invoice),
    ]
    _coded(found)
    return not any(problem.severity == REJECT for problem in found)


def _converted(invoice: Invoice) -> Invoice:
    """The pivot of an accepted invoice validates against our schema; the writer may still
    refuse what the pivot cannot carry, with a code (pipeline._deliver)."""
    invoice = replace(invoice, reception_date=DEPOSIT, renvoi="Non", id_cpro=1)
    envelope = Envelope("FL0000000001", DEPOSIT, "EDIHUB", "DEST01")
    try:
        content = pivot.write_pivot([invoice], envelope)
    except ConversionError as exc:
        _coded([Problem(exc.code, exc.message)])
        return invoice
    outputs.checked(PIVOT, content, "the pivot")  # OutputInvalid fails the property
    return invoice


# -- valid documents to start from --------------------------------------------------------


@cache
def seeds() -> dict[str, bytes]:
    from generated.catalogue import SAMPLES

    found = {name: config.path(f"demo/{name}").read_bytes() for name in DEMO}
    found.update({name: SAMPLES[name].content for name in GENERATED})
    found["statut.xml"] = _statut()
    found["facturx.pdf"] = _facturx(found["cii-invoice.xml"])
    return found


def _statut() -> bytes:
    status = InvoiceStatus(
        code="07",
        supplier=Supplier("81234567600025", "1", "Papeteries Delorme SAS", "FR"),
        debiteur=Debiteur("21990101400015"),
        invoice_number="F01-2026-000101",
        at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        invoice_date=date(2026, 11, 2),
    )
    return write_invoice_statuses([status], Envelope("ST0001", DEPOSIT, "DEST01", "EDIHUB"))


def _facturx(cii: bytes) -> bytes:
    import facturx
    from pypdf import PdfWriter

    blank = io.BytesIO()
    writer = PdfWriter()
    writer.add_blank_page(width=595, height=842)
    writer.write(blank)
    return facturx.generate_from_binary(blank.getvalue(), cii, check_xsd=False)


# -- mutations ----------------------------------------------------------------------------

XML_CHARACTERS = st.characters(
    blacklist_categories=("Cs",),
    blacklist_characters="\ufffe\uffff",
    min_codepoint=0x20,
) | st.sampled_from("\t\n\r")
VALUES = st.one_of(
    st.sampled_from(
        [
            "",
            " ",
            "0",
            "-0",
            "-0.00",
            "1e3",
            "1E+400",
            "NaN",
            "-INF",
            "Infinity",
            "-1",
            "0.0000000001",
            "9" * 40,
            "12.345",
            ".5",
            "5.",
            "+3",
            " 12.50 ",
            "1 000,00",
            "2024-02-30",
            "2024-13-01",
            "0000-01-01",
            "9999-12-31",
            "20240101",
            "2024-01-01Z",
            "FR",
            "XXX",
            "EUR",
            "380",
            "381",
            "389",
            "999",
            "0009",
            "0002",
            "1",
            "ZZ",
            "81234567600025",
            "21990101400015",
            "00000000000000",
            "FR7630099001230001234567827",
            "x" * 5000,
            "é" * 300,
            "\u202e",
            "DUP\u200b-1",
            "ＤＵＰ-1",
            "[/bold]",
            "[conceal]x",
            "a\nb",
            "\t",
            "\r",
            "\x85",
            "\u2028",
            "<![CDATA[x]]>",
            "&amp;",
            "VAT",
            "S",
            "AE",
        ]
    ),
    st.text(alphabet=XML_CHARACTERS, max_size=30),
)
AMOUNT = re.compile(r"[+-]?[0-9]*\.?[0-9]+")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
CII_DATE = re.compile(r"[0-9]{8}")
AMOUNTS = st.sampled_from(
    ["-0", "+0.00", "00012.50", "1.", ".5", "9" * 19 + ".99", "0.000001", "-999999999.99",
     "1" * 30, "0.125", "-0.005", "12", "+7.0000000000"]
)  # fmt: skip
BAD_DATES = ["2024-02-30", "2024-13-01", "0000-01-01", "9999-12-31", "2024-02-29"]
SNIPPETS = [
    b"<!DOCTYPE x [<!ENTITY a 'b'>]>", b"&a;", b"&#0;", b"&#x1F;", b"<![CDATA[", b"]]>",
    b"\xef\xbb\xbf", b"\xff\xfe", b"\x00", b"<?xml version='1.0' encoding='UTF-16'?>",
    b"<!-- -->", b"<x:y xmlns:x='urn:x'/>", b"</", b"<a>", b"\xc3", b"%PDF-1.4\n", b"PK\x03\x04",
]  # fmt: skip
HOSTILE_NAMES = st.sampled_from(
    ["a.xml", "[/bold]", "[conceal]x.xml", "a\nb.xml", "../x.xml", "/abs.xml", "dir/", "",
     "x" * 300, "\u202eevil.xml", "a\\b.xml", "nested.zip"]
)  # fmt: skip


def _tree(content: bytes) -> etree._Element | None:
    try:
        return etree.fromstring(content, PARSER)
    except (etree.XMLSyntaxError, ValueError):
        return None


def _element(draw: st.DrawFn, root: etree._Element, leaf: bool = False) -> etree._Element:
    elements = [e for e in root.iter() if isinstance(e.tag, str) and not (leaf and len(e))]
    return elements[draw(st.integers(0, len(elements) - 1))] if elements else root


def _set_text(draw: st.DrawFn, content: bytes) -> bytes:
    root = _tree(content)
    if root is None:
        return _flip(draw, content)
    element = _element(draw, root, leaf=True)
    if element.attrib and draw(st.booleans()):
        name = draw(st.sampled_from(sorted(element.attrib)))
        element.set(name, draw(_like(element.get(name))))
    else:
        element.text = draw(_like(element.text or ""))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _like(value: str) -> st.SearchStrategy[str]:
    """Mostly a value of the same shape, which the schema may well accept and the reader
    must then understand: an amount written otherwise, another date, another code."""
    value = value.strip()
    if AMOUNT.fullmatch(value):
        shaped = AMOUNTS | st.decimals(allow_nan=False, allow_infinity=False).map(str)
    elif ISO_DATE.fullmatch(value):
        shaped = st.dates().map(date.isoformat) | st.sampled_from(BAD_DATES)
    elif CII_DATE.fullmatch(value):
        shaped = st.dates().map(lambda d: f"{d.year:04d}{d.month:02d}{d.day:02d}")
    else:
        shaped = st.text(alphabet=value or "x", max_size=2 * len(value) + 2) if value else VALUES
    return st.one_of(shaped, shaped, VALUES)


def _set_attribute(draw: st.DrawFn, content: bytes) -> bytes:
    root = _tree(content)
    if root is None:
        return _insert(draw, content)
    element = _element(draw, root)
    name = draw(st.sampled_from(["currencyID", "schemeID", "unitCode", "NumOrdre", "Version"]))
    element.set(name, draw(VALUES))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _drop_or_repeat(draw: st.DrawFn, content: bytes) -> bytes:
    root = _tree(content)
    if root is None:
        return _cut(draw, content)
    element = _element(draw, root)
    parent = element.getparent()
    if parent is None:
        return content
    if draw(st.booleans()):
        parent.remove(element)
    else:
        for _ in range(draw(st.integers(1, 3))):
            element.addnext(etree.fromstring(etree.tostring(element)))
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")


def _flip(draw: st.DrawFn, content: bytes) -> bytes:
    if not content:
        return content
    at = draw(st.integers(0, len(content) - 1))
    return content[:at] + bytes([content[at] ^ draw(st.integers(1, 255))]) + content[at + 1 :]


def _insert(draw: st.DrawFn, content: bytes) -> bytes:
    at = draw(st.integers(0, len(content)))
    inserted = draw(st.sampled_from(SNIPPETS) | st.binary(max_size=16))
    return content[:at] + inserted + content[at:]


def _cut(draw: st.DrawFn, content: bytes) -> bytes:
    start = draw(st.integers(0, len(content)))
    end = draw(st.integers(start, min(len(content), start + 200)))
    return content[:start] + content[end:] if draw(st.booleans()) else content[:start]


STRUCTURE = [_set_text, _set_text, _set_text, _set_text, _set_attribute, _drop_or_repeat]
BYTES = [_flip, _insert, _cut]


@st.composite
def mutated(draw: st.DrawFn, names: tuple[str, ...] | None = None) -> tuple[str, bytes]:
    """A valid document changed one to three times: mostly its values and elements (which
    its schema may accept, and the reader must then understand), else its bytes."""
    name = draw(st.sampled_from(names or sorted(seeds())))
    content = seeds()[name]
    mutations = STRUCTURE if draw(st.integers(0, 3)) else BYTES
    for _ in range(draw(st.integers(1, 3))):
        content = draw(st.sampled_from(mutations))(draw, content)
    return name, content


def _zip(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as batch, warnings.catch_warnings():
        warnings.simplefilter("ignore")  # a name twice: as hostile as any
        for name, content in members:
            batch.writestr(zipfile.ZipInfo(name or "-"), content)
    return buffer.getvalue()


def _tar_gz(members: list[tuple[str, bytes]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as batch:
        for name, content in members:
            info = tarfile.TarInfo(name or "-")
            info.size = len(content)
            batch.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


@st.composite
def deposited(draw: st.DrawFn) -> tuple[str, bytes]:
    """A mutated document as it is, or in a batch with others under hostile names."""
    name, content = draw(mutated())
    if draw(st.integers(0, 3)):
        return name, content
    members = [(draw(HOSTILE_NAMES), content)]
    members += [(draw(HOSTILE_NAMES), draw(mutated())[1]) for _ in range(draw(st.integers(0, 2)))]
    if draw(st.booleans()):
        return "batch.zip", _zip(members)
    return "batch.tar.gz", _tar_gz(members)


MAGIC = st.sampled_from([b"", b"PK\x03\x04", b"\x1f\x8b\x08", b"%PDF-1.7\n", b"<?xml ", b"<"])

# -- the properties -----------------------------------------------------------------------


def test_the_seeds_are_accepted() -> None:
    """The property is worth something only if unchanged seeds go the whole way."""
    for name in ("ubl-invoice.xml", "cii-invoice.xml", "pivot-multi.xml", "facturx.pdf"):
        assert road(seeds()[name], name), name
    assert road(seeds()["statut.xml"], "statut.xml") == []  # statuses, no invoice


def test_found_by_fuzzing_an_attachment_outside_ascii_is_invalid_base64() -> None:
    """A pivot attachment whose content holds a character outside ASCII was a ValueError
    from base64, not INVALID_BASE64: its flow went IN_INCIDENTE."""
    root = etree.fromstring(seeds()["pivot-multi.xml"], PARSER)
    content = root.find(".//PJ/Contenu")
    content.text = "\u00e9" + content.text
    changed = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    codes: list[str] = []
    for part in flow_parts.parts(_settings(False), _archived(changed, "pivot.xml")):
        codes += [read.problem.code for read in part.reads if read.problem is not None]
    assert codes == ["INVALID_BASE64"]


@settings(FUZZ, max_examples=120)
@given(deposited())
def test_a_changed_document_is_accepted_or_refused_with_a_code(case: tuple[str, bytes]) -> None:
    road(case[1], case[0])


@settings(FUZZ, max_examples=40)
@given(mutated(names=("pivot-multi.xml",)))
def test_a_changed_pivot_read_as_a_stream_is_accepted_or_refused_with_a_code(
    case: tuple[str, bytes],
) -> None:
    road(case[1], case[0], streamed=True)


@settings(FUZZ, max_examples=80)
@given(MAGIC, st.binary(max_size=600))
def test_random_bytes_are_refused_with_a_code(magic: bytes, noise: bytes) -> None:
    assert road(magic + noise, "noise.xml") == []


# -- atheris, where it installs -----------------------------------------------------------

# inputs of coverage-guided fuzzing in `make test` (a few seconds; by hand, as many as one
# likes): a count, not a time, so that a loaded machine fuzzes as far, only slower
FUZZ_RUNS = 600


def test_coverage_guided_fuzzing_finds_no_input_left_without_a_code(tmp_path: Path) -> None:
    """A few hundred inputs of atheris from the seeds, as `main` runs by hand: an input whose road
    ends other than in an accepted invoice or a coded rejection is written to `found`."""
    pytest.importorskip(
        "atheris",
        reason="atheris is not installed (setup.cfg's test extra installs it only on Linux "
        "x86_64 with Python 3.11-3.13, where it has wheels): the hypothesis properties "
        "above still ran",
    )
    corpus, found = tmp_path / "corpus", tmp_path / "found"
    corpus.mkdir()
    found.mkdir()

    # libFuzzer reads its RSS from ru_maxrss, which a child started by vfork inherits from
    # this process (GiBs late in the suite): its 2 GiB budget counts from there
    rss_limit_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + 2048
    run = subprocess.run(
        [sys.executable, __file__, str(corpus), f"-runs={FUZZ_RUNS}", "-seed=1",
         f"-artifact_prefix={found}/", f"-rss_limit_mb={rss_limit_mb}"],
        cwd=tmp_path, capture_output=True, text=True, errors="replace", timeout=600,
    )  # fmt: skip

    assert (run.returncode, sorted(p.name for p in found.iterdir())) == (0, []), run.stderr[-4000:]
    assert re.search(r"^Done \d+ runs", run.stderr, re.M), run.stderr[-4000:]  # it did fuzz
    assert len(list(corpus.iterdir())) > len(seeds())  # and found inputs of its own


ENGINE = ("edi_engine", "pivot_format", "connectors")  # the code whose branches guide atheris
EVERYTHING = "--instrument-all"  # also the standard library's and the dependencies' Python


def main() -> None:  # pragma: no cover - run by hand, and for a few seconds by the test below
    """`python tests/unit/test_fuzz_pipeline.py CORPUS_DIR [--instrument-all] [libFuzzer
    options]`: an empty CORPUS_DIR is first given the seeds, so that mutations start from
    valid documents. The engine's own functions are instrumented (a second or so);
    --instrument-all instruments every imported function (zipfile, tarfile, base64...),
    which takes minutes before the first input."""
    import logging

    import atheris

    logging.disable(logging.CRITICAL)  # pypdf says why each damaged PDF is damaged
    everything = EVERYTHING in sys.argv
    argv = [a for a in sys.argv if a != EVERYTHING]
    folders = [Path(a) for a in argv[1:] if not a.startswith("-")]
    for folder in folders:
        if folder.is_dir() and not any(folder.iterdir()):
            for name, content in seeds().items():
                (folder / name).write_bytes(content)

    def one_input(data: bytes) -> None:
        road(data, "fuzz.xml")
        road(data, "fuzz.xml", streamed=True)

    if everything:
        atheris.instrument_all()
    else:
        for function in _engine_functions():
            atheris.instrument_func(function)
    atheris.Setup(argv, one_input)
    atheris.Fuzz()


def _engine_functions() -> list[types.FunctionType]:
    """Every function of the engine's own modules, imported already (methods included)."""
    return [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, types.FunctionType)
        and isinstance(obj.__module__, str)
        and obj.__module__.split(".")[0] in ENGINE
    ]


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: generated
    main()
