"""The service's jobs: two JobRunners, each one job at a time with its engine kept warm (one
for the quick engines, whose jobs take seconds, so a quick preview never waits behind a
render of minutes; one for the rest), each job's latest progress and preview bridged from
the worker threads into asyncio, and finished results kept for reconnecting clients (at
most `keep_results`, for `keep_seconds`). Each finished job's time goes into the machine's
history (`estimates.History`), which answers how long a job will take and gives each job
its expected time as it starts, so that its first ETA agrees with that answer.

The worker thread never touches asyncio objects: it encodes previews and results as PNG
itself and hands plain data to the event loop with `loop.call_soon_threadsafe`. There each
job keeps a version counter and an `asyncio.Event` that is set and replaced on every
change, so any number of event streams follow a job without per-stream queues, and a slow
stream skips to the latest state instead of piling events up.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import io
import logging
import math
import time
from typing import Any

from .. import engines
from ..engines import DEFAULT_ENGINE
from ..errors import user_message
from ..jobs import CANCELLED, DONE, FAILED, QUEUED, RUNNING, Job, JobRunner
from ..options import Settings
from ..progress import ProgressEvent
from .config import ServiceConfig
from .estimates import History, Sample, megapixels, work_of

FINAL = (DONE, FAILED, CANCELLED)
QUICK_ENGINES = ("fast",)  # one pass in seconds: their own lane, beside the renders
log = logging.getLogger("nst_plugin.service")


def png_bytes(image: Any, compress_level: int = 3) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=compress_level)
    return out.getvalue()


def _number(value: float | None) -> float | None:
    """JSON has no NaN or infinity: those become null."""
    return None if value is None or not math.isfinite(value) else float(value)


CANCEL_WAIT = 0.8  # seconds a running job gets to stop before clients hear it has


class TableFull(Exception):
    """Too many jobs, or too many bytes, are queued (answered with 503 and Retry-After)."""

    def __init__(self, message: str, retry_after: int = 5) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class ServiceJob:
    """One job as the service shows it; changed only in the event loop's thread."""

    def __init__(
        self, job: Job, cancel_on_disconnect: bool, held: int = 0, frames: int = 0
    ) -> None:
        self.job = job
        self.id = job.id
        self.cancel_on_disconnect = cancel_on_disconnect
        self.held = held  # bytes of compressed uploads while it waits
        self.state = QUEUED
        self.progress: dict[str, Any] = {
            "stage": QUEUED,
            "step": 0,
            "total": 0,
            "loss": None,
            "eta": None,
        }
        self.preview: str | None = None  # base64 PNG of the latest preview
        self.preview_version = 0
        self.version = 0  # counts changes: streams send what they have not seen
        self.changed = asyncio.Event()
        self.error: str | None = None
        self.result: bytes | None = None
        self.iterations_run: int | None = None  # once done: the iterations behind the result
        self.kept = False  # done early, with the image it had when keep was asked
        self.finished_at: float | None = None  # monotonic, for retention
        self.finished_wall: float | None = None
        self.streams = 0  # open event streams
        self.frames = frames  # a frame sequence's length; 0 for one image
        self.frame_results: dict[int, bytes] = {}  # its finished frames' PNGs, by 1-based index

    @property
    def finished(self) -> bool:
        return self.state in FINAL

    def status(self) -> dict[str, Any]:
        job = self.job
        return {
            "id": self.id,
            "state": self.state,
            **self.progress,
            "error": self.error,
            "iterations_run": self.iterations_run,
            "kept": self.kept,
            "frames": self.frames,
            "frames_done": len(self.frame_results),
            "engine": job.engine,
            "submitted": job.submitted,
            "started": job.started,
            "finished": (job.finished or self.finished_wall) if self.finished else None,
        }

    def touch(self) -> None:
        """Wake every stream that follows this job."""
        self.version += 1
        woken, self.changed = self.changed, asyncio.Event()
        woken.set()


