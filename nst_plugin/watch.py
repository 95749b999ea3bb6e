"""The hot folder: `nst watch INBOX --style STYLE`.

    INBOX/photo.jpg            a dropped file (INBOX/<style>/photo.jpg uses that style)
    INBOX/photo.jpg.json       optional sidecar: {"style": "wave", "size": 256, ...}
    INBOX/out/                 results, <stem>-<style>.png, never overwritten (--out)
    INBOX/done/                originals after success (with their sidecars)
    INBOX/failed/              originals that failed, each with <name>.error.txt
    INBOX/.nst-work/           files claimed by running watchers, one folder each

A file becomes a job once its size and modification time have not changed for --settle
seconds. The watcher claims it by renaming it into its own work folder (atomic, so two
watchers never take the same file), and commits each step in a record beside it, so a
crash at any point is resumed exactly once by the next watcher to start. docs/HOTFOLDER.md
explains the protocol.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import datetime
import errno
import filecmp
import itertools
import json
import logging
import os
import queue
import re
import secrets
import shutil
import signal
import socket
import stat
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence, TextIO

from . import checkpoint
from .errors import RequestError
from .errors import describe as describe_error
from .errors import is_user_error as is_bad_input
from .jobs import CANCELLED, DONE, Job, JobRunner
from .options import Settings

try:
    import fcntl
except ImportError:  # Windows: no flock; process ids and the heartbeat decide who is alive
    fcntl = None

if TYPE_CHECKING:
    from PIL import Image

WORK_DIR = ".nst-work"
DONE_DIR = "done"
FAILED_DIR = "failed"
DEFAULT_NAME = "{stem}-{style}.png"
SIDECAR = ".json"
ERROR_SUFFIX = ".error.txt"
TEMP_SUFFIXES = (".part", ".partial", ".tmp", ".temp", ".crdownload", ".download")
SYSTEM_FILES = ("thumbs.db", "desktop.ini")
HEARTBEAT_S = 10.0  # a live watcher touches its lock file this often
STALE_S = 60.0  # a lock on another machine with a heartbeat older than this is dead
RESCAN_S = 30.0  # full scan of the inbox (missed events) and check for dead watchers

_RESULT = ".nst-result"  # the staged result in a work folder, plus the output's extension
_RECORD = ".nst-job.json"  # a work folder's commit record


# --------------------------------------------------------------------------- files


def is_job_name(name: str) -> bool:
    """Whether a file of this name becomes a job (hidden, temporary, sidecar and error files don't)."""
    low = name.lower()
    return not (
        name.startswith(".")
        or name.endswith("~")
        or low.endswith(TEMP_SUFFIXES + (SIDECAR, ERROR_SUFFIX))
        or low in SYSTEM_FILES
    )


def numbered(path: Path) -> Iterator[Path]:
    """`path`, then the same name with a counter: photo.jpg, photo-2.jpg, photo-3.jpg, ..."""
    yield path
    for n in itertools.count(2):
        yield path.with_name(f"{path.stem}-{n}{path.suffix}")


def move(src: Path, dst: Path) -> None:
    """Move a file to `dst`, raising FileExistsError rather than replacing a file there.

    Hard link, then unlink: an existing `dst` is never replaced, and when `dst` already is
    `src` (a crash between the two steps) the move just completes. Without hard links it
    checks and renames; across file systems it copies to a hidden name beside `dst` first.
    """
    try:
        os.link(src, dst, follow_symlinks=False)
    except FileExistsError:
        if not _same_file(src, dst):
            raise
    except FileNotFoundError:
        raise
    except OSError as err:
        if os.path.lexists(dst):
            raise FileExistsError(errno.EEXIST, "file exists", str(dst)) from None
        if err.errno != errno.EXDEV:
            os.rename(src, dst)
            return
        tmp = dst.with_name(f".{dst.name}.{secrets.token_hex(4)}.tmp")
        try:
            shutil.copyfile(src, tmp, follow_symlinks=False)
            move(tmp, dst)
        finally:
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
    os.unlink(src)


def move_free(src: Path, dst: Path) -> Path:
    """Move `src` to `dst`, or to the first free numbered name beside it; return where it went."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    for candidate in numbered(dst):
        try:
            move(src, candidate)
            return candidate
        except FileExistsError:
            continue
    raise AssertionError("unreachable")


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samestat(os.lstat(a), os.lstat(b))
    except OSError:
        return False


def _write_atomic(path: Path, text: str) -> None:
    """Write a file of ours (record, error note) in one step: temporary name, then replace."""
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def _read_record(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / _RECORD).read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def _user_files(folder: Path) -> list[str]:
    """Relative paths of the non-hidden files under a work folder (hidden ones are ours)."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(top).relative_to(folder)
        found += [(base / f).as_posix() for f in files if not f.startswith(".")]
    return sorted(found)


def _clean(folder: Path, *, keep: bool) -> None:
    """Once a work folder holds no user file: remove our hidden leftovers and the empty folders
    (and the folder itself, unless `keep`). While it holds one, its records are still needed."""
    if _user_files(folder):
        return
    for top, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            if name.startswith("."):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(top, name))
        if top != str(folder) or not keep:
            with contextlib.suppress(OSError):
                os.rmdir(top)  # only ever removes an empty folder


# --------------------------------------------------------------------------- work area


