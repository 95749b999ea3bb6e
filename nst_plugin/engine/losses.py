"""The style transfer losses, written once in keras.ops for every backend.

Each term is relative to its target's own scale, so the default weights hold across image
sizes and across networks (ImageNet or the random stand-in):

- content: mean squared feature difference / mean squared target feature;
- style: per layer, squared Gram difference / squared target Gram, averaged over layers;
  Grams are divided by the number of positions, so they do not grow with image size;
- total variation: mean squared neighbour difference of the image / that of the content.
"""

from __future__ import annotations

from keras import ops

EPS = 1e-8


def gram(features):
    """Gram matrix of (1, h, w, c) features, per position: (c, c)."""
    c = ops.shape(features)[-1]
    flat = ops.reshape(features, (-1, c))
    n = ops.cast(ops.shape(flat)[0], features.dtype)
    return ops.einsum("pi,pj->ij", flat, flat) / n  # no transposed copy of the features


def content_loss(features, target):
    return ops.mean(ops.square(features - target)) / (ops.mean(ops.square(target)) + EPS)


def style_loss(features, target_gram):
    diff = gram(features) - target_gram
    return ops.sum(ops.square(diff)) / (ops.sum(ops.square(target_gram)) + EPS)


def variation(image):
    """Mean squared difference between neighbouring pixels of a (1, h, w, 3) 0..255 image."""
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    return (ops.mean(ops.square(dy)) + ops.mean(ops.square(dx))) / (255.0 * 255.0)


def total_loss(features, image, targets):
    """Weighted sum and the three terms (content, style, tv) as a (3,) tensor.

    `features` are the network outputs in the order `targets["layers"]` gives: the first
    `targets["n_content"]` are content layers, the rest style layers.
    `targets` holds "content" (feature tensors), "style" (Gram tensors), "weights"
    (content, style, tv weights as a (3,) tensor) and "tv_ref" (the content's variation).
    """
    n_content = len(targets["content"])
    content = ops.convert_to_tensor(0.0)
    for f, t in zip(features[:n_content], targets["content"]):
        content = content + content_loss(f, t)
    if n_content:
        content = content / n_content
    style = ops.convert_to_tensor(0.0)
    style_features = features[n_content:]
    for f, t in zip(style_features, targets["style"]):
        style = style + style_loss(f, t)
    if style_features:
        style = style / len(style_features)
    tv = variation(image) / (targets["tv_ref"] + 1e-4)
    terms = ops.stack([content, style, tv])
    return ops.sum(terms * targets["weights"]), terms
