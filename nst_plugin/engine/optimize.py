"""The optimizers: L-BFGS (scipy's L-BFGS-B, pixels bounded to 0..255) and Adam.

Both minimise `fun(image) -> (loss, gradient)` over float32 arrays. After every iteration
they call `on_iteration(k, loss, image)`; it returns True to stop early (a time budget).
`check()` runs before every evaluation and raises to cancel. They return the image and
the loss history: losses[0] is the starting loss, losses[k] the loss after iteration k.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

LossAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]
OnIteration = Callable[[int, float, np.ndarray], bool]


def lbfgs(
    fun: LossAndGrad,
    x0: np.ndarray,
    iterations: int,
    on_iteration: OnIteration,
    check: Callable[[], None] = lambda: None,
) -> tuple[np.ndarray, list[float]]:
    """L-BFGS-B for the whole budget. When its line search gives up early (a flat or noisy
    loss, as in half precision) it restarts with a fresh memory; if that makes no progress
    either, Adam finishes the remaining iterations."""
    from scipy.optimize import Bounds, minimize

    shape = x0.shape
    losses: list[float] = []
    # L-BFGS's first step has length 1 in its variables. Optimising x / sqrt(n) makes that
    # a change of about one grey level per pixel instead of a vanishing one; later steps do
    # not depend on the scale.
    scale = float(np.sqrt(x0.size))
    x = x0.ravel().astype(np.float64) / scale
    stopped = False

    def value(flat: np.ndarray) -> tuple[float, np.ndarray]:
        check()
        loss, grad = fun((flat * scale).reshape(shape).astype(np.float32))
        if not losses:
            losses.append(loss)
        return loss, grad.ravel().astype(np.float64) * scale

    def callback(intermediate_result) -> None:
        nonlocal stopped
        losses.append(float(intermediate_result.fun))
        image = (intermediate_result.x * scale).reshape(shape).astype(np.float32)
        if on_iteration(len(losses) - 1, losses[-1], image):
            stopped = True
            raise StopIteration  # scipy ends the run and returns this iterate

    stalls = 0
    while len(losses) <= iterations and not stopped:
        start = losses[-1] if losses else None
        result = minimize(
            value, x, jac=True, method="L-BFGS-B", bounds=Bounds(0.0, 255.0 / scale),
            callback=callback,
            # Run the whole budget: the user asked for these iterations, not convergence.
            options={"maxiter": iterations - max(0, len(losses) - 1), "maxfun": iterations * 20,
                     "ftol": 0.0, "gtol": 0.0},
        )
        x = result.x
        improved = losses[-1] < (losses[0] if start is None else start)
        stalls = 0 if improved else stalls + 1
        if stalls >= 2 and not stopped and len(losses) <= iterations:
            done = max(0, len(losses) - 1)
            start_x = (x * scale).reshape(shape).astype(np.float32)
            rest, more = adam(fun, start_x, iterations - done,
                              lambda k, loss, xi: on_iteration(done + k, loss, xi), check)
            return rest, losses + more[1:]
    return (x * scale).astype(np.float32).reshape(shape), losses


def adam(
    fun: LossAndGrad,
    x0: np.ndarray,
    iterations: int,
    on_iteration: OnIteration,
    check: Callable[[], None] = lambda: None,
    learning_rate: float = 5.0,
    average: float = 0.0,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, list[float]]:
    """Adam on the pixels; with `average` > 0 it returns (and reports) the exponential
    moving average of the iterates with that decay, which is smoother than the last one."""
    x = x0.astype(np.float32).copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    mean = np.zeros_like(x)
    losses: list[float] = []

    def shown(t: int) -> np.ndarray:
        return mean / (1 - average**t) if average and t else x

    for t in range(1, iterations + 1):
        check()
        loss, grad = fun(x)
        losses.append(loss)
        if t > 1 and on_iteration(t - 1, loss, shown(t - 1)):
            return shown(t - 1), losses
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * np.square(grad)
        step = learning_rate * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        np.clip(x - step, 0.0, 255.0, out=x)
        if average:
            mean = average * mean + (1 - average) * x
    check()
    final = shown(iterations)
    losses.append(fun(final)[0])
    on_iteration(iterations, losses[-1], final)
    return final, losses
