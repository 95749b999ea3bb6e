"""The quick preview: the fast engine on a small copy of what a render would paint, redone a
moment after the user changes the style, the strength or the colours."""

from __future__ import annotations

import threading

from . import engines
from .choices import Choices

ENGINE = "fast"
EDGE = 384  # long edge of the copy that is stylized
SHOWN = 256  # long edge of the picture in GIMP's dialog
DELAY_MS = 300  # quiet time after the last change before a preview starts
TIP = (
    "A quick approximation by the fast engine as you change the style or strength; the render "
    "still uses the engine chosen for it."
)


def availability(info: dict) -> tuple:
    """``(available, tooltip)``: the service must list the fast engine as ready; else the
    tooltip says what to install."""
    why_not = engines.unavailable(info, ENGINE) if info else "Connect to the nst service first."
    return why_not is None, why_not or TIP


def preview_choices(info: dict, choices: Choices) -> Choices:
    """The choices of the preview of a render with ``choices``: the fast engine at the
    strength that looks most like the render's, on a small copy, with the same colours, brush
    size and blend."""
    strength = 0.5 if choices.strength is None else choices.strength
    carried = engines.carried_strength(info, strength, choices.engine, ENGINE)
    return Choices(
        strength=round(carried, 3),
        size=EDGE,
        preserve_colors=bool(choices.preserve_colors),
        engine=ENGINE,
        brush=choices.brush,
        match_colors=choices.match_colors,
        blend=choices.blend,
    )


def fit(width: int, height: int, edge: int, enlarge: bool = False) -> tuple:
    """``(w, h)`` with the long edge at ``edge``, the ratio kept (never enlarged unless
    ``enlarge``)."""
    scale = float(edge) / max(width, height, 1)
    if scale >= 1 and not enlarge:
        return max(1, int(width)), max(1, int(height))
    return max(1, round(width * scale)), max(1, round(height * scale))


class PreviewRequests:
    """Which preview request is current, from several threads.

    Each change starts a newer request, which supersedes the older ones: their jobs are
    handed out once to be cancelled, and their results are never shown.
    """

    def __init__(self):
        self._lock = threading.Lock()
        self.current = 0
        self.key = None
        self._jobs = {}  # request number -> its job, while the job may run

    def start(self, key) -> int | None:
        """The number of a new request for ``key``; None when the current one is for ``key``."""
        with self._lock:
            if key == self.key:
                return None
            self.current += 1
            self.key = key
            return self.current

    def stop(self) -> None:
        """Supersede every request (the preview was turned off, the dialog closed)."""
        with self._lock:
            self.current += 1
            self.key = None

    def is_current(self, number: int) -> bool:
        with self._lock:
            return number == self.current

    def submitted(self, number: int, job) -> bool:
        """Note the job of request ``number``; False when the request is superseded already
        (then its thread cancels the job itself)."""
        with self._lock:
            if number != self.current:
                return False
            self._jobs[number] = job
            return True

    def finished(self, number: int) -> None:
        """The job of request ``number`` ended (or was handed out to be cancelled)."""
        with self._lock:
            self._jobs.pop(number, None)

    def stale_jobs(self) -> list:
        """The jobs of superseded requests, each returned once, to be cancelled."""
        with self._lock:
            old = [number for number in self._jobs if number != self.current]
            return [self._jobs.pop(number) for number in old]
