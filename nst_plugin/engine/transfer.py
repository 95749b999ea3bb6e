"""One stylize job on the VGG19 engine: sizes, targets, the optimizer run, the result image."""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
from PIL import Image

from ..progress import Reporter
from ..request import RequestError, Result, Settings, StylizeRequest
from . import losses, network, optimize, weights

_BACKENDS = {"tensorflow": "backend_tensorflow", "jax": "backend_jax"}
_CACHE_SIZE = 2


@dataclass
class Network:
    """A loaded, compiled network for one weights source, pooling and set of layers."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    weights_label: str
    forward: Callable[[np.ndarray], list]
    value_and_grad: Callable[..., tuple[float, np.ndarray, np.ndarray]]
    backend: Any


_networks: dict[tuple, Network] = {}


def backend_module():
    """The backend module for Keras's active backend (KERAS_BACKEND)."""
    import keras

    name = keras.backend.backend()
    if name not in _BACKENDS:
        raise RequestError(
            f"the Keras backend {name!r} is not supported; set KERAS_BACKEND to tensorflow or jax."
        )
    return importlib.import_module(f".{_BACKENDS[name]}", __package__)


def get_network(settings: Settings, reporter: Reporter | None = None) -> Network:
    """The network for these settings, built once and kept for the following jobs."""
    try:
        content = tuple(network.layer_name(n) for n in settings.content_layers)
        style = tuple(network.layer_name(n) for n in settings.style_layers)
    except ValueError as err:
        raise RequestError(str(err)) from None
    source = weights.resolve(settings.weights)
    key = (source.label, settings.pooling, content, style)
    if key not in _networks:
        def downloaded(done: int, total: int | None) -> None:
            if reporter is not None:
                reporter.progress(done, total or 0, stage="downloading")

        layers = network.conv_layers_up_to(content + style)
        arrays = weights.load(settings.weights, layers, progress=downloaded)
        outputs = list(dict.fromkeys(content + style))
        model = network.build(outputs, arrays, settings.pooling)
        order = [outputs.index(n) for n in content + style]

        def loss_fn(features, image, targets):
            return losses.total_loss([features[i] for i in order], image, targets)

        backend = backend_module()
        forward = backend.forward(model)
        if len(_networks) >= _CACHE_SIZE:
            _networks.pop(next(iter(_networks)))
        _networks[key] = Network(
            content, style, source.label, forward, backend.value_and_grad(model, loss_fn), backend
        )
    return _networks[key]


def output_size(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """(width, height) with the long edge at `long_edge` and the aspect ratio kept."""
    w, h = size
    scale = long_edge / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def to_array(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """An RGB image resized to `size`, as float32 (1, h, w, 3) in 0..255."""
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB"), dtype=np.float32)[None]


def to_image(x: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(np.rint(x[0]), 0, 255).astype(np.uint8), "RGB")


def make_targets(
    net: Network, content: np.ndarray, styles: list[np.ndarray], blend: list[float], s: Settings
) -> dict:
    """Content features and blended style Grams, computed once for the whole run."""
    n_content = len(net.content_layers)
    content_features = net.forward(content)
    style_grams = None
    for style, weight in zip(styles, blend):
        grams = [losses.gram(f) * weight for f in net.forward(style)[n_content:]]
        style_grams = grams if style_grams is None else [a + b for a, b in zip(style_grams, grams)]
    return {
        "content": content_features[:n_content],
        "style": style_grams or [],
        "weights": np.array([s.content_weight, s.style_weight, s.tv_weight], np.float32),
        "tv_ref": np.array(losses.variation(content), np.float32),
    }


def run(request: StylizeRequest, reporter: Reporter) -> Result:
    """Stylize `request` and return the result image (the core saves it)."""
    s = request.settings
    started = time.monotonic()
    blend = request.style_weights()
    reporter.stage("preparing")
    net = get_network(s, reporter)
    size = output_size(request.content.size, s.size)
    content = to_array(request.content, size)
    style_edge = max(size)
    styles = [to_array(im, output_size(im.size, style_edge)) for im in request.styles]
    targets = make_targets(net, content, styles, blend, s)

    if s.init == "noise":
        x0 = np.random.default_rng(s.seed).uniform(0, 255, content.shape).astype(np.float32)
    else:
        x0 = content.copy()

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        total, _, grad = net.value_and_grad(x, targets)
        return total, grad

    reporter.stage("optimizing", s.iterations)
    if s.optimizer == "adam":
        x, history = optimize.adam(fun, x0, s.iterations, reporter, s.learning_rate)
    else:
        x, history = optimize.lbfgs(fun, x0, s.iterations, reporter)
    return Result(
        image=to_image(x),
        iterations=len(history) - 1,
        seconds=time.monotonic() - started,
        losses=history,
        engine="vgg19",
        backend=net.backend.NAME,
        device=net.backend.device(),
    )
