"""`edi-engine check` (docs/reliability.md): a home after a normal run is sound; each fault,
made the way a real one makes it, is named on a line of its own with how to mend it; the
check changes nothing; `--repair-outputs` writes a lost staged pivot again, byte for byte.

The engine runs once for the module, on a home with every kind of flow (UBL, CII, pivot,
a rejected flow, a recipient's status flow), status flows to suppliers, a pivot held back
by what its recipient left under its name (so that it stays staged), and a CR waiting for
an SFTP partner whose server cannot be reached (so that its local copy is the queue).
Each test breaks a copy of that home."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

import config
from cli import main
from edi_engine import clock, settings
from edi_engine.ledger import db, leasing
from edi_engine.reception import intake
from pivot_format.model import Debiteur, Envelope, InvoiceStatus, Supplier
from pivot_format.statut import write_invoice_statuses

from .conftest import RECIPIENT, SUPPLIER_1, SUPPLIER_1_SIRET, SUPPLIER_2, VALBRUNE, sample

REMOTE = "SFTP01"  # a partner reached over SFTP, whose server cannot be reached
HELD = "F01-2026-000199"  # the invoice whose pivot its recipient holds back
Invoke = Callable[..., Result]


def _environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("EDI_ENGINE_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("EDI_ENGINE_PICKUP_STABLE_SECONDS", "0")
    monkeypatch.setenv("EDI_ENGINE_PROCESSING_FSYNC", "false")
    monkeypatch.setenv("EDI_ENGINE_RULES_EN16931", "false")  # the check is not about them


def _invoker(path: Path) -> Invoke:
    runner = CliRunner()

    def invoke(*args: object, code: int | None = 0) -> Result:
        result = runner.invoke(main, ["--home", str(path), *map(str, args)])
        if code is not None:
            assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
        return result

    return invoke


def _status_flow() -> bytes:
    """The recipient says the service was done (07) for the demo's UBL invoice."""
    done = InvoiceStatus(
        code="07",
        supplier=Supplier(SUPPLIER_1_SIRET, "1", "Papeteries Delorme SAS", "FR"),
        debiteur=Debiteur(VALBRUNE),
        invoice_number="F01-2026-000101",
        at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
        invoice_date=date(2026, 11, 2),
    )
    return write_invoice_statuses(
        [done], Envelope("ST0001", date(2026, 11, 20), RECIPIENT, "EDIHUB")
    )


def _drop(home: Path, *files: tuple[str, str, bytes]) -> None:
    """Deposit files, each a second older than the next: taken, and numbered, in order."""
    now = time.time()
    for n, (partner, name, content) in enumerate(files):
        target = home / "inbox" / partner / name
        target.write_bytes(content)
        os.utime(target, (now - len(files) + n, now - len(files) + n))


@pytest.fixture(scope="module")
def sound_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    path = tmp_path_factory.mktemp("check") / "home"
    with pytest.MonkeyPatch.context() as monkeypatch:
        _environment(monkeypatch)
        CliRunner().invoke(main, ["init", str(path)], catch_exceptions=False)
        invoke = _invoker(path)
        invoke("partners", "add", SUPPLIER_1, "--name", "Papeteries Delorme SAS")
        invoke("partners", "add", SUPPLIER_2, "--name", "Ateliers Numériques Garnier SARL")
        invoke("partners", "add", RECIPIENT, "--name", "Recipient system")
        key, known_hosts = path.parent / "id_ed25519", path.parent / "known_hosts"
        key.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot a key\n")
        known_hosts.write_text("")
        invoke(
            "partners", "add", REMOTE, "--name", "Remote", "--sftp-host", "127.0.0.1",
            "--sftp-user", "hub", "--sftp-key", key, "--known-hosts", known_hosts,
            "--remote-in", "/depot", "--remote-out", "/retour",
        )  # fmt: skip
        invoke("partners", "suppliers", "add", SUPPLIER_1, SUPPLIER_1_SIRET)
        invoke("partners", "suppliers", "add", SUPPLIER_2, "82345678500018")
        invoke("structures", "import", config.path("demo/structures.csv"))
        _drop(
            path,
            (SUPPLIER_1, "ubl-invoice.xml", sample("ubl-invoice.xml")),  # FL0000000001
            (SUPPLIER_1, "xsd-invalid.xml", sample("xsd-invalid.xml")),  # rejected
            (SUPPLIER_2, "cii-invoice.xml", sample("cii-invoice.xml")),
            (SUPPLIER_2, "pivot-multi.xml", sample("pivot-multi.xml")),  # 3 invoices
            (REMOTE, "rejected.xml", sample("xsd-invalid.xml") + b"<!-- 2 -->"),  # FL0000000005
        )
        invoke("run", "--once", code=3)  # the SFTP partner's server cannot be reached
        invoke("statuses", "emit")
        held = sample("ubl-invoice.xml").replace(b"F01-2026-000101", HELD.encode())
        _drop(
            path,
            (RECIPIENT, "statut.xml", _status_flow()),  # FL0000000006
            (SUPPLIER_1, "held.xml", held),  # FL0000000007
        )
        # the recipient leaves a folder under the name of the next flow's pivot
        (path / "outbox" / RECIPIENT / "PIVOT_DEST01_FL0000000007_1.xml").mkdir()
        invoke("run", "--once", code=3)
        invoke("statuses", "emit")
    yield path


