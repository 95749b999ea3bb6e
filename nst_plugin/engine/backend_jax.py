"""The one JAX-specific piece: value and gradient of the loss with respect to the image.

Keras 3's JAX idiom: the model runs through `model.stateless_call` with its weights passed in
as arguments of a `jax.jit`-compiled function, so they live on the device once and are not
baked into the compiled program as constants. Imports neither TensorFlow nor anything that
needs it.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import numpy as np

NAME = "jax"


def device() -> str:
    """Where the engine runs: JAX's default device when it is an accelerator, else the CPU.

    E.g. "gpu:0 (NVIDIA H100 80GB HBM3)" on a GPU machine, "CPU" without one.
    """
    first = jax.devices()[0]
    if first.platform == "cpu":
        return "CPU"
    return f"{first.platform}:{first.id} ({first.device_kind})"


def _weights(model) -> tuple[list, list]:
    """The model's current weights as JAX arrays: (trainable, non-trainable)."""
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )


def _features(model, trainable, non_trainable, image) -> list:
    out, _ = model.stateless_call(trainable, non_trainable, image, training=False)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def value_and_grad(model, loss_fn: Callable[..., Any]) -> Callable[..., tuple]:
    """Compile `loss_fn(features, image, targets) -> (total, terms)` around `model`.

    Returns f(image: float32 ndarray (1, h, w, 3), targets) -> (total, terms, gradient) as
    a float and numpy arrays. Compiled once per model; new image sizes retrace once each.
    """

    def loss(image, trainable, non_trainable, targets):
        features = _features(model, trainable, non_trainable, image)
        return loss_fn(features, image, targets)  # (total, terms): terms ride as aux

    grad_fn = jax.value_and_grad(loss, argnums=0, has_aux=True)

    @jax.jit
    def step(image, trainable, non_trainable, targets):
        (total, terms), grad = grad_fn(image, trainable, non_trainable, targets)
        return total, terms, grad

    def call(image: np.ndarray, targets: dict) -> tuple[float, np.ndarray, np.ndarray]:
        trainable, non_trainable = _weights(model)
        total, terms, grad = step(np.asarray(image, np.float32), trainable, non_trainable,
                                  targets)
        # np.array copies: callers get writable host arrays, as TensorFlow's .numpy() gives.
        return float(total), np.array(terms), np.array(grad)

    return call


def forward(model) -> Callable[[np.ndarray], list]:
    """f(image) -> list of feature arrays (kept on the device), for computing targets."""

    @jax.jit
    def run(image, trainable, non_trainable):
        return _features(model, trainable, non_trainable, image)

    def call(image: np.ndarray) -> list:
        return run(np.asarray(image, np.float32), *_weights(model))

    return call