class WorkArea:
    """This watcher's part of INBOX/.nst-work: a lock file it holds and a work folder.

    A live watcher holds an flock on `<id>.lock` and touches the file every HEARTBEAT_S
    seconds. A work folder is orphaned when its owner's lock file is gone or can be locked
    (for an owner on another machine, also only when its heartbeat is older than STALE_S);
    `adopt()` takes such folders over by renaming them to `<our id>~<token>`.
    """

    def __init__(self, inbox: Path) -> None:
        self.root = inbox / WORK_DIR
        self.host = re.sub(r"[^\w.-]", "_", socket.gethostname()) or "host"
        self.id = f"{self.host}.{os.getpid()}.{secrets.token_hex(3)}"
        self.folder = self.root / self.id
        self.lock_path = self.root / f"{self.id}.lock"
        self._fd: int | None = None
        self._stopped = threading.Event()

    def open(self) -> None:
        """Create the lock (held until close) and the work folder."""
        while self._fd is None:
            self.root.mkdir(exist_ok=True)  # (raises if the inbox itself has gone)
            try:
                fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
            except FileNotFoundError:  # another watcher removed the empty root just now
                continue
            with contextlib.suppress(OSError):  # (a share without locks: the heartbeat decides)
                _flock(fd, block=True)  # waits out a watcher that is checking on it
            if _same_inode(fd, self.lock_path):
                self._fd = fd
            else:  # it was cleaned away while we waited: make a new one
                os.close(fd)
        os.write(self._fd, f"{self.host} {os.getpid()}\n".encode())
        self.folder.mkdir(exist_ok=True)
        threading.Thread(target=self._beat, name="nst-watch-heartbeat", daemon=True).start()

    def close(self) -> None:
        """Remove what is empty, then release the lock (a job left behind is adopted later)."""
        self._stopped.set()
        for folder in self.folders():
            _clean(folder, keep=False)
        if self._fd is not None:
            with contextlib.suppress(OSError):
                self.lock_path.unlink()
            os.close(self._fd)
            self._fd = None
        with contextlib.suppress(OSError):
            self.root.rmdir()

    def set_aside(self) -> Path:
        """Move what the work folder holds to a folder of its own (still ours); start a new one."""
        aside = self.root / f"{self.id}~{secrets.token_hex(3)}"
        os.rename(self.folder, aside)
        self.folder.mkdir()
        return aside

    def folders(self) -> list[Path]:
        """Our work folder and the folders we adopted."""
        return [self.folder, *sorted(self.root.glob(f"{self.id}~*"))]  # (id: no glob characters)

    def adopt(self) -> list[Path]:
        """Take over the work folders of dead watchers; return them (renamed to ours)."""
        try:
            entries = list(os.scandir(self.root))
        except FileNotFoundError:
            return []
        dead: dict[str, bool] = {}
        adopted, remaining = [], set()
        for entry in entries:
            owner = entry.name.split("~")[0]
            if not entry.is_dir(follow_symlinks=False) or owner == self.id:
                continue
            if owner not in dead:
                dead[owner] = self._is_dead(owner)
            target = self.root / f"{self.id}~{secrets.token_hex(3)}"
            try:
                if dead[owner]:
                    os.rename(entry.path, target)
                    adopted.append(target)
                    continue
            except OSError:  # another watcher adopted it first
                pass
            remaining.add(owner)
        for entry in entries:  # lock files of dead watchers that have no folder left
            owner = entry.name[: -len(".lock")]
            if entry.name.endswith(".lock") and owner != self.id and owner not in remaining:
                self._is_dead(owner, remove=True)
        return adopted

    def _is_dead(self, owner: str, *, remove: bool = False) -> bool:
        """Whether `owner` has stopped; with `remove`, delete its lock file (while holding it)."""
        path = self.root / f"{owner}.lock"
        try:
            fd = os.open(path, os.O_RDWR)
        except FileNotFoundError:
            return True  # a live watcher keeps its lock file until it has left
        except OSError:
            return False
        try:
            try:
                _flock(fd, block=False)
                locked = True
            except BlockingIOError:
                return False  # held: the owner is alive
            except OSError:
                locked = False  # this file system has no locks
            host, _, pid = os.read(fd, 256).decode(errors="replace").strip().partition(" ")
            if host == self.host and (locked or not _pid_alive(pid)):
                dead = True
            else:  # another machine, or no locks: only a long silence counts
                dead = self._age(path) > STALE_S
            if dead and remove and _same_inode(fd, path):
                os.unlink(path)
            return dead
        finally:
            os.close(fd)  # releases our flock

    def _age(self, path: Path) -> float:
        """Seconds since `path` was touched, by the file server's clock (ours was just touched)."""
        try:
            os.utime(self.lock_path)
            return self.lock_path.stat().st_mtime - path.stat().st_mtime
        except OSError:
            return 0.0

    def _beat(self) -> None:
        while not self._stopped.wait(HEARTBEAT_S):
            with contextlib.suppress(OSError):
                os.utime(self.lock_path)


def _flock(fd: int, *, block: bool) -> None:
    """Take an exclusive flock; BlockingIOError when held, OSError where there are no locks."""
    if fcntl is None:
        raise OSError(errno.ENOLCK, "no file locks on this system")
    fcntl.flock(fd, fcntl.LOCK_EX if block else fcntl.LOCK_EX | fcntl.LOCK_NB)


