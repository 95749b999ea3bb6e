"""The VGG19 engine end to end through nst_plugin.stylize, on the random stand-in network."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nst_plugin
from nst_plugin import Cancelled, Reporter
from nst_plugin.vgg19 import load_engine

try:
    from weightfiles import write_vgg19_h5
except ImportError:
    from tests.weightfiles import write_vgg19_h5

FAST = dict(size=48, weights="random")


def pixels(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.int16)


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_loss_goes_down(images, optimizer):
    r = nst_plugin.stylize(
        images["content"], images["style"], iterations=8, optimizer=optimizer, **FAST
    )
    assert len(r.losses) == 9
    assert r.loss_end < 0.7 * r.loss_start
    transfer = load_engine()  # the backend is KERAS_BACKEND's; tests run on both
    assert (r.backend, r.device, r.engine) == (
        transfer.backend_module().NAME,
        transfer.backend_module().device(),
        "vgg19",
    )


def test_output_keeps_aspect_ratio(images):
    src = Image.open(images["content"])
    r = nst_plugin.stylize(images["content"], images["style"], iterations=1, **FAST)
    assert max(r.image.size) == 48
    assert r.width / r.height == pytest.approx(src.width / src.height, rel=0.05)


def test_same_seed_same_image(images):
    runs = [
        nst_plugin.stylize(
            images["content"], images["style"], iterations=4, init="noise", seed=7, **FAST
        )
        for _ in range(2)
    ]
    other = nst_plugin.stylize(
        images["content"], images["style"], iterations=4, init="noise", seed=8, **FAST
    )
    assert np.array_equal(pixels(runs[0]), pixels(runs[1]))
    assert not np.array_equal(pixels(runs[0]), pixels(other))


def test_weights_file_gives_the_same_network_as_random(images, tmp_path):
    """An .h5 in Keras's layout loads by layer name: written from the stand-in, it behaves alike."""
    path = write_vgg19_h5(
        tmp_path / "vgg19.h5",
        seed=0,
        layers=[
            f"block{b}_conv{i}"
            for b, n in ((1, 2), (2, 2), (3, 4), (4, 4), (5, 1))
            for i in range(1, n + 1)
        ],
    )
    a = nst_plugin.stylize(
        images["content"], images["style"], iterations=3, size=48, weights=str(path)
    )
    b = nst_plugin.stylize(images["content"], images["style"], iterations=3, **FAST)
    assert a.losses == pytest.approx(b.losses, rel=1e-5)


def test_pooling_changes_the_result(images):
    mx = nst_plugin.stylize(images["content"], images["style"], iterations=3, **FAST)
    avg = nst_plugin.stylize(
        images["content"], images["style"], iterations=3, pooling="avg", **FAST
    )
    assert mx.losses[0] != pytest.approx(avg.losses[0], rel=1e-3)


def test_progress_after_every_iteration(images, register):
    seen = []

    class Listener:
        @nst_plugin.hookimpl
        def nst_progress(self, event):
            seen.append(event)

    register(Listener())
    nst_plugin.stylize(images["content"], images["style"], iterations=5, **FAST)
    steps = [e.step for e in seen if e.stage == "optimizing"]
    assert steps == [0, 1, 2, 3, 4, 5]  # 0: the stage starts
    last = [e for e in seen if e.stage == "optimizing"][-1]
    assert last.loss is not None and last.eta == pytest.approx(0.0) and last.total == 5
    assert seen[-1].stage == "done"
    assert len({e.job_id for e in seen}) == 1


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_cancel_within_one_iteration(images, optimizer):
    reporter = Reporter()
    steps = []

    def on_event(event):
        if event.stage == "optimizing":
            steps.append(event.step)
            if event.step == 2:
                reporter.cancel()

    reporter.listeners.append(on_event)
    with pytest.raises(Cancelled):
        nst_plugin.stylize(
            images["content"],
            images["style"],
            iterations=50,
            optimizer=optimizer,
            reporter=reporter,
            **FAST,
        )
    assert max(steps) == 2


