"""A partner's value never breaks what an operator sees, nor writes a line of its own
(issue 13, item 2): file names, zip members, folder names, certificate subjects and
invoice numbers carrying rich markup (`[/bold]`, `[conceal]`), newlines, escape sequences
or bidi overrides are shown as written, their hidden characters as their code points
(`<U+000A>`), one line per item; `--json` keeps every value exact.
"""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from lxml import etree

from edi_engine import logs
from edi_engine.processing.report import parse

from .conftest import SUPPLIER_1, SUPPLIER_2, Home
from .test_controls import ubl
from .test_partner_certificates import _x509

FORGED = "Flow FL0000000099 processed; all good"
# a subject that, printed raw, ends its line, forges a DUPLICATE one and erases the line
FORGING_CN = "x)\nDUPLICATE SHA256:abc held by ABC001, XYZ002\x1b[2K"
# the subject's own RFC 4514 backslash (`\\,`) is shown as itself: escapes hold none
FORGING_SHOWN = "CN=x)<U+000A>DUPLICATE SHA256:abc held by ABC001\\, XYZ002<U+001B>[2K"


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as batch:
        for name, content in members.items():
            batch.writestr(name, content)
    return buffer.getvalue()


def _row(table: str, first: str) -> str:
    """The one table row whose first cell is `first`."""
    (line,) = [line for line in table.splitlines() if line.startswith(f"│ {first} ")]
    return line


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip("│").split("│")]


def _wrapped(table: str, first: str) -> list[str]:
    """The cells of the row whose first cell is `first`, each joined back from the lines
    rich wrapped it on (between words)."""
    lines = table.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"│ {first} "))
    rows = [_cells(lines[start])]
    for line in lines[start + 1 :]:
        if not line.startswith("│") or _cells(line)[0]:
            break
        rows.append(_cells(line))
    return [" ".join(part for part in parts if part) for parts in zip(*rows, strict=True)]


# -- files and zip members ---------------------------------------------------------------


def test_markup_in_member_and_file_names_is_shown_as_written(home: Home) -> None:
    junk = b"not xml"
    home.drop(SUPPLIER_1, "batch.zip", _zip({"[/bold]": junk, "ok.xml": ubl("F-ZIP-1")}))
    home.drop(SUPPLIER_1, "[conceal]secret.xml", ubl("F-CONCEAL-1"))
    home.drop(SUPPLIER_2, "escape.zip", _zip({"../[/bold]": junk}))

    table = home.invoke("run", "--once").stdout  # exit 0: nothing failed

    flows = {f["file_name"]: f for f in json.loads(home.invoke("flows", "list", "--json").stdout)}
    assert set(flows) == {"batch.zip", "[conceal]secret.xml", "escape.zip"}
    concealed = flows["[conceal]secret.xml"]
    assert _cells(_row(table, concealed["number"]))[2] == "[conceal]secret.xml"
    assert concealed["status"] == "IN_INTEGRE"
    assert "UNSAFE_MEMBER_PATH" in _row(table, flows["escape.zip"]["number"])
    escaping = home.invoke("flows", "show", flows["escape.zip"]["number"]).stdout
    (error,) = [line for line in escaping.splitlines() if "UNSAFE_MEMBER_PATH" in line]
    assert "Batch member '../[/bold]' has a path" in error

    batch = flows["batch.zip"]["number"]
    shown = home.invoke("flows", "show", batch).stdout  # exit 0
    (error,) = [line for line in shown.splitlines() if "NOT_XML" in line]
    assert _cells(error)[:4] == ["rejected", "NOT_XML", "", "[/bold]"]
    listed = home.invoke("flows", "list").stdout
    assert _cells(_row(listed, concealed["number"]))[2] == "[conceal]secret.xml"
    header = home.invoke("flows", "show", concealed["number"]).stdout.splitlines()[0]
    assert "file [conceal]secret.xml " in header


# each file's name, and how every screen and its CR show it
SHOWN_NAMES = {
    "a\nb.xml": "a<U+000A>b.xml",
    "a\\nb.xml": "a\\nb.xml",  # a backslash is only a backslash: no escape holds one
    "a\x01b.xml": "a<U+0001>b.xml",  # once both `a\ufffdb.xml`: now told apart
    "a\x02b.xml": "a<U+0002>b.xml",
    "a\u200bb\u3164\ufe0f.xml": "a<U+200B>b<U+3164><U+FE0F>.xml",  # zero-width, fillers
}


