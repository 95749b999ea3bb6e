"""`stylize()`: the one entry point every host uses, in the engine's own process."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, Sequence, Union

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
    optimizer, content_weight, style_weight, tv_weight, init, pooling, seed, weights, ...).
    Progress goes to every `nst_progress` plugin and to `on_progress`; pass a `Reporter` to
    cancel from another thread. Raises RequestError or ImageError for bad input (before
    any work starts), Cancelled when cancelled; an existing `output` is never replaced
    unless `overwrite` is true.
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

    reporter = reporter or Reporter()
    if on_progress is not None:
        reporter.listeners.append(on_progress)
    reporter.stage("loading")
    loaded = imageio.load_image(content)
    style_images = [imageio.load_image(s).rgb for s in styles]
    request = StylizeRequest(loaded.rgb, style_images, settings, engine, reporter.job_id)
    request.style_weights()  # a wrong blend is bad input: fail before the engine starts

    result = get_plugin_manager().hook.nst_stylize(request=request, reporter=reporter)
    if result is None:
        raise RequestError(f"no engine named {engine!r} is installed; `nst plugins` lists them.")
    result.image = imageio.join_alpha(result.image, loaded.alpha)
    if output is not None:
        reporter.stage("saving")
        result.output = str(imageio.save_image(result.image, output, overwrite=overwrite))
    reporter.stage("done", result.iterations, result.iterations)
    return result
