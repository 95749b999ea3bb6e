"""The style transfer losses, written once in keras.ops for every backend.

Each term is relative to its target's own scale, so the default weights hold across image
sizes and across networks (ImageNet or the random stand-in):

- content: mean squared feature difference / mean squared target feature;
- style "gram": per layer, squared Gram difference / squared target Gram; Grams are divided
  by the number of positions, so they do not grow with image size;
- style "meancov": per layer, the feature means and covariances matched instead (the two
  statistics the Wasserstein-2 distance between Gaussians compares), each term relative;
- total variation: mean squared neighbour difference of the image / that of the content.
Style terms are averaged over layers.

With style masks or a strength map (`regions.py`) the style term is guided (Gatys et al.
2017, "Controlling Perceptual Factors"): per region r, the statistics of the features
weighted by the region's per-pixel weight (its mask times the strength map, area-averaged
to each layer's grid) are matched to style r's, and each region's term counts by the share
of the layer it covers, so one region covering everything is the plain loss. A pixel-space
pull, weighted per pixel by what no region claims (1 - the regions' sum), holds the photo
where the masks leave it or the map is dark. The sums are float32 when the network runs in bfloat16:
Gram products take the bfloat16 features on the matrix units and return float32 (see `gram`);
content, mean and covariance terms cast the features to float32 first.
"""

from __future__ import annotations

from keras import ops

EPS = 1e-8


def moments(features):
    """(sum of features, sum of outer products, positions) of (1, h, w, c) features."""
    f = ops.cast(features, "float32")
    flat = ops.reshape(f, (-1, ops.shape(f)[-1]))
    n = ops.cast(ops.shape(flat)[0], "float32")
    return ops.sum(flat, axis=0), ops.einsum("pi,pj->ij", flat, flat), n


@ops.custom_gradient
def _outer_sum(flat):
    """flat^T flat for (positions, c) features, in their own dtype; its gradient takes one
    product (flat (U + U^T)) where automatic differentiation takes two."""
    out = ops.einsum("pi,pj->ij", flat, flat)

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        return ops.matmul(flat, ops.cast(upstream + ops.transpose(upstream), flat.dtype))

    return out, grad


def gram(features):
    """Gram matrix of (1, h, w, c) features, per position: (c, c), float32.

    The product runs in the features' dtype: with a bfloat16 network, on the bfloat16
    matrix units (accumulating in float32, rounded to bfloat16 once per entry) rather than
    on float32 copies of every feature map.
    """
    flat = ops.reshape(features, (-1, ops.shape(features)[-1]))
    n = ops.cast(ops.shape(flat)[0], "float32")
    return ops.cast(_outer_sum(flat), "float32") / n


def mean_cov(features):
    """Mean (c,) and covariance (c, c) of (1, h, w, c) features over positions."""
    total, outer, n = moments(features)
    mean = total / n
    return mean, outer / n - ops.outer(mean, mean)


def relative(diff, target):
    return ops.sum(ops.square(diff)) / (ops.sum(ops.square(target)) + EPS)


def content_loss(features, target):
    f = ops.cast(features, "float32")
    return ops.mean(ops.square(f - target)) / (ops.mean(ops.square(target)) + EPS)


def style_loss(features, target_gram):
    return relative(gram(features) - target_gram, target_gram)


def meancov_loss(features, target_mean, target_cov):
    mean, cov = mean_cov(features)
    return relative(mean - target_mean, target_mean) + relative(cov - target_cov, target_cov)


@ops.custom_gradient
def variation(image):
    """Mean squared difference between neighbouring pixels of a (1, h, w, 3) 0..255 image.

    Its gradient is written out (differences of padded differences): the automatic one goes
    through strided-slice gradients, six times slower on the CPU.
    """
    image = ops.convert_to_tensor(image, "float32")
    dy = image[:, 1:, :, :] - image[:, :-1, :, :]
    dx = image[:, :, 1:, :] - image[:, :, :-1, :]
    ny, nx = ops.cast(ops.size(dy), "float32"), ops.cast(ops.size(dx), "float32")
    scale = 1.0 / (255.0 * 255.0)
    value = (ops.sum(ops.square(dy)) / ny + ops.sum(ops.square(dx)) / nx) * scale

    def grad(*args, upstream=None):
        upstream = args[0] if upstream is None else upstream
        gy, gx = dy * (2.0 / ny), dx * (2.0 / nx)
        g = (
            ops.pad(gy, ((0, 0), (1, 0), (0, 0), (0, 0)))
            - ops.pad(gy, ((0, 0), (0, 1), (0, 0), (0, 0)))
            + ops.pad(gx, ((0, 0), (0, 0), (1, 0), (0, 0)))
            - ops.pad(gx, ((0, 0), (0, 0), (0, 1), (0, 0)))
        )
        return upstream * scale * g

    return value, grad


