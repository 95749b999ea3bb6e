"""The one TensorFlow-specific piece: value and gradient of the loss with respect to the image."""

from __future__ import annotations

from typing import Any, Callable

import numpy as np
import tensorflow as tf

NAME = "tensorflow"


def device() -> str:
    """Where the engine runs: the first GPU when TensorFlow sees one, else the CPU."""
    gpus = tf.config.list_logical_devices("GPU")
    return gpus[0].name.replace("/device:", "") if gpus else "CPU"


def _any_size(value: Any) -> tf.TensorSpec:
    """The spec of `value` with the height and width of image-like tensors left open."""
    shape = list(np.shape(value))
    if len(shape) == 4:
        shape[1] = shape[2] = None
    return tf.TensorSpec(shape, tf.float32)


def value_and_grad(model, loss_fn: Callable[..., Any], xla: bool = False) -> Callable[..., tuple]:
    """Compile `loss_fn(features, image, targets) -> (total, terms)` around `model`.

    Returns f(image: float32 ndarray (1, h, w, 3), targets) -> (total, terms, gradient) as
    numpy. Traced once, on the first call, for images and feature maps of any size, so jobs
    of other sizes and tiles reuse the same graph (with XLA when `xla`).
    """

    def step(image, targets):
        with tf.GradientTape() as tape:
            tape.watch(image)
            features = model(image, training=False)
            if not isinstance(features, (list, tuple)):
                features = [features]
            total, terms = loss_fn(features, image, targets)
        return total, terms, tape.gradient(total, image)

    compiled = None

    def call(image: np.ndarray, targets: dict) -> tuple[float, np.ndarray, np.ndarray]:
        nonlocal compiled
        if compiled is None:
            spec = tf.nest.map_structure(_any_size, (image, targets))
            compiled = tf.function(step, input_signature=spec, jit_compile=xla)
        total, terms, grad = compiled(image, targets)
        return float(total), terms.numpy(), grad.numpy()

    return call


def forward(model) -> Callable[[np.ndarray], list]:
    """f(image) -> list of feature tensors (kept on the device), for computing targets."""

    @tf.function(input_signature=[tf.TensorSpec([1, None, None, 3], tf.float32)])
    def run(image):
        out = model(image, training=False)
        return list(out) if isinstance(out, (list, tuple)) else [out]

    return run
