"""The device L-BFGS call by call: one loss evaluation per call, the line search's trials
spread over calls, the host loop's bound. Runs on the active Keras backend; test_backends.py
runs this file on JAX too (where one test looks into the compiled program)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from nst_plugin.vgg19 import load_engine

SHAPE = (1, 6, 8, 3)


def compiled_step(loss_fn, optimizer: str = "lbfgs"):
    """The active backend's compiled step around an identity "network" and `loss_fn(image,
    target) -> total`, as the engine compiles its own."""
    import keras
    from keras import ops

    from nst_plugin.vgg19 import solvers

    backend = load_engine().backend_module()
    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Identity()])

    def loss(features, image, targets):
        total = loss_fn(features[0], targets["t"])
        return total, ops.stack([total, total, total])

    fn = solvers.adam_step if optimizer == "adam" else solvers.lbfgs_step
    return backend.compile(model, loss, fn), backend


def squared(x, target):
    from keras import ops

    return ops.mean(ops.square(x - target))


def uphill(x, target):
    """mean((x - target)^2) with its gradient reversed: every step along -g climbs."""
    from keras import ops

    value = squared(x, target)
    return 2.0 * ops.stop_gradient(value) - value


def report(state) -> tuple[float, float, float]:
    loss, evaluations, pending = np.asarray(state["report"], np.float64)
    return loss, evaluations, pending


def test_a_rejected_trial_is_retried_on_the_next_call():
    """The first step moves every pixel by about one grey level; with the minimum 0.1 away it
    overshoots, so that call stays where it was and leaves the iteration open; the next call
    tries the interpolated step, which lands on the minimum and closes it."""
    from nst_plugin.vgg19 import solvers

    x0 = np.full(SHAPE, 128.0, np.float32)
    step, backend = compiled_step(squared)
    targets = backend.to_device({"t": x0 + 0.1})
    state = step(solvers.lbfgs_state(x0), targets)
    f0, evaluations, pending = report(state)
    assert f0 == pytest.approx(0.01, rel=1e-3) and (evaluations, pending) == (1, 0)

    state = step(state, targets)  # steepest descent, one grey level: 0.81 > 0.01
    assert report(state) == pytest.approx((f0, 1, 1))
    np.testing.assert_array_equal(np.asarray(state["x"]), x0)

    state = step(state, targets)  # the quadratic's exact minimum along the line
    f2, evaluations, pending = report(state)
    assert (evaluations, pending) == (1, 0) and f2 < 1e-3 * f0
    np.testing.assert_allclose(np.asarray(state["x"]), x0 + 0.1, atol=1e-3)


def test_a_line_search_that_finds_nothing_stays_put():
    """Every trial climbs: each iteration spends its `TRIES` evaluations (no more) and keeps
    the image and the loss."""
    from nst_plugin import Settings
    from nst_plugin.vgg19 import optimize, solvers

    x0 = np.random.default_rng(1).uniform(50, 200, SHAPE).astype(np.float32)
    step, backend = compiled_step(uphill)
    net = type("Net", (), {"step": lambda self, kind: step, "backend": backend})()
    seen = []
    before = optimize.evaluations
    x, losses = optimize.run(
        net, Settings(), {"t": x0 + 5.0}, x0, 3, lambda k, loss, image: seen.append(k) or False
    )
    assert seen == [1, 2, 3]
    assert optimize.evaluations - before == 1 + 3 * solvers.TRIES
    assert losses == pytest.approx([25.0] * 4, rel=1e-4)
    np.testing.assert_array_equal(x, x0)


def test_lbfgs_descends_the_network_loss_with_about_one_evaluation_per_iteration(images):
    """On the real loss (random network, 40 px, float32): the loss never rises from one
    iteration to the next, and the line search rarely needs a second trial."""
    from PIL import Image

    from nst_plugin import Settings
    from nst_plugin.vgg19 import optimize
    from nst_plugin.vgg19.targets import make_targets

    transfer = load_engine()
    s = Settings(weights="random", precision="float32")
    net = transfer.get_network(s)
    content = transfer.to_array(Image.open(images["content"]).convert("RGB"), (40, 24))
    style = transfer.to_array(Image.open(images["style"]).convert("RGB"), (40, 24))
    n = 12
    before = optimize.evaluations
    _, losses = optimize.run(
        net, s, make_targets(net, content, [style], [1.0], s), content, n, lambda *a: False
    )
    assert len(losses) == n + 1 and losses[-1] < 0.5 * losses[0]
    assert all(b <= a for a, b in itertools.pairwise(losses)), losses
    assert optimize.evaluations - before <= 1.3 * n + 1


def _control_flow_primitives(jaxpr, inside: bool = False) -> list[tuple[str, bool, dict]]:
    """(primitive name, whether it sits in a loop's or branch's body, its parameters) for
    every equation."""
    found = []
    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        found.append((name, inside, eqn.params))
        nested = inside or name in ("while", "cond", "scan")
        for value in eqn.params.values():
            for sub in value if isinstance(value, (tuple, list)) else (value,):
                sub = getattr(sub, "jaxpr", sub)
                if hasattr(sub, "eqns"):
                    found.extend(_control_flow_primitives(sub, nested))
    return found


@pytest.mark.parametrize("optimizer", ["lbfgs", "adam"])
def test_on_jax_the_network_runs_once_per_call_outside_loops_and_branches(optimizer):
    """Inside a loop's or branch's body XLA's CPU compiler left the gradient's convolutions
    off its fast path (an L-BFGS iteration took 3x the network's time that way): each
    step's program holds one evaluation (a convolution and its input gradient), at the top
    level (and so do the per-channel blurs of L-BFGS's preconditioner)."""
    import keras

    if keras.backend.backend() != "jax":
        pytest.skip("looks into JAX's program; test_backends.py runs this file on JAX")
    import jax

    from nst_plugin.vgg19 import solvers

    model = keras.Sequential([keras.Input((None, None, 3)), keras.layers.Conv2D(4, 3)])
    weights = [v.value for v in model.trainable_variables]

    def evaluate(image):
        def loss(image):
            out, _ = model.stateless_call(weights, [], image)
            return jax.numpy.mean(jax.numpy.square(out))

        total, grad = jax.value_and_grad(loss)(image)
        return total, jax.numpy.stack([total] * 3), grad

    x0 = np.full(SHAPE, 100.0, np.float32)
    state = solvers.adam_state(x0, 1.0, 0.0) if optimizer == "adam" else solvers.lbfgs_state(x0)
    fn = solvers.adam_step if optimizer == "adam" else solvers.lbfgs_step
    closed = jax.make_jaxpr(lambda st: fn(evaluate, st))(state)
    convolutions = [
        (inside, params["feature_group_count"] > 1)
        for name, inside, params in _control_flow_primitives(closed.jaxpr)
        if name == "conv_general_dilated"
    ]
    network = [inside for inside, per_channel in convolutions if not per_channel]
    assert network == [False, False]
    # L-BFGS's M g (per-channel blurs) runs at the top level too, once per call
    blurs = [inside for inside, per_channel in convolutions if per_channel]
    assert blurs == ([False] * 2 * len(solvers.SMOOTHING) if optimizer == "lbfgs" else [])


def test_the_preconditioner_is_symmetric_and_positive_definite():
    """L-BFGS's starting inverse Hessian gamma M must be symmetric positive definite for its
    directions to descend: u . M v = v . M u and u . M u > u . u (the blurs add), with the
    zero padding at the borders included."""
    from nst_plugin.vgg19 import solvers

    rng = np.random.default_rng(3)
    u, v = (rng.normal(size=(1, 13, 17, 3)).astype(np.float32) for _ in range(2))
    mu, mv = (np.asarray(solvers.smooth(a), np.float64) for a in (u, v))
    assert float((u * mv).sum()) == pytest.approx(float((v * mu).sum()), rel=1e-4)
    assert float((u * mu).sum()) > float((u * u).sum())
    assert solvers.SMOOTHING  # the engine uses it
