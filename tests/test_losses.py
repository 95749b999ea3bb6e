"""The loss terms against a numpy reference, and the image gradient against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from nst_plugin.vgg19 import load_engine

transfer = load_engine()
from nst_plugin.vgg19 import losses, targets  # noqa: E402  (after the quiet engine import)


def np_gram(f):
    flat = f.reshape(-1, f.shape[-1]).astype(np.float64)
    return flat.T @ flat / flat.shape[0]


@pytest.fixture
def rng():
    return np.random.default_rng(0)


def test_gram_matches_numpy(rng):
    f = rng.normal(size=(1, 5, 7, 4)).astype(np.float32)
    np.testing.assert_allclose(np.asarray(losses.gram(f)), np_gram(f), rtol=1e-5)


def test_gram_does_not_grow_with_image_size(rng):
    small = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    tiled = np.tile(small, (1, 3, 3, 1))  # same statistics, nine times the positions
    np.testing.assert_allclose(
        np.asarray(losses.gram(tiled)), np.asarray(losses.gram(small)), rtol=1e-5
    )


def test_content_and_style_losses_match_numpy(rng):
    f = rng.normal(size=(1, 6, 6, 8)).astype(np.float32)
    t = rng.normal(size=(1, 6, 6, 8)).astype(np.float32)
    want = np.mean((f - t) ** 2) / np.mean(t**2)
    assert float(losses.content_loss(f, t)) == pytest.approx(want, rel=1e-5)
    a = np_gram(t)
    want = np.sum((np_gram(f) - a) ** 2) / np.sum(a**2)
    assert float(losses.style_loss(f, a.astype(np.float32))) == pytest.approx(want, rel=1e-4)
    assert float(losses.style_loss(t, a.astype(np.float32))) == pytest.approx(0.0, abs=1e-6)


def test_variation_matches_numpy(rng):
    x = rng.uniform(0, 255, size=(1, 9, 11, 3)).astype(np.float32)
    want = (np.mean(np.diff(x, axis=1) ** 2) + np.mean(np.diff(x, axis=2) ** 2)) / 255.0**2
    assert float(losses.variation(x)) == pytest.approx(want, rel=1e-5)


def test_losses_are_scale_free(rng):
    """Scaling every feature (a network with bigger activations) leaves each term unchanged."""
    f = rng.normal(size=(1, 6, 6, 8)).astype(np.float32)
    t = rng.normal(size=(1, 6, 6, 8)).astype(np.float32)
    for k in (0.1, 100.0):
        assert float(losses.content_loss(k * f, k * t)) == pytest.approx(
            float(losses.content_loss(f, t)), rel=1e-3
        )
        a, ka = np_gram(t).astype(np.float32), np_gram(k * t).astype(np.float32)
        assert float(losses.style_loss(k * f, ka)) == pytest.approx(
            float(losses.style_loss(f, a)), rel=1e-3
        )


def test_image_gradient_matches_finite_differences(images):
    """The backend's gradient of the full loss, along random directions, at 32 px."""
    from PIL import Image

    from nst_plugin import Settings

    s = Settings(size=32, weights="random", tv_weight=1.0, precision="float32")
    net = transfer.get_network(s)
    content = transfer.to_array(Image.open(images["content"]).convert("RGB"), (32, 20))
    style = transfer.to_array(Image.open(images["style"]).convert("RGB"), (32, 20))
    goal = targets.make_targets(net, content, [style], [1.0], s)
    rng = np.random.default_rng(1)
    x = np.clip(content + rng.normal(0, 20, content.shape), 0, 255).astype(np.float32)
    _, _, grad = net.value_and_grad(x, goal)
    for _ in range(3):
        d = rng.normal(size=x.shape).astype(np.float32)
        d /= np.linalg.norm(d)
        h = 2.0  # pixel units: large enough for float32, small against the 0..255 range
        up = net.value_and_grad(x + h * d, goal)[0]
        down = net.value_and_grad(x - h * d, goal)[0]
        numeric = (up - down) / (2 * h)
        analytic = float(np.sum(grad * d))
        assert analytic == pytest.approx(numeric, rel=0.03, abs=1e-6)
