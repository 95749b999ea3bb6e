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
        for name, allowed in (("optimizer", OPTIMIZERS), ("init", INITS), ("pooling", POOLINGS)):
            if getattr(self, name) not in allowed:
                raise RequestError(
                    f"{name} must be one of {', '.join(allowed)}, got {getattr(self, name)!r}."
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
    cancelled: bool = False

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
            "cancelled": self.cancelled,
        }
