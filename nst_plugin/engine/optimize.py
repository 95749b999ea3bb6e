"""The optimizers: L-BFGS (scipy's L-BFGS-B, pixels bounded to 0..255) and Adam.

Both take `fun(image) -> (loss, gradient)` on float32 arrays, report progress after every
iteration and check for cancel at every evaluation. They return the image and the loss
history: losses[0] is the starting loss, losses[k] the loss after iteration k.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..progress import Reporter

LossAndGrad = Callable[[np.ndarray], tuple[float, np.ndarray]]


def lbfgs(
    fun: LossAndGrad, x0: np.ndarray, iterations: int, reporter: Reporter
) -> tuple[np.ndarray, list[float]]:
    from scipy.optimize import Bounds, minimize

    shape = x0.shape
    losses: list[float] = []

    def value(flat: np.ndarray) -> tuple[float, np.ndarray]:
        reporter.check_cancel()
        loss, grad = fun(flat.reshape(shape).astype(np.float32))
        if not losses:
            losses.append(loss)
        return loss, grad.ravel().astype(np.float64)

    def callback(intermediate_result) -> None:
        losses.append(float(intermediate_result.fun))
        reporter.progress(len(losses) - 1, iterations, losses[-1])
        reporter.check_cancel()

    result = minimize(
        value,
        x0.ravel().astype(np.float64),
        jac=True,
        method="L-BFGS-B",
        bounds=Bounds(0.0, 255.0),
        callback=callback,
        # Run the whole budget: the user asked for these iterations, not for convergence.
        options={"maxiter": iterations, "maxfun": iterations * 20, "ftol": 0.0, "gtol": 0.0},
    )
    return result.x.astype(np.float32).reshape(shape), losses


def adam(
    fun: LossAndGrad,
    x0: np.ndarray,
    iterations: int,
    reporter: Reporter,
    learning_rate: float = 5.0,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[np.ndarray, list[float]]:
    x = x0.astype(np.float32).copy()
    m = np.zeros_like(x)
    v = np.zeros_like(x)
    losses: list[float] = []
    for t in range(1, iterations + 1):
        reporter.check_cancel()
        loss, grad = fun(x)
        if t > 1:
            reporter.progress(t - 1, iterations, loss)
        losses.append(loss)
        m = beta1 * m + (1 - beta1) * grad
        v = beta2 * v + (1 - beta2) * np.square(grad)
        step = learning_rate * (m / (1 - beta1**t)) / (np.sqrt(v / (1 - beta2**t)) + eps)
        np.clip(x - step, 0.0, 255.0, out=x)
    reporter.check_cancel()
    losses.append(fun(x)[0])
    reporter.progress(iterations, iterations, losses[-1])
    return x, losses
