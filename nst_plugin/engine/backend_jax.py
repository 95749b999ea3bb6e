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
    """The model's current weights, already JAX arrays on the device: (trainable, other)."""
    return (
        [v.value for v in model.trainable_variables],
        [v.value for v in model.non_trainable_variables],
    )


def _features(model, trainable, non_trainable, image) -> list:
    out, _ = model.stateless_call(trainable, non_trainable, image, training=False)
    return list(out) if isinstance(out, (list, tuple)) else [out]


class _Uploaded:
    """The targets on the device, uploaded once per targets object rather than per call.

    The engine builds a targets dict once per scale or tile and evaluates the loss many times
    with it; on a GPU, re-sending its few MB of host arrays at every evaluation costs about
    as much as the step itself. The same dict holding the same array objects is taken to be
    unchanged: give new arrays (as the engine does) rather than writing into old ones.
    """

    def __init__(self) -> None:
        self.leaves: list = []  # the host leaves, held so their ids stay theirs
        self.treedef = None
        self.on_device: Any = None

    def __call__(self, targets: dict) -> Any:
        leaves, treedef = jax.tree_util.tree_flatten(targets)
        if (self.treedef is None or treedef != self.treedef or len(leaves) != len(self.leaves)
                or any(a is not b for a, b in zip(leaves, self.leaves))):
            self.on_device = jax.device_put(targets)
            self.leaves, self.treedef = leaves, treedef
        return self.on_device


def value_and_grad(model, loss_fn: Callable[..., Any], xla: bool = False) -> Callable[..., tuple]:
    """Compile `loss_fn(features, image, targets) -> (total, terms)` around `model`.

    Returns f(image: float32 ndarray (1, h, w, 3), targets) -> (total, terms, gradient) as
    a float and numpy arrays. Compiled once per model; new image sizes retrace once each.
    `xla` is accepted for the TensorFlow backend's signature: `jax.jit` always compiles
    with XLA, so JAX has no other mode.
    """

    def loss(image, trainable, non_trainable, targets):
        features = _features(model, trainable, non_trainable, image)
        return loss_fn(features, image, targets)  # (total, terms): terms ride as aux

    grad_fn = jax.value_and_grad(loss, argnums=0, has_aux=True)

    @jax.jit
    def step(image, trainable, non_trainable, targets):
        (total, terms), grad = grad_fn(image, trainable, non_trainable, targets)
        return total, terms, grad

    upload = _Uploaded()

    def call(image: np.ndarray, targets: dict) -> tuple[float, np.ndarray, np.ndarray]:
        total, terms, grad = step(np.asarray(image, np.float32), *_weights(model),
                                  upload(targets))
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
