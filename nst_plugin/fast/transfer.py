"""One job on the fast engine: style vectors once, then the transformer over overlapping tiles.

The transformer takes 384x384 pixels. Instead of enlarging a 384 px result, the output is
made at the size asked, in overlapping 384 px tiles blended with feathered edges (the engine's
tile helpers), so detail is kept. Strength follows Ghiasi et al.: the style vector is
interpolated between the photo's own and the painting's (`runners` says how each model
source does it).
"""

from __future__ import annotations

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
    return total / np.maximum(weight, 1e-6)


def output_size(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """(width, height) with the long edge at `long_edge` and the aspect ratio kept."""
    w, h = size
    return max(1, round(w * long_edge / max(w, h))), max(1, round(h * long_edge / max(w, h)))


def run(request: StylizeRequest, reporter: Reporter) -> Result:
    """Stylize `request`; strength None means the full style."""
    s = request.settings
    started = time.monotonic()
    reporter.stage("preparing")
    strength = 1.0 if s.strength is None else s.strength
    final = output_size(request.content.size, s.size)
    content_image = request.content.resize(final, Image.Resampling.LANCZOS)
    weights = request.style_weights()
    styles = [(style, w / sum(weights)) for style, w in zip(request.styles, weights)]
    model = runners.runner()
    conditions = model.conditions(styles, s.style_scale, content_image, strength)
    content = np.asarray(content_image, np.float32) / 255.0

    def on_tile(done: int, total: int, partial: np.ndarray) -> None:
        preview = None
        if s.preview_every and (done == total or done % s.preview_every == 0):
            preview = from_array(partial[None] * 255)
            preview.thumbnail((256, 256))
        reporter.progress(done, total, None, preview)
        reporter.check_cancel()

    reporter.stage("stylizing")
    reporter.check_cancel()
    x = transform(content, conditions, s.tile_overlap, on_tile, model) * 255
    if s.preserve_colors:
        x = colors.restore_colors(x, content * 255)
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
