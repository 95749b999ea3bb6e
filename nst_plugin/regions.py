"""Style masks and the strength map: read, checked and brought to the photo's size.

The artist directs the style with greyscale images: one mask per style (white: that style,
soft edges and overlaps allowed; where the masks add up to less than white the photo shows
through) and a strength map (black: the photo, white: full strength). Every host ends here
(the pipeline for paths and PIL images, the service for uploaded parts), so bad input gets
the same one sentence everywhere, before any work starts. The engines get "L" images of the
photo's size in `StylizeRequest.style_masks` and `StylizeRequest.strength_map`; the VGG19
engine's losses are in `vgg19/targets.py` and `vgg19/losses.py`, the fast engine's
composition in `fast/transfer.py`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .errors import ImageError, RequestError, UserError

if TYPE_CHECKING:
    from PIL import Image

ASPECT_TOLERANCE = 0.1  # a mask's aspect ratio may differ from the photo's by this fraction


def _name(source: Any, what: str) -> str:
    if isinstance(source, (str, os.PathLike)):
        return f"{what} {os.fspath(source)}"
    return what


def _grey(source: Any, what: str, size: tuple[int, int]) -> Image.Image:
    """One guide image as "L" at `size` (alpha multiplied in: transparent is black)."""
    from PIL import Image, ImageChops

    from . import images

    if isinstance(source, images.LoadedImage):
        loaded = source
    else:
        try:
            loaded = images.load_image(source)
        except UserError as err:  # its sentence names the file; say what the file was for
            raise ImageError(f"{what}: {err}") from None
        except Exception as err:  # anything else that cannot be read is still one sentence
            raise ImageError(f"the {_name(source, what)} cannot be read ({err}).") from None
    grey = loaded.rgb.convert("L")
    if loaded.alpha is not None:
        grey = ImageChops.multiply(grey, loaded.alpha)
    w, h = grey.size
    if abs(math.log((w / h) / (size[0] / size[1]))) > math.log1p(ASPECT_TOLERANCE):
        raise RequestError(
            f"the {_name(source, what)} is {w} x {h} pixels, a different shape from the "
            f"photo's {size[0]} x {size[1]}; paint it over the photo so it has the same "
            "aspect ratio."
        )
    if grey.size != size:
        shrink = w >= size[0] and h >= size[1]
        grey = grey.resize(
            size, Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
        )  # shrinking averages each output pixel's area
    return grey


def load_guides(
    size: tuple[int, int],
    n_styles: int,
    style_masks: Sequence[Any] | None = None,
    strength_map: Any | None = None,
) -> tuple[list[Image.Image] | None, Image.Image | None]:
    """(masks, map) as "L" images of `size` (the photo's), or None where not given.

    Sources are paths, PIL images or `images.LoadedImage`s. Raises RequestError (one
    sentence) for a mask count that does not match the styles, an unreadable file, an
    all-black mask or an image whose aspect ratio differs much from the photo's.
    """
    masks = None
    if style_masks is not None:
        if isinstance(style_masks, (str, bytes, os.PathLike)) or hasattr(style_masks, "getpixel"):
            style_masks = [style_masks]
        style_masks = list(style_masks)
        if len(style_masks) != n_styles:
            raise RequestError(
                f"{len(style_masks)} style mask{'s' if len(style_masks) != 1 else ''} given for "
                f"{n_styles} style image{'s' if n_styles != 1 else ''}; give one mask per "
                "style, in the same order."
            )
        masks = []
        for i, source in enumerate(style_masks):
            what = f"style mask #{i + 1}" if n_styles > 1 else "style mask"
            grey = _grey(source, what, size)
            if grey.getextrema()[1] == 0:
                raise RequestError(
                    f"the {_name(source, what)} is black everywhere, so its style would appear "
                    "nowhere; paint white where that style should go."
                )
            masks.append(grey)
    shown = None if strength_map is None else _grey(strength_map, "strength map", size)
    return masks, shown


def check_blend(masks: Sequence[Any] | None, style_blend: Sequence[float] | None) -> None:
    """Masks place each style; a blend mixes them everywhere: one or the other."""
    if masks is not None and style_blend is not None:
        raise RequestError(
            "style-blend mixes the styles everywhere and style-masks places each one; "
            "give one or the other."
        )
