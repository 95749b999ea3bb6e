"""What the loss compares with: style statistics from the whole style images, content
features per image or tile."""

from __future__ import annotations

import numpy as np

from ..options import Settings
from . import losses, tiles


def style_statistics(net, style: np.ndarray, tile: int) -> list[tuple]:
    """Per style layer: (mean, second moment) of the features over the whole style image.

    Images larger than `tile` are processed in blocks with a margin of context, so memory
    stays bounded; each block contributes the positions of its own core only.
    """
    h, w = style.shape[1:3]
    margin = 32
    strides = [2 ** (int(name[5]) - 1) for name in net.style_layers]
    sums: list[list] = [[0.0, 0.0, 0.0] for _ in strides]
    for x0, y0, x1, y1 in tiles.cores(w, h, tile):
        a0, b0 = max(0, x0 - margin), max(0, y0 - margin)
        a1, b1 = min(w, x1 + margin), min(h, y1 + margin)
        feats = net.forward(style[:, b0:b1, a0:a1])[len(net.content_layers) :]
        for acc, f, k in zip(sums, feats, strides):
            core = f[:, (y0 - b0) // k : -(-(y1 - b0) // k), (x0 - a0) // k : -(-(x1 - a0) // k)]
            for j, value in enumerate(losses.moments(core)):
                acc[j] = acc[j] + np.asarray(value, np.float64)
    return [(total / n, outer / n) for total, outer, n in sums]


def style_targets(net, styles: list[np.ndarray], blend: list[float], s: Settings) -> dict:
    """Blended style targets: Grams, or means and covariances, from the whole style images."""
    mixed = None
    for style, weight in zip(styles, blend):
        stats = [
            (weight * m, weight * g)
            for m, g in style_statistics(net, style, s.tile_size or tiles.DEFAULT_TILE)
        ]
        mixed = stats if mixed is None else [(a + c, b + d) for (a, b), (c, d) in zip(mixed, stats)]
    return _as_targets(mixed or [], s)


PULL = 100.0  # the pull towards the photo, per unit of the style weight (losses.pull_loss)
HOLD = 100.0  # a video frame's pull towards the previous result, per unit of temporal_weight


def temporal_targets(temporal, s: Settings, size: tuple[int, int]) -> dict:
    """A video frame's hold at `size`: the previous result warped onto this frame ("hold",
    luminance only with preserve_colors), where it is reliable ("hold_keep"), and its weight
    (`HOLD` x temporal_weight, per unit of the style weight)."""
    from PIL import Image

    from . import colors

    warped = np.asarray(temporal.warped.convert("RGB").resize(size, Image.Resampling.BILINEAR))
    warped = warped.astype(np.float32)[None]
    if s.preserve_colors:
        warped = colors.luminance_only(warped, warped)[0]
    keep = temporal.reliable.convert("L").resize(size, Image.Resampling.BILINEAR)
    return {
        "hold": warped,
        "hold_keep": (np.asarray(keep, np.float32) / 255.0)[None, ..., None],
        "hold_weight": np.float32(HOLD * s.temporal_weight * s.loss_weights()[1]),
    }


def _as_targets(stats: list[tuple], s: Settings) -> dict:
    if s.style_loss == "meancov":
        return {
            "style": [(g - np.outer(m, m)).astype(np.float32) for m, g in stats],
            "style_mean": [m.astype(np.float32) for m, _ in stats],
        }
    return {"style": [g.astype(np.float32) for _, g in stats], "style_mean": []}


def region_targets(
    net, styles: list[np.ndarray], blend: list[float], s: Settings, per_style: bool
) -> dict:
    """Guided style targets: per layer (R, c, c) (and (R, c) means for meancov), one region
    per style (`per_style`, with masks) or one region of the blended styles (a strength map
    alone); plus the pull's weight."""
    if per_style:
        each = [style_statistics(net, style, s.tile_size or tiles.DEFAULT_TILE) for style in styles]
        parts = [_as_targets(stats, s) for stats in each]
        out = {
            key: [np.stack([p[key][i] for p in parts]) for i in range(len(parts[0][key]))]
            for key in ("style", "style_mean")
        }
    else:
        blended = style_targets(net, styles, blend, s)
        out = {key: [v[None] for v in blended[key]] for key in ("style", "style_mean")}
    return {**out, "pull": np.float32(PULL * s.loss_weights()[1])}


def guides(
    masks: list | None, strength: np.ndarray | None, size: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """(weights (1, h, w, R), keep (1, h, w, 1)) at `size` from masks and a map, each an
    "L" PIL image (resized with area averaging): region r's weight is its mask times the
    strength map, keep is 1 - their sum (at least 0)."""
    from PIL import Image

    def at_size(image) -> np.ndarray:
        if image.size != size:
            shrink = image.width >= size[0] and image.height >= size[1]
            image = image.resize(
                size, Image.Resampling.BOX if shrink else Image.Resampling.BILINEAR
            )
        return np.asarray(image, np.float32) / 255.0

    w, h = size
    regions = [at_size(m) for m in masks] if masks else [np.ones((h, w), np.float32)]
    weights = np.stack(regions, -1)
    if strength is not None:
        weights = weights * at_size(strength)[..., None]
    keep = np.clip(1.0 - weights.sum(-1, keepdims=True), 0.0, 1.0)
    return weights[None], keep[None]


def content_targets(net, content: np.ndarray, s: Settings) -> dict:
    """Content features (from a forward pass that stops at the content layers), the loss
    weights and the content's own variation."""
    features = net.content_forward(content) if s.content_layers else []
    return {
        "content": [np.asarray(f, np.float32) for f in features],
        "weights": np.array(s.loss_weights(), np.float32),
        "tv_ref": np.array(losses.variation(content), np.float32),
    }


def make_targets(
    net, content: np.ndarray, styles: list[np.ndarray], blend: list[float], s: Settings
) -> dict:
    """All targets for an untiled image: content features plus style targets."""
    return {**style_targets(net, styles, blend, s), **content_targets(net, content, s)}