def _pid_alive(pid: str) -> bool:
    if os.name == "nt":  # os.kill(pid, 0) would interrupt it there: let the heartbeat decide
        return True
    try:
        os.kill(int(pid), 0)
    except (ValueError, ProcessLookupError):
        return False
    except PermissionError:
        return True
    return True


def _same_inode(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path))
    except OSError:
        return False


# --------------------------------------------------------------------------- the watcher


@dataclass
class WatchConfig:
    """What `nst watch` was asked to do."""

    inbox: Path
    style: str | None = None  # default style: a path, or a name in styles_dir
    styles_dir: Path | None = None
    out: Path | None = None  # default INBOX/out
    settle: float = 2.0
    polling: bool = False
    poll_interval: float = 1.0
    once: bool = False
    name: str = DEFAULT_NAME  # output file name; {stem} and {style} are filled in
    engine: str = "vgg19"
    settings: Settings = field(default_factory=Settings)
    rescan: float = RESCAN_S


@dataclass
class _Spec:
    """One file's job: resolved from the watcher's options, its style folder and its sidecar."""

    styles: list[Path]
    label: str
    settings: Settings
    engine: str
    output: Path  # the wanted output path; a counter is added when it is taken


@dataclass
class _Running:
    folder: Path
    rel: str
    spec: _Spec
    job: Job
    started: float


