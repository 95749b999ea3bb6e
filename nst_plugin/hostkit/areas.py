"""The area a job processes: a layer's, or a selection's bounding box plus a margin; and the
selection's grey values applied to a result's alpha."""

from __future__ import annotations

from .errors import PluginError

MARGIN = 32  # pixels of context around a selection, so the style flows in from its edges


def clamp_box(box: tuple, width: int, height: int) -> tuple | None:
    """``box`` (x, y, w, h) cut to a ``width`` x ``height`` area; None when none of it is in."""
    x, y, w, h = box
    x0, y0 = max(0, x), max(0, y)
    x1, y1 = min(int(width), x + w), min(int(height), y + h)
    if x1 <= x0 or y1 <= y0:
        return None
    return x0, y0, x1 - x0, y1 - y0


def area_to_process(width: int, height: int, selection=None, margin: int = MARGIN) -> tuple:
    """The box ``(x, y, w, h)`` of a ``width`` x ``height`` layer or image to send.

    ``selection``: the selection's bounding box in the same coordinates, or None (all of
    it). A selection grows by ``margin`` on each side, cut to the area. Raises
    :class:`PluginError` when nothing is left.
    """
    if width <= 0 or height <= 0:
        raise PluginError("The layer is empty; paint on it or pick another layer.")
    if selection is None:
        return 0, 0, int(width), int(height)
    x, y, w, h = selection
    m = max(0, int(margin))
    box = (
        clamp_box((x - m, y - m, w + 2 * m, h + 2 * m), width, height) if w > 0 and h > 0 else None
    )
    if box is None:
        raise PluginError(
            "The selection does not touch the layer; select part of it, or deselect all to "
            "stylize all of it."
        )
    return box


def multiply_alpha(pixels: bytes, mask: bytes) -> bytes:
    """RGBA or BGRA ``pixels`` with alpha scaled by the 8-bit ``mask`` (a byte a pixel)."""
    if len(pixels) != 4 * len(mask):
        raise ValueError(
            "multiply_alpha: %d pixel bytes for a %d-byte mask" % (len(pixels), len(mask))
        )
    out = bytearray(pixels)
    out[3::4] = bytes((a * m + 127) // 255 for a, m in zip(pixels[3::4], mask))
    return bytes(out)
