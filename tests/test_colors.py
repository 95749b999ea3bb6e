"""Colour control (Gatys et al. CVPR 2017, section 5) on real numpy arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_plugin.vgg19.colors import (
    from_yiq,
    luminance,
    luminance_only,
    match_colors,
    restore_colors,
    to_yiq,
)

EXAMPLES = Path(__file__).resolve().parent.parent / "nst_plugin" / "examples"


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def colored(rng, h, w, mean, mix) -> np.ndarray:
    """Pixels with correlated channels: mean + mix @ z, z standard normal; float32."""
    z = rng.normal(size=(h, w, 3))
    return (np.asarray(mean, float) + z @ np.asarray(mix, float).T).astype(np.float32)


def stats(rgb) -> tuple[np.ndarray, np.ndarray]:
    px = np.asarray(rgb, np.float64).reshape(-1, 3)
    return px.mean(axis=0), np.cov(px, rowvar=False, bias=True)


def painting(name: str, size: int = 128) -> np.ndarray:
    img = Image.open(EXAMPLES / name).convert("RGB")
    img.thumbnail((size, size))
    return np.asarray(img, dtype=np.float32)


@pytest.fixture
def content(rng):
    return colored(rng, 40, 60, [120, 110, 90], [[22, 5, 0], [8, 18, 3], [2, 6, 15]])


@pytest.fixture
def style(rng):
    return colored(rng, 50, 30, [90, 140, 160], [[10, -4, 2], [-3, 25, 6], [0, 9, 20]])


# YIQ


@pytest.mark.parametrize("shape", [(7, 5, 3), (1, 4, 6, 3)])
def test_yiq_round_trip(rng, shape):
    rgb = rng.uniform(0, 255, shape).astype(np.float32)
    yiq = to_yiq(rgb)
    assert yiq.shape == shape and yiq.dtype == np.float32
    np.testing.assert_allclose(from_yiq(yiq), rgb, atol=1e-3)
    np.testing.assert_allclose(to_yiq(from_yiq(yiq)), yiq, atol=1e-3)


def test_luminance_is_y_and_gray_has_no_chroma(rng):
    rgb = rng.uniform(0, 255, (6, 4, 3)).astype(np.float32)
    lum = luminance(rgb)
    assert lum.shape == (6, 4)
    np.testing.assert_allclose(lum, rgb @ np.array([0.299, 0.587, 0.114]), atol=1e-3)
    np.testing.assert_allclose(lum, to_yiq(rgb)[..., 0], atol=1e-4)
    gray = np.repeat(rng.uniform(0, 255, (6, 4, 1)), 3, axis=-1)
    np.testing.assert_allclose(to_yiq(gray)[..., 1:], 0, atol=1e-4)
    np.testing.assert_allclose(luminance(gray), gray[..., 0], atol=1e-3)


# Colour histogram matching


def test_match_colors_gives_style_the_content_statistics(content, style):
    out = match_colors(style, content)
    assert out.shape == style.shape and out.dtype == np.float32
    assert out.min() > 0 and out.max() < 255  # nothing clipped: the statistics are exact
    mu, cov = stats(out)
    mu_c, cov_c = stats(content)
    np.testing.assert_allclose(mu, mu_c, atol=1e-3)
    np.testing.assert_allclose(cov, cov_c, rtol=1e-5, atol=1e-3)


def test_match_colors_is_symmetric_square_root_solution(content, style):
    """Pixels map linearly, x' = A x + b, with A = C_c^1/2 C_s^-1/2 (eps-regularised)."""
    out = match_colors(style, content).reshape(-1, 3).astype(np.float64)
    x = np.c_[style.reshape(-1, 3), np.ones(style.size // 3)].astype(np.float64)
    fit = np.linalg.lstsq(x, out, rcond=None)[0]
    a = fit[:3].T
    (_, cov_s), (_, cov_c) = stats(style), stats(content)

    def sqrtm(c):
        w, v = np.linalg.eigh(c + 1e-5 * np.eye(3))
        return v @ np.diag(np.sqrt(w)) @ v.T

    np.testing.assert_allclose(a, sqrtm(cov_c) @ np.linalg.inv(sqrtm(cov_s)), atol=1e-4)


def test_match_colors_leaves_a_matching_style_unchanged(rng, content):
    mu_c, cov_c = stats(content)
    z = rng.normal(size=(2000, 3))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False, bias=True))).T  # white
    style = (z @ np.linalg.cholesky(cov_c).T + mu_c).reshape(40, 50, 3).astype(np.float32)
    np.testing.assert_allclose(match_colors(style, content), style, atol=1e-2)
    np.testing.assert_allclose(match_colors(content, content), content, atol=1e-2)


