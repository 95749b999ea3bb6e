"""The job runner: a queue that runs stylize jobs one at a time on one worker thread.

Hosts that run many jobs (the hot folder, the local service for the editors) share it:

    runner = JobRunner(on_finished=report)
    job = runner.submit("photo.jpg", ["painting.jpg"], "out.png", size=256)
    job.wait()  # job.state: "done", "failed" (job.message says why) or "cancelled"
    runner.resume("out.png.nst-checkpoint.npz")  # the rest of a checkpointed run

One runner is one device: its jobs never overlap, and the engine (its network and the
compiled loss) stays loaded in the process between them. Every job's progress goes to the
`nst_progress` hook (unless the runner is made with `broadcast=False`) and to the job's
listeners; `Job.cancel()` stops a queued or running job, and `Job.keep()` ends a running one
with its current image as the result (`job.kept`, `job.iterations_run`).
"""

from __future__ import annotations

import functools
import queue
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .engines import DEFAULT_ENGINE
from .errors import Cancelled, is_user_error, user_message
from .options import Settings, settings_with
from .progress import ProgressEvent, Reporter
from .request import Result

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"

JobCallback = Callable[["Job"], Any]


@dataclass(eq=False)
class Job:
    """One stylize job: its inputs, its state, and its result or error once finished."""

    content: Any
    styles: list[Any]
    output: str | None = None
    settings: Settings | None = field(default_factory=Settings)  # None: from the checkpoint
    engine: str = DEFAULT_ENGINE
    overwrite: bool = False
    checkpoint: str | None = None  # resume this checkpoint (inputs and settings come from it)
    style_masks: list[Any] | None = None  # one per style: paths or images (regions.py)
    strength_map: Any = None
    # A frame sequence instead of `content`: stylized in order, each frame linked to the one
    # before along the optical flow (`video.chain`); `on_frame(job, index, result)` gets
    # each finished frame (1-based) and `result` is the last one's.
    frames: Sequence[Any] | None = None
    on_frame: Callable[[Job, int, Result], Any] | None = field(default=None, repr=False)
    # Called in the worker when the job starts, before the engine: makes the inputs (the
    # service keeps a queued job's uploads compressed and decodes them only then).
    prepare: JobCallback | None = field(default=None, repr=False)
    id: str = field(default_factory=lambda: uuid.uuid4().hex[:8])
    state: str = QUEUED
    result: Result | None = None
    error: Exception | None = None
    submitted: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    reporter: Reporter = field(default_factory=Reporter, repr=False)
    on_done: list[JobCallback] = field(default_factory=list, repr=False)
    _finished: threading.Event = field(default_factory=threading.Event, init=False, repr=False)

    def __post_init__(self) -> None:
        self.reporter.job_id = self.id

    @property
    def seconds(self) -> float:
        """Time from start to finish (0 for a job that never started)."""
        if self.started is None:
            return 0.0
        return (self.finished or time.time()) - self.started

    @property
    def bad_input(self) -> bool:
        """True when the job failed because of its input or settings, not the engine."""
        return self.error is not None and is_user_error(self.error)

    @property
    def message(self) -> str:
        """One sentence: what went wrong ("" for a job that did not fail)."""
        if self.state == CANCELLED:
            return user_message(Cancelled())
        return user_message(self.error) if self.error is not None else ""

    @property
    def kept(self) -> bool:
        """True when the job ended early, done, with the image it had when `keep` was asked."""
        return self.state == DONE and self.reporter.kept

    @property
    def iterations_run(self) -> int | None:
        """The iterations (or passes) behind the result; None until the job is done."""
        return None if self.result is None else self.result.iterations

    def cancel(self) -> None:
        """Stop the job: a queued job never starts, a running one stops within one iteration."""
        self.reporter.cancel()

    def keep(self) -> None:
        """End the job now with its current image as the result, from any thread: a vgg19 job
        stops at its next iteration boundary (one still queued or loading: after its first
        iteration) and ends done; a fast job, one pass, just finishes."""
        self.reporter.keep()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the job has finished; False if `timeout` ran out first."""
        return self._finished.wait(timeout)


class JobRunner:
    """Runs submitted jobs in order, one at a time, on one worker thread.

    `on_finished` is called (in the worker thread) with every job that is done, failed or
    cancelled, after the job's own `on_done` callbacks. With `broadcast` (the default) every
    job's progress also goes to the `nst_progress` plugins.
    """

    def __init__(
        self,
        *,
        on_finished: JobCallback | None = None,
        name: str = "nst-jobs",
        broadcast: bool = True,
    ) -> None:
        from .pipeline import broadcast as to_plugins

        self.on_finished = on_finished
        self._listeners: list[Callable[[ProgressEvent], Any]] = [to_plugins] if broadcast else []
        self._name = name
        self._queue: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._active: dict[str, Job] = {}  # queued and running jobs, in submission order
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(
        self,
        content: Any,
        styles: Any | Sequence[Any],
        output: str | None = None,
        *,
        settings: Settings | None = None,
        engine: str = DEFAULT_ENGINE,
        overwrite: bool = False,
        listeners: Sequence[Callable[[ProgressEvent], Any]] = (),
        on_done: JobCallback | None = None,
        style_masks: Sequence[Any] | None = None,
        strength_map: Any = None,
        prepare: JobCallback | None = None,
        frames: Sequence[Any] | None = None,
        on_frame: Callable[[Job, int, Result], Any] | None = None,
        **options: Any,
    ) -> Job:
        """Queue a job (the arguments are those of `nst_plugin.stylize`) and return it.

        `prepare(job)`, when given, runs in the worker as the job starts and may set its
        inputs (content or frames, styles, style_masks, strength_map) then. `frames` (with
        `content` None): a frame sequence as one job, `on_frame(job, index, result)` called
        with each finished frame.
        """
        from .pipeline import as_list

        job = Job(
            content, as_list(styles), output, settings_with(settings, options), engine, overwrite
        )
        job.style_masks, job.strength_map, job.prepare = style_masks, strength_map, prepare
        job.frames, job.on_frame = frames, on_frame
        return self._queue_job(job, [*self._listeners, *listeners], on_done)

    def resume(
        self,
        checkpoint: str,
        output: str | None = None,
        *,
        overwrite: bool = False,
        listeners: Sequence[Callable[[ProgressEvent], Any]] = (),
        on_done: JobCallback | None = None,
    ) -> Job:
        """Queue the rest of a checkpointed run (see `nst_plugin.resume`) and return its job."""
        job = Job(None, [], output, None, overwrite=overwrite, checkpoint=checkpoint)
        return self._queue_job(job, [*self._listeners, *listeners], on_done)

    def _queue_job(
        self, job: Job, listeners: Sequence[Callable], on_done: JobCallback | None
    ) -> Job:
        job.reporter.listeners.extend(listeners)
        if on_done is not None:
            job.on_done.append(on_done)
        with self._lock:
            if self._closed:
                raise RuntimeError("the job runner is closed.")
            self._active[job.id] = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._work, name=self._name, daemon=True)
                self._thread.start()
        self._queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        """A queued or running job by id."""
        with self._lock:
            return self._active.get(job_id)

    def jobs(self) -> list[Job]:
        """The queued and running jobs, oldest first."""
        with self._lock:
            return list(self._active.values())

    def warm_up(self, engine: str = "vgg19", settings: Settings | None = None) -> None:
        """Load the engine now with a tiny job (no progress events); raise what it raised.

        A host calls this at start so that a missing engine or missing weights is reported
        before any real job is taken, and the first job does not pay for loading. The job
        queues like any other: jobs submitted meanwhile wait behind it. Raises `Cancelled`
        when the runner was closed with cancel first.
        """
        from PIL import Image

        tiny = Image.new("RGB", (16, 16), (128, 128, 128))
        settings = settings_with(settings, {"size": 16, "iterations": 1})
        job = self._queue_job(Job(tiny, [tiny], None, settings, engine), [], None)
        job.wait()
        if job.error is not None:
            raise job.error
        if job.state == CANCELLED:  # the runner closed under it
            raise Cancelled()

    def close(self, *, cancel: bool = False, timeout: float | None = None) -> None:
        """Take no more jobs; finish the queued ones (or cancel them all) and stop the worker."""
        with self._lock:
            self._closed = True
            thread = self._thread
            if cancel:
                for job in self._active.values():
                    job.cancel()
        self._queue.put(None)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def __enter__(self) -> JobRunner:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close(cancel=exc[0] is not None)

    def _work(self) -> None:
        while (job := self._queue.get()) is not None:
            self._run(job)

    def _run(self, job: Job, work: Callable[[Job], Result] | None = None) -> None:
        """Run one job to its end (`work(job)`, default `execute`) and call its callbacks."""
        try:
            job.reporter.check_cancel()  # cancelled while queued: never starts
            job.state, job.started = RUNNING, time.time()
            if job.prepare is not None:
                job.prepare(job)
                job.reporter.check_cancel()
            job.result = (work or execute)(job)
            job.state = DONE
        except Cancelled:
            job.state = CANCELLED
            job.reporter.stage(CANCELLED)
        except Exception as err:  # a failed job is reported, never fatal to the runner
            job.error, job.state = err, FAILED
        job.finished = time.time()
        with self._lock:
            self._active.pop(job.id, None)
        job._finished.set()
        for callback in [*job.on_done, self.on_finished]:
            if callback is not None:
                try:
                    callback(job)
                except Exception:  # a broken callback must not stop the runner
                    traceback.print_exc()


def execute(job: Job) -> Result:
    """Do a job's work with its inputs and reporter (in the calling thread): the rest of a
    checkpoint, a frame sequence or one image. Raises what the pipeline raises."""
    from .pipeline import resume, stylize

    if job.checkpoint is not None:
        return resume(job.checkpoint, job.output, overwrite=job.overwrite, reporter=job.reporter)
    if job.frames is not None:
        from .video.chain import stylize_frames

        return stylize_frames(
            job.frames,
            job.styles,
            engine=job.engine,
            settings=job.settings or Settings(),
            reporter=job.reporter,
            style_masks=job.style_masks,
            strength_map=job.strength_map,
            on_frame=None if job.on_frame is None else functools.partial(job.on_frame, job),
        )
    return stylize(
        job.content,
        job.styles,
        job.output,
        overwrite=job.overwrite,
        engine=job.engine,
        settings=job.settings,
        reporter=job.reporter,
        style_masks=job.style_masks,
        strength_map=job.strength_map,
    )
