"""The service's Ray worker (`nst serve --ray`): an actor that keeps the engine loaded and runs
one job at a time with `jobs.execute`, streaming back its progress events (previews included),
each finished frame of a frame sequence and finally the outcome. It is a threaded actor, so
`cancel` and `keep` reach a job while it runs and set its reporter's events here.

What travels is plain data: a `Task` (the job's decoded inputs and settings) one way, batches
of `(kind, ...)` tuples the other:

    ("event", ProgressEvent)          a progress event, its preview a PIL image
    ("frame", index, Result)          a finished frame of a frame sequence (1-based)
    ("done", Result, kept)            the end: the result, and whether keep ended it
    ("cancelled",) / ("failed", err)  the end: cancelled, or the exception the job raised

A running job sends a batch at least every HEARTBEAT seconds (empty when nothing happened).
"""

from __future__ import annotations

import os
import pickle
import queue
import socket
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import Cancelled, UserError, is_user_error
from ..jobs import Job, execute
from ..options import Settings, settings_with
from ..progress import Reporter

HEARTBEAT = 1.0  # seconds between two batches of a running job, at most
ENDS = ("done", "cancelled", "failed")


@dataclass
class Task:
    """A job as it travels to a worker: its decoded inputs, settings and flags."""

    id: str
    content: Any
    styles: list[Any]
    settings: Settings | None
    engine: str
    output: str | None = None
    overwrite: bool = False
    checkpoint: str | None = None
    style_masks: list[Any] | None = None
    strength_map: Any = None
    frames: Sequence[Any] | None = None
    send_frames: bool = False  # the service wants each finished frame
    keep: bool = False  # keep was asked before it started
    expected: float | None = None  # seconds it should still take (the service's estimate)

    @classmethod
    def of(cls, job: Job) -> Task:
        """The task of a prepared job (its inputs decoded)."""
        return cls(
            id=job.id,
            content=job.content,
            styles=list(job.styles),
            settings=job.settings,
            engine=job.engine,
            output=job.output,
            overwrite=job.overwrite,
            checkpoint=job.checkpoint,
            style_masks=job.style_masks,
            strength_map=job.strength_map,
            frames=job.frames,
            send_frames=job.on_frame is not None,
            keep=job.reporter.keep_asked,
            expected=job.reporter.expected_left(),  # the ETA's start, as the service set it
        )

    def job(self, reporter: Reporter, send: Callable[[tuple], Any]) -> Job:
        """The job to run here: its events and frames go to `send`."""
        job = Job(
            content=self.content,
            styles=self.styles,
            output=self.output,
            settings=self.settings,
            engine=self.engine,
            overwrite=self.overwrite,
            checkpoint=self.checkpoint,
            style_masks=self.style_masks,
            strength_map=self.strength_map,
            frames=self.frames,
            id=self.id,
            reporter=reporter,
        )
        if self.send_frames:
            job.on_frame = lambda job, index, result: send(("frame", index, result))
        reporter.listeners.append(lambda event: send(("event", event)))
        if self.keep:
            reporter.keep()
        reporter.expect(self.expected)
        return job


class ServiceWorker:
    """One worker of the service on a Ray cluster: the engine stays loaded between jobs."""

    def __init__(self) -> None:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self._device = threading.Lock()  # one job at a time
        self._guard = threading.Lock()  # the reporters below
        self._reporters: dict[str, Reporter] = {}
        self._ended: deque[str] = deque(maxlen=256)  # late cancel or keep: ignored

    def where(self) -> dict[str, Any]:
        """Which process and machine this worker is (also: it has started)."""
        return {"pid": os.getpid(), "host": socket.gethostname()}

    def cancel(self, job_id: str) -> None:
        """Stop the job: it ends cancelled within one iteration (before it starts: at once)."""
        reporter = self._reporter(job_id)
        if reporter is not None:
            reporter.cancel()

    def keep(self, job_id: str) -> None:
        """End the job at its next iteration boundary with its current image as the result."""
        reporter = self._reporter(job_id)
        if reporter is not None:
            reporter.keep()

    def warm_up(self, engine: str, settings: Settings | None) -> Exception | None:
        """Load the engine with a tiny job; the exception it raised, or None."""
        from PIL import Image

        tiny = Image.new("RGB", (16, 16), (128, 128, 128))
        settings = settings_with(settings, {"size": 16, "iterations": 1})
        try:
            with self._device:
                execute(Job(tiny, [tiny], None, settings, engine))
        except Exception as err:
            return portable(err)
        return None

    def run(self, task: Task) -> Iterator[list[tuple]]:
        """Run a job; yields batches of items, the last one ending with its outcome."""
        items: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        job = task.job(self._reporter(task.id, create=True), items.put)
        threading.Thread(
            target=self._execute, args=(job, items.put), name=f"nst-job-{job.id}", daemon=True
        ).start()
        yield from batches(items)

    def _execute(self, job: Job, send: Callable[[tuple], Any]) -> None:
        try:
            with self._device:
                job.reporter.check_cancel()  # cancelled while it waited for the device
                result = execute(job)
            outcome: tuple = ("done", result, job.reporter.kept)
        except Cancelled:
            outcome = ("cancelled",)
        except BaseException as err:  # the job fails; the worker goes on
            outcome = ("failed", portable(err))
        with self._guard:
            self._reporters.pop(job.id, None)
            self._ended.append(job.id)
        send(outcome)

    def _reporter(self, job_id: str, create: bool = False) -> Reporter | None:
        """The reporter of a job that runs or is about to (cancel may arrive before run)."""
        with self._guard:
            if job_id in self._ended:
                return None
            if job_id not in self._reporters and (create or len(self._reporters) < 64):
                self._reporters[job_id] = Reporter(job_id)
            return self._reporters.get(job_id)


def batches(items: queue.SimpleQueue) -> Iterator[list[tuple]]:
    """What is in `items` whenever there is something, at least every HEARTBEAT seconds;
    ends after the batch with an outcome."""
    while True:
        try:
            batch = [items.get(timeout=HEARTBEAT)]
        except queue.Empty:
            yield []
            continue
        while True:
            try:
                batch.append(items.get_nowait())
            except queue.Empty:
                break
        yield batch
        if batch[-1][0] in ENDS:
            return


def portable(err: BaseException) -> Exception:
    """`err` if it survives pickling, else an exception that says the same."""
    try:
        copy = pickle.loads(pickle.dumps(err))
        if isinstance(copy, Exception):
            return copy
    except Exception:
        pass
    text = " ".join(str(err).split())
    if is_user_error(err):
        return UserError(text)
    return RuntimeError(f"{type(err).__name__}: {text}" if text else type(err).__name__)
