"""`nst serve --ray`: the service's render lane on a Ray cluster's workers, so that the
plug-ins of many artists share one endpoint (docs/SCALING.md).

`RayRunner` is a `JobRunner` to the job table: the same submit, warm-up, cancel, keep and
listeners, the same job states and callbacks. Jobs queue here, in the service; one dispatcher
thread per worker actor (`ray_worker.ServiceWorker`: a GPU each on a GPU cluster, else a CPU
slot each) takes the next job, runs its `prepare` here (the uploads are decoded in the
service), sends the decoded inputs to its worker and follows the worker's stream: progress
events and previews go to the job's listeners, finished frames to its `on_frame`, and the
outcome ends the job. Cancel and keep asked here reach the worker within POLL seconds.

A worker that dies under a job is replaced and the job runs once more on the new one; a
second death, or a worker that cannot start within START_TIMEOUT, fails the job with one
sentence. Closing the runner stops a cluster it started (`--ray local`).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from typing import Any

from ..batch.cluster import Cluster, import_ray
from ..errors import Cancelled, UserError
from ..jobs import Job, JobCallback, JobRunner
from ..options import Settings, settings_with
from ..request import Result
from .ray_worker import ENDS, ServiceWorker, Task

log = logging.getLogger("nst_plugin.service")
POLL = 0.1  # seconds between two looks for cancel and keep while a job runs remotely
START_TIMEOUT = 120.0  # seconds a new worker may take to start (be scheduled and imported)
CALLS = 4  # calls a worker takes at once: a job's stream, cancel, keep, the warm-up


class WorkerLost(UserError):
    """The cluster could not run a job (its worker died, or none could start)."""

    exit_code = 1


class _Slot:
    """One worker actor; replaced only by its own dispatcher thread."""

    def __init__(self, actor_class: Any) -> None:
        self.actor_class = actor_class
        self.actor: Any = None
        self.starting: Any = None
        self.started = False
        self.replace()

    def replace(self) -> None:
        """A new actor in place of the current one (which is killed)."""
        if self.actor is not None:
            with contextlib.suppress(Exception):
                import_ray().kill(self.actor, no_restart=True)
        self.actor = self.actor_class.remote()
        self.starting = self.actor.where.remote()  # ready once the actor runs
        self.started = False


class RayRunner(JobRunner):
    """Runs submitted jobs on the workers of a Ray cluster, one job per worker at a time."""

    def __init__(
        self,
        cluster: Cluster,
        *,
        on_finished: JobCallback | None = None,
        name: str = "nst-service-ray",
        broadcast: bool = True,
    ) -> None:
        super().__init__(on_finished=on_finished, name=name, broadcast=broadcast)
        ray = import_ray()
        self.cluster = cluster
        actor_class = ray.remote(max_concurrency=CALLS, max_restarts=0, **cluster.resources)(
            ServiceWorker
        )
        self._slots = [_Slot(actor_class) for _ in range(cluster.workers)]
        self._dispatchers = [
            threading.Thread(target=self._dispatch, args=(slot,), name=f"{name}-{i}", daemon=True)
            for i, slot in enumerate(self._slots)
        ]
        self._thread = self._dispatchers[0]  # JobRunner starts no worker thread of its own
        for thread in self._dispatchers:
            thread.start()

    @classmethod
    def start(cls, address: str, workers: int | None = None, **kw: Any) -> RayRunner:
        """Start a local cluster (`address` "local") or join one ("auto", an address) and
        its workers; one sentence if that fails."""
        if workers is not None and workers < 1:
            raise UserError("--workers must be at least 1.")
        check_reachable(address)
        cluster = Cluster.start(address, workers)
        try:
            return cls(cluster, **kw)
        except BaseException:
            cluster.stop()
            raise

    @property
    def workers(self) -> int:
        return len(self._slots)

    # -- the runner's interface ---------------------------------------------------------

    def warm_up(self, engine: str = "vgg19", settings: Settings | None = None) -> None:
        """Load the engine on every worker with a tiny job (no progress events); raise what
        the first one raised. Jobs sent meanwhile wait on their worker until it is done;
        raises `Cancelled` when the runner was closed first."""
        ray = import_ray()
        settings = settings_with(settings, {"size": 16, "iterations": 1})
        starting = [slot.starting for slot in self._slots]
        calls = [slot.actor.warm_up.remote(engine, settings) for slot in self._slots]
        pending, deadline = calls, time.monotonic() + START_TIMEOUT
        while pending:
            if self._closed:
                raise Cancelled()
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=POLL)
            if deadline and time.monotonic() > deadline:
                if ray.wait(starting, num_returns=len(starting), timeout=0)[1]:
                    raise WorkerLost(_no_worker())
                deadline = None  # all started: loading the engine may take its time
        try:
            errors = [ray.get(call) for call in calls]
        except ray.exceptions.RayError as err:
            raise WorkerLost(f"a Ray worker could not load the engine ({_reason(err)}).") from None
        for error in errors:
            if error is not None:
                raise error

    def close(self, *, cancel: bool = False, timeout: float | None = None) -> None:
        """Take no more jobs; finish the queued ones (or cancel them all), stop the workers
        and a cluster this runner started."""
        deadline = None if timeout is None else time.monotonic() + timeout
        super().close(cancel=cancel, timeout=timeout)
        for thread in self._dispatchers:
            if thread is not threading.current_thread():
                thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        for slot in self._slots:
            with contextlib.suppress(Exception):
                import_ray().kill(slot.actor, no_restart=True)
        self.cluster.stop()

    # -- the dispatchers ----------------------------------------------------------------

    def _dispatch(self, slot: _Slot) -> None:
        while (job := self._queue.get()) is not None:
            self._run_on(job, slot)
        self._queue.put(None)  # the stop, passed on to the next dispatcher

    def _run_on(self, job: Job, slot: _Slot) -> None:
        """`JobRunner._run` with the work done on the slot's worker."""
        self._run(job, lambda j: self._remote(j, slot))

    def _remote(self, job: Job, slot: _Slot) -> Result:
        """The job's result from the slot's worker; once more on a new worker if it died."""
        ray = import_ray()
        task = Task.of(job)
        for attempt in (1, 2):
            try:
                self._wait_started(job, slot)
                return self._follow(job, slot.actor, task)
            except ray.exceptions.RayActorError as err:
                reason = _reason(err)
                slot.replace()
                job.reporter.check_cancel()  # cancelled meanwhile: that is how it ended
                if attempt == 2:
                    raise WorkerLost(
                        f"the Ray worker running the job stopped ({reason}); submit the job again."
                    ) from None
                log.warning("job %s: its Ray worker stopped (%s); running it again", job.id, reason)
                job.reporter.stage("loading")
            except ray.exceptions.RayError as err:
                raise WorkerLost(
                    f"the Ray cluster could not run the job ({_reason(err)})."
                ) from None
        raise AssertionError("unreachable")

    def _wait_started(self, job: Job, slot: _Slot) -> None:
        """Wait until the slot's worker runs (it may still be scheduled or importing)."""
        if slot.started:
            return
        ray = import_ray()
        deadline = time.monotonic() + START_TIMEOUT
        while not ray.wait([slot.starting], timeout=POLL)[0]:
            job.reporter.check_cancel()
            if time.monotonic() > deadline:
                slot.replace()
                raise WorkerLost(_no_worker())
        ray.get(slot.starting)  # RayActorError when it could not start
        slot.started = True

    def _follow(self, job: Job, actor: Any, task: Task) -> Result:
        """Run the task on `actor`: its items to the job, cancel and keep asked here to it."""
        ray = import_ray()
        stream = actor.run.remote(task)
        asked = {"keep"} if task.keep else set()
        try:
            while True:
                _pass_on(job, actor, asked)
                if not ray.wait([stream], timeout=POLL)[0]:
                    continue
                try:
                    batch = ray.get(next(stream))
                except StopIteration:
                    raise WorkerLost("the Ray worker ended the job without a result.") from None
                for item in batch:
                    if item[0] in ENDS:
                        return _outcome(job, item)
                    _take(job, item)
        except BaseException:
            with contextlib.suppress(Exception):  # a listener failed, say: the worker stops too
                actor.cancel.remote(job.id)
            raise


