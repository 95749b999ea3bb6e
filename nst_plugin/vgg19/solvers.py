"""L-BFGS and Adam steps on the device, written once in keras.ops.

Each step is a pure function `step(evaluate, state) -> state` that a backend compiles
around its loss (`evaluate(image) -> (total, terms, gradient)`), so a step (loss, gradient,
update, the 0..255 bounds) is one compiled call that evaluates the loss exactly once, never
inside a loop or a branch: there, XLA's CPU compiler (JAX) left the gradient's convolutions
with a kernel layout its fast convolution path does not take, and an iteration cost 3x the
network. States are dicts of float32 arrays; "report" holds (loss, evaluations, pending)
for the host, which reads nothing else unless it needs the image.

L-BFGS: the last `MEMORY` pairs (s, y) kept as (m, h, w, 3) arrays, newest last, with
their products S^T Y and Y^T M Y; the direction from the two-loop recursion run on those
products (two passes over the memory per iteration rather than 4m), projected onto the
bounds. Its starting inverse Hessian is gamma M rather than gamma I: M = I plus blurred
copies (`SMOOTHING`), so a step moves broad areas as readily as single pixels. Plain L-BFGS
on pixels corrects the photo's large shapes slowly at a fine scale, where each of them
spans many pixels; with M it reaches the same loss in about half the iterations there
(bench/bench_document.py). M is symmetric and positive definite, so L-BFGS stays L-BFGS;
M g is computed once per evaluation, at the top level, and M y kept with the memory. A
backtracking Armijo line search takes at most `TRIES` evaluations per iteration
(usually one: the unit step is accepted). A call either starts an iteration (memory,
direction, first trial) or, while "pending" (the last trial was rejected), tries the next
step size along the same direction; the host calls again until the iteration is done. Its
first call only evaluates the start. A direction that does not descend, or a line search
that finds no lower loss, clears the memory; the next step is then steepest descent scaled
to a mean change of one grey level per pixel, as scipy's first step was. This replaces the
scipy path's restarts and its fallback to Adam.
"""

from __future__ import annotations

import numpy as np
from keras import ops

MEMORY = 10
TRIES = 4
ARMIJO = 1e-4
CURVATURE_EPS = 1e-10
LOW, HIGH = 0.0, 255.0
FIRST_STEP = 1.0  # mean change per pixel, in grey levels, of a step without memory
# (sigma in pixels, gain) of the Gaussian blurs in M = I + sum gain * blur; () is plain L-BFGS
SMOOTHING: tuple[tuple[float, float], ...] = ((0.85, 1.0), (1.7, 4.0))


def _dot(a, b):
    return ops.sum(a * b)


def _kernel(sigma: float) -> np.ndarray:
    """A normalised 1-D Gaussian, cut at three sigma."""
    r = max(1, int(np.ceil(3 * sigma)))
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma) ** 2)
    return (k / k.sum()).astype(np.float32)


def smooth(g):
    """M g = g + sum gain * blur(g): separable Gaussians with zero padding, so M is
    symmetric and positive definite (the identity when `SMOOTHING` is empty)."""
    out = g
    for sigma, gain in SMOOTHING:
        k = _kernel(sigma)
        channels = g.shape[-1]
        across = np.tile(k[None, :, None, None], (1, 1, channels, 1))
        down = np.tile(k[:, None, None, None], (1, 1, channels, 1))
        blurred = ops.depthwise_conv(g, across, padding="same")
        out = out + gain * ops.depthwise_conv(blurred, down, padding="same")
    return out


def lbfgs_state(x: np.ndarray, memory: int = MEMORY) -> dict:
    """The state before the first call: the start image, nothing evaluated yet."""
    x = np.asarray(x, np.float32)
    history = np.zeros((memory, *x.shape[1:]), np.float32)
    square, line = np.zeros((memory, memory), np.float32), np.zeros(memory, np.float32)
    return {
        "x": x,
        "f": np.float32(np.inf),
        "g": np.zeros_like(x),
        "mg": np.zeros_like(x),
        "s": history,
        "y": history.copy(),
        "my": history.copy(),
        "sy": square,
        "yy": square.copy(),
        "sg": line,
        "yg": line.copy(),
        "valid": line.copy(),
        "gamma": np.float32(1),
        "new_s": np.zeros_like(x),
        "new_y": np.zeros_like(x),
        "new_my": np.zeros_like(x),
        "new_sy": np.float32(0),
        "new_yy": np.float32(0),
        "keep": np.float32(0),
        "d": np.zeros_like(x),
        "t": np.float32(0),
        "tries": np.float32(0),
        "restart": np.float32(0),
        "pending": np.float32(0),
        "report": np.zeros(3, np.float32),
    }