def layer_weights(guide, features, stride: int):
    """Per-pixel region weights (1, H, W, R) area-averaged to a layer's (1, h, w) grid, as
    (positions, R): VGG19's pooling halves with "valid" padding, so the grid is H // stride."""
    w = ops.cast(guide, "float32")
    if stride > 1:
        w = ops.average_pool(w, stride, stride, padding="valid")
    shape = ops.shape(features)
    w = w[:, : shape[1], : shape[2], :]
    return ops.reshape(w, (-1, ops.shape(w)[-1]))


def guided_style_loss(features, weights, target, target_mean=None):
    """Sum over regions of share_r * the relative style loss of region r: weighted Gram
    (or weighted mean and covariance when `target_mean` is given) against style r's.

    The weighted Gram is the Gram of the features scaled by sqrt(weight), so it runs like
    `gram`: in the features' dtype, with the one-product gradient of `_outer_sum`.
    """
    flat = ops.reshape(features, (-1, ops.shape(features)[-1]))
    n = ops.cast(ops.shape(flat)[0], "float32")
    loss = ops.convert_to_tensor(0.0)
    for r in range(target.shape[0]):
        w = weights[:, r : r + 1]
        total = ops.sum(w)
        norm = total + EPS
        scaled = flat * ops.cast(ops.sqrt(w), flat.dtype)
        second = ops.cast(_outer_sum(scaled), "float32") / norm
        if target_mean is None:
            term = relative(second - target[r], target[r])
        else:
            mean = ops.sum(ops.cast(flat, "float32") * w, axis=0) / norm
            cov = second - ops.outer(mean, mean)
            term = relative(mean - target_mean[r], target_mean[r]) + relative(
                cov - target[r], target[r]
            )
        loss = loss + (total / n) * term
    return loss


def pull_loss(image, photo, keep):
    """Mean of keep * squared pixel difference from the photo, in 0..1 units."""
    diff = (ops.convert_to_tensor(image, "float32") - photo) / 255.0
    return ops.mean(keep * ops.square(diff)) * 3.0


def total_loss(
    features, image, targets, style_loss_kind: str = "gram", strides: tuple[int, ...] = ()
):
    """Weighted sum and the three terms (content, style, tv) as a (3,) tensor.

    `features`: the content layers' outputs, then the style layers'. `targets` holds
    "content" (features), "style" (Grams, or covariances for meancov), "style_mean"
    (meancov only), "weights" (content, style, tv) and "tv_ref" (the content's variation).
    Guided (regions): "style" holds (R, c, c) per layer, "style_mean" (R, c), and "guide"
    (1, H, W, R) the regions' pixel weights, "keep" (1, H, W, 1), "photo" the image to hold
    where keep is high, "pull" its weight; `strides` are the style layers' (1, 2, 4, ...).
    The pull is added to the total. A video frame (temporal) adds "hold", the previous frame's
    result warped onto this one, "hold_keep" (1, H, W, 1) where that warp is reliable, and
    "hold_weight": the same kind of pull towards it (Ruder et al. 2016's temporal loss).
    """
    n_content = len(targets["content"])
    content = ops.convert_to_tensor(0.0)
    for f, t in zip(features[:n_content], targets["content"]):
        content = content + content_loss(f, t)
    if n_content:
        content = content / n_content
    style = ops.convert_to_tensor(0.0)
    style_features = features[n_content:]
    guided = "guide" in targets
    for i, (f, t) in enumerate(zip(style_features, targets["style"])):
        if guided:
            weights = layer_weights(targets["guide"], f, strides[i])
            mean = targets["style_mean"][i] if style_loss_kind == "meancov" else None
            style = style + guided_style_loss(f, weights, t, mean)
        elif style_loss_kind == "meancov":
            style = style + meancov_loss(f, targets["style_mean"][i], t)
        else:
            style = style + style_loss(f, t)
    if style_features:
        style = style / len(style_features)
    tv = variation(image) / (targets["tv_ref"] + 1e-4)
    terms = ops.stack([content, style, tv])
    total = ops.sum(terms * targets["weights"])
    if guided:  # the photo held where no region claims the pixel (not among the terms)
        total = total + pull_loss(image, targets["photo"], targets["keep"]) * targets["pull"]
    if "hold" in targets:  # a video frame: keep the previous frame's strokes where they moved to
        total = (
            total + pull_loss(image, targets["hold"], targets["hold_keep"]) * targets["hold_weight"]
        )
    return total, terms
