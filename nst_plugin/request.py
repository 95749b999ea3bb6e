"""What an engine receives (`StylizeRequest`) and returns (`Result`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .engines import DEFAULT_ENGINE
from .errors import RequestError
from .options import Settings

if TYPE_CHECKING:  # Pillow stays out of `import nst_plugin`
    from PIL import Image


@dataclass
class Temporal:
    """A video frame's link to the previous one: that frame's result warped onto this frame
    along the optical flow (RGB, the content's size), and where the warp can be trusted ("L":
    white where the flow is consistent, black at occlusions and motion boundaries)."""

    warped: Image.Image
    reliable: Image.Image


@dataclass
class StylizeRequest:
    """One job as an engine receives it: decoded sRGB images and settings.

    `content` and each of `styles` are RGB PIL images; the core has already applied EXIF
    orientation, converted to sRGB and split off alpha, and puts alpha back afterwards.
    `style_masks` (one per style) and `strength_map` are "L" images of the content's size,
    checked by `regions.load_guides`; None where not given. `temporal`: for a video frame,
    the previous frame's result carried onto this one (`video.chain`).
    """

    content: Image.Image
    styles: list[Image.Image]
    settings: Settings = field(default_factory=Settings)
    engine: str = DEFAULT_ENGINE
    job_id: str = "job"
    resume: dict[str, Any] | None = (
        None  # {"scale", "tile", "tile_step", "image"} from a checkpoint
    )
    style_masks: list[Image.Image] | None = None
    strength_map: Image.Image | None = None
    temporal: Temporal | None = None

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
    precision: str | None = None  # what ran: "float32", or "mixed" (bfloat16 network)

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
            "loss_start": self.losses[0] if self.losses else None,
            "loss_end": self.losses[-1] if self.losses else None,
            "engine": self.engine,
            "backend": self.backend,
            "device": self.device,
            "weights": self.weights,
            "precision": self.precision,
        }
