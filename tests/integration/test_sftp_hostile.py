"""A hostile partner's SFTP server against the engine as it really runs (issue 13 item 2).

The server (hostile_sftp.py, paramiko's server classes on 127.0.0.1) lists names that
are paths, controls and junk, announces sizes that lie and streams files without end;
the engine runs as `edi-engine run --once` in a child process of its own, on a real home,
and its peak memory is the child's own (tests/child_memory.py). Every refused entry must
be named once in a coded line, stay on the server untouched (never opened, never
deleted), and nothing may be written outside the partner's landing folder; the partner's
good files go on.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import child_memory
import pytest
from click.testing import CliRunner, Result

import config
from cli import main
from connectors import sftp
from edi_engine import settings
from edi_engine.processing import runner
from edi_engine.reception import sftp_refusals

from .conftest import SUPPLIER_SIRET
from .hostile_sftp import (
    FOLDER,
    IN,
    LINK,
    OLD,
    OUT,
    REGULAR,
    USER,
    HostileServer,
    Remote,
    attributes,
    endless,
)

REPO = Path(__file__).resolve().parents[2]
MiB = 1024 * 1024
READ_SIZE = 32 * 1024  # what the engine asks in one read
INVOICE = config.path("demo/ubl-invoice.xml").read_bytes()
CREDIT_NOTE = config.path("demo/ubl-creditnote.xml").read_bytes()


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str
    peak_rss: int  # bytes, the child's own high-water mark (VmHWM)

    def lines(self, code: str) -> list[dict]:
        """The log lines (JSON: stderr is no terminal) naming ``code``."""
        found = []
        for line in self.stderr.splitlines():
            if line.startswith("{") and code in line:
                found.append(json.loads(line))
        return found


@dataclass
class Hub:
    """A home whose partner FOUR01 is fetched from the hostile server; DEST01 is local.

    `run --once` runs in a child process (its memory is its own); setting up and looking
    at the ledger run in this one, which is quicker."""

    home: Path
    env: dict[str, str | None]  # EDI_ENGINE_* of this home; None: unset
    out: Path

    def __call__(self, *args: object) -> Result:
        runner = CliRunner()
        argv = ["--home", str(self.home), *map(str, args)]
        result = runner.invoke(main, argv, env=self.env, catch_exceptions=False)
        assert result.exit_code == 0, (result.stdout, result.stderr)
        return result

    def run(self, code: int = 0) -> Run:
        """`edi-engine run --once` as cron runs it: a process of its own."""
        env = {k: v for k, v in os.environ.items() if not k.startswith("EDI_ENGINE_")}
        env.update({k: v for k, v in self.env.items() if v is not None})
        stdout, stderr = self.out / "stdout", self.out / "stderr"
        with open(stdout, "wb") as o, open(stderr, "wb") as e:
            child = child_memory.run_module(
                "cli", ["--home", self.home, "run", "--once"], cwd=REPO, env=env, stdout=o,
                stderr=e,
            )  # fmt: skip
        assert child.peak_bytes is not None, stderr.read_text()
        run = Run(child.code, stdout.read_text(), stderr.read_text(), child.peak_bytes)
        assert run.code == code, run.stderr
        return run

    def flows(self) -> list[dict]:
        return json.loads(self("flows", "list", "--json").stdout)

    @property
    def landing(self) -> Path:
        return self.home / "landing" / "FOUR01"


def make_hub(tmp_path: Path, server: HostileServer, **settings: object) -> Hub:
    env: dict[str, str | None] = {k: None for k in os.environ if k.startswith("EDI_ENGINE_")}
    env.update(EDI_ENGINE_PICKUP_STABLE_SECONDS="0", EDI_ENGINE_PROCESSING_FSYNC="false")
    env.update({f"EDI_ENGINE_{k.upper()}": str(v) for k, v in settings.items()})
    out = tmp_path / "cli-output"
    out.mkdir(parents=True, exist_ok=True)
    hub = Hub(tmp_path / "home", env, out)
    hub("init", hub.home)
    hub("partners", "add", "FOUR01", "--name", "Supplier", "--sftp-host", "127.0.0.1",
        "--sftp-port", server.port, "--sftp-user", USER, "--sftp-key", server.key_file,
        "--known-hosts", server.known_hosts, "--remote-in", IN, "--remote-out", OUT)  # fmt: skip
    hub("partners", "add", "DEST01", "--name", "Recipient")
    hub("partners", "suppliers", "add", "FOUR01", SUPPLIER_SIRET)
    hub("structures", "import", config.path("demo/structures.csv"))
    return hub


@pytest.fixture
def server(tmp_path: Path) -> Iterator[HostileServer]:
    hostile = HostileServer(tmp_path / "partner_key", tmp_path / "known_hosts")
    yield hostile
    hostile.stop()


@pytest.fixture
def hub(tmp_path: Path, server: HostileServer) -> Hub:
    return make_hub(tmp_path, server)


def only_the_good_flow(hub: Hub, server: HostileServer, name: str = "facture.xml") -> None:
    [flow] = hub.flows()
    assert (flow["file_name"], flow["status"]) == (name, "IN_INTEGRE")
    assert name not in server.names(), "acknowledged: deleted on the server"
    assert [n for n in server.uploaded if n.startswith("CR_FOUR01_")], "its CR was uploaded"


def _endpoint(server: HostileServer, **changes: object) -> sftp.SftpEndpoint:
    return sftp.SftpEndpoint(
        partner="FOUR01", host="127.0.0.1", port=server.port, user=USER,
        key_file=server.key_file, known_hosts=server.known_hosts, remote_in=IN,
        remote_out=OUT, retry_attempts=1, **changes,  # type: ignore[arg-type]
    )  # fmt: skip


# -- names ------------------------------------------------------------------------------

FORGED = "forged\nedi-engine: processed; all good.xml"
NOT_PLAIN = [
    "../escape.xml",
    "../../x",
    "/etc/hostile.xml",
    "sub/folder.xml",
    "back\\slash.xml",
    "nul\0.xml",
    FORGED,
    "clear\x1b[2J.xml",
    "del\x7f.xml",
    "line\u2028separator.xml",
    "c1\x85.xml",
    "x" * 300 + ".xml",
    b"latin-1-\xe9.xml",
    ".",
    "..",
]


def test_names_that_are_not_plain_file_names_are_refused_once_and_never_touched(
    hub: Hub, server: HostileServer
) -> None:
    server.files = [
        Remote(".", mode=FOLDER),  # what every real listing holds: nothing to say
        Remote("..", mode=FOLDER),
        *(Remote(name, b"<evil/>") for name in NOT_PLAIN),  # '.' and '..' as regular files
        Remote("twice.xml", INVOICE),
        Remote("twice.xml", CREDIT_NOTE),
        Remote("link.xml", mode=LINK),
        Remote("folder", mode=FOLDER),
        Remote("facture.xml", INVOICE),
    ]

    run = hub.run()

    only_the_good_flow(hub, server)
    refused = run.lines("REMOTE_NAME_REFUSED")
    assert len(refused) == len(NOT_PLAIN) + 1  # and the name listed twice, once
    assert len(run.lines("REMOTE_NOT_A_FILE")) == 2  # the link and the folder
    for line in refused + run.lines("REMOTE_NOT_A_FILE"):
        assert line["level"] == "warning" and line["partner"] == "FOUR01"
        assert "is not taken" in line["message"] and "left there" in line["message"]
    messages = "\n".join(line["message"] for line in refused)
    assert "'forged<U+000A>edi-engine: processed; all good.xml'" in messages  # escaped
    assert "over 255" in messages and "not UTF-8" in messages and "twice" in messages
    for line in refused:
        assert not set(line["message"]) & {"\n", "\x1b", "\0", "\x7f", "\u2028", "\x85"}
    assert not any(line.startswith(("edi-engine: processed", "processed")) for line in
                   run.stderr.splitlines())  # fmt: skip
    for name in [*NOT_PLAIN, "twice.xml", "link.xml", "folder"]:
        assert server.asked(name) == [], f"{name!r} was never opened, looked at nor deleted"
        assert name in server.names(), f"{name!r} is left on the server"
    assert list(hub.landing.iterdir()) == []
    assert sorted(p.name for p in (hub.home / "landing").iterdir()) == ["FOUR01"]
    assert not (hub.home / "x").exists() and not Path("/etc/hostile.xml").exists()


def test_each_run_names_a_refused_entry_again_while_it_is_there(
    hub: Hub, server: HostileServer
) -> None:
    server.files = [Remote("../escape.xml", b"<evil/>"), Remote("facture.xml", INVOICE)]
    hub.run()
    server.files.append(Remote("avoir.xml", CREDIT_NOTE))

    run = hub.run()

    [line] = run.lines("REMOTE_NAME_REFUSED")
    assert "'../escape.xml'" in line["message"]
    assert [f["file_name"] for f in hub.flows()] == ["facture.xml", "avoir.xml"]
    assert server.names() == ["../escape.xml"]


# -- sizes -----------------------------------------------------------------------------


def test_a_file_over_the_limit_is_read_only_up_to_it_and_left_on_the_server(
    tmp_path: Path, server: HostileServer
) -> None:
    limit = MiB
    hub = make_hub(tmp_path, server, limits_max_file_bytes=limit)
    server.files = [
        Remote("endless.xml", endless, size=10),  # announced 10 bytes, never ends
        Remote("honest.xml", b"<a>" + b"y" * (2 * MiB) + b"</a>"),
        Remote("facture.xml", INVOICE),
    ]

    for _ in range(2):  # named at each run, read again, and left there each time
        server.served.clear()
        run = hub.run()

        too_large = run.lines("REMOTE_FILE_TOO_LARGE")
        assert len(too_large) == 2
        assert "'endless.xml'" in too_large[0]["message"]
        assert "listed at 10 bytes" in too_large[0]["message"]
        assert f"more than the {limit} bytes" in too_large[0]["message"]
        for name in ("endless.xml", "honest.xml"):
            assert limit < server.served[name] <= limit + READ_SIZE, "stopped past the limit"
            assert "remove" not in server.asked(name)
        assert list(hub.landing.iterdir()) == [], "no partial copy, no temporary"
    only_the_good_flow(hub, server)
    assert server.names() == ["endless.xml", "honest.xml"]


def test_announced_sizes_do_not_count_the_bytes_read_do(hub: Hub, server: HostileServer) -> None:
    server.files = [
        Remote("announced-huge.xml", INVOICE, size=500 * MiB),
        Remote("announced-tiny.xml", CREDIT_NOTE, size=10),
    ]

    run = hub.run()

    flows = {f["file_name"]: f for f in hub.flows()}
    assert {name: f["status"] for name, f in flows.items()} == {
        "announced-huge.xml": "IN_INTEGRE",
        "announced-tiny.xml": "IN_INTEGRE",
    }
    for name, content in (("announced-huge.xml", INVOICE), ("announced-tiny.xml", CREDIT_NOTE)):
        shown = json.loads(hub("flows", "show", flows[name]["number"], "--json").stdout)
        assert shown["size"] == len(content)
        assert shown["sha256"] == hashlib.sha256(content).hexdigest()
        assert server.served[name] == len(content)
    assert server.names() == [], "both acknowledged: the server says they are as listed"
    assert len([line for line in run.stderr.splitlines() if "bytes read are taken" in line]) == 2


def test_the_engine_stays_in_bounded_memory_while_a_huge_file_is_refused(
    tmp_path: Path, server: HostileServer
) -> None:
    limit = 48 * MiB
    small = make_hub(tmp_path / "small", server, limits_max_file_bytes=limit)
    server.files = [Remote("big.xml", b"<a/>"), Remote("facture.xml", INVOICE)]
    baseline = small.run().peak_rss

    huge = make_hub(tmp_path / "huge", server, limits_max_file_bytes=limit)
    server.files = [Remote("big.xml", endless, size=10), Remote("facture.xml", INVOICE)]
    server.served.clear()
    run = huge.run()

    assert len(run.lines("REMOTE_FILE_TOO_LARGE")) == 1
    assert server.served["big.xml"] > limit  # the engine did read past 48 MiB
    assert run.peak_rss - baseline < limit // 2, (run.peak_rss, baseline)


# -- nothing outside the landing folder ----------------------------------------------------


def test_nothing_outside_the_landing_folder_is_created_written_or_truncated(
    tmp_path: Path, hub: Hub, server: HostileServer
) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_bytes(b"not the engine's")
    baits = {
        hub.home / "landing" / "x.xml": b"landing/FOUR01/../x.xml",
        hub.home / "x": b"landing/FOUR01/../../x",
        outside: b"not the engine's",
    }
    for path, content in baits.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
    hub.landing.mkdir(parents=True, exist_ok=True)
    (hub.landing / ".facture.xml.tmp").symlink_to(outside)  # where a download writes first
    (hub.landing / "facture.xml").symlink_to(outside)
    before = {path: path.stat().st_mtime_ns for path in baits}
    server.files = [
        Remote("../x.xml", b"<evil/>"),
        Remote("../../x", b"<evil/>"),
        Remote(str(outside), b"<evil/>"),
        Remote("facture.xml", INVOICE),
    ]

    hub.run()

    for path, content in baits.items():
        assert path.read_bytes() == content and path.stat().st_mtime_ns == before[path]
    only_the_good_flow(hub, server)
    assert list(hub.landing.iterdir()) == [], "the planted links are gone, not followed"
    assert sorted(p.name for p in (hub.home / "landing").iterdir()) == ["FOUR01", "x.xml"]


# -- long and malformed listings ---------------------------------------------------------

# paramiko's listdir_attr, the engine's reader before, held 120 MB for 200,000 entries; a
# million take 45 s to list twice here, for nothing more to show
LONG = 250_000


def test_a_listing_of_a_quarter_million_entries_is_read_in_bounded_memory(
    tmp_path: Path, server: HostileServer
) -> None:
    oldest = [f"f{i:07d}.xml" for i in range(LONG - 3, LONG)]

    def served() -> list[Remote]:  # as listed: the same size and mtime
        return [Remote(n, b"<junk/>", mtime=OLD + LONG - int(n[1:8])) for n in oldest]

    def listing(count: int):
        def entries():  # the oldest last: every entry must be looked at
            for i in range(LONG - count, LONG):
                yield attributes(f"f{i:07d}.xml", 7, REGULAR, OLD + LONG - i)

        return entries

    server.files = served()
    server.generated = listing(3)
    small = make_hub(tmp_path / "small", server, pickup_batch_size=3)
    baseline = small.run().peak_rss

    server.files = served()
    server.generated = listing(LONG)
    server.requests.clear()
    hub = make_hub(tmp_path / "long", server, pickup_batch_size=3)
    run = hub.run()

    assert sorted(f["file_name"] for f in hub.flows()) == oldest  # the 3 oldest, and only them
    opened = sorted(path for op, path in server.requests if op == "open" and IN in path)
    assert opened == [f"{IN}/{name}" for name in oldest]
    assert run.peak_rss - baseline < 64 * MiB, (run.peak_rss, baseline)


def _count_past_the_end() -> bytes:
    return struct.pack(">I", 0xFFFFFFFF)  # 4 billion entries, and no byte of them


def _extensions_past_the_end() -> bytes:
    name = b"a.xml"
    entry = struct.pack(">I", len(name)) + name + struct.pack(">I", 0)  # empty `ls -l` line
    return struct.pack(">I", 1) + entry + struct.pack(">II", 0x80000000, 0xFFFFFFFF)


@pytest.mark.parametrize(
    "forged",
    [_count_past_the_end(), _extensions_past_the_end()],
    ids=["4-billion-entries", "4-billion-extensions"],
)
def test_a_malformed_listing_fails_this_partner_only_at_once(
    hub: Hub, server: HostileServer, forged: bytes
) -> None:
    server.forged_readdir = forged
    local = hub.home / "inbox" / "DEST01" / "facture.xml"
    local.parent.mkdir(parents=True, exist_ok=True)
    local.write_bytes(INVOICE)  # another partner's file, in its local inbox

    run = hub.run(code=3)

    assert "partner FOUR01" in run.stderr and "malformed answer" in run.stderr
    [flow] = hub.flows()
    assert flow["partner"] == "DEST01" and flow["status"] != "IN_RECU"  # processed all the same
    assert list(hub.landing.iterdir()) == []


def test_a_thousand_refused_names_are_named_twenty_and_counted(
    hub: Hub, server: HostileServer
) -> None:
    server.files = [Remote(f"../{i:04d}.xml", b"<evil/>") for i in range(1000)]
    server.files.append(Remote("facture.xml", INVOICE))

    run = hub.run()

    lines = run.lines("REMOTE_NAME_REFUSED")
    assert len(lines) == 21
    assert (
        "partner FOUR01: 980 more entries of its SFTP server are not taken"
        in (lines[-1]["message"])
    )
    only_the_good_flow(hub, server)


def test_with_markers_only_plain_names_are_taken(tmp_path: Path, server: HostileServer) -> None:
    server.files = [
        Remote("a.xml", b"<a/>"),
        Remote("a.xml.done"),
        Remote("b.xml", b"<b/>"),
        Remote("../b.xml.done"),  # a marker that is a path marks nothing
        Remote("c.xml", b"<c/>"),  # no marker: not ready
        Remote("d.xml", b"<d/>"),
        Remote("d.xml.done"),
        Remote("d.xml.done"),  # listed twice: which one?
    ]
    endpoint = _endpoint(server, markers=True)

    with sftp.SftpConnection(endpoint) as connection:
        taken = connection.list_stable(0, limit=10)
        refused = connection.refused.kept

    assert [f.name for f in taken] == ["a.xml"]
    assert [(r.code, r.name) for r in refused] == [
        ("REMOTE_NAME_REFUSED", "'../b.xml.done'"),
        ("REMOTE_NAME_REFUSED", "'d.xml.done'"),
    ]


def test_a_daemon_does_not_read_an_unchanged_too_large_file_again(
    tmp_path: Path,
    server: HostileServer,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    hub = make_hub(tmp_path, server, limits_max_file_bytes=MiB)
    for name, value in hub.env.items():
        monkeypatch.delenv(name) if value is None else monkeypatch.setenv(name, value)
    monkeypatch.setattr(sftp_refusals, "MEMORY", sftp_refusals.Memory())
    caplog.set_level(logging.DEBUG, logger=sftp_refusals.log.name)
    loaded = settings.load(hub.home)
    server.files = [Remote("endless.xml", endless, size=10), Remote("facture.xml", INVOICE)]

    def turn() -> tuple[list[str], list[int]]:  # one turn of the daemon: run_once again
        caplog.clear()
        report = runner.run_once(loaded)
        levels = [r.levelno for r in caplog.records if "REMOTE_FILE_TOO_LARGE" in r.getMessage()]
        return report.sftp.refused, levels

    first, levels = turn()
    assert levels == [logging.WARNING]
    read = server.served["endless.xml"]
    assert read > MiB

    again, levels = turn()
    assert again == first and levels == [logging.DEBUG], "reported, said quietly"
    assert server.served["endless.xml"] == read, "not read again"

    server.files[0] = Remote("endless.xml", endless, size=11)  # listed otherwise: read again
    _, levels = turn()
    assert levels == [logging.WARNING]
    assert server.served["endless.xml"] > read
    assert server.names() == ["endless.xml"]


def test_a_listing_that_never_ends_is_cut_and_said_so(server: HostileServer) -> None:
    def forever():  # new names, the oldest first, never the end
        for i in itertools.count():
            yield attributes(f"f{i:09d}.xml", 7, REGULAR, OLD + i)

    server.generated = forever
    server.files = [Remote(f"f{i:09d}.xml", b"<junk/>", mtime=OLD + i) for i in range(3)]

    with sftp.SftpConnection(_endpoint(server, max_listing_entries=5000)) as connection:
        taken = connection.list_stable(0, limit=3)
        [cut] = connection.refused.kept

    assert [f.name for f in taken] == ["f000000000.xml", "f000000001.xml", "f000000002.xml"]
    assert cut.code == "REMOTE_LISTING_TOO_LONG"
    assert cut.said("FOUR01") == (
        "partner FOUR01: REMOTE_LISTING_TOO_LONG: its SFTP server lists 5000 entries or more "
        "in '/in', what one listing reads; only those were looked at, the others wait"
    )


def test_empty_answers_that_never_say_the_end_are_cut(server: HostileServer) -> None:
    server.forged_readdir = struct.pack(">I", 0)  # no entry, and never "end of folder"

    with sftp.SftpConnection(_endpoint(server, max_listing_entries=1000)) as connection:
        assert connection.list_stable(0, limit=10) == []
        [cut] = connection.refused.kept

    assert cut.code == "REMOTE_LISTING_TOO_LONG"


# -- the codes ---------------------------------------------------------------------------


def test_the_refusal_codes_are_documented_as_never_in_a_cr() -> None:
    """Every REMOTE_* code the connector gives is in docs/errors.md#sftp-pickup, and none
    has a French label or a control's entry, as that section says: no CR carries them."""
    from edi_engine.controls.catalogue import CATALOGUE, LOCKED
    from edi_engine.problems import FRENCH

    source = (REPO / "connectors" / "sftp.py").read_text(encoding="utf-8")
    codes = set(re.findall(r'"(REMOTE_[A-Z_]+)"', source))
    errors = (REPO / "docs" / "errors.md").read_text(encoding="utf-8")
    section = errors.split("\n## SFTP pickup\n", 1)[1].split("\n## ", 1)[0]

    assert len(codes) == 4
    assert sorted(c for c in codes if f"| `{c}` |" not in section) == []
    assert "no French label" in section
    assert codes.isdisjoint({*FRENCH, *CATALOGUE, *LOCKED})