def test_a_file_name_reads_the_same_on_every_screen_and_in_its_cr(home: Home) -> None:
    """A file's name is kept with its hidden characters written as code points: the run's
    table, `flows list`, `flows show` and the CR all say it that one way, never escaped
    twice."""
    for i, name in enumerate(SHOWN_NAMES):
        home.drop(SUPPLIER_1, name, ubl(f"F-NAME-{i}"))

    table = home.invoke("run", "--once").stdout

    flows = {f["file_name"]: f for f in _flows(home)}
    assert set(flows) == set(SHOWN_NAMES.values())
    listed = home.invoke("flows", "list").stdout
    for shown, flow in flows.items():
        number = flow["number"]
        assert flow["status"] == "IN_INTEGRE"
        assert _wrapped(table, number)[2] == shown == _wrapped(listed, number)[2]
        assert f"file {shown} " in home.invoke("flows", "show", number).stdout.splitlines()[0]
        cr = etree.parse(home.path / "outbox" / SUPPLIER_1 / f"CR_{SUPPLIER_1}_{number}.xml")
        assert dict(parse(cr.findtext(".//DonneesStatut/Note")))["fichier"] == shown
        assert cr.findtext(".//Commentaire").startswith(f"Flux {number}, fichier {shown} : ")


def test_a_member_path_hidden_behind_control_characters_is_refused_in_its_cr(
    home: Home,
) -> None:
    """Shown, forty controls take 320 characters, so a stored member name is cut before its
    `/..`: the path is judged as written. The CR quotes the name shown and bounded (200
    characters a value), as every screen does: a raw control in a CR made the flow an
    incident, with no CR."""
    member = "\x01" * 40 + "/../x.xml"
    home.drop(SUPPLIER_1, "b.zip", _zip({member: ubl("F-MEMBER-1")}))

    (flow,) = home.run()

    assert flow["status"] == "IN_REJETE"
    (error,) = home.show(flow["number"])["errors"]
    shown = "<U+0001>" * 31 + "…"  # cut to the 255 characters a name keeps
    assert error["code"] == "UNSAFE_MEMBER_PATH" and error["value"] == shown
    assert error["message"].startswith(f"Batch member '{shown}' has a path that leaves")
    cr = etree.parse(home.path / "outbox" / SUPPLIER_1 / f"CR_{SUPPLIER_1}_{flow['number']}.xml")
    (line,) = cr.iter("LigneErreurDetail")
    assert dict(parse(line.findtext("DescriptionErreur")))["valeur"] == "<U+0001>" * 24 + "…"


def test_a_run_reports_a_hostile_folder_on_one_line(home: Home) -> None:
    """A folder of no partner, named to forge a line of cron mail, is reported on one line
    with its newline shown escaped."""
    (home.path / "inbox" / f"evil\n{FORGED}").mkdir()
    (home.path / "inbox" / SUPPLIER_1 / f"sub\r{FORGED}\x1b[1A").mkdir(parents=True)
    home.drop(SUPPLIER_1, "f.xml", sample=("ubl-invoice.xml"))

    said = home.invoke("run", "--once").stderr.splitlines()

    untouched = [line for line in said if line.startswith("Left untouched: ")]
    assert len(untouched) == 2
    for line in (line for line in said if "all good" in line):  # each one line, none forged
        assert f"<U+000A>{FORGED}" in line or f"<U+000D>{FORGED}" in line
    assert any(f"/inbox/evil<U+000A>{FORGED} belongs to" in line for line in untouched)
    assert any(f"/sub<U+000D>{FORGED}<U+001B>[1A " in line for line in untouched)


