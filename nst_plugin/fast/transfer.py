"""One job on the fast engine: style vectors once, then the transformer over overlapping tiles.

The transformer takes 384x384 pixels. Instead of enlarging a 384 px result, the output is
made at the size asked, in overlapping 384 px tiles blended with feathered edges (the engine's
tile helpers), so detail is kept. Strength follows Ghiasi et al.: the style vector is
interpolated between the photo's own and the painting's (`runners` says how each model
source does it).

Style masks and a strength map (`regions.py`) compose passes: one per style, each at the
job's strength, placed by its mask feathered over a few pixels; a strength map interpolates
per pixel between the photo's own-style pass (black) and the styles' (white); where the
masks add up to less than white, the photo itself shows through.
"""

from __future__ import annotations

import dataclasses
import time

import numpy as np
from PIL import Image

from ..images import from_array
from ..progress import Reporter
from ..request import Result, StylizeRequest
from ..vgg19 import colors, tiles
from . import runners

TILE = 384  # the transformer's input size (the ONNX file's is fixed)


def style_vector(image: Image.Image, scale: float = 1.0) -> np.ndarray:
    """The 100-number style vector of an image (ONNX source), shaped (1, 1, 1, 100)."""
    return runners.runner().style_vector(image, scale)


def transform(
    content: np.ndarray,
    conditions: list,
    overlap: int,
    on_tile=lambda done, total, partial: None,
    model=None,
) -> np.ndarray:
    """Stylize float (h, w, 3) `content` in 0..1 tile by tile; returns the same shape.

    Each tile is the weighted sum of the model's outputs for `conditions` ((weight,
    condition) pairs) of `model` (a runner; default: the source in use).
    `on_tile(done, total, partial)` runs after each tile.
    """
    model = model or runners.runner()
    h, w = content.shape[:2]
    boxes = tiles.boxes(w, h, TILE, min(overlap, TILE // 2 - 1))
    total = np.zeros((h, w, 3), np.float32)
    weight = np.zeros((h, w, 1), np.float32)
    for done, (x0, y0, x1, y1) in enumerate(boxes, 1):
        crop = content[y0:y1, x0:x1]
        padded = np.pad(
            crop, ((0, TILE - crop.shape[0]), (0, TILE - crop.shape[1]), (0, 0)), mode="symmetric"
        )[None]
        out = sum(cw * model.apply(padded, condition) for cw, condition in conditions)
        mask = tiles.feather((x0, y0, x1, y1), w, h, overlap)
        total[y0:y1, x0:x1] += mask * out[: y1 - y0, : x1 - x0]
        weight[y0:y1, x0:x1] += mask
        on_tile(done, len(boxes), total / np.maximum(weight, 1e-6))
    return np.clip(total / np.maximum(weight, 1e-6), 0.0, 1.0)


def output_size(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """(width, height) with the long edge at `long_edge` and the aspect ratio kept."""
    w, h = size
    return max(1, round(w * long_edge / max(w, h))), max(1, round(h * long_edge / max(w, h)))


FEATHER = 0.03  # the blur's radius, as a share of the long edge
UNITS = 100  # progress steps per pass when passes are composed


def feathered(mask: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """An "L" mask at `size`, blurred over about 3% of the long edge, as (h, w, 1) in 0..1:
    two paintings' textures then cross-fade instead of meeting at a seam."""
    from PIL import ImageFilter

    mask = mask.resize(size, Image.Resampling.BILINEAR)
    mask = mask.filter(ImageFilter.GaussianBlur(max(1.0, max(size) * FEATHER)))
    return (np.asarray(mask, np.float32) / 255.0)[..., None]


def box(weight: np.ndarray, margin: int) -> tuple[int, int, int, int] | None:
    """(x0, y0, x1, y1) around the pixels a pass is weighted on, `margin` pixels of context
    added; None when it weighs nothing anywhere."""
    rows, cols = np.nonzero(weight[..., 0] > 0.5 / 255)
    if rows.size == 0:
        return None
    h, w = weight.shape[:2]
    return (
        max(0, int(cols.min()) - margin),
        max(0, int(rows.min()) - margin),
        min(w, int(cols.max()) + 1 + margin),
        min(h, int(rows.max()) + 1 + margin),
    )


def _guided(request, model, content: np.ndarray, content_image, strength: float, on_tile):
    """Per-style passes composed by their feathered masks, the strength map interpolating
    per pixel towards the photo's own-style pass; float (h, w, 3) in 0..1. Each pass runs
    over its mask's box only, with the tile overlap as context around it."""
    s = request.settings
    size = content_image.size
    passes = len(request.styles) if request.style_masks is not None else 1
    passes += request.strength_map is not None
    done = [0]

    def one(styles, amount, weight=None) -> np.ndarray:
        conditions = model.conditions(styles, s.style_scale, content_image, amount)
        k = done[0]
        done[0] += 1
        found = (0, 0, size[0], size[1]) if weight is None else box(weight, s.tile_overlap)
        out = np.zeros_like(content)
        if found is None:
            return out
        x0, y0, x1, y1 = found

        def tile(i: int, total: int, partial: np.ndarray) -> None:
            whole = (x1 - x0, y1 - y0) == size
            on_tile(k * UNITS + UNITS * i // total, passes * UNITS, partial if whole else None)

        out[y0:y1, x0:x1] = transform(
            content[y0:y1, x0:x1], conditions, s.tile_overlap, tile, model
        )
        return out

    if request.style_masks is None:  # one region: the blended styles everywhere
        weights = request.style_weights()
        regions = [
            (
                one(list(zip(request.styles, weights)), strength),
                np.ones((*content.shape[:2], 1), np.float32),
            )
        ]
    else:
        masks = [feathered(mask, size) for mask in request.style_masks]
        regions = [
            (one([(style, 1.0)], strength, mask), mask)
            for style, mask in zip(request.styles, masks)
        ]
    covered = sum(m for _, m in regions)
    scale = 1.0 / np.maximum(covered, 1.0)  # overlapping masks share the pixel
    styled = sum(out * m * scale for out, m in regions)
    claimed = np.minimum(covered, 1.0)
    if request.strength_map is not None:
        amount = feathered(request.strength_map, size)
        own = one([(content_image, 1.0)], 0.0, (1.0 - amount) * claimed)  # strength zero
        styled = amount * styled + (1.0 - amount) * claimed * own
    return styled + (1.0 - claimed) * content


def recoloured(request: StylizeRequest, content: Image.Image) -> StylizeRequest:
    """`request` with its style images recoloured to the photo's colour statistics."""
    photo = np.asarray(content.convert("RGB"), np.float32)
    styles = [
        Image.fromarray(
            colors.match_colors(np.asarray(im.convert("RGB"), np.float32), photo).astype(np.uint8)
        )
        for im in request.styles
    ]
    return dataclasses.replace(request, styles=styles)


def held(x: np.ndarray, temporal, weight: float) -> np.ndarray:
    """A video frame's result blended with the previous frame's, warped onto it, where the
    flow is reliable: the share w / (1 + w) of the previous result, so 1 is half and half and
    strokes persist over a few frames instead of flickering."""
    size = (x.shape[-2], x.shape[-3])
    warped = np.asarray(temporal.warped.convert("RGB").resize(size, Image.Resampling.BILINEAR))
    reliable = temporal.reliable.convert("L").resize(size, Image.Resampling.BILINEAR)
    share = weight / (1.0 + weight) * (np.asarray(reliable, np.float32) / 255.0)[..., None]
    return (1.0 - share) * x + share * warped.astype(np.float32).reshape(x.shape)


def style_amount(strength: float | None) -> float:
    """How far from the photo's own style towards the painting's a strength goes.

    Strength means what it means for vgg19 up to the standard look: 0 the photo, 0.5 the
    painting's style vector. The network cannot go past the painting's own style (pushing the
    vector on beyond it turns some pictures black), so from 0.5 up it stays at that.
    """
    return 1.0 if strength is None else min(1.0, 2.0 * float(strength))


def run(request: StylizeRequest, reporter: Reporter) -> Result:
    """Stylize `request`; strength None means the standard look (0.5)."""
    s = request.settings
    started = time.monotonic()
    reporter.stage("preparing")
    strength = style_amount(s.strength)
    final = output_size(request.content.size, s.size)
    content_image = request.content.resize(final, Image.Resampling.LANCZOS)
    if s.match_colors:
        request = recoloured(request, content_image)
    weights = request.style_weights()
    styles = [(style, w / sum(weights)) for style, w in zip(request.styles, weights)]
    model = runners.runner()
    conditions = model.conditions(styles, s.style_scale, content_image, strength)
    content = np.asarray(content_image, np.float32) / 255.0

    def on_tile(done: int, total: int, partial: np.ndarray) -> None:
        preview = None
        if (
            partial is not None
            and s.preview_every
            and (done == total or done % s.preview_every == 0)
        ):
            preview = from_array(partial[None] * 255)
            preview.thumbnail((256, 256))
        reporter.progress(done, total, None, preview)
        reporter.check_cancel()

    reporter.stage("stylizing")
    reporter.check_cancel()
    if request.style_masks is not None or request.strength_map is not None:
        x = _guided(request, model, content, content_image, strength, on_tile) * 255
    else:
        x = transform(content, conditions, s.tile_overlap, on_tile, model) * 255
    if s.preserve_colors:
        x = colors.restore_colors(x, content * 255)
    if request.temporal is not None and s.temporal_weight > 0:
        x = held(x, request.temporal, s.temporal_weight)
    return Result(
        image=from_array(x[None]),
        iterations=1,
        seconds=time.monotonic() - started,
        losses=[],
        engine="fast",
        backend=model.backend,
        device=model.device,
        weights="magenta-arbitrary-v1-256",
    )
