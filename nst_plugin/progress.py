"""Progress events and the reporter an engine uses to send them and to hear about cancel and
keep (end now with the current image)."""

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


_UNTIMED = ("downloading", "done", "failed", "cancelled")  # no job ETA: their own, or over
RAMP_STEPS, RAMP_SHARE = 3, 0.1


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
    frame: int = 0  # in a frame sequence: this frame (1-based) of `frames`; else 0
    frames: int = 0


class Reporter:
    """Sends a job's progress to its listeners and carries cancel and keep.

    Its creator decides where events go: `nst_plugin.stylize` adds the `nst_progress` hook.
    `expect(seconds)` gives the time the job should take (from this machine's earlier jobs):
    the ETA then starts from it and moves to the measured pace as the steps come.
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
        self.keep_event = threading.Event()
        self.kept = False  # set by the engine when it ended early because keep was asked
        self.started = time.monotonic()
        self._step_started: tuple[float, int] | None = None
        self._expected: tuple[float, float] | None = None  # (seconds, monotonic start)

    def stage(self, stage: str, total: int = 0, step: int = 0) -> None:
        """Announce a new stage; the ETA of the steps that follow is timed from here."""
        self._step_started = (time.monotonic(), step)
        eta = None if stage in _UNTIMED else self.expected_left()
        self._send(ProgressEvent(self.job_id, stage, step, total, None, self.elapsed(), eta))

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

        Unless `eta` is given, the ETA is estimated from the pace since the stage began,
        blended over its first steps with the time `expect` gave.
        """
        if eta is None:
            eta = self._eta(step, total, expected=stage not in _UNTIMED)
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

    def expect(self, seconds: float | None) -> None:
        """The job, starting now, should take about `seconds` (None: no idea)."""
        self._expected = None if seconds is None else (float(seconds), time.monotonic())

    def expected_left(self) -> float | None:
        """The seconds left of the time `expect` gave (None: none given)."""
        if self._expected is None:
            return None
        seconds, since = self._expected
        return max(0.0, seconds - (time.monotonic() - since))

    def _eta(self, step: int, total: int, expected: bool = True) -> float | None:
        """The measured pace's ETA, leaning on the expected time (unless not `expected`) until
        the stage has run RAMP_SHARE of its steps (at least RAMP_STEPS): early steps include
        compiling."""
        t0, s0 = self._step_started or (self.started, 0)
        paced = None
        if step > s0 and total:
            paced = (time.monotonic() - t0) / (step - s0) * max(total - step, 0)
        left = self.expected_left() if expected else None
        if left is None or (paced is not None and step >= total):
            return paced
        if paced is None:
            return left
        trust = min(1.0, (step - s0) / max(RAMP_STEPS, RAMP_SHARE * (total - s0)))
        return trust * paced + (1.0 - trust) * left

    def cancel(self) -> None:
        """Ask the job to stop; the engine stops within one iteration."""
        self.cancel_event.set()

    def keep(self) -> None:
        """Ask the job to end now with its current image as the result: an engine that
        iterates (vgg19) stops at the next iteration boundary and the job ends done; engines
        without intermediates finish as they would."""
        self.keep_event.set()

    @property
    def keep_asked(self) -> bool:
        return self.keep_event.is_set()

    def keep_now(self) -> bool:
        """For engines, where ending early is possible: True when keep was asked, and the
        job then counts as kept (`kept`)."""
        if self.keep_event.is_set():
            self.kept = True
        return self.kept

    @property
    def cancelled(self) -> bool:
        return self.cancel_event.is_set()

    def check_cancel(self) -> None:
        """Raise Cancelled when cancel was asked for."""
        if self.cancel_event.is_set():
            raise Cancelled(self.job_id)

    def forward(self, event: ProgressEvent) -> None:
        """Pass on an event made by a part of this job (a frame of a sequence)."""
        self._send(event)

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def _send(self, event: ProgressEvent) -> None:
        for listener in self.listeners:
            listener(event)
