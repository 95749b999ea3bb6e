"""`stylize()` and `resume()`: load -> engine -> alpha -> save, in the engine's own process.

Every host ends here: the CLI and the Python API directly, the hot folder and the service
through a `JobRunner`. The engine is the one the request names (`engines.get`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from . import checkpoint, engines, regions
from .errors import OutputExistsError, RequestError
from .options import Settings, settings_with
from .plugins import get_plugin_manager
from .progress import ProgressEvent, Reporter
from .request import Result, StylizeRequest, Temporal

if TYPE_CHECKING:
    from PIL import Image

ImageSource = Union[str, "os.PathLike[str]", "Image.Image"]


def broadcast(event: ProgressEvent) -> None:
    """Send a progress event to every `nst_progress` plugin."""
    get_plugin_manager().hook.nst_progress(event=event)


def as_list(styles: ImageSource | Sequence[ImageSource]) -> list[ImageSource]:
    """One style (a path or an image) or several, as a list; at least one is needed."""
    if isinstance(styles, (str, bytes, os.PathLike)) or hasattr(styles, "getpixel"):
        styles = [styles]
    styles = list(styles)
    if not styles:
        raise RequestError("at least one style image is needed.")
    return styles


def stylize(
    content: ImageSource,
    styles: ImageSource | Sequence[ImageSource],
    output: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    engine: str = engines.DEFAULT_ENGINE,
    settings: Settings | None = None,
    on_progress: Callable[[ProgressEvent], Any] | None = None,
    reporter: Reporter | None = None,
    style_masks: Sequence[ImageSource] | None = None,
    strength_map: ImageSource | None = None,
    temporal: Temporal | None = None,
    **options: Any,
) -> Result:
    """Stylize `content` with one or more `styles`; save to `output` when given.

    Images are paths or PIL images. `options` are schema options (size, iterations,
    strength, style_blend, preserve_colors, ...; see `nst_plugin.options`). Progress goes to
    `on_progress` and to the reporter's listeners; without a `reporter`, to every
    `nst_progress` plugin too. Pass a `Reporter` to cancel from another thread, or to keep
    (`Reporter.keep`: the job ends now with its current image as the result). Raises
    `UserError` (RequestError, ImageError, WeightsError) for bad input before any work
    starts, `Cancelled` when cancelled; an existing `output` is never replaced unless
    `overwrite`. With `checkpoint_every` and an `output`, a checkpoint is kept beside the
    output while the run lasts; `resume()` continues from it. `style_masks` (one greyscale
    image per style: white = that style) and `strength_map` (black = the photo, white = full
    strength) are paths or PIL images; the options of those names give paths too.
    `temporal`: a video frame's link to the previous frame's result (`nst_plugin.video`).
    """
    from . import images

    settings = settings_with(settings, options)
    if output is not None:
        images.check_output(output, overwrite=overwrite)
    styles = as_list(styles)
    reporter = _reporter(reporter, on_progress)
    reporter.stage("loading")
    loaded = images.load_image(content)
    style_images = [images.load_image(s).rgb for s in styles]
    masks, shown = regions.load_guides(
        loaded.rgb.size,
        len(style_images),
        style_masks if style_masks is not None else settings.style_masks,
        strength_map if strength_map is not None else settings.strength_map,
    )
    reporter.check_cancel()
    if settings.style_masks is not None or settings.strength_map is not None:
        settings = settings.replace(style_masks=None, strength_map=None)  # loaded: no paths on
    return _run(
        loaded.rgb,
        loaded.alpha,
        style_images,
        settings,
        output,
        overwrite,
        engine,
        reporter,
        guides=(masks, shown),
        temporal=temporal,
    )


def resume(
    path: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    on_progress: Callable[[ProgressEvent], Any] | None = None,
    reporter: Reporter | None = None,
) -> Result:
    """Continue the run saved in checkpoint `path`; it writes to the run's own output
    unless `output` is given. At most `checkpoint_every` iterations are repeated."""
    from . import images

    saved = checkpoint.load(path)
    output = output if output is not None else saved["output"]
    if output is not None:
        images.check_output(output, overwrite=overwrite)
    return _run(
        saved["content"],
        saved["alpha"],
        saved["styles"],
        saved["settings"],
        output,
        overwrite,
        saved["engine"],
        _reporter(reporter, on_progress),
        resume_state=saved["state"],
        checkpoint_file=Path(path),
        guides=(saved["style_masks"], saved["strength_map"]),
    )


def _reporter(reporter: Reporter | None, on_progress: Callable | None) -> Reporter:
    reporter = reporter or Reporter(listeners=[broadcast])
    if on_progress is not None:
        reporter.listeners.append(on_progress)
    return reporter


def _run(
    content,
    alpha,
    styles,
    settings: Settings,
    output,
    overwrite: bool,
    engine: str,
    reporter: Reporter,
    resume_state: dict | None = None,
    checkpoint_file: Path | None = None,
    guides: tuple = (None, None),
    temporal: Temporal | None = None,
) -> Result:
    from . import images

    chosen = engines.get(engine)
    request = StylizeRequest(
        content, styles, settings, engine, reporter.job_id, resume_state, *guides, temporal
    )
    if temporal is not None and "temporal_weight" not in chosen.options:
        raise RequestError(
            f"the {chosen.name} engine does not take video frames; use the vgg19 or the fast "
            "engine for nst video."
        )
    request.style_weights()  # a wrong blend is bad input: fail before the engine starts
    regions.check_blend(request.style_masks, settings.style_blend)
    for name in ("style_masks", "strength_map"):  # an engine that does not place styles
        if getattr(request, name) is not None and name not in chosen.options:
            raise RequestError(
                f"the {chosen.name} engine does not take {name.replace('_', '-')}; "
                "use the vgg19 or the fast engine for regions."
            )
    if output is not None and checkpoint_file is None and settings.checkpoint_every:
        checkpoint_file = checkpoint.path_for(output)
    reporter.on_snapshot = _snapshot_writer(request, alpha, output, overwrite, checkpoint_file)

    result = chosen.stylize(request, reporter)
    result.image = images.join_alpha(result.image, alpha)
    if output is not None:
        reporter.stage("saving")
        result.output = str(images.save_image(result.image, output, overwrite=overwrite))
        if checkpoint_file is not None:
            checkpoint_file.unlink(missing_ok=True)  # the run is complete: its own file goes
    reporter.stage("done", result.iterations, result.iterations)
    return result


def _snapshot_writer(
    request: StylizeRequest, alpha, output, overwrite: bool, checkpoint_file: Path | None
) -> Callable[[int, dict], None]:
    """Writes numbered intermediates (save_every) and the checkpoint (checkpoint_every)."""
    from . import images

    s = request.settings

    def write(step: int, state: dict) -> None:
        if s.save_every and output is not None and step % s.save_every == 0:
            out = Path(output)
            image = images.join_alpha(images.from_array(state["image"]), alpha)
            try:
                images.save_image(
                    image, out.with_name(f"{out.stem}-{step:05d}{out.suffix}"), overwrite=overwrite
                )
            except OutputExistsError as err:
                print(f"nst: intermediate not written: {err}", file=sys.stderr)
        if s.checkpoint_every and checkpoint_file is not None and step % s.checkpoint_every == 0:
            checkpoint.save(
                checkpoint_file,
                content=request.content,
                alpha=alpha,
                styles=request.styles,
                settings=s,
                output=None if output is None else os.fspath(output),
                engine=request.engine,
                state=state,
                style_masks=request.style_masks,
                strength_map=request.strength_map,
            )

    return write