class JobTable:
    """Queued, running and kept jobs by id. Call `attach(loop)` before the first submit."""

    def __init__(
        self,
        config: ServiceConfig,
        runner: JobRunner | None = None,
        history: History | None = None,
    ) -> None:
        self.config = config
        self.runner = runner or JobRunner(name="nst-service")
        self.quick = JobRunner(name="nst-service-quick")  # previews and quick results
        self.history = history or History()
        self.loaded: set[str] = set()  # engines that have run a job in this process
        self._cold: dict[str, bool] = {}  # running jobs: whether each loads its engine
        self.jobs: dict[str, ServiceJob] = {}
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closing: asyncio.Event | None = None

    def attach(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.closing = asyncio.Event()

    # -- in the event loop ------------------------------------------------------------

    def submit(self, sub: Any) -> ServiceJob:
        """Queue an `uploads.Submission`; TableFull (503) when the queue is full, in jobs or
        in the bytes their uploads hold."""
        self.prune()
        active = [j for j in self.jobs.values() if not j.finished]
        if len(active) >= self.config.max_queued:
            raise TableFull(
                f"the service has {len(active)} jobs waiting; try again when one has finished."
            )
        held = sum(j.held for j in active if j.state == QUEUED)
        size = sub.uploads.size
        if held + size > self.config.max_queue_bytes:
            mb = 1024 * 1024
            raise TableFull(
                f"the queued jobs hold {held / mb:.0f} MB of images and this one "
                f"{size / mb:.1f} MB, over the service's limit of "
                f"{self.config.max_queue_bytes / mb:.0f} MB; try again when a job has started",
                retry_after=30,
            )
        uploads, config, settings = sub.uploads, self.config, sub.settings

        def prepare(job: Job) -> None:  # in the worker, as the job starts
            from .uploads import LazyFrames, decode_uploads

            job.reporter.stage("loading")
            job.prepare = None  # the closure, and with it the compressed bytes, go after this
            job.content, job.styles, job.style_masks, job.strength_map = decode_uploads(
                uploads, config, settings
            )
            if uploads.frames:
                job.frames = LazyFrames(uploads, config.max_pixels)
            self._call_in_loop(self._started, job.id)
            loaded = job.engine in self.loaded
            self._cold[job.id] = not loaded
            self.loaded.add(job.engine)
            job.reporter.expect(self._expected(job, loaded))

        lane = self.quick if sub.engine in QUICK_ENGINES else self.runner
        job = lane.submit(
            None,
            [None] * len(uploads.styles),
            None,
            settings=sub.settings,
            engine=sub.engine,
            listeners=[self._from_worker],
            on_done=self._done_in_worker,
            prepare=prepare,
            on_frame=self._frame_in_worker if uploads.frames else None,
        )
        entry = ServiceJob(job, sub.cancel_on_disconnect, size, len(uploads.frames))
        self.jobs[job.id] = entry
        return entry

    def get(self, job_id: str) -> ServiceJob | None:
        self.prune()
        return self.jobs.get(job_id)

    def active(self) -> list[ServiceJob]:
        return [j for j in self.jobs.values() if not j.finished]

    def keep(self, entry: ServiceJob) -> None:
        """End a running job at the engine's next iteration boundary with its current image as
        the result (done, `kept`); the caller checks that it runs."""
        entry.job.keep()

    def cancel(self, entry: ServiceJob) -> None:
        """Stop a job in any state. A queued one is cancelled now (the runner skips it); a
        running one stops at the engine's next check (within one iteration, between the
        steps of loading and preparing), and clients hear it has within CANCEL_WAIT seconds
        even while the engine finishes a step that cannot be cut (its result is dropped)."""
        entry.job.cancel()
        if entry.finished:
            return
        if entry.state == QUEUED and entry.job.state == QUEUED:
            self._finish(entry.id, CANCELLED, None, None)
        elif self.loop is not None:
            self.loop.call_later(CANCEL_WAIT, self._cancel_overdue, entry.id)

    def _cancel_overdue(self, job_id: str) -> None:
        entry = self.jobs.get(job_id)
        if entry is not None and not entry.finished:
            log.info("job %s cancelled; the engine stops after its current step", job_id)
            self._finish(job_id, CANCELLED, None, None)

    def _started(self, job_id: str) -> None:
        entry = self.jobs.get(job_id)
        if entry is not None:
            entry.held = 0  # decoded: the compressed bytes are the worker's to drop

    def forget(self, entry: ServiceJob) -> None:
        self.jobs.pop(entry.id, None)

    def prune(self) -> None:
        """Drop finished jobs beyond the count limit and those older than the age limit."""
        now = time.monotonic()
        done = sorted(
            (j for j in self.jobs.values() if j.finished_at is not None),
            key=lambda j: j.finished_at,
        )
        excess = len(done) - self.config.keep_results
        for i, entry in enumerate(done):
            if i < excess or now - entry.finished_at > self.config.keep_seconds:
                self.jobs.pop(entry.id, None)

    def stop(self) -> None:
        """The service is stopping: every job fails with a sentence saying so (its streams
        send that and end); a second later any stream still open is ended."""
        for entry in self.active():
            entry.job.cancel()
            self._finish(
                entry.id,
                FAILED,
                "The nst service was stopped before the job "
                "finished; start it again and submit the job again.",
                None,
            )
        if self.closing is not None and not self.closing.is_set():
            self.loop.call_later(1.0, self.closing.set)

    def _publish(self, job_id: str, progress: dict[str, Any], preview: str | None) -> None:
        entry = self.jobs.get(job_id)
        if entry is None or entry.finished:
            return
        entry.state = RUNNING
        entry.progress = progress
        if preview is not None:
            entry.preview = preview
            entry.preview_version += 1
        entry.touch()

    def _frame_done(self, job_id: str, index: int, png: bytes) -> None:
        entry = self.jobs.get(job_id)
        if entry is not None and not entry.finished:
            entry.frame_results[index] = png
            entry.touch()

    def _finish(
        self,
        job_id: str,
        state: str,
        error: str | None,
        result: bytes | None,
        iterations_run: int | None = None,
        kept: bool = False,
    ) -> None:
        entry = self.jobs.get(job_id)
        if entry is None or entry.finished:
            return
        entry.state, entry.error, entry.result = state, error, result
        entry.iterations_run, entry.kept = iterations_run, kept
        entry.held = 0
        entry.progress = {**entry.progress, "stage": state, "eta": None}
        entry.finished_at, entry.finished_wall = time.monotonic(), time.time()
        entry.touch()
        self.prune()

    def _call_in_loop(self, callback: Any, *args: Any) -> None:
        # RuntimeError: the loop is closed (the service is stopping); AttributeError: no loop.
        with contextlib.suppress(RuntimeError, AttributeError):
            self.loop.call_soon_threadsafe(callback, *args)

    # -- in the worker thread ---------------------------------------------------------

    def _from_worker(self, event: ProgressEvent) -> None:
        if event.stage in FINAL:
            return  # the final event says it
        progress = {
            "stage": event.stage,
            "step": event.step,
            "total": event.total,
            "loss": _number(event.loss),
            "eta": _number(event.eta),
        }
        if event.frames:
            progress.update(frame=event.frame, frames=event.frames)
        preview = None
        if event.preview is not None:
            try:
                preview = base64.b64encode(png_bytes(event.preview, 1)).decode("ascii")
            except Exception:  # a preview is a nicety: never the job's end
                log.exception("preview of job %s not encoded", event.job_id)
        self._call_in_loop(self._publish, event.job_id, progress, preview)

    def _frame_in_worker(self, job: Job, index: int, result: Any) -> None:
        """A frame of a sequence is finished: its PNG goes to the job at once."""
        self._call_in_loop(self._frame_done, job.id, index, png_bytes(result.image))

    def _done_in_worker(self, job: Job) -> None:
        state, result, error = job.state, None, job.error
        iterations_run, kept, cold = job.iterations_run, job.kept, self._cold.pop(job.id, False)
        if state == DONE and job.frames is None:
            try:
                result = png_bytes(job.result.image)
            except Exception as err:  # the job must still end, for its streams
                log.exception("result of job %s not encoded", job.id)
                state, error = FAILED, err
        if state == FAILED:
            text = user_message(error)
            error = text[0].upper() + text[1:]
        elif state == DONE:
            self._record(job, cold)
        # A finished job keeps its PNG only: its inputs and the result image go now.
        job.content, job.styles, job.style_masks, job.strength_map = None, [], None, None
        job.prepare, job.result, job.frames, job.on_frame = None, None, None, None
        self._call_in_loop(self._finish, job.id, state, error, result, iterations_run, kept)

    def _expected(self, job: Job, loaded: bool) -> float | None:
        """The seconds a starting job should take, from the history (None: no idea)."""
        try:
            seconds = self.estimate(job.engine, job.settings, *job.content.size, loaded=loaded)[0]
            return seconds * len(job.frames) if seconds and job.frames else seconds
        except Exception:  # an estimate is a nicety: never the job's end
            log.exception("no time estimate for job %s", job.id)
            return None

    def _record(self, job: Job, cold: bool) -> None:
        """A job that ran to its end (not kept early, no time budget) into the history."""
        if job.kept or job.settings is None or job.result is None or job.frames is not None:
            return
        try:
            iterations, budget = work_of(engines.get(job.engine), job.settings)
        except Exception:  # an engine gone since: nothing to learn
            return
        if budget is None:
            done = megapixels(*job.result.image.size)
            self.history.record(
                job.engine, Sample(done, iterations, job.seconds, cold, time.time())
            )

    # -- anywhere ---------------------------------------------------------------------

    def warm_up(self, settings: Any) -> None:
        """Load the default engine now (blocking; jobs submitted meanwhile queue behind it);
        raises what loading raised."""
        self.loaded.add(DEFAULT_ENGINE)  # the jobs after it in its lane find the engine in
        self.runner.warm_up(settings=settings)

    def estimate(
        self, engine: str, settings: Settings, width: int, height: int, loaded: bool | None = None
    ) -> tuple[float | None, int]:
        """(seconds or None, jobs it rests on) for a job of `settings` on a `width` x `height`
        picture, from this machine's history; `loaded`: whether the engine is in memory
        (default: whether it has run here)."""
        iterations, budget = work_of(engines.get(engine), settings)
        return self.history.estimate(
            engine,
            megapixels(width, height, settings.size),
            iterations,
            loaded=engine in self.loaded if loaded is None else loaded,
            budget=budget,
        )

    def close(self, timeout: float = 10.0) -> None:
        for lane in (self.quick, self.runner):
            lane.close(cancel=True, timeout=timeout)