class _Fatal(Exception):
    """The watcher cannot go on (engine or weights missing); carries the exit code."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message)
        self.code = code


class Watcher:
    """Watches one inbox and runs its files through a JobRunner, one at a time.

    `run()` blocks until `stop()` is called (from a signal handler or another thread) or,
    with `once`, until the backlog is processed; it returns the exit code.
    """

    def __init__(
        self,
        config: WatchConfig,
        *,
        runner: JobRunner | None = None,
        out: TextIO | None = None,
        err: TextIO | None = None,
    ) -> None:
        self.config = config
        self.inbox = Path(config.inbox).absolute()
        self.out = Path(config.out).absolute() if config.out else self.inbox / "out"
        self.runner = runner or JobRunner(name="nst-watch")
        self._own_runner = runner is None
        self.console = _Console(out or sys.stdout, err or sys.stderr)
        self.area = WorkArea(self.inbox)
        self.done = 0
        self.failed = 0
        self.ready = threading.Event()  # set once the backlog is known and watching has begun
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._pending: dict[str, tuple[tuple[int, int], float]] = {}  # rel -> (size, mtime), since
        self._sidecars: dict[str, tuple[tuple[int, int], float]] = {}
        self._only: set[str] | None = None  # with --once: the files that were there at start
        self._folders: collections.deque[Path] = collections.deque()  # work folders to resume
        self._current: _Running | None = None
        self._stopping = False
        self._warm = False
        self._wake_at = 0.0
        self._warned: set[str] = set()  # files that could not be claimed yet (said once)
        self._style_names: dict[str, Path] = {}
        self._default_style: str | None = None
        self._style_cache: dict[Path, tuple[tuple[int, int], Image.Image]] = {}
        self._reserved: set[str] = {DONE_DIR, FAILED_DIR}
        self._observer: Any = None
        self._watched: dict[str, Any] = {}  # style subfolder -> watchdog watch

    # -- public

    def run(self) -> int:
        """Process the backlog, then watch (or, with `once`, stop); return the exit code."""
        try:
            self._check_setup()
            self.area.open()
        except RequestError as err:
            self.console.say(f"nst: error: {err}")
            return 2
        except OSError as err:
            self.console.say(f"nst: error: cannot work in {self.inbox} ({err.strerror or err}); "
                             "check that the folder and --out are writable.")
            return 2
        try:
            self._folders.extend(self.area.adopt())
            if not self.config.once:
                self._warm_up()
                self._start_observer()  # before the scan, so that no file slips between them
            self._scan()
            if self.config.once:
                self._only = set(self._pending)
            self.console.say(self._banner())
            self.ready.set()
            self._loop()
        except _Fatal as err:
            self.console.say(f"nst: error: {err}")
            return err.code
        finally:
            self._shutdown()
        if self.config.once:
            return 130 if self._stopping else 1 if self.failed else 0
        return 0

    def stop(self) -> None:
        """Stop soon: the running job is cancelled and its file put back. Thread-safe."""
        self._stopping = True
        self._events.put(("stop", None))

    # -- setup

    def _check_setup(self) -> None:
        c = self.config
        from .images import SUPPORTED_OUTPUT, ImageError

        if c.settle < 0 or c.poll_interval <= 0:
            raise RequestError("--settle must not be negative and --poll-interval must be positive.")
        if not self.inbox.is_dir():
            raise RequestError(f"{self.inbox} is not a folder; create it first or check the path.")
        if c.styles_dir is not None and not Path(c.styles_dir).is_dir():
            raise RequestError(f"the styles folder {c.styles_dir} does not exist.")
        if self.out.resolve() == self.inbox.resolve():
            raise RequestError(
                "--out must not be the inbox itself, or results would be taken as new files."
            )
        with contextlib.suppress(ValueError):  # results inside the inbox: never scanned
            self._reserved.add(self.out.resolve().relative_to(self.inbox.resolve()).parts[0])
        try:
            example = c.name.format(stem="photo", style="style")
        except (KeyError, IndexError, ValueError) as err:
            raise RequestError(
                f"--output-name {c.name!r} is not a valid template ({err}); use {{stem}} and {{style}}."
            ) from None
        if "/" in example or os.sep in example or Path(example).suffix.lower() not in SUPPORTED_OUTPUT:
            raise RequestError(
                f"--output-name {c.name!r} must be a file name ending in one of "
                f"{', '.join(sorted(SUPPORTED_OUTPUT))}."
            )
        if c.style is None and c.styles_dir is None:
            raise RequestError("give --style (a style image), or --styles-dir for style subfolders.")
        self._refresh_style_names()
        if c.style is not None:  # a name stays a name (the styles folder may change), a path is fixed
            path = self._resolve_style(c.style, Path.cwd())
            self._default_style = c.style if c.style in self._style_names else str(path.absolute())
            try:
                self._style_image(path)
            except ImageError as err:
                raise RequestError(str(err)) from None
        self.out.mkdir(parents=True, exist_ok=True)

    def _banner(self) -> str:
        how = "once:" if self.config.once else "polling" if self.config.polling else "watching"
        style = self.config.style or f"subfolders of {self.config.styles_dir}"
        return (f"nst watch: {how} {self.inbox} ({len(self._pending)} waiting; style {style}; "
                f"results in {self.out})")

    def _warm_up(self) -> None:
        """Load the engine once, before the first job; a missing engine or weights is fatal."""
        if self._warm:
            return
        self.console.status("loading the engine ...", force=True)
        try:
            self.runner.warm_up(self.config.engine, self.config.settings)
        except Exception as err:  # noqa: BLE001 - reported as the watcher's exit reason
            raise _Fatal(describe_error(err), 2 if is_bad_input(err) else 1) from None
        self._warm = True

    def _start_observer(self) -> None:
        from watchdog.observers import Observer
        from watchdog.observers.polling import PollingObserver

        logging.getLogger("watchdog.observers.inotify").addFilter(_quiet_watchdog_stop)

        # inotify watches the whole inbox: a claim's move into the work folder then pairs with
        # its move out of the inbox at once (watchdog holds an unpaired move for 0.5 s, and the
        # events behind it wait). Polling reads only the folders that hold jobs.
        if self.config.polling:
            self._observer = PollingObserver(timeout=self.config.poll_interval)
        else:
            self._observer = Observer()
        recursive = not self.config.polling
        self._observer.schedule(_Handler(self._events), str(self.inbox), recursive=recursive)
        self._sync_watches()
        self._observer.start()

    def _sync_watches(self) -> None:
        """With polling, watch exactly the style subfolders that exist now."""
        if self._observer is None or not self.config.polling:
            return
        folders = set(self._style_folders())
        for name in set(self._watched) - folders:
            with contextlib.suppress(Exception):
                self._observer.unschedule(self._watched.pop(name))
        for name in folders - set(self._watched):
            with contextlib.suppress(OSError):
                self._watched[name] = self._observer.schedule(
                    _Handler(self._events), str(self.inbox / name), recursive=False
                )

    def _shutdown(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
        if self._current is not None:  # only after an unexpected error: still never lose it
            self._current.job.cancel()
            self._current.job.wait()
            self._put_back(self._current.folder, self._current.rel)
            self._current = None
        if self._own_runner:
            self.runner.close(cancel=True)
        self.area.close()
        self.console.close()

    # -- the loop

    def _loop(self) -> None:
        next_scan = time.monotonic() + self.config.rescan
        while True:
            if self._current is None:
                if self._stopping:
                    return
                self._start_next()
                if self._current is None and self.config.once and not (self._pending or self._folders):
                    return
            self._show_status()
            wake = min(next_scan, self._wake_at) if self._current is None else next_scan
            try:
                self._handle(*self._events.get(timeout=max(0.005, wake - time.monotonic())))
                while True:
                    self._handle(*self._events.get_nowait())
            except queue.Empty:
                pass
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + self.config.rescan
                self._scan()
                self._folders.extend(self.area.adopt())
                self._requeue_stuck()

    def _requeue_stuck(self) -> None:
        """Our folders that still hold files (an error left them there) get another try."""
        busy = {self._current.folder} if self._current else set()
        for folder in self.area.folders():
            if folder not in busy and folder not in self._folders and _user_files(folder):
                self._folders.append(folder)

    def _handle(self, kind: str, value: Any) -> None:
        if kind == "path":
            self._on_path(value)
        elif kind == "done":
            self._complete(value)
        elif kind == "stop" and self._current is not None:
            self._current.job.cancel()

    def _start_next(self) -> None:
        """Start the next job: resumed work first, then the oldest settled file."""
        while self._current is None and not self._stopping:
            if self._folders:
                folder = self._folders.popleft()
                rel = self._next_in(folder)
                if rel is None:
                    _clean(folder, keep=folder == self.area.folder)
                    continue
                self._warm_up()
                self._begin(folder, rel)
                continue
            rel = self._next_ready()
            if rel is None:
                return
            self._warm_up()
            if self._claim(rel):
                self._begin(self.area.folder, rel)

    # -- seeing files

    def _style_folders(self) -> list[str]:
        try:
            entries = list(os.scandir(self.inbox))
        except OSError:
            return []
        return [
            e.name for e in entries
            if e.name in self._style_names and e.name not in self._reserved
            and not e.name.startswith(".") and e.is_dir()
        ]

    def _scan(self) -> None:
        """Look at every file in the inbox and its style folders (backlog, missed events)."""
        self._refresh_style_names()
        self._sync_watches()
        present: set[str] = set()
        for folder in ["", *self._style_folders()]:
            try:
                entries = sorted(os.scandir(self.inbox / folder), key=lambda e: e.name)
            except OSError:
                continue
            for entry in entries:
                rel = f"{folder}/{entry.name}" if folder else entry.name
                if entry.is_file():
                    present.add(rel)
                    self._observe(rel)
        for table in (self._pending, self._sidecars):
            for rel in [r for r in table if r not in present]:
                del table[rel]

    def _on_path(self, path: str) -> None:
        try:
            parts = Path(path).relative_to(self.inbox).parts
        except ValueError:
            return
        if len(parts) > 2 or not parts or parts[0] in self._reserved or parts[0].startswith("."):
            return
        if len(parts) == 2:
            if parts[0] in self._style_names:
                self._observe("/".join(parts))
        elif (self.inbox / parts[0]).is_dir():
            if parts[0] in self._style_names or self._refresh_style_names(parts[0]):
                self._scan()  # a style folder appeared (perhaps full of files)
        else:
            self._observe(parts[0])

    def _observe(self, rel: str) -> None:
        """Note a file's size and mtime; a change restarts its settle time."""
        name = rel.rsplit("/", 1)[-1]
        if name.lower().endswith(SIDECAR) and not name.startswith("."):
            table = self._sidecars
        elif is_job_name(name) and (self._only is None or rel in self._only):
            table = self._pending
        else:
            return
        try:
            st = os.stat(self.inbox / rel)
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

    def _next_ready(self) -> str | None:
        """The oldest file (and sidecar) stable for `settle` seconds; sets when to look again."""
        now, settle = time.monotonic(), self.config.settle
        self._wake_at = now + self.config.rescan
        due = list(itertools.takewhile(lambda item: now - item[1][1] >= settle, self._pending.items()))
        for rel, (_, since) in due:
            self._observe(rel)
            if self._pending.get(rel, (None, None))[1] != since:
                continue  # changed or gone
            sidecar = rel + SIDECAR
            if os.path.lexists(self.inbox / sidecar):
                self._observe(sidecar)
                if sidecar not in self._sidecars:
                    continue
                ready_at = self._sidecars[sidecar][1] + settle
                if ready_at > now:
                    self._wake_at = min(self._wake_at, ready_at)
                    continue
            return rel
        if len(due) < len(self._pending):
            first_waiting = next(itertools.islice(self._pending.values(), len(due), None))
            self._wake_at = min(self._wake_at, first_waiting[1] + settle)
        return None

    # -- claiming and resuming

    def _claim(self, rel: str) -> bool:
        """Rename the file (then its sidecar) into our work folder; False if someone was faster."""
        src, dst = self.inbox / rel, self.area.folder / rel
        if os.path.lexists(dst):  # a job of that name is stuck in our folder: later
            self._observe_later(rel)
            return False
        dst.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            if not os.path.lexists(dst):  # (on NFS a retried rename can report ENOENT)
                self._pending.pop(rel, None)
                return False
        except OSError as err:
            if rel not in self._warned:
                self._warned.add(rel)
                self.console.say(f"nst: cannot take {rel} yet ({err.strerror}); trying again later.")
            self._observe_later(rel)
            return False
        self._warned.discard(rel)
        self._pending.pop(rel, None)
        self._claim_sidecar(self.area.folder, rel)
        return True

    def _claim_sidecar(self, folder: Path, rel: str) -> None:
        self._sidecars.pop(rel + SIDECAR, None)
        if not os.path.lexists(folder / (rel + SIDECAR)):
            with contextlib.suppress(FileNotFoundError):
                os.rename(self.inbox / (rel + SIDECAR), folder / (rel + SIDECAR))

    def _observe_later(self, rel: str) -> None:
        seen = self._pending.pop(rel, None)
        if seen is not None:
            self._pending[rel] = (seen[0], time.monotonic())

    def _next_in(self, folder: Path) -> str | None:
        """The job a work folder holds (after a crash or a stop), or None when it is empty."""
        record = _read_record(folder)
        if record is not None:
            return record["file"]
        for rel in _user_files(folder):
            if not rel.lower().endswith(SIDECAR):
                self._claim_sidecar(folder, rel)  # a crash may have separated them
                return rel
            if not os.path.lexists(folder / rel[: -len(SIDECAR)]):  # a sidecar alone: return it
                move_free(folder / rel, self.inbox / rel)
        return None

    # -- running a job

    def _begin(self, folder: Path, rel: str) -> None:
        """Start the job for `folder/rel`, or finish it where an earlier run left off."""
        started = time.monotonic()
        try:
            record = _read_record(folder)
            if record is not None:
                self._resume_record(folder, record, started)
                return
            try:
                spec = self._spec(folder, rel)
                styles = [self._style_image(p) for p in spec.styles]
            except Exception as err:  # bad sidecar or style: the file fails, the watcher goes on
                if not is_bad_input(err):
                    raise
                error = self._sentence(err, folder, rel)
                self._finish(folder, {"file": rel, "style": "-", "error": error}, started)
                return
            staged = folder / (_RESULT + spec.output.suffix)
            if staged.exists():  # computed before a crash or stop: publish it
                self._publish(folder, rel, spec, started)
                return
            saved = checkpoint.path_for(staged)
            common = {"overwrite": True, "on_done": lambda job: self._events.put(("done", job)),
                      "listeners": [self.console.progress_listener(rel, lambda: len(self._pending))]}
            if saved.exists():  # stopped or crashed with a checkpoint: go on from there
                job = self.runner.resume(str(saved), str(staged), **common)
            else:
                job = self.runner.submit(str(folder / rel), styles, str(staged),
                                         settings=spec.settings, engine=spec.engine, **common)
            self._current = _Running(folder, rel, spec, job, started)
        except OSError as err:
            self._stuck(folder, rel, err)

    def _complete(self, job: Job) -> None:
        run, self._current = self._current, None
        assert run is not None and run.job is job
        try:
            if job.state == DONE:
                self._publish(run.folder, run.rel, run.spec, run.started)
            elif job.state == CANCELLED and checkpoint.path_for(job.output).exists():
                self._log("stopped", run.rel, run.spec.label, time.monotonic() - run.started,
                          "checkpointed: the next watcher to start goes on from there")
                self._leave(run.folder)
            elif job.state == CANCELLED:
                self._put_back(run.folder, run.rel)
            elif job.checkpoint is not None and job.bad_input:  # e.g. from an older version
                Path(job.checkpoint).unlink(missing_ok=True)
                self._begin(run.folder, run.rel)  # start afresh
            else:
                record = {"file": run.rel, "style": run.spec.label,
                          "error": self._sentence(job.error, run.folder, run.rel)}
                self._finish(run.folder, record, run.started)
        except OSError as err:
            self._stuck(run.folder, run.rel, err)
        if run.folder != self.area.folder:
            self._folders.append(run.folder)  # checked once more, then removed when empty

    def _publish(self, folder: Path, rel: str, spec: _Spec, started: float) -> None:
        """Move the staged result to a free output name, then finish; the record makes it once."""
        staged = folder / (_RESULT + spec.output.suffix)
        record = {"file": rel, "style": spec.label, "want": str(spec.output)}
        self.out.mkdir(parents=True, exist_ok=True)
        for target in numbered(spec.output):
            if os.path.lexists(target):
                continue
            record["output"] = str(target)
            _write_atomic(folder / _RECORD, json.dumps(record))
            try:
                move(staged, target)
                break
            except FileExistsError:
                continue
        self._finish(folder, record, started)

    def _resume_record(self, folder: Path, record: dict[str, Any], started: float) -> None:
        """Go on from the last step a crashed or stopped watcher committed."""
        if "output" in record and "dest" not in record:
            want, target = Path(record["want"]), Path(record["output"])
            staged = folder / (_RESULT + want.suffix)
            if staged.exists():
                if target.exists() and filecmp.cmp(staged, target, shallow=False):
                    staged.unlink()  # it was published just before the crash
                else:
                    spec = _Spec([], record["style"], self.config.settings, self.config.engine, want)
                    self._publish(folder, record["file"], spec, started)
                    return
        self._finish(folder, record, started)

    def _finish(self, folder: Path, record: dict[str, Any], started: float) -> None:
        """Move the original (and sidecar) to done/ or failed/, beside its error note if failed."""
        rel, failed = record["file"], "error" in record
        src = folder / rel
        while os.path.lexists(src):
            dest = Path(record["dest"]) if "dest" in record else None
            if dest is None or (os.path.lexists(dest) and not _same_file(src, dest)):
                base = self.inbox / (FAILED_DIR if failed else DONE_DIR) / rel
                dest = next(p for p in numbered(base) if not os.path.lexists(p))
                record["dest"] = str(dest)
                _write_atomic(folder / _RECORD, json.dumps(record))
            dest.parent.mkdir(parents=True, exist_ok=True)
            if failed:
                _write_atomic(dest.with_name(dest.name + ERROR_SUFFIX), record["error"] + "\n")
            try:
                move(src, dest)
            except FileExistsError:
                record.pop("dest")
        if "dest" in record:
            dest = Path(record["dest"])
            sidecar = folder / (rel + SIDECAR)
            if os.path.lexists(sidecar):
                move_free(sidecar, dest.with_name(dest.name + SIDECAR))
        (folder / _RECORD).unlink(missing_ok=True)
        _clean(folder, keep=folder == self.area.folder)
        seconds = time.monotonic() - started
        if failed:
            self.failed += 1
            self._log("failed", rel, record["style"], seconds, record["error"])
        else:
            self.done += 1
            self._log("done", rel, record["style"], seconds, f"-> {self._show(Path(record['output']))}")

    def _put_back(self, folder: Path, rel: str) -> None:
        """Return a stopped job's file (sidecar first) to the inbox; if its name is taken, keep it."""
        home = self.inbox / rel
        sidecar = folder / (rel + SIDECAR)
        try:
            if os.path.lexists(home):
                raise FileExistsError
            home.parent.mkdir(parents=True, exist_ok=True)
            if os.path.lexists(sidecar):
                move(sidecar, self.inbox / (rel + SIDECAR))
            move(folder / rel, home)
        except FileExistsError:
            self._log("stopped", rel, "-", 0,
                      "a new file has its name: it stays in the work area for the next start")
            self._leave(folder)
            return
        _clean(folder, keep=folder == self.area.folder)
        self._log("stopped", rel, "-", 0, "put back into the inbox")

    def _stuck(self, folder: Path, rel: str, err: OSError) -> None:
        """A file or disk error: the job stays in the work area and is tried again later."""
        self._log("error", rel, "-", 0, f"{err}; it stays in the work area and is tried again later")
        self._leave(folder)

    def _leave(self, folder: Path) -> None:
        """A job stays in its work folder; one folder holds one job, so new claims need a new one."""
        if folder == self.area.folder and not self._stopping:
            with contextlib.suppress(OSError):
                self.area.set_aside()

    # -- what a file asks for

    def _spec(self, folder: Path, rel: str) -> _Spec:
        c = self.config
        options: dict[str, Any] = {}
        sidecar = folder / (rel + SIDECAR)
        if os.path.lexists(sidecar):
            options = _read_sidecar(sidecar, rel + SIDECAR)
        style = options.pop("style", None)
        engine = options.pop("engine", c.engine)
        if style is None:
            top = rel.split("/")[0] if "/" in rel else None
            style = top if top is not None else self._default_style
        if style is None:
            raise RequestError(
                f"{rel} has no style; put it in a style subfolder or name one in {rel}{SIDECAR}."
            )
        settings = c.settings
        if options:
            try:
                settings = Settings.from_dict({**c.settings.to_dict(), **options})
            except RequestError as err:
                raise RequestError(f"{rel}{SIDECAR}: {err}") from None
        names = style if isinstance(style, list) else [style]
        if not names or not all(isinstance(n, str) for n in names):
            raise RequestError(f"{rel}{SIDECAR}: \"style\" must be a name or a path, or a list of them.")
        base = (self.inbox / rel).parent
        styles = [self._resolve_style(n, base) for n in names]
        label = "+".join(re.sub(r"[^\w.-]+", "_", p.stem) for p in styles)
        output = self.out / c.name.format(stem=Path(rel).stem, style=label)
        return _Spec(styles, label, settings, str(engine), output)

    def _refresh_style_names(self, wanted: str | None = None) -> bool:
        """Re-read --styles-dir; True when `wanted` is now a style name."""
        names: dict[str, Path] = {}
        if self.config.styles_dir is not None:
            with contextlib.suppress(OSError):
                for entry in sorted(os.scandir(self.config.styles_dir), key=lambda e: e.name):
                    if is_job_name(entry.name) and entry.is_file():
                        names.setdefault(Path(entry.name).stem, Path(entry.path))
        self._style_names = names
        return wanted in names

    def _resolve_style(self, value: str, base: Path) -> Path:
        """A style name in --styles-dir, or a path (relative to the file's folder)."""
        if value in self._style_names or self._refresh_style_names(value):
            return self._style_names[value]
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            if self.config.styles_dir is None:
                raise RequestError(f"the style {value!r} is not a file; check the path.")
            raise RequestError(f"the style {value!r} is neither a file nor a style in "
                               f"{self.config.styles_dir}; check the name.")
        return path

    def _style_image(self, path: Path) -> Image.Image:
        """A style image, decoded once and kept until its file changes."""
        from .images import ImageError, load_image

        try:
            st = path.stat()
        except OSError:
            raise ImageError(f"{path} does not exist; check the style's path.") from None
        key = (st.st_size, st.st_mtime_ns)
        cached = self._style_cache.get(path)
        if cached is None or cached[0] != key:
            cached = self._style_cache[path] = (key, load_image(path).rgb)
        return cached[1]

    # -- reporting

    def _sentence(self, err: BaseException | None, folder: Path, rel: str) -> str:
        return describe_error(err or RuntimeError("unknown error")).replace(str(folder / rel), rel)

    def _show(self, path: Path) -> str:
        try:
            return path.relative_to(self.inbox).as_posix()
        except ValueError:
            return str(path)

    def _log(self, verb: str, rel: str, style: str, seconds: float, tail: str) -> None:
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        self.console.log(f"{now} {verb:<7} {rel}  style={style}  {seconds:.1f}s  {tail}")

    def _show_status(self) -> None:
        if self._current is None:
            waiting = len(self._pending)
            self.console.status(f"watching {self.inbox.name}: {waiting} waiting, "
                                f"{self.done} done, {self.failed} failed", force=True)


