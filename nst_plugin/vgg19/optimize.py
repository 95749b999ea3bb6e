"""The optimizers' host side: run the compiled steps of `solvers` and report.

`run` minimises the loss of `net` with `targets` from `x0` for `iterations` iterations of
L-BFGS or Adam. After every iteration it calls `on_iteration(k, loss, image)`, where
`image()` reads the current image back from the device (only called when a preview or a
snapshot is due); it returns True to stop early (a time budget, or keep). `check()` runs
before every iteration and raises to cancel. Returns the image and the loss history:
losses[0] is the starting loss, losses[k] the loss after iteration k. Each iteration reads
back only its loss.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from . import solvers

OnIteration = Callable[[int, float, Callable[[], np.ndarray]], bool]

evaluations = 0  # loss evaluations so far in this process (L-BFGS may take several per step)


def _report(state: dict) -> tuple[float, bool]:
    """The loss after the last call, and whether it left an L-BFGS line search open."""
    global evaluations
    loss, evals, pending = np.asarray(state["report"], np.float64)
    evaluations += int(evals)
    return float(loss), bool(pending > 0)


def _host(value: Any) -> np.ndarray:
    return np.array(value, np.float32)  # a copy: the device may reuse the buffer


def run(
    net,
    settings,
    targets: dict,
    x0: np.ndarray,
    iterations: int,
    on_iteration: OnIteration,
    check: Callable[[], None] = lambda: None,
):
    """Minimise with `settings.optimizer` ("lbfgs" or "adam") on the device."""
    compiled = net.step(settings.optimizer)
    on_device = net.backend.to_device(targets)

    def step(state: dict) -> dict:
        return compiled(state, on_device)

    if settings.optimizer == "adam":
        state = solvers.adam_state(x0, settings.learning_rate, settings.average)
        return adam(step, state, iterations, on_iteration, check)
    return lbfgs(step, solvers.lbfgs_state(x0), iterations, on_iteration, check)


def lbfgs(
    step, state: dict, iterations: int, on_iteration: OnIteration, check: Callable[[], None]
) -> tuple[np.ndarray, list[float]]:
    """L-BFGS: the first call evaluates the start; an iteration is one call, or one more for
    each trial step its line search rejects (at most `solvers.TRIES` in all)."""
    check()
    state = step(state)
    losses = [_report(state)[0]]
    for k in range(1, iterations + 1):
        for _ in range(solvers.TRIES):  # the line search's trials: usually one
            check()
            state = step(state)
            loss, pending = _report(state)
            if not pending:
                break
        losses.append(loss)
        if on_iteration(k, losses[-1], lambda current=state: _host(current["x"])):
            break
    return _host(state["x"]), losses


def adam(
    step, state: dict, iterations: int, on_iteration: OnIteration, check: Callable[[], None]
) -> tuple[np.ndarray, list[float]]:
    """Adam: call t evaluates iterate t - 1 and steps; a last call evaluates the image
    shown (the iterates' moving average, or the last iterate)."""
    losses: list[float] = []
    for t in range(1, iterations + 1):
        check()
        state = step(state)
        losses.append(_report(state)[0])
        if t > 1 and on_iteration(t - 1, losses[-1], lambda current=state: _host(current["shown"])):
            return _host(state["shown"]), losses
    check()
    state = step({**state, "final": np.float32(1)})
    losses.append(_report(state)[0])
    on_iteration(iterations, losses[-1], lambda: _host(state["shown"]))
    return _host(state["shown"]), losses
