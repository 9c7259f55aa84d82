"""Flows prepared in worker processes come back as the writer would have read them itself,
each exactly once and in order, even when a worker dies (issue 14, point 3).

The workers are real processes. The tests that kill one use test doubles of the
preparation, passed to the pool as `preparation` (module-level functions, which workers
import by name): one stalls on a flow until the test kills its worker with SIGKILL, one
kills its own worker on a flow each time it starts it (as running out of memory would).
DEADLINE bounds a wait; it never measures a speed."""

from __future__ import annotations

import errno
import io
import multiprocessing
import os
import pickle
import signal
import subprocess
import sys
import threading
import time
import zipfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

import config
from edi_engine import settings
from edi_engine.errors import StorageError
from edi_engine.ledger.models import Flow
from edi_engine.problems import FlowRejected
from edi_engine.processing import preparing, runner
from edi_engine.processing.preparing import Job, Prepared, Workers
from edi_engine.reception import flow_parts
from edi_engine.settings import Settings

DEADLINE = 120  # seconds a test waits for a worker to reach a flow; never a speed
STALL = "stall-"  # a flow the stalling double waits on, the first time, until killed
KILLER = "killer-"  # a flow the killing double dies on, every time


def stalls_once(
    settings: Settings, flow_id: int, path: str, name: str, size: int, *ahead: object
) -> Prepared:
    """Waits on a STALL flow until killed, the first time, having written its pid where
    the test finds it; prepares every other flow, and that one the next time, as usual."""
    marker = settings.home / f"{name}.pid"
    if name.startswith(STALL) and not marker.exists():
        marker.write_text(str(os.getpid()))
        while True:
            signal.pause()
    return preparing.prepare(settings, flow_id, path, name, size, *ahead)  # type: ignore[arg-type]


def dies_on_killers(
    settings: Settings, flow_id: int, path: str, name: str, size: int, *ahead: object
) -> Prepared:
    """A KILLER flow kills the worker preparing it, as running out of memory would."""
    if name.startswith(KILLER):
        os.kill(os.getpid(), signal.SIGKILL)
    return preparing.prepare(settings, flow_id, path, name, size, *ahead)  # type: ignore[arg-type]


@pytest.fixture
def home_settings(tmp_path: Path) -> Settings:
    home = tmp_path / "home"
    (home / "archive").mkdir(parents=True)
    return settings.load(home, require_file=False)


def archived(home: Settings, name: str, content: bytes, flow_id: int) -> Job:
    (home.archive / name).write_bytes(content)
    return Job(flow_id, name, name, len(content))


def demo(name: str) -> bytes:
    return config.path(f"demo/{name}").read_bytes()


def ubl(number: int) -> bytes:
    return demo("ubl-invoice.xml").replace(b"F01-2026-000101", f"F01-2026-{number:06}".encode())