def _remember(st: dict):
    """Shift the last step's pair (new_s, new_y) and new_y's M new_y into the memory, newest
    last (as an empty slot unless "keep"); return the memory S, Y, MY, its products S^T Y
    and Y^T M Y, S^T g and Y^T M g.

    One pass over S and one over Y: s_i . new_y is s_i . g minus the previous step's
    s_i . g (and likewise y_i . M new_y), so only g, M g and new_s meet the memory.
    """
    s = ops.concatenate([st["s"][1:], st["new_s"]], axis=0)
    y = ops.concatenate([st["y"][1:], st["new_y"]], axis=0)
    my = ops.concatenate([st["my"][1:], st["new_my"]], axis=0)
    valid = ops.concatenate([st["valid"][1:], ops.reshape(st["keep"], (1,))], axis=0)
    m = s.shape[0]
    sg = ops.matmul(ops.reshape(s, (m, -1)), ops.reshape(st["g"], (-1, 1)))[:, 0]
    flat_y = ops.reshape(y, (m, -1))
    yg = ops.matmul(flat_y, ops.reshape(st["mg"], (-1, 1)))[:, 0]
    ys = ops.matmul(flat_y, ops.reshape(st["new_s"], (-1, 1)))[:, 0]  # new_s . y_j
    s_new_y = ops.concatenate([sg[:-1] - st["sg"][1:], ops.reshape(st["new_sy"], (1,))], 0)
    y_new_y = ops.concatenate([yg[:-1] - st["yg"][1:], ops.reshape(st["new_yy"], (1,))], 0)
    sy = ops.concatenate(
        [ops.concatenate([st["sy"][1:, 1:], s_new_y[:-1, None]], 1), ys[None, :]], 0
    )
    yy = ops.concatenate(
        [ops.concatenate([st["yy"][1:, 1:], y_new_y[:-1, None]], 1), y_new_y[None, :]], 0
    )
    return s, y, my, sy, yy, valid, sg, yg


def _direction(mg, s, my, sy, yy, valid, sg, yg, gamma):
    """-H g by the two-loop recursion carried out on the pairs' dot products (vector-free
    L-BFGS, Chen et al. 2014), with H's start gamma M: the same numbers without 4m passes
    over the image-sized vectors; one pass over the memory at the end forms the direction
    from M g, S and M Y (yy and yg hold y_i . M y_j and y_i . M g). Pairs newest last;
    empty ones (valid 0) have rho 0 and drop out."""
    m = s.shape[0]
    curvature = ops.diagonal(sy)
    use = valid > 0
    rho = ops.where(use, 1.0 / ops.where(use, curvature, 1.0), 0.0)
    alpha = [None] * m  # newest to oldest: alpha_i = rho_i s_i . (g - sum_newer alpha_j y_j)
    for i in reversed(range(m)):
        newer = ops.stack(alpha[i + 1 :]) if i < m - 1 else None
        sq = sg[i] - (ops.sum(newer * sy[i, i + 1 :]) if newer is not None else 0.0)
        alpha[i] = rho[i] * sq
    alpha = ops.stack(alpha)
    yq = gamma * (yg - ops.matmul(yy, alpha))  # y_i . (gamma M q)
    # oldest to newest: beta_i = rho_i y_i . (gamma M q + sum_older (alpha_j - beta_j) s_j)
    beta = []
    for i in range(m):
        older = ops.sum((alpha[:i] - ops.stack(beta)) * sy[:i, i]) if i else 0.0
        beta.append(rho[i] * (yq[i] + older))
    coef_s = alpha - ops.stack(beta)  # r = gamma M g - gamma (M Y)^T alpha + S^T (alpha - beta)
    flat = ops.matmul(coef_s[None, :], ops.reshape(s, (m, -1)))
    flat = flat - gamma * ops.matmul(alpha[None, :], ops.reshape(my, (m, -1)))
    return -(gamma * mg + ops.reshape(flat, ops.shape(mg)))


PLAN = ("s", "y", "my", "sy", "yy", "sg", "yg", "valid", "d", "t", "tries", "restart")


def _inward(x):
    """d -> d with the components that would leave 0..255 at a bound set to zero."""
    low = ops.where(x <= LOW, 0.0, -np.inf)
    high = ops.where(x >= HIGH, 0.0, np.inf)
    return lambda d: ops.minimum(ops.maximum(d, low), high)


def _plan(st: dict) -> dict:
    """A new iteration: the memory updated, the direction and the first step size."""
    x, g = st["x"], st["g"]
    s, y, my, sy, yy, valid, sg, yg = _remember(st)
    inward = _inward(x)
    d = inward(_direction(st["mg"], s, my, sy, yy, valid, sg, yg, st["gamma"]))
    gd = _dot(g, d)
    # no memory yet (or forgotten), or not a descent direction: scaled steepest descent
    restart = ops.logical_or(ops.all(valid <= 0), ops.logical_not(gd < 0))

    def steepest():
        d = inward(-g)
        size = ops.cast(ops.size(x), "float32")
        return d, FIRST_STEP * ops.sqrt(size) / ops.maximum(ops.sqrt(-_dot(g, d)), 1e-30)

    d, t = ops.cond(restart, steepest, lambda: (d, ops.ones_like(gd)))
    restart = ops.cast(restart, "float32")
    return dict(zip(PLAN, (s, y, my, sy, yy, sg, yg, valid, d, t, ops.zeros_like(t), restart)))