def test_match_colors_on_the_bundled_paintings():
    wave, starry = painting("wave.jpg"), painting("starry_night.jpg")
    out = match_colors(starry, wave)
    assert out.shape == starry.shape and np.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 255
    (mu, cov), (mu_c, cov_c), (mu_s, cov_s) = stats(out), stats(wave), stats(starry)
    # The means start 67 apart and the covariances 51 % (of the largest entry). Clipping to
    # 0..255 (about 8 % of these pixels) leaves the match approximate, not exact.
    assert np.abs(mu - mu_c).max() < 3.0 < 60 < np.abs(mu_s - mu_c).max()
    assert np.abs(cov - cov_c).max() < 0.2 * np.abs(cov_c).max()
    assert np.abs(cov - cov_c).max() < 0.3 * np.abs(cov_s - cov_c).max()


# Luminance-only transfer


def test_luminance_only_gives_gray_images_with_matched_style(content, style):
    content_gray, style_gray = luminance_only(content, style)
    assert content_gray.shape == content.shape and style_gray.shape == style.shape
    for gray in (content_gray, style_gray):
        assert gray.dtype == np.float32
        np.testing.assert_array_equal(gray[..., 0], gray[..., 1])
        np.testing.assert_array_equal(gray[..., 0], gray[..., 2])
    np.testing.assert_allclose(content_gray[..., 0], luminance(content), atol=1e-3)
    lum_c, lum_s = luminance(content).astype(np.float64), style_gray[..., 0].astype(np.float64)
    np.testing.assert_allclose(lum_s.mean(), lum_c.mean(), atol=1e-3)
    np.testing.assert_allclose(lum_s.std(), lum_c.std(), rtol=1e-4)
    # An affine map of the style's own luminance: perfectly correlated with it.
    assert np.corrcoef(lum_s.ravel(), luminance(style).ravel())[0, 1] > 0.9999


# Restoring the content's colours


def test_restore_colors_takes_y_from_stylized_and_iq_from_content(rng, content):
    stylized = colored(rng, 40, 60, [128, 128, 128], [[20, 4, 4], [4, 20, 4], [4, 4, 20]])
    out = restore_colors(stylized, content)
    assert out.shape == content.shape and out.dtype == np.float32
    assert out.min() >= 0 and out.max() <= 255
    inside = ((out > 0) & (out < 255)).all(axis=-1)
    assert inside.mean() > 0.95
    yiq, yiq_c = to_yiq(out)[inside], to_yiq(content)[inside]
    np.testing.assert_allclose(yiq[:, 1:], yiq_c[:, 1:], atol=1e-3)
    np.testing.assert_allclose(yiq[:, 0], luminance(stylized)[inside], atol=1e-3)


def test_restore_colors_with_gray_content_is_gray(rng, style):
    content = np.repeat(rng.uniform(0, 255, (*style.shape[:2], 1)), 3, axis=-1)
    out = restore_colors(style, content.astype(np.float32))
    np.testing.assert_allclose(out[..., 1], out[..., 0], atol=1e-3)
    np.testing.assert_allclose(out[..., 2], out[..., 0], atol=1e-3)
    np.testing.assert_allclose(out[..., 0], luminance(style), atol=1e-3)


def test_restore_colors_needs_matching_shapes(content, style):
    with pytest.raises(ValueError, match="must match"):
        restore_colors(style, content)


# Edge cases


def flat(shape, color) -> np.ndarray:
    return np.broadcast_to(np.asarray(color, np.float32), shape).copy()


def test_constant_style_becomes_the_content_mean(content):
    out = match_colors(flat((10, 12, 3), [200, 30, 70]), content)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, np.broadcast_to(stats(content)[0], out.shape), atol=1e-3)


def test_constant_content_gives_its_colour(style):
    out = match_colors(style, flat((8, 8, 3), [40, 90, 160]))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, flat(style.shape, [40, 90, 160]), atol=0.1)


@pytest.mark.parametrize("which", ["style", "content", "both", "black"])
def test_flat_images_stay_finite(content, style, which):
    if which in ("style", "both"):
        style = flat(style.shape, [120, 120, 120])
    if which in ("content", "both"):
        content = flat(content.shape, [10, 200, 90])
    if which == "black":
        content, style = flat(content.shape, 0), flat(style.shape, 0)
    results = [
        match_colors(style, content),
        *luminance_only(content, style),
        restore_colors(style, flat(style.shape, content.reshape(-1, 3)[0])),
    ]
    for out in results:
        assert np.isfinite(out).all()
        assert out.dtype == np.float32


def test_bad_shapes_are_rejected(content):
    with pytest.raises(ValueError, match="RGB"):
        match_colors(content[..., :2], content)
    with pytest.raises(ValueError, match="RGB"):
        to_yiq(np.zeros((4, 4)))
