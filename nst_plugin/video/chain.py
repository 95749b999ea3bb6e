"""`stylize_video`: frame after frame, each linked to the previous result along the optical
flow, every finished frame written at once, so a run that stops resumes where it stopped.

Frame t starts from (vgg19), or is blended with (fast), frame t-1's result moved onto it by
the flow from t to t-1, where that flow is reliable (`flow.reliable`); `temporal_weight` 0
stylizes frames independently. A frame whose output exists is not redone: it is read back
as the link for the next one. `chain_frames` is that loop: `run_chain` runs it over files
(each chunk of `nst video --ray` too, `chunk_worker`), `stylize_frames` over frames held in
memory (a frame sequence as one job, as the service runs the plug-ins' animations).
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
from ..request import Result, Temporal
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

    def finished(index: int) -> np.ndarray | None:
        target = targets[index - 1]
        return _read_back(target) if target.exists() else None

    def write(index: int, out: Result) -> None:
        save_image(out.image.convert("RGB"), targets[index - 1])

    done, skipped, _ = chain_frames(
        source,
        [t.name for t in targets],
        styles,
        engine=engine,
        settings=settings,
        finished=finished,
        on_frame=write,
        on_progress=on_progress,
        reporter=reporter,
    )
    return done, skipped


def chain_frames(
    source: Iterable[Any],
    names: Sequence[str],
    styles: Sequence[Any],
    *,
    engine: str,
    settings: Settings,
    finished: Callable[[int], np.ndarray | None] | None = None,
    on_frame: Callable[[int, Result], Any] | None = None,
    on_progress: Callable[[FrameEvent], Any] | None = None,
    reporter: Reporter | None = None,
    style_masks: Sequence[Any] | None = None,
    strength_map: Any = None,
) -> tuple[int, int, Result | None]:
    """The chain itself: the frames of `source` (images, one per name) in order, each linked
    to the previous result. `finished(index)` gives a frame's result from an earlier run (it
    is then not redone), `on_frame(index, result)` takes each new one (indices 1-based).
    (done, skipped, the last new frame's Result)."""
    from ..pipeline import stylize

    timed, done, skipped, total, last = [], 0, 0, len(names), None
    previous: tuple[np.ndarray, np.ndarray] | None = None  # (frame, its result)
    cancel = reporter or Reporter()
    for index, (frame, name) in enumerate(zip(source, names), 1):
        cancel.check_cancel()
        current = _rgb(frame)
        result = finished(index) if finished is not None else None
        if result is not None:
            skipped += 1
            _emit(on_progress, FrameEvent(index, total, name, None, None, skipped=True))
        else:
            link = None
            if previous is not None and settings.temporal_weight > 0:
                link = link_to_previous(previous[0], previous[1], current)
            t0 = time.monotonic()

            def relay(event: ProgressEvent, index=index, name=name) -> None:
                eta = _eta(timed, total - index, event)
                _emit(on_progress, FrameEvent(index, total, name, event, eta))

            job = Reporter(f"frame-{index}", listeners=[relay], cancel_event=cancel.cancel_event)
            last = stylize(
                frame,
                styles,
                engine=engine,
                settings=settings,
                reporter=job,
                temporal=link,
                style_masks=style_masks,
                strength_map=strength_map,
            )
            if on_frame is not None:
                on_frame(index, last)
            result = _rgb(last.image)
            timed.append(time.monotonic() - t0)
            done += 1
        previous = (current, result)
    return done, skipped, last


def stylize_frames(
    frames: Sequence[Any],
    styles: Sequence[Any],
    *,
    engine: str = engines.DEFAULT_ENGINE,
    settings: Settings | None = None,
    reporter: Reporter | None = None,
    style_masks: Sequence[Any] | None = None,
    strength_map: Any = None,
    on_frame: Callable[[int, Result], Any] | None = None,
    **options: Any,
) -> Result:
    """A frame sequence held in memory (images or paths, one size) as one job: each frame
    linked to the previous result, `on_frame(index, result)` called with each (1-based).
    The reporter's listeners get every frame's events with `frame` and `frames` set and the
    ETA of the whole sequence. Returns the last frame's Result; Cancelled from the reporter.
    `style_masks` and `strength_map` apply to every frame."""
    from dataclasses import replace

    from ..options import settings_with

    settings = settings_with(settings, options)
    reporter = reporter or Reporter()
    total = len(frames)
    if not total:
        raise RequestError("the frame sequence is empty; send at least one frame.")

    def relay(event: FrameEvent) -> None:
        if event.event is not None:
            eta = event.eta if event.eta is not None else event.event.eta
            reporter.forward(
                replace(
                    event.event, job_id=reporter.job_id, frame=event.index, frames=total, eta=eta
                )
            )

    _, _, last = chain_frames(
        frames,
        [f"frame {i}" for i in range(1, total + 1)],
        styles,
        engine=engine,
        settings=settings,
        on_frame=on_frame,
        on_progress=relay,
        reporter=reporter,
        style_masks=style_masks,
        strength_map=strength_map,
    )
    assert last is not None  # every frame was stylized here
    return last


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


def _rgb(image: Any) -> np.ndarray:
    """A frame (an image or a path) as an RGB array."""
    if isinstance(image, Image.Image):
        return np.asarray(image.convert("RGB"))
    with Image.open(image) as im:
        return np.asarray(im.convert("RGB"))


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