def lbfgs_step(evaluate, st: dict) -> dict:
    """One loss evaluation: the first trial step of a new iteration (memory update,
    direction) or, after a rejected trial, the line search's next trial. The iteration
    ends when a trial is accepted or the tries run out; until then "pending" is 1."""
    x, f, g = st["x"], st["f"], st["g"]
    retry = st["pending"] > 0
    plan = ops.cond(retry, lambda: {k: st[k] for k in PLAN}, lambda: _plan(st))
    t, d = plan["t"], plan["d"]
    xt = ops.clip(x + t * d, LOW, HIGH)
    ft, _, gt = evaluate(xt)  # never inside a loop or branch: see the module docstring
    ft = ops.cast(ft, "float32")
    mgt = smooth(gt)
    tries = plan["tries"] + 1.0
    moved = _dot(g, xt - x)
    ok = ops.logical_and(ft <= f + ARMIJO * moved, ops.isfinite(ft))
    # quadratic interpolation of the next trial, kept within [0.1, 0.5] of this one
    curve = 2.0 * (ft - f - moved)
    guess = ops.where(curve > 0, -moved * t / ops.maximum(curve, 1e-30), 0.5 * t)
    guess = ops.clip(ops.where(ops.isfinite(guess), guess, 0.5 * t), 0.1 * t, 0.5 * t)
    done = ops.logical_or(ok, tries >= TRIES)
    step_y, step_my = gt - g, mgt - st["mg"]
    yy_k = _dot(step_y, step_my)  # y . M y: finite exactly when the new gradient is
    take = ops.logical_and(
        ops.logical_and(done, ops.logical_or(ok, ft < f)),
        ops.logical_and(ops.isfinite(ft), ops.isfinite(yy_k)),
    )
    # not taken: stay, and no new pair
    new_s = ops.where(take, xt - x, 0.0)
    new_y = ops.where(take, step_y, 0.0)
    new_my = ops.where(take, step_my, 0.0)
    yy_k = ops.where(take, yy_k, 0.0)
    sy_k = _dot(new_s, new_y)
    keep = ops.logical_and(take, sy_k > CURVATURE_EPS * yy_k)
    # a failed line search, or a restart, forgets the memory
    forget = ops.logical_and(done, ops.logical_or(plan["restart"] > 0, ops.logical_not(take)))
    f = ops.where(take, ft, f)
    pending = ops.cast(ops.logical_not(done), "float32")
    return {
        **st,
        **plan,
        "x": ops.where(take, xt, x),
        "f": f,
        "g": ops.where(take, gt, g),
        "mg": ops.where(take, mgt, st["mg"]),
        "valid": ops.where(forget, ops.zeros_like(plan["valid"]), plan["valid"]),
        "new_s": new_s,
        "new_y": new_y,
        "new_my": new_my,
        "new_sy": sy_k,
        "new_yy": yy_k,
        "keep": ops.cast(keep, "float32"),
        "gamma": ops.where(keep, sy_k / ops.where(keep, yy_k, 1.0), st["gamma"]),
        "t": ops.where(done, t, guess),
        "tries": tries,
        "pending": pending,
        "report": ops.stack([f, ops.ones_like(f), pending]),
    }


def adam_state(x: np.ndarray, learning_rate: float, average: float) -> dict:
    """The state before the first call; `average` > 0 keeps the iterates' moving average."""
    x = np.asarray(x, np.float32)
    z = np.zeros_like(x)
    return {
        "x": x,
        "m": z,
        "v": z.copy(),
        "mean": z.copy(),
        "shown": x.copy(),
        "t": np.float32(0),
        "rate": np.float32(learning_rate),
        "average": np.float32(average),
        "final": np.float32(0),
        "report": np.zeros(3, np.float32),
    }


def _shown(st: dict):
    """The image Adam reports: the bias-corrected moving average, or the iterate."""
    t, avg = st["t"], st["average"]
    use = ops.logical_and(avg > 0, t > 0)
    return ops.where(use, st["mean"] / ops.where(use, 1.0 - avg**t, 1.0), st["x"])


def adam_step(
    evaluate, st: dict, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
) -> dict:
    """Evaluate the iterate and take one Adam step; "shown" is then the image shown for the
    loss evaluated (the iterate's moving average, or the iterate). With "final" set,
    evaluate the shown image instead and change nothing: the last call of a run."""
    final = st["final"] > 0
    shown = _shown(st)
    f, _, g = evaluate(ops.where(final, shown, st["x"]))
    f = ops.cast(f, "float32")
    t = st["t"] + 1.0
    m = beta1 * st["m"] + (1 - beta1) * g
    v = beta2 * st["v"] + (1 - beta2) * ops.square(g)
    step = st["rate"] * (m / (1 - beta1**t)) / (ops.sqrt(v / (1 - beta2**t)) + eps)
    x = ops.clip(st["x"] - step, LOW, HIGH)
    avg = st["average"]
    new = {"x": x, "m": m, "v": v, "mean": avg * st["mean"] + (1 - avg) * x, "t": t}
    out = {k: ops.where(final, st[k], value) for k, value in new.items()}
    return {
        **st,
        **out,
        "shown": shown,
        "report": ops.stack([f, ops.ones_like(f), ops.zeros_like(f)]),
    }