def zipped(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as batch:
        for name, content in members.items():
            batch.writestr(name, content)
    return buffer.getvalue()


def kinds(home: Settings) -> list[Job]:
    """One flow of each kind the writer meets, good and bad."""
    batch = {n: demo(f"batch/{n}") for n in ("ubl-batch-1.xml", "ubl-batch-2.xml")}
    files = {
        "ubl.xml": demo("ubl-invoice.xml"),
        "cii.xml": demo("cii-invoice.xml"),
        "pivot-multi.xml": demo("pivot-multi.xml"),
        "batch.zip": zipped(batch),
        "xsd-invalid.xml": demo("xsd-invalid.xml"),
        "not-xml.xml": b"this is no XML at all",
        "empty.xml": b"",
        "empty.zip": zipped({}),
    }
    jobs = [archived(home, name, content, i) for i, (name, content) in enumerate(files.items(), 1)]
    return [*jobs, Job(len(jobs) + 1, "gone.xml", "gone.xml", 10)]  # never archived


def gone(pid: int) -> bool:
    """No such process, or a zombie: it ran its last."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):  # gone before, or as it was read
        return True
    return stat.rpartition(")")[2].split()[0] == "Z"


def test_workers_prepare_every_kind_of_flow_as_the_writer_reads_it(home_settings: Settings):
    jobs = kinds(home_settings)
    with Workers(home_settings, 1) as here:
        expected = list(here.prepared(jobs))
    with Workers(home_settings, 2) as pool:
        found = list(pool.prepared(jobs))
    assert found == expected
    by_name = {job.file_name: prepared for job, prepared in zip(jobs, found, strict=True)}
    numbers = [[r.number for p in by_name[n].parts for r in p.reads] for n in by_name]
    assert numbers[:4] == [
        ["F01-2026-000101"],
        ["F02-2026-000501"],
        ["F02-2026-000502", "F02-2026-000503", "F02-2026-000504"],
        ["F01-2026-000102", "F01-2026-000103"],
    ]
    assert all(r.invoice is not None for p in by_name["cii.xml"].parts for r in p.reads)
    codes = {n: [p.code for part in by_name[n].parts for p in part.problems] for n in by_name}
    assert set(codes["xsd-invalid.xml"]) == {"XSD_INVALID"}
    assert codes["not-xml.xml"] == ["NOT_XML"]
    assert [p.code for p in by_name["empty.xml"].rejected] == ["EMPTY_FILE"]
    assert [p.code for p in by_name["empty.zip"].rejected] == ["EMPTY_BATCH"]
    failure = by_name["gone.xml"].failure
    assert failure is not None
    with pytest.raises(StorageError, match=r"The archived original .*gone\.xml is missing"):
        raise failure.exception()


def test_a_prepared_flow_replays_what_flow_parts_gives(home_settings: Settings):
    jobs = {job.file_name: job for job in kinds(home_settings)}
    with Workers(home_settings, 2) as pool:
        found = {p.flow_id: p for p in pool.prepared(jobs.values())}
    for name in ("ubl.xml", "batch.zip", "xsd-invalid.xml"):
        job = jobs[name]
        flow = Flow(id=job.flow_id, archive_path=name, file_name=name, size=job.size)
        replayed = found[job.flow_id].replay(home_settings, flow)
        replayed = [replace(p, reads=list(p.reads)) for p in replayed]
        direct = [replace(p, reads=list(p.reads)) for p in flow_parts.parts(home_settings, flow)]
        assert replayed == direct
    with pytest.raises(FlowRejected, match="is empty"):
        list(found[jobs["empty.xml"].flow_id].replay(home_settings, Flow()))


def test_a_large_pivot_is_left_to_the_writer_which_streams_it(home_settings: Settings):
    streaming = replace(home_settings, limits=replace(home_settings.limits, stream_bytes=1024))
    job = archived(streaming, "pivot-multi.xml", demo("pivot-multi.xml"), 7)
    with Workers(streaming, 2) as pool:
        (prepared,) = pool.prepared([job])
    assert prepared == Prepared(7, unread=True)
    flow = Flow(id=7, archive_path=job.archive_path, file_name=job.file_name, size=job.size)
    numbers = [r.number for part in prepared.replay(streaming, flow) for r in part.reads]
    assert numbers == ["F02-2026-000502", "F02-2026-000503", "F02-2026-000504"]


def test_a_failure_keeps_its_class_message_and_errno_across_processes():
    try:
        try:
            raise OSError(errno.ENOSPC, "No space left on device", "/archive/x")
        except OSError as full:
            raise StorageError("The archive could not be written.") from full
    except StorageError as exc:
        failure = pickle.loads(pickle.dumps(preparing.Failure.of(exc)))
    rebuilt = failure.exception()
    assert type(rebuilt) is StorageError
    assert str(rebuilt) == "The archive could not be written."
    assert isinstance(rebuilt.__cause__, OSError)
    assert rebuilt.__cause__.errno == errno.ENOSPC
    assert runner._transient(rebuilt)  # a full disk is tried again, as at home
    assert "raised in a worker process" in rebuilt.__notes__[0]
    unknown = preparing.Failure.of(zipfile.BadZipFile("truncated"))
    assert str(pickle.loads(pickle.dumps(unknown)).exception()) == "BadZipFile: truncated"


def test_results_come_in_order_with_few_flows_held(home_settings: Settings):
    jobs = [archived(home_settings, f"u{i}.xml", ubl(i), i) for i in range(1, 41)]
    taken: list[Job] = []

    def listed() -> Iterator[Job]:
        for job in jobs:
            taken.append(job)
            yield job

    with Workers(home_settings, 2) as pool:
        found = []
        for prepared in pool.prepared(listed()):
            found.append(prepared)
            assert len(taken) - len(found) < preparing.DEPTH * pool.count
    assert [p.flow_id for p in found] == [job.flow_id for job in jobs]
    assert [p.parts[0].reads[0].number for p in found] == [f"F01-2026-{i:06}" for i in range(1, 41)]


def test_a_worker_killed_mid_batch_gives_its_flows_back(home_settings: Settings):
    names = [f"{STALL}{i}.xml" if i == 7 else f"u{i}.xml" for i in range(1, 21)]
    jobs = [archived(home_settings, name, ubl(i), i) for i, name in enumerate(names, 1)]
    marker = home_settings.home / f"{STALL}7.xml.pid"
    killed: list[int] = []

    def kill_the_stalled_worker() -> None:
        deadline = time.monotonic() + DEADLINE
        while not (marker.exists() and marker.read_text()) and time.monotonic() < deadline:
            time.sleep(0.01)
        killed.append(int(marker.read_text()))
        os.kill(killed[0], signal.SIGKILL)

    with Workers(home_settings, 1) as here:
        expected = list(here.prepared(jobs))
    with Workers(home_settings, 2, stalls_once) as pool:
        started = set(pool.pids())
        killer = threading.Thread(target=kill_the_stalled_worker)
        killer.start()
        found = list(pool.prepared(jobs))
        killer.join()
        assert killed[0] in started
        assert killed[0] not in pool.pids() and len(pool.pids()) == 2
        assert list(pool.prepared(jobs[:3])) == expected[:3]  # the pool goes on
    assert found == expected  # each flow once, in order, the stalled one prepared again


def test_a_worker_killed_whatever_it_does_loses_no_flow(home_settings: Settings):
    """Killed at a moment of the test's choosing, not the worker's: between flows, sending
    a result or in the middle of one, every flow comes back once."""
    jobs = [archived(home_settings, "pivot.xml", demo("pivot-multi.xml"), 1)]
    jobs += [archived(home_settings, f"u{i}.xml", ubl(i), i) for i in range(2, 31)]
    with Workers(home_settings, 1) as here:
        expected = list(here.prepared(jobs))
    with Workers(home_settings, 2) as pool:
        found = []
        for prepared in pool.prepared(jobs):
            found.append(prepared)
            if len(found) in (3, 17):
                busy = pool.busy()
                os.kill(next(iter(busy)) if busy else pool.pids()[0], signal.SIGKILL)
    assert found == expected


def test_a_flow_that_kills_every_worker_is_given_up_after_max_attempts(
    home_settings: Settings,
):
    names = ["a.xml", f"{KILLER}b.xml", "c.xml", "d.xml", "e.xml"]
    jobs = [archived(home_settings, name, ubl(i), i) for i, name in enumerate(names, 1)]
    attempts = home_settings.processing.max_attempts
    with Workers(home_settings, 2, dies_on_killers) as pool:
        found = list(pool.prepared(jobs))
        assert len(pool.pids()) == 2
        again = list(pool.prepared(jobs[:1]))  # the pool goes on
    assert [p.flow_id for p in found] == [1, 2, 3, 4, 5]
    assert found[1] == Prepared(2, killed_workers=attempts)
    assert all(p.killed_workers == 0 and p.parts[0].reads for p in found if p.flow_id != 2)
    assert again == found[:1]
    with pytest.raises(RuntimeError, match="answered, not replayed"):
        list(found[1].replay(home_settings, Flow()))


def test_no_worker_is_left_after_close_even_when_the_caller_raises(home_settings: Settings):
    names = ["u1.xml", f"{STALL}2.xml", "u3.xml"]
    jobs = [archived(home_settings, name, ubl(i), i) for i, name in enumerate(names, 1)]
    failing = pytest.raises(ValueError, match="the writer failed")
    with failing, Workers(home_settings, 2, stalls_once) as pool:
        pids = pool.pids()
        assert len(pids) == 2 and not any(gone(pid) for pid in pids)
        for _ in pool.prepared(jobs):  # the second flow stalls: a worker is busy
            raise ValueError("the writer failed")
    assert all(gone(pid) for pid in pids)
    assert multiprocessing.active_children() == []


def test_a_batch_left_midway_leaves_nothing_to_the_next(home_settings: Settings):
    jobs = [archived(home_settings, f"u{i}.xml", ubl(i), i) for i in range(1, 13)]
    with Workers(home_settings, 2) as pool:
        for prepared in pool.prepared(jobs):
            assert prepared.flow_id == 1
            break
        found = list(pool.prepared(jobs[6:]))
    assert [p.flow_id for p in found] == list(range(7, 13))


def test_one_worker_prepares_in_this_process(home_settings: Settings):
    jobs = [archived(home_settings, "u1.xml", ubl(1), 1)]
    with Workers(home_settings, 1) as here:
        assert here.pids() == []
        (prepared,) = here.prepared(jobs)
        assert multiprocessing.active_children() == []
    assert prepared.parts[0].reads[0].number == "F01-2026-000001"


def test_a_schema_workers_cannot_compile_stops_the_pool_saying_why(home_settings: Settings):
    folder = home_settings.home / "cii-d16b"
    folder.mkdir()
    (folder / settings.CII_D16B_XSD).write_text("<not-a-schema/>")
    broken = replace(home_settings, schemas=replace(home_settings.schemas, cii_dir="cii-d16b"))
    job = archived(home_settings, "u1.xml", ubl(1), 1)
    pool = Workers(broken, 2)  # started with its first flows: a run with none never pays
    with pytest.raises(preparing.WorkersFailed, match=r"Cannot load the schema .*100pD16B"):
        list(pool.prepared([job]))
    assert multiprocessing.active_children() == []


def test_a_number_of_workers_is_resolved_and_checked():
    assert preparing.resolved(0) == len(os.sched_getaffinity(0))
    assert preparing.resolved(3) == 3
    with pytest.raises(ValueError, match="0 or more"):
        preparing.resolved(-1)
    with pytest.raises(ValueError, match="1 worker or more"):
        Workers(None, 0)


ORPHAN = """
import sys
from pathlib import Path
from edi_engine import settings
from edi_engine.processing.preparing import Workers

if __name__ == "__main__":
    pool = Workers(settings.load(Path(sys.argv[1]), require_file=False), 2)
    print(*pool.pids(), flush=True)
    sys.stdin.readline()
"""


def test_workers_leave_with_a_writer_killed_by_sigkill(home_settings: Settings, tmp_path: Path):
    program = tmp_path / "writer.py"
    program.write_text(ORPHAN)
    command = [sys.executable, str(program), str(home_settings.home)]
    pipes = {"stdin": subprocess.PIPE, "stdout": subprocess.PIPE, "text": True}
    with subprocess.Popen(command, **pipes) as writer:
        try:
            pids = [int(pid) for pid in writer.stdout.readline().split()]
            assert len(pids) == 2 and not any(gone(pid) for pid in pids)
        finally:
            writer.kill()
    deadline = time.monotonic() + DEADLINE
    while not all(gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert all(gone(pid) for pid in pids)
