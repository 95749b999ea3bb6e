"""The one TensorFlow-specific piece: the loss's value and image gradient, compiled together
with whatever an optimizer step does with them."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from .tiles import available_memory

NAME = "tensorflow"


def device() -> str:
    """Where the engine runs: the first GPU when TensorFlow sees one, else the CPU."""
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name.replace("/device:", "") if gpus else "CPU"


def free_memory() -> int | None:
    """Bytes the engine can plan on: the host's available memory on the CPU; None on a GPU,
    whose free memory TensorFlow does not tell."""
    if tf.config.list_physical_devices("GPU"):
        return None
    return available_memory()


def native_bfloat16() -> bool:
    """Whether TensorFlow computes bfloat16 natively here: a GPU of compute capability 8.0
    or more, or, on the CPU, oneDNN on AMX or AVX512-BF16."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        capability = tf.config.experimental.get_device_details(gpus[0]).get("compute_capability")
        return bool(capability) and tuple(capability) >= (8, 0)
    from .precision import cpu_has_bfloat16

    return os.environ.get("TF_ENABLE_ONEDNN_OPTS") != "0" and cpu_has_bfloat16()


def _spec(value: Any) -> tf.TensorSpec:
    """The spec of `value` with the height and width of image-like tensors left open."""
    shape = list(np.shape(value))
    if len(shape) == 4:
        shape[1] = shape[2] = None
    return tf.TensorSpec(shape, tf.as_dtype(getattr(value, "dtype", np.float32)))


def _evaluator(model, loss_fn: Callable[..., Any], targets: Any) -> Callable:
    def evaluate(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            features = model(image, training=False)
            if not isinstance(features, (list, tuple)):
                features = [features]
            total, terms = loss_fn(features, image, targets)
        return total, terms, tape.gradient(total, image)

    return evaluate


def compile(model, loss_fn: Callable[..., Any], fn: Callable, xla: bool = False) -> Callable:
    """f(state, targets) -> fn(evaluate, state) as one graph, where evaluate(image) gives the
    total of `loss_fn(features, image, targets) -> (total, terms)`, the terms and the image
    gradient. Traced once, on the first call, for images of any size (with XLA when `xla`);
    the results stay on the device. Targets of another structure (style regions, their
    count) get their own graph."""
    compiled: dict[str, Any] = {}
    last: list[Any] = [None, None]  # the targets object of the last call and its graph

    def call(state: Any, targets: Any) -> Any:
        if targets is not last[0]:  # a tile's steps share one targets object: look up once
            spec = tf.nest.map_structure(_spec, (state, targets))
            key = repr(tf.nest.map_structure(lambda t: (t.shape, t.dtype), spec))
            if key not in compiled:
                compiled[key] = tf.function(
                    lambda st, tg: fn(_evaluator(model, loss_fn, tg), st),
                    input_signature=spec,
                    jit_compile=xla,
                    autograph=False,
                )
            last[:] = [targets, compiled[key]]
        return last[1](state, targets)

    return call


def value_and_grad(model, loss_fn: Callable[..., Any], xla: bool = False) -> Callable[..., tuple]:
    """f(image: float32 ndarray (1, h, w, 3), targets) -> (total, terms, gradient) on the host."""
    step = compile(model, loss_fn, lambda evaluate, image: evaluate(image), xla)

    def call(image: np.ndarray, targets: dict) -> tuple[float, np.ndarray, np.ndarray]:
        total, terms, grad = step(np.asarray(image, np.float32), targets)
        return float(total), terms.numpy(), grad.numpy()

    return call


def to_device(tree: Any) -> Any:
    """Host arrays (a nest of them) as tensors on the device, uploaded once."""
    return tf.nest.map_structure(tf.convert_to_tensor, tree)


def forward(model) -> Callable[[np.ndarray], list]:
    """f(image) -> list of feature tensors (kept on the device), for computing targets."""

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def run(image):
        out = model(image, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return run