def _read_sidecar(path: Path, name: str) -> dict[str, Any]:
    """A sidecar's options, with dashes in keys read as underscores."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RequestError(f"{name} is not UTF-8 text; save it again as UTF-8 JSON.") from None
    except ValueError as err:
        where = f" at line {err.lineno}" if hasattr(err, "lineno") else ""
        raise RequestError(f"{name} is not valid JSON ({getattr(err, 'msg', err)}{where}); "
                           "fix it and drop both files again.") from None
    if not isinstance(data, dict):
        raise RequestError(f'{name} must hold a JSON object such as {{"style": "wave", "size": 256}}.')
    return {str(k).replace("-", "_"): v for k, v in data.items()}


def _quiet_watchdog_stop(record: logging.LogRecord) -> bool:
    """Hide watchdog's harmless complaint about an event read while its thread stops."""
    return "called when the thread is inactive" not in record.getMessage()


class _Handler:
    """Turns watchdog events into paths for the watcher's queue (watchdog calls dispatch)."""

    def __init__(self, events: queue.SimpleQueue) -> None:
        self.events = events

    def dispatch(self, event: Any) -> None:
        if event.event_type in ("opened", "closed_no_write"):
            return
        for path in (event.src_path, getattr(event, "dest_path", "")):
            if path:
                self.events.put(("path", os.fsdecode(path)))


