"""What a stylize job is made of: settings, the request an engine receives, and its result."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # Pillow stays out of `import nst_plugin`
    from PIL import Image

OPTIMIZERS = ("lbfgs", "adam")
INITS = ("content", "noise")
POOLINGS = ("max", "avg")
STYLE_LOSSES = ("gram", "meancov")
PRECISIONS = ("float32", "mixed")


class RequestError(ValueError):
    """A setting or input is wrong; str() is one sentence that says which and what to do."""


@dataclass
class Settings:
    """Every knob of a stylize job, with the defaults a user gets."""

    size: int = 512
    iterations: int = 300
    optimizer: str = "lbfgs"
    content_weight: float = 1.0
    style_weight: float = 10.0
    tv_weight: float = 0.1
    learning_rate: float = 5.0
    init: str = "content"
    pooling: str = "max"
    seed: int | None = None
    weights: str | None = None
    content_layers: tuple[str, ...] = ("block4_conv2",)
    style_layers: tuple[str, ...] = (
        "block1_conv1",
        "block2_conv1",
        "block3_conv1",
        "block4_conv1",
        "block5_conv1",
    )
    style_blend: tuple[float, ...] | None = None
    style_scale: float = 1.0
    style_loss: str = "gram"
    strength: float | None = None
    preserve_colors: bool = False
    match_colors: bool = False
    scales: int | None = None
    time_budget: float | None = None
    average: float = 0.9
    tile_size: int = 1024
    tile_overlap: int = 64
    precision: str = "float32"
    xla: bool = False
    preview_every: int = 10
    save_every: int = 0
    checkpoint_every: int = 0

    def __post_init__(self) -> None:
        self.content_layers = tuple(self.content_layers)
        self.style_layers = tuple(self.style_layers)
        if self.style_blend is not None:
            self.style_blend = tuple(float(w) for w in self.style_blend)
        if self.weights is None:
            self.weights = os.environ.get("NST_WEIGHTS") or "imagenet"
        self.validate()

    def validate(self) -> None:
        """Raise RequestError naming the first setting that is out of range."""
        if not 16 <= int(self.size) <= 16384:
            raise RequestError(f"size must be between 16 and 16384 pixels, got {self.size}.")
        if int(self.iterations) < 1:
            raise RequestError(f"iterations must be at least 1, got {self.iterations}.")
        choices = (("optimizer", OPTIMIZERS), ("init", INITS), ("pooling", POOLINGS),
                   ("style_loss", STYLE_LOSSES), ("precision", PRECISIONS))
        for name, allowed in choices:
            if getattr(self, name) not in allowed:
                raise RequestError(
                    f"{name.replace('_', '-')} must be one of {', '.join(allowed)}, "
                    f"got {getattr(self, name)!r}."
                )
        for name in ("content_weight", "style_weight", "tv_weight"):
            if float(getattr(self, name)) < 0:
                raise RequestError(f"{name.replace('_', '-')} must not be negative.")
        if float(self.learning_rate) <= 0:
            raise RequestError("learning-rate must be positive.")
        if not self.style_layers and not self.content_layers:
            raise RequestError("at least one content or style layer is needed.")
        if self.style_blend is not None and any(w < 0 for w in self.style_blend):
            raise RequestError("style-blend weights must not be negative.")
        if self.strength is not None and not 0.0 <= float(self.strength) <= 1.0:
            raise RequestError(f"strength must be between 0 and 1, got {self.strength}.")
        if not 0.05 <= float(self.style_scale) <= 8:
            raise RequestError(f"style-scale must be between 0.05 and 8, got {self.style_scale}.")
        if self.scales is not None and not 1 <= int(self.scales) <= 8:
            raise RequestError(f"scales must be between 1 and 8, got {self.scales}.")
        if self.time_budget is not None and float(self.time_budget) <= 0:
            raise RequestError("time-budget must be a positive number of seconds.")
        if not 0.0 <= float(self.average) < 1.0:
            raise RequestError("average must be at least 0 and below 1.")
        if int(self.tile_size) < 32 or not 0 <= int(self.tile_overlap) < int(self.tile_size) // 2:
            raise RequestError(
                "tile-size must be at least 32 px and tile-overlap below half of it."
            )
        for name in ("preview_every", "save_every", "checkpoint_every"):
            if int(getattr(self, name)) < 0:
                raise RequestError(f"{name.replace('_', '-')} must not be negative.")

    def loss_weights(self) -> tuple[float, float, float]:
        """(content, style, tv) weights, with `strength` applied when it is set.

        strength s in 0..1 scales content by 2(1 - s), style by 2s and smoothness by
        min(1, 2s): 0 gives back the content, 0.5 the weights as set, 1 style alone.
        """
        cw, sw, tw = float(self.content_weight), float(self.style_weight), float(self.tv_weight)
        if self.strength is None:
            return cw, sw, tw
        s = float(self.strength)
        return cw * 2 * (1 - s), sw * 2 * s, tw * min(1.0, 2 * s)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        data = dataclasses.asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Build settings from JSON-like data; unknown keys are an error, not ignored."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise RequestError(
                f"unknown setting {unknown[0]!r}; known settings are {', '.join(sorted(known))}."
            )
        try:
            return cls(**data)
        except (TypeError, ValueError) as err:
            if isinstance(err, RequestError):
                raise
            raise RequestError(f"a setting has the wrong type ({err}).") from None

    def replace(self, **changes: Any) -> Settings:
        """A copy with some settings changed (validated again)."""
        return dataclasses.replace(self, **changes)


@dataclass
class StylizeRequest:
    """One job as an engine receives it: decoded sRGB images and settings.

    `content` and each of `styles` are RGB PIL images; the core has already applied EXIF
    orientation, converted to sRGB and split off alpha, and puts alpha back afterwards.
    """

    content: Image.Image
    styles: list[Image.Image]
    settings: Settings = field(default_factory=Settings)
    engine: str = "vgg19"
    job_id: str = "job"
    resume: dict[str, Any] | None = None  # {"scale", "tile", "tile_step", "image"} from a checkpoint

    def style_weights(self) -> list[float]:
        """Blend weights for the styles, summing to 1."""
        blend = self.settings.style_blend or (1.0,) * len(self.styles)
        if len(blend) != len(self.styles):
            raise RequestError(
                f"style-blend has {len(blend)} weights for {len(self.styles)} style images."
            )
        total = sum(blend)
        if total <= 0:
            raise RequestError("style-blend weights must not all be zero.")
        return [w / total for w in blend]


@dataclass
class Result:
    """What a stylize job produced."""

    image: Image.Image
    iterations: int
    seconds: float
    losses: list[float]
    engine: str
    backend: str
    device: str
    output: str | None = None
    weights: str | None = None  # which weights the engine used, e.g. "imagenet", "random"

    @property
    def width(self) -> int:
        return self.image.width

    @property
    def height(self) -> int:
        return self.image.height

    @property
    def loss_start(self) -> float:
        return self.losses[0] if self.losses else float("nan")

    @property
    def loss_end(self) -> float:
        return self.losses[-1] if self.losses else float("nan")

    def to_dict(self) -> dict[str, Any]:
        """The JSON summary that `nst stylize --json` prints."""
        return {
            "output": self.output,
            "width": self.width,
            "height": self.height,
            "iterations": self.iterations,
            "seconds": round(self.seconds, 3),
            "loss_start": self.loss_start,
            "loss_end": self.loss_end,
            "engine": self.engine,
            "backend": self.backend,
            "device": self.device,
            "weights": self.weights,
        }
