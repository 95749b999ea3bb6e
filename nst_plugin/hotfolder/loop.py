"""The watcher's loop: claim a settled file, run it, publish the result, finish the original.

Before each step that moves a file the watcher commits what it is about to do in the work
folder's record (record.py), so a watcher that dies at any point leaves work the next one
completes exactly once. docs/HOTFOLDER.md describes the protocol.
"""

from __future__ import annotations

import collections
import filecmp
import os
import queue
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from .. import checkpoint
from ..errors import RequestError, is_user_error, user_message
from ..fsutil import move, move_free, numbered, same_file, write_atomic
from ..jobs import CANCELLED, DONE, Job, JobRunner
from .inbox import DONE_DIR, ERROR_SUFFIX, FAILED_DIR, SIDECAR, Inbox
from .record import CommitRecord
from .spec import JobSpec, Specs, WatchConfig
from .status import Console, sentence
from .workarea import WorkArea, staged


@dataclass
class _Running:
    folder: Path
    rel: str
    spec: JobSpec
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
        self.out = config.out_path
        self.runner = runner or JobRunner(name="nst-watch")
        self._own_runner = runner is None
        self.console = Console(out or sys.stdout, err or sys.stderr, config.inbox_path)
        self.specs = Specs(config)
        self.inbox = Inbox(
            config.inbox_path,
            self.specs,
            settle=config.settle,
            rescan=config.rescan,
            say=self.console.say,
        )
        self.area = WorkArea(config.inbox_path)
        self.done = 0
        self.failed = 0
        self.ready = threading.Event()  # set once the backlog is known and watching has begun
        self._events: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self._folders: collections.deque[Path] = collections.deque()  # work folders to resume
        self._current: _Running | None = None
        self._stopping = False
        self._warm = False

    def run(self) -> int:
        """Process the backlog, then watch (or, with `once`, stop); return the exit code."""
        try:
            self._set_up()
            self.area.open()
        except RequestError as err:
            self.console.say(f"nst: error: {err}")
            return 2
        except OSError as err:
            self.console.say(
                f"nst: error: cannot work in {self.inbox.path} ({err.strerror or err}); "
                "check that the folder and --out are writable."
            )
            return 2
        try:
            self._folders.extend(self.area.adopt())
            if not self.config.once:
                self._warm_up()
                # before the scan, so that no file slips between them
                self.inbox.watch(
                    self._events, polling=self.config.polling, interval=self.config.poll_interval
                )
            self.inbox.scan()
            if self.config.once:
                self.inbox.only = set(self.inbox.pending)
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

    # -- start and stop

    def _set_up(self) -> None:
        self.config.check()
        self.inbox.reserve(self.out)
        self.specs.load_default()
        self.out.mkdir(parents=True, exist_ok=True)

    def _banner(self) -> str:
        how = "once:" if self.config.once else "polling" if self.config.polling else "watching"
        style = self.config.style or f"subfolders of {self.config.styles_dir}"
        return (
            f"nst watch: {how} {self.inbox.path} ({len(self.inbox.pending)} waiting; "
            f"style {style}; results in {self.out})"
        )

    def _warm_up(self) -> None:
        """Load the engine once, before the first job; a missing engine or weights is fatal."""
        if self._warm:
            return
        self.console.status("loading the engine ...", force=True)
        try:
            self.runner.warm_up(self.config.engine, self.config.settings)
        except Exception as err:
            raise _Fatal(user_message(err), 2 if is_user_error(err) else 1) from None
        self._warm = True

    def _shutdown(self) -> None:
        self.inbox.close()
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
                if (
                    self._current is None
                    and self.config.once
                    and not (self.inbox.pending or self._folders)
                ):
                    return
            if self._current is None:
                self.console.idle(len(self.inbox.pending), self.done, self.failed)
            wake = min(next_scan, self.inbox.wake_at) if self._current is None else next_scan
            try:
                self._handle(*self._events.get(timeout=max(0.005, wake - time.monotonic())))
                while True:
                    self._handle(*self._events.get_nowait())
            except queue.Empty:
                pass
            if time.monotonic() >= next_scan:
                next_scan = time.monotonic() + self.config.rescan
                self.inbox.scan()
                self._folders.extend(self.area.adopt())
                busy = self._current.folder if self._current else None
                for folder in self.area.holding():  # a file an error left there: tried again
                    if folder != busy and folder not in self._folders:
                        self._folders.append(folder)

    def _handle(self, kind: str, value: Any) -> None:
        if kind == "path":
            self.inbox.on_path(value)
        elif kind == "done":
            self._complete(value)
        elif kind == "stop" and self._current is not None:
            self._current.job.cancel()

    def _start_next(self) -> None:
        """Start the next job: resumed work first, then the oldest settled file (claimed)."""
        while self._current is None and not self._stopping:
            if self._folders:
                folder = self._folders.popleft()
                rel = self.area.job_in(folder, self.inbox)
                if rel is None:
                    self.area.clean(folder)
                    continue
                self._warm_up()
                self._begin(folder, rel)
                continue
            rel = self.inbox.next_ready()
            if rel is None:
                return
            self._warm_up()
            if self.inbox.claim(rel, self.area.folder):
                self._begin(self.area.folder, rel)

    # -- run

    def _begin(self, folder: Path, rel: str) -> None:
        """Start the job for `folder/rel`, or finish it where an earlier run left off."""
        started = time.monotonic()
        try:
            record = CommitRecord.read(folder)
            if record is not None:
                self._resume(folder, record, started)
                return
            try:
                spec = self.specs.for_file(folder, rel)
                styles = [self.specs.image(p) for p in spec.styles]
            except Exception as err:  # bad sidecar or style: the file fails, the watcher goes on
                if not is_user_error(err):
                    raise
                self._finish(folder, CommitRecord(rel, error=sentence(err, folder, rel)), started)
                return
            result = staged(folder, spec.output)
            if result.exists():  # computed before a crash or stop: publish it
                self._publish(folder, rel, spec, started)
                return
            saved = checkpoint.path_for(result)
            common = {
                "overwrite": True,
                "on_done": lambda job: self._events.put(("done", job)),
                "listeners": [self.console.progress_listener(rel, lambda: len(self.inbox.pending))],
            }
            if saved.exists():  # stopped or crashed with a checkpoint: go on from there
                job = self.runner.resume(str(saved), str(result), **common)
            else:
                job = self.runner.submit(
                    str(folder / rel),
                    styles,
                    str(result),
                    settings=spec.settings,
                    engine=spec.engine,
                    **common,
                )
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
                self.console.log(
                    "stopped",
                    run.rel,
                    run.spec.label,
                    time.monotonic() - run.started,
                    "checkpointed: the next watcher to start goes on from there",
                )
                self._leave(run.folder)
            elif job.state == CANCELLED:
                self._put_back(run.folder, run.rel)
            elif job.checkpoint is not None and job.bad_input:  # e.g. from an older version
                Path(job.checkpoint).unlink(missing_ok=True)
                self._begin(run.folder, run.rel)  # start afresh
            else:
                record = CommitRecord(
                    run.rel, run.spec.label, error=sentence(job.error, run.folder, run.rel)
                )
                self._finish(run.folder, record, run.started)
        except OSError as err:
            self._stuck(run.folder, run.rel, err)
        if run.folder != self.area.folder:
            self._folders.append(run.folder)  # checked once more, then removed when empty

    # -- publish and finish

    def _publish(self, folder: Path, rel: str, spec: JobSpec, started: float) -> None:
        """Link the staged result to a free output name, then finish; the record makes it once."""
        result = staged(folder, spec.output)
        record = CommitRecord(rel, spec.label, want=spec.output)
        self.out.mkdir(parents=True, exist_ok=True)
        for target in numbered(spec.output):
            if os.path.lexists(target):
                continue
            record.output = target
            record.write(folder)
            try:
                move(result, target)
                break
            except FileExistsError:
                continue
        self._finish(folder, record, started)

    def _resume(self, folder: Path, record: CommitRecord, started: float) -> None:
        """Go on from the last step a crashed or stopped watcher committed."""
        if record.published:
            want, target = record.want or record.output, record.output
            result = staged(folder, want)
            if result.exists():
                if target.exists() and filecmp.cmp(result, target, shallow=False):
                    result.unlink()  # it was published just before the crash
                else:
                    spec = JobSpec([], record.style, self.config.settings, self.config.engine, want)
                    self._publish(folder, record.file, spec, started)
                    return
        self._finish(folder, record, started)

    def _finish(self, folder: Path, record: CommitRecord, started: float) -> None:
        """Move the original (and sidecar) to done/ or failed/, beside its error note if failed."""
        src = folder / record.file
        while os.path.lexists(src):
            dest = record.dest
            if dest is None or (os.path.lexists(dest) and not same_file(src, dest)):
                base = self.inbox.path / (FAILED_DIR if record.failed else DONE_DIR) / record.file
                dest = record.dest = next(p for p in numbered(base) if not os.path.lexists(p))
                record.write(folder)
            dest.parent.mkdir(parents=True, exist_ok=True)
            if record.error is not None:
                write_atomic(dest.with_name(dest.name + ERROR_SUFFIX), record.error + "\n")
            try:
                move(src, dest)
            except FileExistsError:
                record.dest = None
        if record.dest is not None:
            sidecar = folder / (record.file + SIDECAR)
            if os.path.lexists(sidecar):
                move_free(sidecar, record.dest.with_name(record.dest.name + SIDECAR))
        CommitRecord.remove(folder)
        self.area.clean(folder)
        seconds = time.monotonic() - started
        if record.error is not None:
            self.failed += 1
            self.console.log("failed", record.file, record.style, seconds, record.error)
        else:
            self.done += 1
            self.console.log(
                "done",
                record.file,
                record.style,
                seconds,
                f"-> {self.console.shown(record.output)}",
            )

    # -- stop and trouble

    def _put_back(self, folder: Path, rel: str) -> None:
        """Return a stopped job's file to the inbox; if a new file has its name, keep it here."""
        if self.inbox.put_back(folder, rel):
            self.area.clean(folder)
            self.console.log("stopped", rel, "-", 0, "put back into the inbox")
        else:
            self.console.log(
                "stopped",
                rel,
                "-",
                0,
                "a new file has its name: it stays in the work area for the next start",
            )
            self._leave(folder)

    def _stuck(self, folder: Path, rel: str, err: OSError) -> None:
        """A file or disk error: the job stays in the work area and is tried again later."""
        self.console.log(
            "error", rel, "-", 0, f"{err}; it stays in the work area and is tried again later"
        )
        self._leave(folder)

    def _leave(self, folder: Path) -> None:
        if not self._stopping:  # (when stopping, the work area is closed with the job in it)
            self.area.leave(folder)
