"""What the artist directs beyond one style: regions (a style per mask) and a painted strength
map, as both plug-ins collect them from selections, layers and channels.

A region is ``(style, mask)``: a style dict (see :mod:`.styles`) and the mask as 8-bit grey
bytes of the area being stylized (white: this style). The service checks what the masks say
(all black, wrong size); here only what the plug-ins can get wrong before sending.
"""

from __future__ import annotations

import re

from .errors import PluginError
from .png import encode_png

MAX_REGIONS = 8  # the service's limit on styles in one job
_NOT_OPAQUE = re.compile(b"\\x00+|[\\x01-\\xfe]+")  # runs of transparent, of partly covered


def grey(width: int, height: int, pixels: bytes, mode: str) -> bytes:
    """8-bit grey of a layer's or channel's pixels, a byte a pixel: the green channel (grey
    for a painted mask), transparent pixels counting as black."""
    size = len(mode)
    if len(pixels) != width * height * size:
        raise ValueError(
            "grey: %d bytes are not a %dx%d %s image" % (len(pixels), width, height, mode)
        )
    if mode in ("L", "LA"):
        value = pixels[0::size]
    elif mode in ("RGB", "RGBA", "BGRA"):
        value = pixels[1::size]
    else:
        raise ValueError("grey: unknown pixel mode %r" % mode)
    if mode in ("LA", "RGBA", "BGRA"):
        value = _under_alpha(value, pixels[size - 1 :: size])
    return bytes(value)


def _under_alpha(value: bytes, alpha: bytes) -> bytes:
    """``min(value, alpha)`` per byte, a run at a time: opaque pixels stay, transparent ones
    become black, and only partly covered ones (a brush's soft edge) are compared one by one,
    so a painted mask of a big layer takes a moment, not seconds."""
    out = bytearray(value)
    for run in _NOT_OPAQUE.finditer(alpha):
        start, end = run.span()
        if alpha[start] == 0:
            out[start:end] = bytes(end - start)
        else:
            out[start:end] = bytes(map(min, value[start:end], run.group()))
    return bytes(out)


def mask_png(width: int, height: int, mask: bytes) -> bytes:
    """A grey mask as the PNG the service takes."""
    return encode_png(width, height, mask, "L")


def check(regions: list, label: str = "region") -> None:
    """One sentence when the regions cannot make a job: none, too many, or a mask empty."""
    if not regions:
        raise PluginError(
            "Add a region first: choose a style and a selection or layer for it, or clear the "
            "regions to stylize with one style."
        )
    if len(regions) > MAX_REGIONS:
        raise PluginError(
            "A job takes at most %d regions, not %d; remove some." % (MAX_REGIONS, len(regions))
        )
    for i, (_, mask) in enumerate(regions, 1):
        if mask.count(0) == len(mask):  # all black (count is quick on big masks)
            raise PluginError(
                "The mask of %s %d is all black, so that style would cover nothing; paint it "
                "white where the style goes, or remove the %s." % (label, i, label)
            )


def styles_and_masks(regions: list, width: int, height: int) -> tuple:
    """``(styles, mask PNGs)`` for :class:`.jobs.ServiceJob`, after :func:`check`."""
    check(regions)
    return [style for style, _ in regions], [mask_png(width, height, m) for _, m in regions]


def label(regions: list) -> str:
    """The result layer's label for several styles: ``starry_night + wave``."""
    names = [str(style.get("label") or "style") for style, _ in regions]
    return " + ".join(names[:3]) + (" + ..." if len(names) > 3 else "")