@pytest.fixture
def home(sound_home: Path, tmp_path: Path) -> Path:
    """A copy of the sound home, for one test to break."""
    copy = tmp_path / "home"
    shutil.copytree(sound_home, copy, symlinks=True)
    return copy


@pytest.fixture
def check(home: Path, monkeypatch: pytest.MonkeyPatch) -> Invoke:
    _environment(monkeypatch)
    return _invoker(home)


def _ledger(home: Path) -> sqlite3.Connection:
    return sqlite3.connect(home / "ledger.db", isolation_level=None)


def _problems(check: Invoke, *args: str) -> list[dict]:
    found = json.loads(check("check", "--json", *args, code=1).stdout)
    assert found["sound"] is False
    return found["problems"]


def _snapshot(home: Path) -> dict[str, object]:
    """Every file's bytes (by hash), every folder, and the ledger's rows."""
    seen: dict[str, object] = {}
    for path in sorted(home.rglob("*")):
        name = str(path.relative_to(home))
        if path.name.startswith("ledger.db"):
            continue
        seen[name] = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "dir"
    with _ledger(home) as ledger:
        seen["ledger"] = list(ledger.iterdump())
    return seen


def test_a_home_after_a_normal_run_is_sound(
    sound_home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _environment(monkeypatch)
    invoke = _invoker(sound_home)
    found = json.loads(invoke("check", "--json").stdout)
    assert found["sound"] is True and found["problems"] == []
    checked = found["checked"]
    assert checked["flows"] == checked["originals"] == 7
    assert checked["invoices"] == 5  # accepted: UBL 1, CII 1, pivot 2 of 3, the held-back 1
    assert checked["outputs"] >= 14 and checked["outputs_without_hash"] == 0
    assert checked["status_flows"] == 3  # FOUR01: 1 and 2, FOUR02: 1
    assert checked["outbox_files"] >= 12 and checked["counter_months"] >= 1
    plain = invoke("check")
    assert plain.stdout == "" and plain.stderr.startswith("Sound: checked 7 flows, 7 originals")


def test_an_altered_and_a_lost_original_are_named_and_the_check_changes_nothing(
    home: Path, check: Invoke
) -> None:
    with _ledger(home) as ledger:
        query = "SELECT archive_path, content_hash FROM flows WHERE number = ?"
        altered, content_hash = ledger.execute(query, ("FL0000000001",)).fetchone()
        lost, _ = ledger.execute(query, ("FL0000000002",)).fetchone()
    original = home / "archive" / altered
    rotten = bytearray(original.read_bytes())
    rotten[100] ^= 0x01  # one bit flipped on the disk
    original.write_bytes(bytes(rotten))
    (home / "archive" / lost).unlink()
    before = _snapshot(home)

    lines = check("check", code=1).stdout.splitlines()

    assert _snapshot(home) == before  # read-only: every file and every row as it was
    new_hash = hashlib.sha256(rotten).hexdigest()
    assert lines == [
        f"original_altered: FL0000000001: the original of ubl-invoice.xml from partner FOUR01, "
        f"archive/{altered}, has SHA-256 {new_hash} ({len(rotten)} bytes), not {content_hash} "
        f"({len(rotten)} bytes) as recorded when it was received: it was changed after. Mend: "
        f"restore archive/{altered} from a backup of the archive (an original is named by its "
        "SHA-256: any copy with that hash is the very file); until then `flows rerun` refuses "
        "the flow; the archive is written once, never modified.",
        f"original_missing: FL0000000002: the original of xsd-invalid.xml from partner FOUR01, "
        f"archive/{lost}, is missing from the archive. Mend: restore archive/{lost} from a "
        "backup of the archive (an original is named by its SHA-256: any copy with that hash "
        "is the very file); until then `flows rerun` refuses the flow.",
    ]


def _staged(home: Path) -> Path:
    with _ledger(home) as ledger:
        (token,) = ledger.execute("SELECT staged FROM outputs WHERE staged IS NOT NULL").fetchone()
    return home / "run" / "outgoing" / token


def test_a_lost_staged_pivot_is_named_then_written_again_byte_for_byte(
    home: Path, check: Invoke
) -> None:
    staged = _staged(home)
    written = staged.read_bytes()
    staged.unlink()  # run/outgoing cleaned by hand while the pivot waited to be published
    shown = str(staged.relative_to(home))

    (problem,) = _problems(check)
    assert problem == {
        "kind": "output_missing",
        "where": shown,
        "message": "PIVOT PIVOT_DEST01_FL0000000007_1.xml for partner DEST01 (flow "
        f"FL0000000007) is committed and waits to be published, but its staged file {shown} "
        "is missing: the next run would take it for published, and the partner would never "
        "get it.",
        "mend": "before the next run, which would take it for published: run `edi-engine check "
        "--repair-outputs`: it writes the file again, byte for byte, from the ledger and the "
        "archive.",
        "flow": "FL0000000007",
        "partner": RECIPIENT,
        "path": shown,
    }

    repaired = json.loads(check("check", "--repair-outputs", "--json").stdout)

    assert repaired["sound"] is True and repaired["problems"] == []
    assert repaired["repaired"] == [
        {
            "kind": "PIVOT",
            "partner": RECIPIENT,
            "file_name": "PIVOT_DEST01_FL0000000007_1.xml",
            "path": shown,
            "flow": "FL0000000007",
            "rewritten": True,
        }
    ]
    assert staged.read_bytes() == written
    said = check("check", "--repair-outputs")  # nothing is missing any more
    assert said.stdout == "" and said.stderr.startswith("Sound:")


def test_an_altered_copy_waiting_for_its_sftp_upload_and_a_lost_cr(
    home: Path, check: Invoke
) -> None:
    queued = home / "outbox" / REMOTE / "CR_SFTP01_FL0000000005.xml"
    queued.write_bytes(queued.read_bytes().replace(b"</", b" </", 1))  # edited by hand
    shown = "outbox/SFTP01/CR_SFTP01_FL0000000005.xml"

    (problem,) = _problems(check)
    assert (problem["kind"], problem["where"], problem["flow"]) == (
        "output_altered",
        shown,
        "FL0000000005",
    )
    assert problem["message"].endswith("; the upload would send it as it is now.")
    assert f"not the {queued.stat().st_size - 1} bytes" in problem["message"]
    assert problem["mend"] == (
        f"remove {shown}: a CR carries the moment it was written, which the ledger does "
        "not keep, so it cannot be written again identically; `edi-engine flows rerun "
        "FL0000000005 --force` answers the flow again with new files."
    )

    queued.unlink()
    said = check("check", "--repair-outputs", "--json", code=1)
    found = json.loads(said.stdout)
    assert [p["kind"] for p in found["problems"]] == ["output_missing"]
    (refused,) = found["repaired"]
    assert refused["rewritten"] is False and refused["why"].startswith(
        "a CR carries the moment it was written, to the microsecond"
    )
    assert not queued.exists()  # nothing else is put in its place


def test_an_output_published_outside_a_commit_and_a_hostile_name_shown_escaped(
    home: Path, check: Invoke
) -> None:
    outbox = home / "outbox" / RECIPIENT
    (outbox / "PIVOT_DEST01_FL0000000099_1.xml").write_bytes(b"<x/>")  # by a hand, not a commit
    hostile = "PIVOT_DEST01_[bold red]FL1[/]\nok: all sound.xml".replace("/", "")
    (outbox / hostile).write_bytes(b"<x/>")
    (outbox / "facture-recue.xml").write_bytes(b"<x/>")  # the partner's own: not looked at

    said = check("check", code=1)

    lines = sorted(said.stdout.splitlines())  # in the order the folder lists them
    assert len(lines) == 2  # a name's newline forges no line
    escaped = "PIVOT_DEST01_[bold red]FL1[]<U+000A>ok: all sound.xml"
    assert lines[1].startswith(
        f"output_unknown: outbox/DEST01/{escaped}: a file named as an output of the engine "
        "for partner DEST01, which the ledger does not know: it was put there outside a "
        "commit. Mend: "
    )
    assert lines[0].startswith("output_unknown: outbox/DEST01/PIVOT_DEST01_FL0000000099_1.xml:")
    found = {p["path"] for p in _problems(check)}  # JSON keeps the exact name
    assert found == {f"outbox/DEST01/{hostile}", "outbox/DEST01/PIVOT_DEST01_FL0000000099_1.xml"}


def test_temporaries_left_by_stopped_processes_but_not_a_live_writers(
    home: Path, check: Invoke
) -> None:
    an_hour_ago = time.time() - 3600
    left = [
        home / "run" / "tmp" / "CR_FOUR01_FL0000000001.xml.0f3c.tmp",
        home / "archive" / "tmp" / "5d1e0a",
        home / "outbox" / SUPPLIER_2 / ".CR_FOUR02_FL0000000003.xml.tmp",  # an old version's
    ]
    for path in left:
        path.parent.mkdir(exist_ok=True)
        path.write_bytes(b"half")
        os.utime(path, (an_hour_ago, an_hour_ago))
    (home / "run" / "tmp" / "PIVOT_DEST01_FL0000000008_1.xml.9a7b.tmp").write_bytes(b"now")

    problems = _problems(check)

    assert sorted((p["kind"], p["where"]) for p in problems) == [
        ("temporary_left", "archive/tmp/5d1e0a"),
        ("temporary_left", "outbox/FOUR02/.CR_FOUR02_FL0000000003.xml.tmp"),
        ("temporary_left", "run/tmp/CR_FOUR01_FL0000000001.xml.0f3c.tmp"),
    ]
    mends = {p["where"]: p["mend"] for p in problems}
    assert mends["run/tmp/CR_FOUR01_FL0000000001.xml.0f3c.tmp"].startswith(
        "run `edi-engine run --once`: it removes the temporaries"
    )


def test_flows_a_stopped_process_left_unfinished(
    home: Path, check: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = sample("ubl-invoice.xml")
    _drop(
        home,
        (SUPPLIER_1, "a.xml", invoice.replace(b"F01-2026-000101", b"F01-2026-000300")),
        (SUPPLIER_1, "b.xml", invoice.replace(b"F01-2026-000101", b"F01-2026-000301")),
    )
    loaded = settings.load(home)
    with db.session_scope(loaded.database_url) as session:
        intake.receive(loaded, session, ())  # recorded; then the process stopped
        (taken,) = leasing.lease(session, "elsewhere:4242:1", 1, 60)  # a worker that died
    assert taken.number == "FL0000000008"
    assert "flow_not_final" not in check("check").stdout  # a live engine's moment: fine

    later = clock.now() + timedelta(hours=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    problems = _problems(check)

    assert [(p["kind"], p["where"]) for p in problems] == [
        ("flow_not_final", "FL0000000008"),
        ("flow_not_final", "FL0000000009"),
    ]
    expired, waiting = problems
    assert "the lease of elsewhere:4242:1 expired at " in expired["message"]
    assert waiting["message"].startswith("IN_RECU since ")
    assert waiting["message"].endswith(", leased by no worker: nothing is processing it.")
    assert waiting["mend"] == "run `edi-engine run --once` to finish it."


def test_a_status_flow_sequence_with_a_gap(home: Path, check: Invoke) -> None:
    with _ledger(home) as ledger:  # a ledger restored from before the second emission, say
        ledger.execute(
            "UPDATE status_flows SET sequence = 3, file_name = 'STATUT_FOUR01_3.xml' "
            "WHERE partner_code = 'FOUR01' AND sequence = 2"
        )

    (problem,) = _problems(check)

    assert problem["kind"] == "status_sequence_gap"
    assert problem["where"] == "partner FOUR01"
    assert problem["message"] == (
        "the status flows of partner FOUR01 jump from 1 to 3: number 2 is not in the "
        "ledger, and no purge can have removed it."
    )
    assert "STATUT_FOUR01_2.xml" in problem["mend"]


def test_monthly_counters_off_by_one(home: Path, check: Invoke) -> None:
    with _ledger(home) as ledger:
        syntax = "IN_DP_E1_CII_16B"  # FOUR02's CII invoice: 1 accepted
        (month,) = ledger.execute(
            "SELECT month FROM monthly_counters WHERE partner_code = 'FOUR02' AND syntax = ?",
            (syntax,),
        ).fetchone()
        ledger.execute(
            "UPDATE monthly_counters SET invoices_accepted = invoices_accepted + 1 "
            "WHERE partner_code = 'FOUR02' AND syntax = ?",
            (syntax,),
        )
        ledger.execute(
            "UPDATE monthly_counters SET outbound_flows = outbound_flows - 1 "
            "WHERE partner_code = 'DEST01' AND syntax = 'PIVOT'"
        )

    inbound, outbound = _problems(check)

    assert inbound["where"] == f"monthly_counters {month} FOUR02 {syntax}"
    assert inbound["kind"] == outbound["kind"] == "counter_mismatch"
    assert inbound["message"].endswith(
        "disagree with the flows the ledger holds: invoices_accepted is 2, the recount 1."
    )
    assert inbound["mend"].endswith(
        "then set the row to the recount: UPDATE monthly_counters SET invoices_accepted = 1 "
        f"WHERE month = '{month}' AND partner_code = 'FOUR02' AND syntax = '{syntax}'."
    )
    assert outbound["where"] == "monthly_counters DEST01 PIVOT"
    assert f"hold 4 from {month} to {month}, the outputs the ledger holds 5" in outbound["message"]


def test_an_invoice_made_available_twice_and_one_never(home: Path, check: Invoke) -> None:
    with _ledger(home) as ledger:
        twice, never = ledger.execute(
            "SELECT invoice_id FROM invoice_events WHERE status_code = '03' ORDER BY invoice_id"
        ).fetchall()[:2]
        # a second publisher recorded the 03 again; another 03 was lost
        ledger.execute(
            "INSERT INTO invoice_events (invoice_id, at, status, status_code, actor, detail, "
            "emitted_in, produced_at, recipient_siret, service_code, to_supplier) "
            "SELECT invoice_id, at, status, status_code, actor, detail, NULL, produced_at, "
            "recipient_siret, service_code, to_supplier FROM invoice_events "
            "WHERE invoice_id = ? AND status_code = '03'",
            twice,
        )
        ledger.execute(
            "DELETE FROM invoice_events WHERE invoice_id = ? AND status_code = '03'", never
        )

    problems = _problems(check)

    assert [(p["kind"], p["where"]) for p in problems] == [
        ("first_delivery_twice", f"invoice {twice[0]}"),
        ("first_delivery_missing", f"invoice {never[0]}"),
    ]
    assert (
        " was made available (03) 2 times by its first pivot PIVOT_DEST01_"
        in (problems[0]["message"])
    )
    assert problems[1]["message"].endswith(
        "was delivered, but no event records that it was made available (03)."
    )


def test_a_check_that_cannot_read_the_ledger_fails_with_a_whole_json_document(
    home: Path, check: Invoke
) -> None:
    for ledger in home.glob("ledger.db*"):
        ledger.unlink()

    said = check("check", "--json", code=3)

    found = json.loads(said.stdout)
    assert (found["problems"], found["error"]) == ([], "ledger_missing")
    assert found["message"].startswith(f"No ledger at {home / 'ledger.db'}")


# -- the status flows, a first pivot the ledger lost, and the kinds the docs list ------------

REPO = Path(__file__).resolve().parents[2]


def test_a_status_flow_numbered_by_an_emission_killed_before_its_file(
    home: Path, check: Invoke, monkeypatch: pytest.MonkeyPatch
) -> None:
    invoice = sample("ubl-invoice.xml").replace(b"F01-2026-000101", b"F01-2026-000400")
    _drop(home, (SUPPLIER_1, "new.xml", invoice))  # FL0000000008: its changes to tell FOUR01
    check("run", "--once", code=3)  # the SFTP partner's server still cannot be reached
    emit = [sys.executable, "-m", "cli", "--home", str(home), "statuses", "emit"]
    killed = subprocess.run(
        [*emit, "--partner", SUPPLIER_1],
        cwd=REPO, env={**os.environ, "EDI_ENGINE_FAILPOINT": "mid-status-flow"},
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr  # numbered, then killed
    name = "STATUT_FOUR01_3.xml"
    assert not (home / "outbox" / SUPPLIER_1 / name).exists()
    with _ledger(home) as ledger:
        numbered, changes = ledger.execute(
            "SELECT created_at, changes FROM status_flows "
            "WHERE file_name = ? AND written_at IS NULL",
            (name,),
        ).fetchone()
    said = check("check")  # an emission may be between its two steps: not a problem yet
    assert said.stdout == "" and said.stderr.startswith("Sound:")

    later = clock.now() + timedelta(hours=2)
    monkeypatch.setattr(clock, "now", lambda: later)
    (line,) = check("check", code=1).stdout.splitlines()
    (problem,) = _problems(check)

    at = f"{datetime.fromisoformat(numbered):%Y-%m-%d %H:%M:%S}"
    assert problem == {
        "kind": "status_flow_unwritten",
        "where": name,
        "message": f"status flow 3 of partner FOUR01 ({name}) was numbered at {at} UTC with "
        "its changes, and never written: the partner has not been told them.",
        "mend": "run `edi-engine statuses emit --partner FOUR01`: it writes the status flows "
        "numbered and not yet written.",
        "partner": SUPPLIER_1,
    }
    assert line == f"status_flow_unwritten: {name}: {problem['message']} Mend: {problem['mend']}"
    # --repair-outputs writes again the outputs the ledger knows: this one was never written
    repaired = json.loads(check("check", "--repair-outputs", "--json", code=1).stdout)
    assert repaired["repaired"] == [] and repaired["problems"] == [problem]

    emitted = json.loads(check("statuses", "emit", "--partner", SUPPLIER_1, "--json").stdout)

    assert emitted == [{"partner": SUPPLIER_1, "file_name": name, "changes": changes}]
    assert (home / "outbox" / SUPPLIER_1 / name).is_file()
    assert json.loads(check("check", "--json").stdout)["sound"] is True


def _without_its_unique_constraint(ledger: sqlite3.Connection, table: str) -> None:
    """The table made again as a copy tool moving a ledger makes it: its columns, its rows,
    not its UNIQUE constraint."""
    (made,) = ledger.execute("SELECT sql FROM sqlite_master WHERE name = ?", (table,)).fetchone()
    lines = [line for line in made.splitlines() if not line.strip().startswith("UNIQUE")]
    without = "\n".join(lines).replace(f"CREATE TABLE {table}", f"CREATE TABLE {table}_copy")
    without = without.replace("REFERENCES partners (code), ", "REFERENCES partners (code)")
    assert "UNIQUE" not in without, without
    ledger.executescript(
        f"PRAGMA foreign_keys = OFF; BEGIN; {without};"
        f"INSERT INTO {table}_copy SELECT * FROM {table}; DROP TABLE {table};"
        f"ALTER TABLE {table}_copy RENAME TO {table}; COMMIT;"
    )


def test_a_status_flow_number_given_twice(home: Path, check: Invoke) -> None:
    with _ledger(home) as ledger:
        # the ledger moved by a tool that left out the constraint; then two emitters, on two
        # hosts, both numbered FOUR01's next status flow 2
        _without_its_unique_constraint(ledger, "status_flows")
        ledger.execute(
            "INSERT INTO status_flows (partner_code, sequence, file_name, created_at, "
            "written_at, changes) SELECT partner_code, sequence, file_name, created_at, "
            "written_at, 1 FROM status_flows WHERE partner_code = 'FOUR01' AND sequence = 2"
        )

    lines = check("check", code=1).stdout.splitlines()
    (problem,) = _problems(check)

    assert problem == {
        "kind": "status_sequence_duplicate",
        "where": "partner FOUR01",
        "message": "status flow number 2 of partner FOUR01 was given twice.",
        "mend": "keep the one whose file the partner received (`STATUT_…` in its outbox, its "
        "written_at) and number the other after the partner's last: two files under one name "
        "overwrite each other.",
        "partner": SUPPLIER_1,
    }
    said = f"{problem['message']} Mend: {problem['mend']}"
    assert lines == [f"status_sequence_duplicate: partner FOUR01: {said}"]
    again = json.loads(check("check", "--repair-outputs", "--json", code=1).stdout)
    assert again["repaired"] == [] and again["problems"] == [problem]  # a row: no file to write


def test_an_accepted_invoice_whose_first_pivot_the_ledger_lost(home: Path, check: Invoke) -> None:
    pivot = "PIVOT_DEST01_FL0000000003_1.xml"
    (home / "outbox" / RECIPIENT / pivot).unlink()  # taken by the recipient's software
    with _ledger(home) as ledger:
        # an operator removed its row, believing the engine would then send it again
        ledger.execute("DELETE FROM outputs WHERE file_name = ?", (pivot,))
        (invoice,) = ledger.execute(
            "SELECT id FROM invoices WHERE number = 'F02-2026-000501'"
        ).fetchone()

    lines = check("check", code=1).stdout.splitlines()
    problems = _problems(check)

    assert [(p["kind"], p["where"]) for p in problems] == [
        ("first_delivery_missing", f"invoice {invoice}"),
        ("counter_mismatch", "monthly_counters DEST01 PIVOT"),  # one pivot fewer recorded
    ]
    lost = problems[0]
    assert lost == {
        "kind": "first_delivery_missing",
        "where": f"invoice {invoice}",
        "message": f"invoice F02-2026-000501 (id {invoice}, flow FL0000000003, position 1) "
        f"is accepted, but no first pivot ({pivot}) is recorded for it.",
        "mend": "`edi-engine flows rerun FL0000000003 --force` writes the pivots of its "
        "accepted invoices again; find first how the ledger lost the output (a restore?).",
        "flow": "FL0000000003",
        "partner": RECIPIENT,
    }
    said = f"{lost['message']} Mend: {lost['mend']}"
    assert lines[0] == f"first_delivery_missing: invoice {invoice}: {said}"
    again = json.loads(check("check", "--repair-outputs", "--json", code=1).stdout)
    assert again["repaired"] == [] and again["problems"] == problems  # no row: nothing to write


def _documented_kinds() -> list[str]:
    """The first column of the table of kinds in docs/reliability.md."""
    text = (REPO / "docs" / "reliability.md").read_text()
    table = text.split("## What it verifies, and how to mend each problem", 1)[1]
    table = table.split("\n\n", 2)[1]  # the paragraph after the heading
    return [line.split("|")[1].strip().strip("`") for line in table.splitlines()[2:]]


def test_the_docs_list_exactly_the_kinds_the_check_reports() -> None:
    from edi_engine.operations import integrity
    from edi_engine.operations.integrity import findings

    constants = {k: v for k, v in vars(findings).items() if k.isupper() and isinstance(v, str)}
    source = "".join(p.read_text() for p in Path(integrity.__file__).parent.glob("*.py"))
    reported = sorted(v for k, v in constants.items() if f"kinds.{k}," in source)
    assert reported == sorted(constants.values())  # each kind is reported somewhere
    documented = _documented_kinds()
    assert len(documented) == len(set(documented)) == 13
    assert sorted(documented) == reported
