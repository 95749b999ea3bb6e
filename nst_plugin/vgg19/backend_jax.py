"""The one JAX-specific piece: the loss's value and image gradient, compiled together with
whatever an optimizer step does with them.

Keras 3's JAX idiom: the model runs through `model.stateless_call` with its weights passed in
as arguments of a `jax.jit`-compiled function, so they live on the device once and are not
baked into the compiled program as constants. Imports neither TensorFlow nor anything that
needs it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import jax
import numpy as np

from .tiles import available_memory

NAME = "jax"


def device() -> str:
    """Where the engine runs: JAX's default device when it is an accelerator, else the CPU.

    E.g. "gpu:0 (NVIDIA H100 80GB HBM3)" on a GPU machine, "CPU" without one.
    """
    first = jax.devices()[0]
    if first.platform == "cpu":
        return "CPU"
    return f"{first.platform}:{first.id} ({first.device_kind})"


def free_memory() -> int | None:
    """Bytes the engine can plan on: an accelerator's limit less what is in use, where JAX
    tells it; the host's available memory on the CPU."""
    first = jax.devices()[0]
    if first.platform == "cpu":
        return available_memory()
    stats = first.memory_stats() if hasattr(first, "memory_stats") else None
    if not stats or "bytes_limit" not in stats:
        return None
    return int(stats["bytes_limit"]) - int(stats.get("bytes_in_use", 0))


def native_bfloat16() -> bool:
    """Whether JAX computes bfloat16 natively here: a GPU of compute capability 8.0 or more,
    or a TPU. Not the CPU: XLA's CPU convolutions take bfloat16 no faster than float32."""
    first = jax.devices()[0]
    if first.platform == "tpu":
        return True
    capability = getattr(first, "compute_capability", None) if first.platform == "gpu" else None
    try:
        return tuple(int(p) for p in str(capability).split(".")[:2]) >= (8, 0)
    except ValueError:
        return False


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
        if (
            self.treedef is None
            or treedef != self.treedef
            or len(leaves) != len(self.leaves)
            or any(a is not b for a, b in zip(leaves, self.leaves))
        ):
            self.on_device = jax.device_put(targets)
            self.leaves, self.treedef = leaves, treedef
        return self.on_device


def compile(model, loss_fn: Callable[..., Any], fn: Callable, xla: bool = False) -> Callable:
    """f(state, targets) -> fn(evaluate, state) as one `jax.jit` program, where
    evaluate(image) gives the total of `loss_fn(features, image, targets) -> (total, terms)`,
    the terms and the image gradient. Compiled once per image size; results stay on the
    device. The state passed in is given to the call (its buffers are reused): use the
    state it returns. `xla` is accepted for TensorFlow's signature: `jax.jit` always uses XLA."""
    grad_fn = jax.value_and_grad(_loss(model, loss_fn), argnums=0, has_aux=True)

    @functools.partial(jax.jit, donate_argnums=0)  # the state is updated in place
    def run(state, targets, trainable, non_trainable):
        def evaluate(image):
            (total, terms), grad = grad_fn(image, trainable, non_trainable, targets)
            return total, terms, grad

        return fn(evaluate, state)

    return lambda state, targets: run(state, targets, *_weights(model))


def to_device(tree: Any) -> Any:
    """Host arrays (a tree of them) on the device, uploaded once."""
    return jax.device_put(tree)


def _loss(model, loss_fn: Callable[..., Any]) -> Callable:
    def loss(image, trainable, non_trainable, targets):
        features = _features(model, trainable, non_trainable, image)
        return loss_fn(features, image, targets)  # (total, terms): terms ride as aux

    return loss


def value_and_grad(model, loss_fn: Callable[..., Any], xla: bool = False) -> Callable[..., tuple]:
    """Compile `loss_fn(features, image, targets) -> (total, terms)` around `model`.

    Returns f(image: float32 ndarray (1, h, w, 3), targets) -> (total, terms, gradient) as
    a float and numpy arrays. Compiled once per model; new image sizes retrace once each.
    `xla` is accepted for the TensorFlow backend's signature: `jax.jit` always compiles
    with XLA, so JAX has no other mode.
    """

    grad_fn = jax.value_and_grad(_loss(model, loss_fn), argnums=0, has_aux=True)

    @jax.jit
    def step(image, trainable, non_trainable, targets):
        (total, terms), grad = grad_fn(image, trainable, non_trainable, targets)
        return total, terms, grad

    upload = _Uploaded()

    def call(image: np.ndarray, targets: dict) -> tuple[float, np.ndarray, np.ndarray]:
        total, terms, grad = step(np.asarray(image, np.float32), *_weights(model), upload(targets))
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