def test_several_styles_blend(images, tmp_path):
    flipped = tmp_path / "flipped.png"
    Image.open(images["style"]).transpose(Image.Transpose.ROTATE_90).save(flipped)
    one = nst_plugin.stylize(images["content"], images["style"], iterations=3, seed=1, **FAST)
    blend = nst_plugin.stylize(
        images["content"],
        [images["style"], flipped],
        iterations=3,
        style_blend=(1, 0),
        seed=1,
        **FAST,
    )
    both = nst_plugin.stylize(
        images["content"], [images["style"], flipped], iterations=3, seed=1, **FAST
    )
    assert blend.losses == pytest.approx(one.losses, rel=1e-5)
    assert both.losses[0] != pytest.approx(one.losses[0], rel=1e-3)


def test_alpha_is_kept(images, tmp_path):
    rgba = Image.open(images["content"]).convert("RGBA")
    alpha = Image.linear_gradient("L").resize(rgba.size)
    rgba.putalpha(alpha)
    src = tmp_path / "with_alpha.png"
    rgba.save(src)
    out = tmp_path / "out.png"
    r = nst_plugin.stylize(src, images["style"], out, iterations=1, **FAST)
    saved = Image.open(out)
    assert saved.mode == "RGBA" and r.output == str(out)
    want = np.asarray(alpha.resize(saved.size, Image.Resampling.LANCZOS), dtype=np.int16)
    assert np.abs(np.asarray(saved.getchannel("A"), dtype=np.int16) - want).max() <= 1


def test_pil_images_accepted(images):
    content = Image.open(images["content"])
    r = nst_plugin.stylize(content, Image.open(images["style"]), iterations=1, **FAST)
    assert r.output is None and r.image.mode == "RGB"


def test_bad_settings_fail_before_work(images):
    with pytest.raises(nst_plugin.RequestError, match="optimizer"):
        nst_plugin.stylize(images["content"], images["style"], optimizer="sgd", **FAST)
    with pytest.raises(nst_plugin.RequestError, match="style-blend"):
        nst_plugin.stylize(images["content"], images["style"], style_blend=(1, 1), **FAST)
    with pytest.raises(nst_plugin.RequestError, match="layer"):
        nst_plugin.stylize(images["content"], images["style"], content_layers=("relu9_9",), **FAST)


def test_a_real_photo_from_the_shared_folder(tmp_path):
    """A full-size JPEG photo (not shipped: its licence is unknown) through the whole path."""
    from conftest import SHARED_IMAGES

    photo, painting = SHARED_IMAGES / "tubingen.jpg", SHARED_IMAGES / "shipwreck.jpg"
    if not photo.exists():
        pytest.skip(f"{photo} is not here (the shared image folder sits beside the repository)")
    out = tmp_path / "tubingen.png"
    r = nst_plugin.stylize(photo, painting, out, iterations=3, **FAST)
    src = Image.open(photo)
    assert Image.open(out).size == r.image.size and max(r.image.size) == 48
    assert r.width / r.height == pytest.approx(src.width / src.height, rel=0.05)
    assert r.loss_end < r.loss_start


# --------------------------------------------------------------- the optimizers on the device


def quadratic_problem(optimizer: str, target: np.ndarray):
    """A stand-in network (the identity) and loss mean((x - target)^2): what `optimize.run`
    needs, compiled by the active backend like the real engine's steps."""
    import types

    import keras
    from keras import ops

    from nst_plugin.vgg19 import solvers

    backend = load_engine().backend_module()
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Identity()])

    def loss_fn(features, image, targets):
        total = ops.mean(ops.square(features[0] - targets["t"]))
        return total, ops.stack([total, total, total])

    fn = solvers.adam_step if optimizer == "adam" else solvers.lbfgs_step
    step = backend.compile(model, loss_fn, fn)
    return types.SimpleNamespace(step=lambda kind: step, backend=backend), {"t": target}


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_pixels_stay_within_bounds(optimizer):
    """The unconstrained minimum lies outside 0..255 for most pixels: the iterates stay
    inside, and L-BFGS ends on the constrained minimum."""
    from nst_plugin import Settings
    from nst_plugin.vgg19 import optimize

    rng = np.random.default_rng(0)
    target = rng.uniform(-200, 455, (1, 8, 12, 3)).astype(np.float32)
    net, targets = quadratic_problem(optimizer, target)
    seen = []

    def on_iteration(k, loss, image):
        seen.append(image())
        return False

    settings = Settings(optimizer=optimizer, learning_rate=20.0, average=0.0)
    x, losses = optimize.run(net, settings, targets, np.full_like(target, 128.0), 40, on_iteration)
    for image in [*seen, x]:
        assert image.min() >= 0.0 and image.max() <= 255.0
    assert losses[-1] < 0.5 * losses[0]
    if optimizer == "lbfgs":
        np.testing.assert_allclose(x, np.clip(target, 0, 255), atol=0.5)