class _Console:
    """One log line per job on `out`; a live status line on `err` when that is a terminal."""

    def __init__(self, out: TextIO, err: TextIO) -> None:
        self.out, self.err = out, err
        self.live = bool(getattr(err, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._status = ""
        self._shown = 0.0

    def log(self, line: str) -> None:
        with self._lock:
            self._clear()
            print(line, file=self.out, flush=True)
            self._draw()

    def say(self, line: str) -> None:
        with self._lock:
            self._clear()
            print(line, file=self.err, flush=True)
            self._draw()

    def status(self, text: str, *, force: bool = False) -> None:
        """Show `text` as the status line; unforced updates come at most ten times a second."""
        if not self.live or text == self._status or (not force and time.monotonic() - self._shown < 0.1):
            return
        with self._lock:
            self._status = text
            self._draw()
            self._shown = time.monotonic()

    def progress_listener(self, rel: str, waiting: Callable[[], int]) -> Callable[[Any], None]:
        def listen(event: Any) -> None:
            step = f" {event.step}/{event.total}" if event.total else ""
            eta = f" eta {event.eta:.0f}s" if event.eta is not None else ""
            self.status(f"{rel}: {event.stage}{step}{eta} ({waiting()} waiting)",
                        force=event.stage != "optimizing")

        return listen

    def close(self) -> None:
        with self._lock:
            self._clear()
            self._status = ""

    def _clear(self) -> None:
        if self.live and self._status:
            self.err.write("\r\x1b[K")

    def _draw(self) -> None:
        if self.live and self._status:
            width = shutil.get_terminal_size().columns - 1
            self.err.write("\r\x1b[K" + self._status[:width])
            self.err.flush()


# --------------------------------------------------------------------------- command line


def add_arguments(parser: argparse.ArgumentParser,
                  add_engine_options: Callable[[argparse.ArgumentParser], None]) -> None:
    """The options of `nst watch`."""
    parser.add_argument("inbox", metavar="INBOX", help="the folder to watch")
    parser.add_argument("--style", help="style image for files without a sidecar style or "
                        "style subfolder: a path, or a name in --styles-dir")
    parser.add_argument("--styles-dir", type=Path, metavar="DIR", help="folder of style images; INBOX/<name>/ "
                        "and sidecars' \"style\" pick them by name")
    parser.add_argument("--out", type=Path, metavar="DIR", help="where results go (default INBOX/out)")
    parser.add_argument("--output-name", dest="name", default=DEFAULT_NAME, metavar="TEMPLATE",
                        help="result file name, {stem} and {style} filled in (default %(default)s)")
    parser.add_argument("--settle", type=float, default=2.0, metavar="SECONDS", help="take a file once its size and time "
                        "have not changed for this many seconds (default %(default)s)")
    parser.add_argument("--polling", action="store_true",
                        help="poll instead of OS events (network shares where inotify sees nothing)")
    parser.add_argument("--poll-interval", type=float, default=1.0, metavar="SECONDS",
                        help="seconds between polls (default %(default)s)")
    parser.add_argument("--once", action="store_true",
                        help="process what is in INBOX now, then exit (0 only if nothing failed)")
    add_engine_options(parser)


def add_cli(subparsers: Any, add_engine_options: Callable[[argparse.ArgumentParser], None],
            settings_from: Callable[[argparse.Namespace], Settings]) -> argparse.ArgumentParser:
    """Add `nst watch` to the `nst` command; its handler is `args.run(args) -> exit code`."""
    parser = subparsers.add_parser("watch", help="a hot folder: stylize every image dropped into INBOX",
                                   description="Stylize every image dropped into INBOX, exactly once.")
    add_arguments(parser, add_engine_options)
    parser.set_defaults(run=lambda args: command(args, settings_from))
    return parser


def command(args: argparse.Namespace, settings_from: Callable[[argparse.Namespace], Settings]) -> int:
    """Run `nst watch` for parsed arguments; return the exit code."""
    try:
        settings = settings_from(args)
    except RequestError as err:
        print(f"nst: error: {err}", file=sys.stderr)
        return 2
    config = WatchConfig(
        inbox=Path(args.inbox), style=args.style, styles_dir=args.styles_dir, out=args.out,
        settle=args.settle, polling=args.polling, poll_interval=args.poll_interval, once=args.once,
        name=args.name, engine=args.engine, settings=settings,
    )
    watcher = Watcher(config)
    with _stop_on_signals(watcher.stop):
        return watcher.run()


@contextlib.contextmanager
def _stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM stop cleanly; a second one exits at once (the claimed file is resumed later)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    clear = b"\r\x1b[K" if os.isatty(2) else b""  # over the status line

    def handle(signum: int, frame: Any) -> None:
        received.append(signum)  # (os.write: print is not safe inside a signal handler)
        if len(received) == 1:
            os.write(2, clear + b"nst: stopping; the running job is put back or checkpointed "
                     b"(once more to stop at once).\n")
            stop()
        else:
            os.write(2, clear + b"nst: stopped at once; the claimed file is resumed at the "
                     b"next start.\n")
            os._exit(130)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nst_plugin.watch INBOX ...`, the same as `nst watch INBOX ...`."""
    from .cli.engine_flags import add_engine_options, settings_from

    parser = argparse.ArgumentParser(prog="nst watch",
                                     description="Stylize every image dropped into INBOX.")
    add_arguments(parser, add_engine_options)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return command(parser.parse_args(argv), settings_from)


if __name__ == "__main__":
    sys.exit(main())
