"""inotify: files closed or moved into an inbox are announced; the wait can be cut short."""

from __future__ import annotations

import os
from pathlib import Path

from connectors import local
from connectors.watch import InboxWatcher


def test_closed_and_moved_in_files_are_announced(tmp_path: Path) -> None:
    inbox = tmp_path / "inbox"
    inbox.mkdir()
    watcher = InboxWatcher([inbox])
    try:
        assert watcher.wait(0.05) == set()
        (inbox / "written.xml").write_text("<x/>")
        (tmp_path / "elsewhere.xml").write_text("<y/>")
        os.rename(tmp_path / "elsewhere.xml", inbox / "moved.xml")
        assert watcher.wait(5) == {inbox / "written.xml", inbox / "moved.xml"}
        assert watcher.wait(0.05) == set()
    finally:
        watcher.close()


def test_a_stop_request_ends_the_wait(tmp_path: Path) -> None:
    watcher = InboxWatcher([tmp_path])
    calls = []
    try:
        assert watcher.wait(600, stop=lambda: calls.append(1) or len(calls) > 2) == set()
    finally:
        watcher.close()
    assert len(calls) == 3


def test_announced_files_are_taken_without_waiting(tmp_path: Path, monkeypatch) -> None:
    inbox = tmp_path / "ABC001"
    inbox.mkdir()
    (inbox / "closed.xml").write_text("<x/>")
    waits: list[float] = []
    monkeypatch.setattr(local.time, "sleep", waits.append)

    found = local.stable_files([("ABC001", inbox)], 30, ready={inbox / "closed.xml"})

    assert [f.path.name for f in found] == ["closed.xml"]
    assert waits == []
