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
        stats = [(weight * m, weight * g) for m, g in style_statistics(net, style, s.tile_size)]
        mixed = stats if mixed is None else [(a + c, b + d) for (a, b), (c, d) in zip(mixed, stats)]
    mixed = mixed or []
    if s.style_loss == "meancov":
        return {
            "style": [(g - np.outer(m, m)).astype(np.float32) for m, g in mixed],
            "style_mean": [m.astype(np.float32) for m, _ in mixed],
        }
    return {"style": [g.astype(np.float32) for _, g in mixed], "style_mean": []}


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
