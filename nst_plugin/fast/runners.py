"""The two ways to run Magenta's network: the ONNX files on onnxruntime, the TensorFlow Hub
SavedModel on TensorFlow. Both answer the same two questions for `transfer.run`:

- `conditions(...)`: what the transformer is conditioned on, as (weight, condition) pairs
  whose weighted outputs make the result;
- `apply(tile, condition)`: one 384x384 tile stylized.

`amount` is how far to go from the photo's own style (0) to the painting's (1)
(`transfer.style_amount`). The ONNX model
exposes the style vector, so strength and blended styles interpolate (or extrapolate) vectors
(Ghiasi et al.) and one pass per tile is enough. The SavedModel keeps the vector inside its
one call, so there they mix results: the style's with the photo's own, one pass per condition.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
from PIL import Image

from . import hub, models

STYLE_EDGE = 256  # the style predictor's input size


def style_square(image: Image.Image, scale: float) -> np.ndarray:
    """The predictor's input: a centred square of `image` at 256 px, float (1, 256, 256, 3).

    `scale` below 1 takes a smaller square, so the strokes come out bigger; above 1 the
    square is repeated mirrored, so they come out smaller.
    """
    side = min(image.size)
    crop = max(8, round(side * min(scale, 1.0)))
    left, top = (image.width - crop) // 2, (image.height - crop) // 2
    square = np.asarray(image.convert("RGB").crop((left, top, left + crop, top + crop)))
    if scale > 1:
        reps = math.ceil(scale)
        row = np.concatenate([square if i % 2 == 0 else square[:, ::-1] for i in range(reps)], 1)
        grid = np.concatenate([row if i % 2 == 0 else row[::-1] for i in range(reps)], 0)
        square = grid[: round(side * scale), : round(side * scale)]
    resized = Image.fromarray(square).resize((STYLE_EDGE, STYLE_EDGE), Image.Resampling.LANCZOS)
    return (np.asarray(resized, np.float32) / 255.0)[None]


Styles = list  # [(PIL image, blend weight), ...]


class OnnxRunner:
    """The two ONNX files of the `fast` extra, each an onnxruntime session (on the GPU when
    there is one)."""

    backend = "onnxruntime"

    def __init__(self) -> None:
        import onnxruntime as ort

        opts = ort.SessionOptions()
        opts.log_severity_level = 3
        providers = [
            p
            for p in ("CUDAExecutionProvider", "CPUExecutionProvider")
            if p in ort.get_available_providers()
        ]
        self.predict, self.transform = (
            ort.InferenceSession(str(models.find(name)), opts, providers=providers)
            for name in models.FILES
        )
        self.names = [i.name for i in self.transform.get_inputs()]
        self.device = "GPU" if self.transform.get_providers()[0].startswith("CUDA") else "CPU"

    def style_vector(self, image: Image.Image, scale: float = 1.0) -> np.ndarray:
        """The 100-number style vector of an image, shaped (1, 1, 1, 100)."""
        name = self.predict.get_inputs()[0].name
        return self.predict.run(None, {name: style_square(image, scale)})[0]

    def conditions(
        self, styles: Styles, scale: float, content: Image.Image, amount: float
    ) -> list[tuple[float, np.ndarray]]:
        vector = sum(w * self.style_vector(image, scale) for image, w in styles)
        if amount != 1:
            vector = amount * vector + (1 - amount) * self.style_vector(content)
        return [(1.0, vector.astype(np.float32))]

    def apply(self, tile: np.ndarray, condition: np.ndarray) -> np.ndarray:
        return self.transform.run(None, {self.names[0]: tile, self.names[1]: condition})[0][0]


class SavedModelRunner:
    """The TensorFlow Hub SavedModel in the cache, called with (tile, style square)."""

    backend = "tensorflow"

    def __init__(self, path: Path) -> None:
        import tensorflow as tf

        self.model, self.call = hub.load(path)  # the model stays referenced: its signature needs it
        self.device = "GPU" if tf.config.list_logical_devices("GPU") else "CPU"

    def conditions(
        self, styles: Styles, scale: float, content: Image.Image, amount: float
    ) -> list[tuple[float, np.ndarray]]:
        pairs = [(amount * w, style_square(image, scale)) for image, w in styles]
        pairs.append((1 - amount, style_square(content, 1.0)))
        return [(w, square) for w, square in pairs if w > 0]

    def apply(self, tile: np.ndarray, condition: np.ndarray) -> np.ndarray:
        return self.call(tile, condition)[0]


_runners: dict[tuple, object] = {}


def runner():
    """The runner of the model source in use (`models.source()`), made once per source."""
    kind, path = models.source()
    key = (kind, str(path))
    if key not in _runners:
        _runners[key] = OnnxRunner() if kind == "onnx" else SavedModelRunner(path)
    return _runners[key]
