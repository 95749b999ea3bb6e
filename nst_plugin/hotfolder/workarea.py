"""The work area, INBOX/.nst-work: one folder and one lock file per running watcher.

A live watcher holds an flock on `<id>.lock` and touches the file every HEARTBEAT_S
seconds. A work folder is orphaned when its owner's lock file is gone or can be locked
(for an owner on another machine, also only when its heartbeat is older than STALE_S);
`WorkArea.adopt()` takes such folders over by renaming them to `<our id>~<token>`.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import socket
import threading
from pathlib import Path

from ..fsutil import move_free
from .inbox import SIDECAR, WORK_DIR, Inbox
from .record import CommitRecord

try:
    import fcntl
except ImportError:  # Windows: no flock; process ids and the heartbeat decide who is alive
    fcntl = None

HEARTBEAT_S = 10.0  # a live watcher touches its lock file this often
STALE_S = 60.0  # a lock on another machine with a heartbeat older than this is dead
RESULT = ".nst-result"  # the staged result in a work folder, plus the output's extension


def staged(folder: Path, output: Path) -> Path:
    """Where the engine writes the result for `output` in a work folder."""
    return folder / (RESULT + output.suffix)


def user_files(folder: Path) -> list[str]:
    """Relative paths of the non-hidden files under a work folder (hidden ones are ours)."""
    found = []
    for top, dirs, files in os.walk(folder):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        base = Path(top).relative_to(folder)
        found += [(base / f).as_posix() for f in files if not f.startswith(".")]
    return sorted(found)


class WorkArea:
    """This watcher's part of INBOX/.nst-work: a lock file it holds and a work folder."""

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

    def clean(self, folder: Path) -> None:
        """Tidy a work folder once its job has left it (our main folder itself stays)."""
        _clean(folder, keep=folder == self.folder)

    def leave(self, folder: Path) -> None:
        """A job stays in `folder`; one folder holds one job, so new claims need a new one."""
        if folder == self.folder:
            with contextlib.suppress(OSError):
                self.set_aside()

    def set_aside(self) -> Path:
        """Move what the work folder holds to a folder of its own (still ours); start a new one."""
        aside = self.root / f"{self.id}~{secrets.token_hex(3)}"
        os.rename(self.folder, aside)
        self.folder.mkdir()
        return aside

    def folders(self) -> list[Path]:
        """Our work folder and the folders we adopted."""
        return [self.folder, *sorted(self.root.glob(f"{self.id}~*"))]  # (id: no glob characters)

    def holding(self) -> list[Path]:
        """Our folders that still hold a file (an error left it there)."""
        return [folder for folder in self.folders() if user_files(folder)]

    def job_in(self, folder: Path, inbox: Inbox) -> str | None:
        """The job a work folder holds (after a crash or a stop), or None when it is empty."""
        record = CommitRecord.read(folder)
        if record is not None:
            return record.file
        for rel in user_files(folder):
            if not rel.lower().endswith(SIDECAR):
                inbox.claim_sidecar(folder, rel)  # a crash may have separated them
                return rel
            if not os.path.lexists(folder / rel[: -len(SIDECAR)]):  # a sidecar alone: return it
                move_free(folder / rel, inbox.path / rel)
        return None

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


def _clean(folder: Path, *, keep: bool) -> None:
    """Once a work folder holds no user file: remove our hidden leftovers and the empty folders
    (and the folder itself, unless `keep`). While it holds one, its records are still needed."""
    if user_files(folder):
        return
    for top, _, files in os.walk(folder, topdown=False):
        for name in files:
            if name.startswith("."):
                with contextlib.suppress(OSError):
                    os.unlink(os.path.join(top, name))
        if top != str(folder) or not keep:
            with contextlib.suppress(OSError):
                os.rmdir(top)  # only ever removes an empty folder


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
