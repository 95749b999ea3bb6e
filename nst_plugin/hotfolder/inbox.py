"""The inbox: which names are jobs, when a file has settled, and how a file is claimed.

Changes come from watchdog: inotify over the whole inbox, or (`--polling`, for network
shares) a `PollingObserver` on the inbox and each style folder. Events only say "look at
this path"; a full scan every `rescan` seconds catches anything they missed.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import queue
import stat
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from ..fsutil import move

WORK_DIR = ".nst-work"
DONE_DIR = "done"
FAILED_DIR = "failed"
SIDECAR = ".json"
ERROR_SUFFIX = ".error.txt"
TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download")
SYSTEM_FILES = ("thumbs.db", "desktop.ini")
RESCAN_S = 30.0  # full scan of the inbox (missed events) and check for dead watchers

Seen = tuple[tuple[int, int], float]  # (size, mtime_ns), and since when (monotonic) unchanged


def is_job_name(name: str) -> bool:
    """Whether a file of this name becomes a job (hidden, temporary, sidecar and error files
    do not)."""
    low = name.lower()
    return not (
        name.startswith(".")
        or name.endswith("~")
        or low.endswith((*TEMP_SUFFIXES, SIDECAR, ERROR_SUFFIX))
        or low in SYSTEM_FILES
    )


class StyleNames(Protocol):
    """The style names of --styles-dir (a subfolder of the inbox by that name is a style folder)."""

    def __contains__(self, name: object) -> bool: ...

    def refresh(self, wanted: str | None = None) -> bool: ...


class Inbox:
    """The files of one inbox (its top level and its style folders) and how long each is unchanged.

    `pending` (job files) and `sidecars` map a relative path to what was last seen of it;
    both stay oldest first. `next_ready()` gives the oldest file that has settled and sets
    `wake_at`, when to look again; `claim()` takes a file into a work folder.
    """

    def __init__(
        self,
        path: Path,
        styles: StyleNames,
        *,
        settle: float,
        rescan: float,
        say: Callable[[str], None],
    ) -> None:
        self.path = path
        self.styles = styles
        self.settle = settle
        self.rescan = rescan
        self.say = say
        self.reserved: set[str] = {DONE_DIR, FAILED_DIR}  # top-level folders never scanned
        self.pending: dict[str, Seen] = {}
        self.sidecars: dict[str, Seen] = {}
        self.only: set[str] | None = None  # with --once: the files that were there at start
        self.wake_at = 0.0
        self._warned: set[str] = set()  # files that could not be claimed yet (said once)
        self._observer: Any = None
        self._handler: _Handler | None = None
        self._polling = False
        self._watched: dict[str, Any] = {}  # style subfolder -> watchdog watch

    def reserve(self, folder: Path) -> None:
        """Never scan `folder` (the results) when it is inside the inbox."""
        with contextlib.suppress(ValueError):
            self.reserved.add(folder.resolve().relative_to(self.path.resolve()).parts[0])

    # -- observers

    def watch(
        self, events: queue.SimpleQueue[tuple[str, Any]], *, polling: bool, interval: float
    ) -> None:
        """Start the observer; it puts ("path", path) on `events` for every change."""
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        logging.getLogger("watchdog.observers.inotify").addFilter(_quiet_watchdog_stop)

        # inotify watches the whole inbox: a claim's move into the work folder then pairs with
        # its move out of the inbox at once (watchdog holds an unpaired move for 0.5 s, and the
        # events behind it wait). Polling reads only the folders that hold jobs.
        self._handler, self._polling = _Handler(events), polling
        self._observer = PollingObserver(timeout=interval) if polling else Observer()
        self._observer.schedule(self._handler, str(self.path), recursive=not polling)
        self._sync_watches()
        self._observer.start()

    def close(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()

    def _sync_watches(self) -> None:
        """With polling, watch exactly the style subfolders that exist now."""
        if self._observer is None or not self._polling:
            return
        folders = set(self.style_folders())
        for name in set(self._watched) - folders:
            with contextlib.suppress(Exception):
                self._observer.unschedule(self._watched.pop(name))
        for name in folders - set(self._watched):
            with contextlib.suppress(OSError):
                self._watched[name] = self._observer.schedule(
                    self._handler, str(self.path / name), recursive=False
                )

    # -- seeing files

    def style_folders(self) -> list[str]:
        try:
            entries = list(os.scandir(self.path))
        except OSError:
            return []
        return [
            e.name
            for e in entries
            if e.name in self.styles
            and e.name not in self.reserved
            and not e.name.startswith(".")
            and e.is_dir()
        ]

    def scan(self) -> None:
        """Look at every file in the inbox and its style folders (backlog, missed events)."""
        self.styles.refresh()
        self._sync_watches()
        present: set[str] = set()
        for folder in ["", *self.style_folders()]:
            try:
                entries = sorted(os.scandir(self.path / folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                rel = f"{folder}/{entry.name}" if folder else entry.name
                if entry.is_file():
                    present.add(rel)
                    self.observe(rel)
        for table in (self.pending, self.sidecars):
            for rel in [r for r in table if r not in present]:
                del table[rel]

    def on_path(self, path: str) -> None:
        """An observer's event: look at what it names."""
        try:
            parts = Path(path).relative_to(self.path).parts
        except ValueError:
            return
        if len(parts) > 2 or not parts or parts[0] in self.reserved or parts[0].startswith("."):
            return
        if len(parts) == 2:
            if parts[0] in self.styles:
                self.observe("/".join(parts))
        elif (self.path / parts[0]).is_dir():
            if parts[0] in self.styles or self.styles.refresh(parts[0]):
                self.scan()  # a style folder appeared (perhaps full of files)
        else:
            self.observe(parts[0])

    def observe(self, rel: str) -> None:
        """Note a file's size and mtime; a change restarts its settle time."""
        name = rel.rsplit("/", 1)[-1]
        if name.lower().endswith(SIDECAR) and not name.startswith("."):
            table = self.sidecars
        elif is_job_name(name) and (self.only is None or rel in self.only):
            table = self.pending
        else:
            return
        try:
            st = os.stat(self.path / rel)
        except OSError:
            table.pop(rel, None)
            return
        if not stat.S_ISREG(st.st_mode):
            table.pop(rel, None)
            return
        key = (st.st_size, st.st_mtime_ns)
        seen = table.get(rel)
        if seen is None or seen[0] != key:
            table.pop(rel, None)
            table[rel] = (key, time.monotonic())  # re-inserted: the table stays oldest first

    def observe_later(self, rel: str) -> None:
        """Start a file's settle time again (it cannot be taken now)."""
        seen = self.pending.pop(rel, None)
        if seen is not None:
            self.pending[rel] = (seen[0], time.monotonic())

    def next_ready(self) -> str | None:
        """The oldest file (and sidecar) stable for `settle` seconds; sets when to look again."""
        now, settle = time.monotonic(), self.settle
        self.wake_at = now + self.rescan
        due = list(
            itertools.takewhile(lambda item: now - item[1][1] >= settle, self.pending.items())
        )
        for rel, (_, since) in due:
            self.observe(rel)
            if self.pending.get(rel, (None, None))[1] != since:
                continue  # changed or gone
            sidecar = rel + SIDECAR
            if os.path.lexists(self.path / sidecar):
                self.observe(sidecar)
                if sidecar not in self.sidecars:
                    continue
                ready_at = self.sidecars[sidecar][1] + settle
                if ready_at > now:
                    self.wake_at = min(self.wake_at, ready_at)
                    continue
            return rel
        if len(due) < len(self.pending):
            first_waiting = next(itertools.islice(self.pending.values(), len(due), None))
            self.wake_at = min(self.wake_at, first_waiting[1] + settle)
        return None

    # -- claiming

    def claim(self, rel: str, folder: Path) -> bool:
        """Rename the file (then its sidecar) into `folder`; False if someone was faster."""
        src, dst = self.path / rel, folder / rel
        if os.path.lexists(dst):  # a job of that name is stuck in that folder: later
            self.observe_later(rel)
            return False
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            if not os.path.lexists(dst):  # (on NFS a retried rename can report ENOENT)
                self.pending.pop(rel, None)
                return False
        except OSError as err:
            if rel not in self._warned:
                self._warned.add(rel)
                self.say(f"nst: cannot take {rel} yet ({err.strerror}); trying again later.")
            self.observe_later(rel)
            return False
        self._warned.discard(rel)
        self.pending.pop(rel, None)
        self.claim_sidecar(folder, rel)
        return True

    def claim_sidecar(self, folder: Path, rel: str) -> None:
        """Take the sidecar of `folder/rel` along, if it is still in the inbox."""
        self.sidecars.pop(rel + SIDECAR, None)
        if not os.path.lexists(folder / (rel + SIDECAR)):
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.path / (rel + SIDECAR), folder / (rel + SIDECAR))

    def put_back(self, folder: Path, rel: str) -> bool:
        """Return `folder/rel` (its sidecar first) to the inbox; False if its name is taken
        there."""
        home = self.path / rel
        sidecar = folder / (rel + SIDECAR)
        try:
            if os.path.lexists(home):
                return False
            home.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(sidecar):
                move(sidecar, self.path / (rel + SIDECAR))
            move(folder / rel, home)
        except FileExistsError:
            return False
        return True


def _quiet_watchdog_stop(record: logging.LogRecord) -> bool:
    """Hide watchdog's harmless complaint about an event read while its thread stops."""
    return "called when the thread is inactive" not in record.getMessage()


class _Handler:
    """Turns watchdog events into paths for the watcher's queue (watchdog calls dispatch)."""

    def __init__(self, events: queue.SimpleQueue[tuple[str, Any]]) -> None:
        self.events = events

    def dispatch(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                self.events.put(("path", os.fsdecode(path)))
