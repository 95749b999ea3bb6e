"""`stylize_video`: frame after frame, each linked to the previous result along the optical
flow, every finished frame written at once, so a run that stops resumes where it stopped.

Frame t starts from (vgg19), or is blended with (fast), frame t-1's result moved onto it by
the flow from t to t-1, where that flow is reliable (`flow.reliable`); `temporal_weight` 0
stylizes frames independently. A frame whose output exists is not redone: it is read back
as the link for the next one. `run_chain` is that loop; each chunk of `nst video --ray` runs
it too (`chunk_worker`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from .. import engines
from ..errors import OutputExistsError, RequestError
from ..options import Settings
from ..progress import ProgressEvent, Reporter
from ..request import Temporal
from . import flow, frames


@dataclass
class FrameEvent:
    """Progress of a video: frame `index` (1-based) of `total`, the frame's own event, and
    the seconds left for the whole run (None until one frame has been timed)."""

    index: int
    total: int
    name: str
    event: ProgressEvent | None
    eta: float | None
    skipped: bool = False


@dataclass
class VideoResult:
    output: str
    frames: int
    done: int  # stylized in this run
    skipped: int  # already there (a resumed run)
    seconds: float


def output_folder(output: Path) -> Path:
    """The folder the frames go to: `output` itself, or a video output's work folder."""
    return frames.work_folder(output) if frames.is_video(output) else output


def stylize_video(
    source: str | os.PathLike[str],
    styles: Sequence[Any],
    output: str | os.PathLike[str],
    *,
    engine: str = engines.DEFAULT_ENGINE,
    settings: Settings | None = None,
    on_progress: Callable[[FrameEvent], Any] | None = None,
    reporter: Reporter | None = None,
    **options: Any,
) -> VideoResult:
    """Stylize every frame of `source` (a folder of frames or a video file) into `output`
    (a folder: the same names; or a video file: encoded at the end, the audio copied).

    Options are `nst_plugin.stylize`'s; without `size` the frames keep theirs. Frames
    already in the output are kept and not redone. `reporter` carries cancel (its
    `cancel()` from another thread).
    """
    seq, settings, output, folder = open_run(source, output, settings, options)
    targets = [folder / name for name in output_names(seq, output)]
    started = time.monotonic()
    done, skipped = run_chain(
        seq,
        targets,
        styles,
        engine=engine,
        settings=settings,
        on_progress=on_progress,
        reporter=reporter,
    )
    if frames.is_video(output):
        audio = seq.path if frames.is_video(seq.path) else None
        frames.encode(folder, [t.name for t in targets], output, seq.fps, audio)
        frames.remove_work_folder(folder)
    return VideoResult(str(output), len(seq), done, skipped, time.monotonic() - started)


def open_run(
    source: str | os.PathLike[str],
    output: str | os.PathLike[str],
    settings: Settings | None,
    options: dict[str, Any],
) -> tuple[frames.Frames, Settings, Path, Path]:
    """A run's frames, settings (without a size given, the frames' own), output and frames
    folder (created); one sentence when the output is a video that exists."""
    from ..options import settings_with

    seq = frames.open_frames(source)
    if settings is None and "size" not in options:  # the frames' own size, not the default
        options = {**options, "size": max(seq.size)}
    settings = settings_with(settings, options)
    output = Path(output)
    if frames.is_video(output) and output.exists():
        raise OutputExistsError(f"{output} already exists; choose another name or remove it.")
    folder = output_folder(output)
    folder.mkdir(parents=True, exist_ok=True)
    return seq, settings, output, folder


def run_chain(
    source: Iterable[Image.Image],
    targets: Sequence[Path],
    styles: Sequence[Any],
    *,
    engine: str,
    settings: Settings,
    on_progress: Callable[[FrameEvent], Any] | None = None,
    reporter: Reporter | None = None,
) -> tuple[int, int]:
    """Stylize the frames of `source` into `targets`, in order, each linked to the previous
    result; a target that exists is read back as the link, not redone. (done, skipped)."""
    from ..images import save_image
    from ..pipeline import stylize

    timed, done, skipped, total = [], 0, 0, len(targets)
    previous: tuple[np.ndarray, np.ndarray] | None = None  # (frame, its result)
    cancel = reporter or Reporter()
    for index, (frame, target) in enumerate(zip(source, targets), 1):
        cancel.check_cancel()
        current = np.asarray(frame)
        if target.exists():
            result = _read_back(target)
            skipped += 1
            _emit(on_progress, FrameEvent(index, total, target.name, None, None, skipped=True))
        else:
            link = None
            if previous is not None and settings.temporal_weight > 0:
                link = link_to_previous(previous[0], previous[1], current)
            t0 = time.monotonic()

            def relay(event: ProgressEvent, index=index, name=target.name) -> None:
                eta = _eta(timed, total - index, event)
                _emit(on_progress, FrameEvent(index, total, name, event, eta))

            job = Reporter(f"frame-{index}", listeners=[relay], cancel_event=cancel.cancel_event)
            out = stylize(
                frame, styles, engine=engine, settings=settings, reporter=job, temporal=link
            )
            save_image(out.image.convert("RGB"), target)
            result = np.asarray(out.image.convert("RGB"))
            timed.append(time.monotonic() - t0)
            done += 1
        previous = (current, result)
    return done, skipped


def link_to_previous(before: np.ndarray, result: np.ndarray, current: np.ndarray) -> Temporal:
    """The previous frame's result moved onto `current`, and where that can be trusted."""
    backward = flow.flow(current, before)
    forward = flow.flow(before, current)
    if result.shape != before.shape:  # the result's size differs from the frame's (--size)
        result = np.asarray(
            Image.fromarray(result).resize(
                (before.shape[1], before.shape[0]), Image.Resampling.BILINEAR
            )
        )
    warped = flow.warp(result, backward)
    mask = flow.reliable(backward, forward)
    return Temporal(Image.fromarray(warped), Image.fromarray((mask * 255).astype(np.uint8)))


def output_names(seq: frames.Frames, output: Path) -> list[str]:
    """The frames' output names: a folder's own names, or numbered PNGs for a video."""
    if seq.files and not frames.is_video(output):
        return seq.names
    return [f"frame-{i:06d}.png" for i in range(1, len(seq) + 1)]


def _read_back(target: Path) -> np.ndarray:
    """A finished frame's result, as the link for the next frame."""
    try:
        with Image.open(target) as im:
            return np.asarray(im.convert("RGB"))
    except OSError:
        raise RequestError(
            f"the finished frame {target} cannot be read; remove it and run again to redo it."
        ) from None


def _eta(timed: list[float], left: int, event: ProgressEvent) -> float | None:
    """Seconds left for the run: this frame's own estimate plus the frames after it at the
    average time per frame so far."""
    if not timed:
        return None
    per = sum(timed) / len(timed)
    own = event.eta if event.eta is not None else per * (1 - event.step / max(event.total, 1))
    return max(0.0, own) + per * left


def _emit(on_progress, event: FrameEvent) -> None:
    if on_progress is not None:
        on_progress(event)