def test_a_daemon_goes_on_after_a_markup_member(home: Home, tmp_path: Path) -> None:
    """`run --daemon` prints each run's table: a member named `[/bold]` once stopped it for
    every partner. It takes the next partner's flow, and stops cleanly on SIGTERM."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
    env.update(
        EDI_ENGINE_HOME=str(home.path),
        EDI_ENGINE_PICKUP_STABLE_SECONDS="0",
        EDI_ENGINE_PROCESSING_FSYNC="false",
        EDI_ENGINE_PROCESSING_DAEMON_POLL_SECONDS="0.5",
    )
    daemon = subprocess.Popen(
        [sys.executable, "-m", "cli", "run", "--daemon"],
        cwd=Path(__file__).resolve().parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        home.drop(SUPPLIER_1, "[conceal]batch.zip", _zip({"../[/bold]": b"x", "[/bold]": b"y"}))
        _wait_for(lambda: len(_flows(home)) == 1)
        home.drop(SUPPLIER_2, "after.xml", ubl("F-AFTER-1", supplier="82345678500018"))
        _wait_for(lambda: len(_flows(home)) == 2 and "IN_EN" not in str(_flows(home)))
        assert daemon.poll() is None
        daemon.send_signal(signal.SIGTERM)
        printed, errors = daemon.communicate(timeout=60)
    finally:
        if daemon.poll() is None:
            daemon.kill()
            daemon.communicate(timeout=30)
    assert daemon.returncode == 0, errors
    states = {f["file_name"]: f["status"] for f in _flows(home)}
    assert states == {"[conceal]batch.zip": "IN_REJETE", "after.xml": "IN_INTEGRE"}
    assert "MarkupError" not in errors
    assert any("│ [conceal]batch.zip " in line for line in printed.splitlines())
    assert "'../[/bold]'" in printed  # in its why cell (rich wraps a cell between words)


def _flows(home: Home) -> list[dict]:
    return json.loads(home.invoke("flows", "list", "--json").stdout)


def _wait_for(condition, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds  # a loaded machine takes long to load schemas
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


# -- invoice fields ----------------------------------------------------------------------


def test_an_invoice_number_with_hidden_characters_is_shown_escaped(home: Home) -> None:
    number = "F01\u202eX\u2028Y"  # a bidi override and a line separator: valid XML
    home.drop(SUPPLIER_1, "f.xml", ubl(number))
    home.run()

    (invoice,) = json.loads(home.invoke("invoices", "search", "--json").stdout)
    assert invoice["number"] == number  # exact in JSON
    table = home.invoke("invoices", "search").stdout
    assert _wrapped(table, str(invoice["id"]))[1].startswith("F01<U+202E>X<U+2028")  # cropped
    shown = home.invoke("invoices", "show", str(invoice["id"])).stdout
    assert _wrapped(shown, "number")[1] == "F01<U+202E>X<U+2028>Y"
    # refused, and the CR's message quotes it the way the screen shows it: its value is
    # stored escaped and shown as stored, not escaped twice
    (refused,) = [line for line in shown.splitlines() if "INVOICE_NUMBER_INVISIBLE" in line]
    assert "F01<U+202E>X<U+2028>Y" in refused
    raw = home.invoke("invoices", "show", invoice["id"], "--json").stdout
    assert "\u202e" not in raw and "\u2028" not in raw  # written as JSON escapes
    assert json.loads(raw)["number"] == number


# -- certificates ------------------------------------------------------------------------


def _fingerprint(home: Home, code: str, label: str) -> str:
    rows = json.loads(home.invoke("partners", "cert", "list", code, "--json").stdout)
    (row,) = [r for r in rows if r["label"] == label]
    return row["fingerprint"]


def test_a_markup_subject_is_listed_and_shown_as_written(bare_home: Home, tmp_path) -> None:
    bare_home.invoke("partners", "add", "ABC001", "--name", "A")
    bare_home.invoke("partners", "cert", "add", "ABC001", _x509(tmp_path, "[/bold]", 365))
    bidi = _x509(tmp_path, "[conceal]\u202eevil", 365)
    said = bare_home.invoke("partners", "cert", "add", "ABC001", bidi).stderr
    assert said.endswith(" (CN=[conceal]<U+202E>evil) for ABC001.\n")

    listed = bare_home.invoke("partners", "cert", "list").stdout  # exit 0
    rows = [_cells(line) for line in listed.splitlines() if line.startswith("│ ABC001 ")]
    assert [row[4] for row in rows] == ["CN=[/bold]", "CN=[conceal]<U+202E>evil"]
    shown = bare_home.invoke("partners", "show", "ABC001").stdout  # exit 0
    certificates = [_cells(line)[1] for line in shown.splitlines() if "certificate x509" in line]
    assert [c.split(" ", 1)[1] for c in certificates] == ["CN=[/bold]", "CN=[conceal]<U+202E>evil"]


def test_a_subject_cannot_forge_a_line_of_partners_check(bare_home: Home, tmp_path) -> None:
    bare_home.invoke("partners", "add", "ABC001", "--name", "A")
    forging = _x509(tmp_path, FORGING_CN, days_left=5)
    said = bare_home.invoke("partners", "cert", "add", "ABC001", forging).stderr
    fingerprint = _fingerprint(bare_home, "ABC001", f"CN={FORGING_CN}".replace(",", "\\,"))
    assert said == f"Registered x509 {fingerprint} ({FORGING_SHOWN}) for ABC001.\n"

    checked = bare_home.invoke("partners", "check", code=1)  # expiring within 30 days

    (line,) = checked.stdout.splitlines()
    assert line.startswith(f"EXPIRING ABC001 {fingerprint} ({FORGING_SHOWN}) on ")
    listed = bare_home.invoke("partners", "cert", "list").stdout
    assert _wrapped(listed, "ABC001")[4] == FORGING_SHOWN
    shown = bare_home.invoke("partners", "show", "ABC001").stdout
    assert len([line for line in shown.splitlines() if "DUPLICATE" in line]) == 1


def test_an_expired_certificate_is_refused_on_one_line(bare_home: Home, tmp_path) -> None:
    bare_home.invoke("partners", "add", "ABC001", "--name", "A")
    expired = _x509(tmp_path, FORGING_CN, days_left=-1)

    said = bare_home.invoke("partners", "cert", "add", "ABC001", expired, code=1).stderr

    (line,) = said.splitlines()  # a message quotes it on one line (problems.shown)
    assert line.startswith("edi-engine: The certificate ")
    assert f"({FORGING_SHOWN}) of " in line


# -- log lines ---------------------------------------------------------------------------


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _logged(stream: io.StringIO, path: Path) -> str:
    logs.configure(logging.INFO, stream)
    try:  # the very line intake logs for a file still being uploaded
        logging.getLogger("edi_engine.reception.intake").warning(
            "%s is still being written; left for a later run", path
        )
    finally:
        logs.configure(logging.WARNING)
    return stream.getvalue()


def test_a_log_sentence_shows_a_hostile_name_escaped() -> None:
    path = Path(f"inbox/FOUR01/a\n{FORGED}\x1b[2K\u202e\x85.xml")

    written = _logged(_Terminal(), path)

    assert written == (
        f"edi-engine: inbox/FOUR01/a<U+000A>{FORGED}<U+001B>[2K<U+202E><U+0085>.xml is still being "
        "written; left for a later run\n"
    )


def test_a_json_log_line_keeps_a_hostile_name_exact_on_one_line() -> None:
    path = Path(f"inbox/FOUR01/a\n{FORGED}\u2028\u202e\x85\udce9.xml")  # \udce9: not UTF-8

    written = _logged(io.StringIO(), path)

    (line,) = written.splitlines()  # str.splitlines breaks at \x85 and \u2028 too
    assert json.loads(line)["message"].startswith(f"{path} is still being written")


# -- validate and convert ----------------------------------------------------------------


def test_validate_and_convert_quote_a_hostile_value_on_one_line(run_cli, tmp_path: Path) -> None:
    """The schema's message quotes the value the supplier wrote: `validate` prints one line
    per error, and `convert`'s refusal is one line."""
    document = tmp_path / "f.xml"
    document.write_bytes(ubl("F1", issue_date=f"2026-01-01\n{FORGED}\x85\u202e"))
    quoted = f"'2026-01-01<U+000A>{FORGED}<U+0085><U+202E>' is not a valid value"

    validated = run_cli("validate", document, code=1).stdout.splitlines()

    assert validated[0] == f"{document}: IN_DP_E1_UBL_INVOICE: INVALID"
    (error,) = [line for line in validated if "cbc:IssueDate" in line]
    assert error.startswith("  [XSD_INVALID] document f.xml, line ") and quoted in error
    assert not any(line.startswith(FORGED) for line in validated)
    (said,) = run_cli("convert", document, code=1).stderr.splitlines()
    assert said.startswith("edi-engine: f.xml is not valid (line ") and quoted in said
