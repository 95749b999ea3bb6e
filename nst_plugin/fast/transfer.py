"""One job on the fast engine: style vectors once, then the transformer over overlapping tiles.

The transformer takes 384x384 pixels. Instead of enlarging a 384 px result, the output is
made at the size asked, in overlapping 384 px tiles blended with feathered edges (the engine's
tile helpers), so detail is kept. Strength follows Ghiasi et al.: the style vector is
interpolated between the photo's own and the painting's.
"""

from __future__ import annotations

import math
import time

import numpy as np
from PIL import Image

from ..engine import colors, tiles
from ..images import from_array
from ..progress import Reporter
from ..request import Result, StylizeRequest
from . import models

TILE = 384  # the transformer's fixed input size
STYLE_EDGE = 256  # the style predictor's fixed input size
_sessions: dict[str, object] = {}


def session(name: str):
    """The onnxruntime session of one model file, made once (on the GPU when there is one)."""
    if name not in _sessions:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        providers = [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
                     if p in ort.get_available_providers()]
        _sessions[name] = ort.InferenceSession(str(models.find(name)), opts, providers=providers)
    return _sessions[name]


def style_square(image: Image.Image, scale: float) -> np.ndarray:
    """The predictor's input: a centred square of `image` at 256 px, float (1, 256, 256, 3).

    `scale` below 1 takes a smaller square, so the strokes come out bigger; above 1 the
    square is repeated mirrored, so they come out smaller.
    """
    side = min(image.size)
    crop = max(8, round(side * min(scale, 1.0)))
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    square = np.asarray(image.convert("RGB").crop((left, top, left + crop, top + crop)))
    if scale > 1:
        reps = math.ceil(scale)
        row = np.concatenate([square if i % 2 == 0 else square[:, ::-1] for i in range(reps)], 1)
        grid = np.concatenate([row if i % 2 == 0 else row[::-1] for i in range(reps)], 0)
        square = grid[: round(side * scale), : round(side * scale)]
    resized = Image.fromarray(square).resize((STYLE_EDGE, STYLE_EDGE), Image.Resampling.LANCZOS)
    return (np.asarray(resized, np.float32) / 255.0)[None]


def style_vector(image: Image.Image, scale: float = 1.0) -> np.ndarray:
    """The 100-number style vector of an image, shaped (1, 1, 1, 100)."""
    sess = session("arbitrary_predict.onnx")
    return sess.run(None, {sess.get_inputs()[0].name: style_square(image, scale)})[0]


def transform(content: np.ndarray, vector: np.ndarray, overlap: int,
              on_tile=lambda done, total, partial: None) -> np.ndarray:
    """Stylize float (h, w, 3) `content` in 0..1 tile by tile; returns the same shape.

    `on_tile(done, total, partial)` runs after each tile (progress, cancel).
    """
    sess = session("arbitrary_transform.onnx")
    names = [i.name for i in sess.get_inputs()]
    h, w = content.shape[:2]
    boxes = tiles.boxes(w, h, TILE, min(overlap, TILE // 2 - 1))
    total = np.zeros((h, w, 3), np.float32)
    weight = np.zeros((h, w, 1), np.float32)
    for done, (x0, y0, x1, y1) in enumerate(boxes, 1):
        crop = content[y0:y1, x0:x1]
        padded = np.pad(crop, ((0, TILE - crop.shape[0]), (0, TILE - crop.shape[1]), (0, 0)),
                        mode="symmetric")
        out = sess.run(None, {names[0]: padded[None], names[1]: vector})[0][0]
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
    vector = sum(weight * style_vector(style, s.style_scale)
                 for style, weight in zip(request.styles, request.style_weights()))
    if strength < 1:
        vector = strength * vector + (1 - strength) * style_vector(content_image)
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
    x = transform(content, vector.astype(np.float32), s.tile_overlap, on_tile) * 255
    if s.preserve_colors:
        x = colors.restore_colors(x, content * 255)
    provider = session("arbitrary_transform.onnx").get_providers()[0]
    return Result(image=from_array(x[None]), iterations=1, seconds=time.monotonic() - started,
                  losses=[], engine="fast", backend="onnxruntime",
                  device="GPU" if provider.startswith("CUDA") else "CPU",
                  weights="magenta-arbitrary-v1-256")
