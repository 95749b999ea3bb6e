"""Colour control (Gatys, Bethge, Hertzmann, Shechtman, CVPR 2017, section 5), in numpy.

Two ways to keep the content's colours:

- colour histogram matching: recolour the style image so its RGB mean and covariance equal
  the content's (`match_colors`), then run the transfer as usual;
- luminance-only transfer: stylize the luminance channels only (`luminance_only`), then put
  the content's colour back (`restore_colors`, also usable as a post-process of any run).

Images are float RGB arrays shaped (h, w, 3) in 0..255; any (..., 3) shape works as well.
"""

from __future__ import annotations

import numpy as np

# RGB -> YIQ (NTSC). The I and Q rows sum to zero, so gray pixels have I = Q = 0.
_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ]
)
_RGB = np.linalg.inv(_YIQ)


def _check(x: np.ndarray, name: str) -> np.ndarray:
    x = np.asarray(x)
    if x.ndim < 1 or x.shape[-1] != 3:
        raise ValueError(f"{name} must be RGB shaped (h, w, 3), got {x.shape}")
    return x


def to_yiq(rgb: np.ndarray) -> np.ndarray:
    """RGB -> YIQ, same shape, float32."""
    return (_check(rgb, "rgb").astype(np.float64) @ _YIQ.T).astype(np.float32)


def from_yiq(yiq: np.ndarray) -> np.ndarray:
    """YIQ -> RGB, the exact inverse of `to_yiq` (not clipped), float32."""
    return (_check(yiq, "yiq").astype(np.float64) @ _RGB.T).astype(np.float32)


def luminance(rgb: np.ndarray) -> np.ndarray:
    """The Y of YIQ, shaped (h, w): 0.299 R + 0.587 G + 0.114 B."""
    return (_check(rgb, "rgb").astype(np.float64) @ _YIQ[0]).astype(np.float32)


def _sqrtm(cov: np.ndarray, power: float) -> np.ndarray:
    """cov ** power (power = +-1/2) of a symmetric positive definite matrix, via eigh."""
    w, v = np.linalg.eigh(cov)
    return (v * np.maximum(w, np.finfo(np.float64).tiny) ** power) @ v.T


def _stats(rgb: np.ndarray, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and the eps-regularised 3x3 covariance of the pixels."""
    px = rgb.reshape(-1, 3).astype(np.float64)
    mu = px.mean(axis=0)
    d = px - mu
    return mu, d.T @ d / len(px) + eps * np.eye(3)


def match_colors(style: np.ndarray, content: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Recolour `style` so its RGB mean and covariance equal `content`'s (section 5.2).

    Every style pixel x becomes A (x - mu_s) + mu_c with the symmetric solution
    A = C_c^{1/2} C_s^{-1/2}; covariances get eps * I so flat images stay finite.
    The images may differ in size. Returns float32 shaped like `style`, clipped to 0..255.
    """
    style, content = _check(style, "style"), _check(content, "content")
    mu_s, cov_s = _stats(style, eps)
    mu_c, cov_c = _stats(content, eps)
    a = _sqrtm(cov_c, 0.5) @ _sqrtm(cov_s, -0.5)
    out = (style.reshape(-1, 3).astype(np.float64) - mu_s) @ a.T + mu_c
    return np.clip(out, 0, 255).astype(np.float32).reshape(style.shape)


def _gray(lum: np.ndarray) -> np.ndarray:
    return np.repeat(lum[..., None], 3, axis=-1).astype(np.float32)


def luminance_only(
    content: np.ndarray, style: np.ndarray, eps: float = 1e-5
) -> tuple[np.ndarray, np.ndarray]:
    """Gray inputs for luminance-only transfer (section 5.1): (content_gray, style_gray).

    Each is its luminance replicated in three channels, float32. The style luminance is
    matched to the content's: L_s' = sigma_c / sigma_s (L_s - mu_s) + mu_c (sigma_s
    regularised by eps). It is not clipped, so its mean and deviation are exact.
    """
    lc = luminance(_check(content, "content")).astype(np.float64)
    ls = luminance(_check(style, "style")).astype(np.float64)
    sigma_s = np.sqrt(ls.var() + eps)
    ls = lc.std() / sigma_s * (ls - ls.mean()) + lc.mean()
    return _gray(lc), _gray(ls)


def restore_colors(stylized: np.ndarray, content: np.ndarray) -> np.ndarray:
    """The stylized image's luminance (Y) with the content's colour (I, Q), clipped to 0..255.

    `content` must already have `stylized`'s shape (the caller resizes it).
    """
    stylized, content = _check(stylized, "stylized"), _check(content, "content")
    if stylized.shape != content.shape:
        raise ValueError(f"content {content.shape} must match stylized {stylized.shape}")
    yiq = to_yiq(content)
    yiq[..., 0] = luminance(stylized)
    return np.clip(from_yiq(yiq), 0, 255)
