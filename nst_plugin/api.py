"""`stylize()` and `resume()`: the entry points every host uses, in the engine's own process."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

from . import checkpoint
from .plugins import get_plugin_manager
from .progress import ProgressEvent, Reporter
from .request import RequestError, Result, Settings, StylizeRequest

if TYPE_CHECKING:
    from PIL import Image

ImageSource = Union[str, "os.PathLike[str]", "Image.Image"]


def stylize(
    content: ImageSource,
    styles: ImageSource | Sequence[ImageSource],
    output: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    engine: str = "vgg19",
    settings: Settings | None = None,
    on_progress: Callable[[ProgressEvent], Any] | None = None,
    reporter: Reporter | None = None,
    **options: Any,
) -> Result:
    """Stylize `content` with one or more `styles`; save to `output` when given.

    Images are paths or PIL images. `options` are `Settings` fields (size, iterations,
    optimizer, strength, style_blend, preserve_colors, ...). Progress goes to every
    `nst_progress` plugin and to `on_progress`; pass a `Reporter` to cancel from another
    thread. Raises RequestError or ImageError for bad input (before any work starts),
    Cancelled when cancelled; an existing `output` is never replaced unless `overwrite`.
    With `checkpoint_every` and an `output`, a checkpoint is kept beside the output while
    the run lasts; `resume()` continues from it.
    """
    from . import imageio

    try:
        settings = settings.replace(**options) if settings else Settings(**options)
    except TypeError as err:
        raise RequestError(f"unknown option ({err}).") from None
    if output is not None:
        imageio.check_output(output, overwrite=overwrite)
    if isinstance(styles, (str, os.PathLike)) or hasattr(styles, "getpixel"):
        styles = [styles]
    if not styles:
        raise RequestError("at least one style image is needed.")
    reporter = _reporter(reporter, on_progress)
    reporter.stage("loading")
    loaded = imageio.load_image(content)
    style_images = [imageio.load_image(s).rgb for s in styles]
    return _run(loaded.rgb, loaded.alpha, style_images, settings, output, overwrite, engine,
                reporter)


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
    from . import imageio

    saved = checkpoint.load(path)
    output = output if output is not None else saved["output"]
    if output is not None:
        imageio.check_output(output, overwrite=overwrite)
    return _run(saved["content"], saved["alpha"], saved["styles"], saved["settings"], output,
                overwrite, saved["engine"], _reporter(reporter, on_progress),
                resume_state=saved["state"], checkpoint_file=Path(path))


def _reporter(reporter: Reporter | None, on_progress: Callable | None) -> Reporter:
    reporter = reporter or Reporter()
    if on_progress is not None:
        reporter.listeners.append(on_progress)
    return reporter


def _run(content, alpha, styles, settings: Settings, output, overwrite: bool, engine: str,
         reporter: Reporter, resume_state: dict | None = None,
         checkpoint_file: Path | None = None) -> Result:
    from . import imageio

    request = StylizeRequest(content, styles, settings, engine, reporter.job_id, resume_state)
    request.style_weights()  # a wrong blend is bad input: fail before the engine starts
    if output is not None and checkpoint_file is None and settings.checkpoint_every:
        checkpoint_file = checkpoint.path_for(output)
    reporter.on_snapshot = _snapshot_writer(request, alpha, output, overwrite, checkpoint_file)

    result = get_plugin_manager().hook.nst_stylize(request=request, reporter=reporter)
    if result is None:
        raise RequestError(f"no engine named {engine!r} is installed; `nst plugins` lists them.")
    result.image = imageio.join_alpha(result.image, alpha)
    if output is not None:
        reporter.stage("saving")
        result.output = str(imageio.save_image(result.image, output, overwrite=overwrite))
        if checkpoint_file is not None:
            checkpoint_file.unlink(missing_ok=True)  # the run is complete: its own file goes
    reporter.stage("done", result.iterations, result.iterations)
    return result


def _snapshot_writer(request: StylizeRequest, alpha, output, overwrite: bool,
                     checkpoint_file: Path | None) -> Callable[[int, dict], None]:
    """Writes numbered intermediates (save_every) and the checkpoint (checkpoint_every)."""
    from . import imageio

    s = request.settings

    def write(step: int, state: dict) -> None:
        if s.save_every and output is not None and step % s.save_every == 0:
            out = Path(output)
            image = imageio.join_alpha(imageio.from_array(state["image"]), alpha)
            try:
                imageio.save_image(image, out.with_name(f"{out.stem}-{step:05d}{out.suffix}"),
                                   overwrite=overwrite)
            except imageio.OutputExistsError as err:
                print(f"nst: intermediate not written: {err}", file=sys.stderr)
        if s.checkpoint_every and checkpoint_file is not None and step % s.checkpoint_every == 0:
            checkpoint.save(checkpoint_file, content=request.content, alpha=alpha,
                            styles=request.styles, settings=s,
                            output=None if output is None else os.fspath(output),
                            engine=request.engine, state=state)

    return write
