"""Job states and the progress line both editors show."""

from __future__ import annotations

RUNNING, DONE, FAILED, CANCELLED = "running", "done", "failed", "cancelled"
FINAL_STATES = (DONE, FAILED, CANCELLED)

_STAGES = {
    "queued": "Waiting in the queue",
    "connecting": "Connecting to the nst service",
    "uploading": "Sending the image",
    "loading": "Loading the engine",
    "preparing": "Preparing",
    "optimizing": "Stylizing",
    "done": "Finishing",
    "saving": "Finishing",
}


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def duration(seconds: float) -> str:
    """``12 s``, ``1 min 15 s`` or ``2 h 05 min``."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return "%d s" % seconds
    if seconds < 3600:
        return "%d min %02d s" % (seconds // 60, seconds % 60)
    return "%d h %02d min" % (seconds // 3600, seconds % 3600 // 60)


def progress_text(event: dict) -> str:
    """One short line for a progress bar in a narrow dock: ``Stylizing 3/10 · 12 s left``."""
    stage = str(event.get("stage") or event.get("event") or "working")
    text = _STAGES.get(stage, stage.replace("_", " ").capitalize())
    step, total = event.get("step"), event.get("total")
    if _number(step) and _number(total) and total > 0:
        text += " %d/%d" % (step, total)
    frame, frames = event.get("frame"), event.get("frames")
    if _number(frame) and _number(frames) and frames > 0:
        text = "Frame %d/%d · %s" % (frame, frames, text)
    eta = event.get("eta")
    if _number(eta) and eta >= 0:
        text += " · %s left" % duration(eta)
    return text


def progress_fraction(event: dict) -> float | None:
    """0..1 from a progress event's step and total (and frame of frames in a sequence), or
    None when it does not say."""
    step, total = event.get("step"), event.get("total")
    if not (_number(step) and _number(total) and total > 0):
        return None
    done = max(0.0, min(1.0, float(step) / float(total)))
    frame, frames = event.get("frame"), event.get("frames")
    if _number(frame) and _number(frames) and frames > 0:
        done = max(0.0, min(1.0, (float(frame) - 1.0 + done) / float(frames)))
    return done