def _pass_on(job: Job, actor: Any, asked: set[str]) -> None:
    """Cancel and keep asked of the job here, each sent to its worker once."""
    for flag, event in (("cancel", job.reporter.cancel_event), ("keep", job.reporter.keep_event)):
        if flag not in asked and event.is_set():
            getattr(actor, flag).remote(job.id)
            asked.add(flag)


def _take(job: Job, item: tuple) -> None:
    """A progress event to the job's listeners, or a finished frame to its `on_frame`."""
    if item[0] == "event":
        for listener in job.reporter.listeners:
            listener(item[1])
    elif item[0] == "frame":
        job.on_frame(job, item[1], item[2])


def _outcome(job: Job, item: tuple) -> Result:
    """The job's result from its last item, or the Cancelled or error it ended with."""
    if item[0] == "done":
        job.reporter.kept = item[2]
        return item[1]
    if item[0] == "cancelled":
        raise Cancelled(job.id)
    raise item[1]


def check_reachable(address: str, timeout: float = 5.0) -> None:
    """One sentence at once when a cluster's head at `host:port` does not answer (Ray itself
    keeps trying for minutes); "local", "auto" and other forms are left to Ray."""
    host, _, port = address.rpartition(":")
    if address in ("local", "auto") or "://" in address or not host or not port.isdigit():
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as err:
        raise UserError(
            f"cannot reach the Ray cluster at {address} ({err.strerror or err}); start it with "
            "`ray start --head` there, or use --ray local."
        ) from None


def _no_worker() -> str:
    return (
        f"no Ray worker started within {START_TIMEOUT:.0f} s (the cluster may have no free GPU "
        "or CPU for one); submit the job again once it has."
    )


def _reason(err: BaseException) -> str:
    """A Ray error's first line, short, for a sentence."""
    lines = [line.strip() for line in str(err).splitlines() if line.strip()]
    return (lines[0] if lines else type(err).__name__).rstrip(".")[:120]
