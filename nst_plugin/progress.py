"""Progress events and the reporter an engine uses to send them and to hear about cancel."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .errors import Cancelled

if TYPE_CHECKING:
    from PIL import Image


@dataclass(frozen=True)
class ProgressEvent:
    """One step of one job, as every `nst_progress` implementation receives it."""

    job_id: str
    stage: str  # "loading", "preparing", "downloading", "optimizing", "stylizing", "saving", "done"
    step: int
    total: int
    loss: float | None
    elapsed: float
    eta: float | None
    preview: Image.Image | None = None


class Reporter:
    """Sends a job's progress to its listeners and carries cancel.

    Its creator decides where events go: `nst_plugin.stylize` adds the `nst_progress` hook.
    """

    def __init__(
        self,
        job_id: str | None = None,
        *,
        listeners: list[Callable[[ProgressEvent], Any]] | None = None,
        cancel_event: threading.Event | None = None,
    ) -> None:
        self.job_id = job_id or uuid.uuid4().hex[:8]
        self.listeners = list(listeners or [])
        self.on_snapshot: Callable[[int, dict[str, Any]], Any] | None = None
        self.cancel_event = cancel_event or threading.Event()
        self.started = time.monotonic()
        self._step_started: tuple[float, int] | None = None

    def stage(self, stage: str, total: int = 0, step: int = 0) -> None:
        """Announce a new stage; the ETA of the steps that follow is timed from here."""
        self._step_started = (time.monotonic(), step)
        self._send(ProgressEvent(self.job_id, stage, step, total, None, self.elapsed(), None))

    def progress(
        self,
        step: int,
        total: int,
        loss: float | None = None,
        preview: Image.Image | None = None,
        stage: str = "optimizing",
        eta: float | None = None,
    ) -> None:
        """Report that `step` of `total` is done (iterations, or bytes while downloading).

        The ETA is estimated from the pace since the stage began unless `eta` is given.
        """
        now = time.monotonic()
        t0, s0 = self._step_started or (self.started, 0)
        if eta is None and step > s0 and total:
            eta = (now - t0) / (step - s0) * max(total - step, 0)
        self._send(
            ProgressEvent(self.job_id, stage, step, total, loss, self.elapsed(), eta, preview)
        )

    def snapshot(self, step: int, state: dict[str, Any]) -> None:
        """Hand the engine's current state to whoever saves intermediates and checkpoints.

        `state` holds "image" (float32 RGB, 0..255, at the current scale) and where the run
        is ("scale", "tile", "tile_step"), enough to resume.
        """
        if self.on_snapshot is not None:
            self.on_snapshot(step, state)

    def cancel(self) -> None:
        """Ask the job to stop; the engine stops within one iteration."""
        self.cancel_event.set()

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancel(self) -> None:
        """Raise Cancelled when cancel was asked for."""
        if self.cancel_event.is_set():
            raise Cancelled(self.job_id)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _send(self, event: ProgressEvent) -> None:
        for listener in self.listeners:
            listener(event)
