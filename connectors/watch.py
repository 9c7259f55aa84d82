"""Watch local inboxes with inotify, so that the daemon takes a flow as soon as it has
been written (close-write) or moved in (moved-to), instead of at the next scan."""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

with warnings.catch_warnings():  # pyinotify still imports asyncore, deprecated in 3.11
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    import pyinotify


class InboxWatcher:
    """Collects the files closed or moved into the watched folders.

    A queue overflow loses events: the daemon's periodic full scan still finds the files
    (docs/architecture.md#the-road-of-a-flow), so an overflow only costs a little delay."""

    MASK = pyinotify.IN_CLOSE_WRITE | pyinotify.IN_MOVED_TO

    def __init__(self, folders: Iterable[Path] = ()) -> None:
        self._manager = pyinotify.WatchManager()
        self._notifier = pyinotify.Notifier(self._manager, self._collect)
        self._watched: set[Path] = set()
        self._ready: set[Path] = set()
        self.overflows = 0
        self.watch(folders)

    def watch(self, folders: Iterable[Path]) -> None:
        """Add folders (new partners appear while the daemon runs); known ones are kept."""
        for folder in folders:
            if folder not in self._watched and folder.is_dir():
                self._manager.add_watch(str(folder), self.MASK)
                self._watched.add(folder)

    def _collect(self, event: pyinotify.Event) -> None:
        if event.mask & pyinotify.IN_Q_OVERFLOW:
            self.overflows += 1
        elif not event.dir:
            self._ready.add(Path(event.pathname))

    def wait(self, seconds: float, stop: Callable[[], bool] = lambda: False) -> set[Path]:
        """Files that arrived since the last call; waits up to ``seconds`` for a first one,
        looking at ``stop`` twice a second so that SIGTERM is never kept waiting."""
        deadline = time.monotonic() + seconds
        while not self._ready and not stop():
            left = deadline - time.monotonic()
            if left <= 0:
                break
            if self._notifier.check_events(timeout=int(min(left, 0.5) * 1000)):
                self._notifier.read_events()
                self._notifier.process_events()
        ready, self._ready = self._ready, set()
        return ready

    def close(self) -> None:
        self._notifier.stop()