def test_device_lbfgs_does_as_well_as_scipy(images):
    """On the real loss (random network, 40 px, float32), within 10 % of scipy's L-BFGS-B
    after the same number of iterations (2 % measured), about one evaluation per iteration."""
    from PIL import Image
    from scipy.optimize import Bounds, minimize

    from nst_plugin import Settings
    from nst_plugin.vgg19 import optimize
    from nst_plugin.vgg19.targets import make_targets

    transfer = load_engine()
    s = Settings(weights="random", precision="float32")
    net = transfer.get_network(s)
    content = transfer.to_array(Image.open(images["content"]).convert("RGB"), (40, 24))
    style = transfer.to_array(Image.open(images["style"]).convert("RGB"), (40, 24))
    targets = make_targets(net, content, [style], [1.0], s)
    n = 30  # early iterations are chaotic: either can lead by 10 % at 15
    before = optimize.evaluations
    _, device = optimize.run(net, s, targets, content, n, lambda *a: False)
    evaluations = optimize.evaluations - before

    scale = float(np.sqrt(content.size))  # as the engine's scipy path scaled its variables
    scipy_losses = []

    def value(flat):
        total, _, grad = net.value_and_grad((flat * scale).reshape(content.shape), targets)
        return total, grad.ravel().astype(np.float64) * scale

    def callback(intermediate_result):
        scipy_losses.append(intermediate_result.fun)

    minimize(
        value,
        content.ravel().astype(np.float64) / scale,
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(0, 255 / scale),
        callback=callback,
        options={"maxiter": n, "ftol": 0, "gtol": 0},
    )
    assert len(device) == n + 1 and device[-1] < 0.5 * device[0]
    assert len(scipy_losses) == n and device[-1] <= 1.1 * scipy_losses[-1], (device, scipy_losses)
    assert evaluations <= 1.3 * n + 1


def test_the_memory_gives_the_two_loop_direction():
    """The recursion on dot products equals the textbook two-loop recursion on vectors."""
    from nst_plugin.vgg19 import solvers

    rng = np.random.default_rng(2)
    m, shape = 4, (1, 3, 5, 3)
    s = rng.normal(size=(m, *shape[1:]))
    y = s + 0.3 * rng.normal(size=s.shape)  # positive curvature: s . y > 0
    g = rng.normal(size=shape)
    valid = np.array([0, 1, 1, 1], np.float64)  # the oldest slot is empty
    flat_s, flat_y, flat_g = s.reshape(m, -1), y.reshape(m, -1), g.ravel()
    gamma = flat_s[-1] @ flat_y[-1] / (flat_y[-1] @ flat_y[-1])
    q, alphas = flat_g.copy(), {}
    for i in reversed(range(1, m)):
        alphas[i] = (flat_s[i] @ q) / (flat_s[i] @ flat_y[i])
        q -= alphas[i] * flat_y[i]
    r = gamma * q
    for i in range(1, m):
        r += flat_s[i] * (alphas[i] - (flat_y[i] @ r) / (flat_s[i] @ flat_y[i]))
    f32 = lambda a: np.asarray(a, np.float32)  # noqa: E731
    d = solvers._direction(
        f32(g),
        f32(s),
        f32(y),
        f32(flat_s @ flat_y.T),
        f32(flat_y @ flat_y.T),
        f32(valid),
        f32(flat_s @ flat_g),
        f32(flat_y @ flat_g),
        f32(gamma),
    )
    np.testing.assert_allclose(np.asarray(d).ravel(), -r, rtol=1e-3, atol=1e-4)


def test_result_says_which_precision_ran(images):
    transfer = load_engine()
    auto = nst_plugin.stylize(images["content"], images["style"], iterations=1, **FAST)
    want = "mixed" if transfer.backend_module().native_bfloat16() else "float32"
    assert auto.precision == want and auto.to_dict()["precision"] == want
    plain = nst_plugin.stylize(
        images["content"], images["style"], iterations=1, precision="float32", **FAST
    )
    assert plain.precision == "float32"
