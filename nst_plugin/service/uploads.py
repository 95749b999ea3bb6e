"""A submitted form -> validated job inputs: images decoded under the pixel limit, options
checked against the one schema. Everything wrong is a 400 with one sentence."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .. import engines
from ..errors import RequestError, quote
from ..options import BY_NAME, Settings
from .config import ServiceConfig
from .security import ApiError, BodyTooLarge
from .styles import StyleLibrary, decode, decoded_size

_CHECKING = threading.Lock()  # one job's images decoded at a time while submits are checked
MB = 1024 * 1024
MAX_FRAMES = 1000  # frames in one frame-sequence job

if TYPE_CHECKING:
    from PIL import Image

TRUE = ("1", "true", "yes", "on")


@dataclass
class Uploads:
    """A job's images as they came: compressed bytes, decoded only when the job starts."""

    content: bytes
    styles: list[tuple[str, bytes]]  # (what the sentences call it, bytes), in order
    mask: bytes | None = None
    style_masks: list[bytes] = field(default_factory=list)
    strength_map: bytes | None = None
    frames: list[bytes] = field(default_factory=list)  # a frame sequence: `content` is frame 1

    @property
    def size(self) -> int:
        """The bytes held."""
        later = self.frames[1:]
        parts = [self.content, self.mask, self.strength_map, *self.style_masks, *later]
        return sum(len(p) for p in parts if p) + sum(len(d) for _, d in self.styles)


@dataclass
class Submission:
    """A job as the job table takes it: its uploads, checked, still compressed."""

    uploads: Uploads
    settings: Settings
    engine: str
    cancel_on_disconnect: bool
    decoded: int = 0  # bytes its images take decoded (an estimate from their headers)


async def read_form(request: Any, max_files: int) -> Any:
    """The request's multipart form; a body that is not one is a 400."""
    ctype = request.headers.get("content-type", "")
    if not ctype.lower().startswith("multipart/form-data"):
        raise ApiError(400, "send the request as multipart/form-data")
    try:
        return await request.form(max_files=max_files, max_fields=16, max_part_size=1024 * 1024)
    except BodyTooLarge:
        raise
    except Exception as err:  # starlette's HTTPException, python-multipart's errors, bad UTF-8
        detail = getattr(err, "detail", "") or type(err).__name__
        raise ApiError(
            400, f"the request body is not valid multipart/form-data ({detail})"
        ) from None


def text_field(form: Any, name: str) -> str | None:
    value = form.get(name)
    if value is None or isinstance(value, str):
        return value
    raise ApiError(400, f"send {name} as a text field, not as a file")


async def file_bytes(form: Any, name: str) -> list[bytes]:
    out = []
    for value in form.getlist(name):
        if isinstance(value, str):
            raise ApiError(400, f"send {name} as a file, not as a text field")
        out.append(await value.read())
    return out


async def style_parts(form: Any) -> list[str | bytes]:
    """The `style` parts in order: image bytes (a file part) or a library name (a text part)."""
    out: list[str | bytes] = []
    for value in form.getlist("style"):
        out.append(value.strip() if isinstance(value, str) else await value.read())
    return out


def _no_constant(name: str) -> Any:
    raise ApiError(
        400, f"the options field has {name}, which is not a number; send finite numbers only"
    )


def parse_options(text: str | None, service_weights: str | None) -> tuple[Settings, str]:
    """(settings, engine name) from the `options` field, a JSON object of schema options."""
    data: Any = {}
    if text is not None and text.strip():
        try:
            data = json.loads(text, parse_constant=_no_constant)
        except json.JSONDecodeError as err:
            raise ApiError(
                400, f"the options field is not valid JSON ({err.msg} at character {err.pos})"
            ) from None
        except (ValueError, RecursionError):
            raise ApiError(400, "the options field is not valid JSON") from None
    if not isinstance(data, dict):
        raise ApiError(400, 'the options field must be a JSON object such as {"size": 512}')
    engine = data.pop("engine", engines.DEFAULT_ENGINE)
    if not isinstance(engine, str):
        raise ApiError(400, f"the engine option must be an engine's name, not {quote(engine)}")
    for name in data:
        option = BY_NAME.get(name)
        if option is not None and option.upload:
            raise ApiError(
                400,
                f"send {name} as uploaded image files in the form field {option.upload}, "
                "not in the options (the service never reads paths)",
            )
        if option is not None and option.on_server:
            raise ApiError(
                400,
                f"the option {name} is set where the service runs, not by a "
                "client (clients send images as bytes, never paths)",
            )
    if service_weights:
        data["weights"] = service_weights
    try:
        engines.get(engine)
        return Settings.from_dict(data), engine
    except RequestError:
        raise
    except (TypeError, ValueError) as err:  # e.g. a value of a type no option takes
        raise ApiError(400, f"the options are invalid ({quote(str(err))})") from None


def combine_mask(loaded: Any, mask: Any | None) -> Image.Image:
    """The content as one image; its alpha is the mask (times the content's own alpha)."""
    from PIL import ImageChops

    from .. import images

    alpha = loaded.alpha
    if mask is not None:
        grey = mask.rgb.convert("L")
        if grey.size != loaded.rgb.size:
            raise ApiError(
                400,
                f"the mask is {grey.width} x {grey.height} pixels but the "
                f"content is {loaded.rgb.width} x {loaded.rgb.height}; send a mask "
                "of the content's size",
            )
        alpha = grey if alpha is None else ImageChops.multiply(alpha, grey)
    return images.join_alpha(loaded.rgb, alpha)


async def job_from_form(form: Any, config: ServiceConfig, library: StyleLibrary) -> Submission:
    """Check a POST /v1/jobs form: its fields, then its images, decoded once in a worker
    thread to find every mistake now (a 400 before anything is queued); the job keeps the
    compressed bytes and decodes them again when it starts."""
    from starlette.concurrency import run_in_threadpool

    contents = await file_bytes(form, "content")
    frames = await file_bytes(form, "frame")
    if frames and contents:
        raise ApiError(400, "send either one content image or frames (field frame), not both")
    if len(frames) > MAX_FRAMES:
        raise ApiError(
            400, f"a job takes at most {MAX_FRAMES} frames; send the rest as a second job"
        )
    if len(contents) != 1 and not frames:
        raise ApiError(400, "send exactly one content image as the file field content")
    styles = await style_parts(form)
    style_name = text_field(form, "style_name")
    if bool(styles) == bool(style_name):
        raise ApiError(
            400,
            "send either styles (field style: image files, or library names as text) or a "
            "style_name, not both and not neither",
        )
    if style_name:
        styles = [style_name]
    if len(styles) > config.max_styles:
        raise ApiError(400, f"a job takes at most {config.max_styles} style images")
    masks = await file_bytes(form, "mask")
    if len(masks) > 1:
        raise ApiError(400, "send at most one mask")
    style_masks = await file_bytes(form, "style_mask")
    maps = await file_bytes(form, "strength_map")
    if len(maps) > 1:
        raise ApiError(400, "send at most one strength_map")
    settings, engine = parse_options(text_field(form, "options"), config.weights)
    cancel = (text_field(form, "cancel_on_disconnect") or "").strip().lower() in TRUE
    named = [
        (f"style {quote(part)}", await run_in_threadpool(library.read, part))
        if isinstance(part, str)
        else (f"style #{i + 1}", part)
        for i, part in enumerate(styles)
    ]
    uploads = Uploads((contents or frames)[0], named, masks[0] if masks else None, style_masks)
    uploads.strength_map = maps[0] if maps else None
    uploads.frames = frames

    def check() -> int:
        size = job_size(uploads, config)
        with _CHECKING:
            _, style_images, _, _ = decode_uploads(uploads, config, settings)
            check_frames(uploads, config)
        if settings.style_blend is not None and len(settings.style_blend) != len(style_images):
            raise ApiError(
                400,
                f"style_blend has {len(settings.style_blend)} weights for "
                f"{len(style_images)} style images",
            )
        return size

    decoded = await run_in_threadpool(check)
    return Submission(uploads, settings, engine, cancel, decoded)


def check_frames(uploads: Uploads, config: ServiceConfig) -> None:
    """Every frame of a sequence readable and of the first frame's size (one at a time)."""
    first = None
    for i, data in enumerate(uploads.frames, 1):
        size = decode(data, f"frame #{i}", config.max_pixels).rgb.size
        first = first or size
        if size != first:
            raise ApiError(
                400,
                f"frame #{i} is {size[0]} x {size[1]} pixels but frame #1 is {first[0]} x "
                f"{first[1]}; send frames that all have one size",
            )


class LazyFrames:
    """A sequence's frames, each decoded when the chain reaches it (one in memory at a time),
    the mask as its alpha; it holds the compressed uploads and the pixel limit only, so it
    can travel to a worker."""

    def __init__(self, uploads: Uploads, max_pixels: int) -> None:
        self.uploads, self.max_pixels = uploads, max_pixels

    def __len__(self) -> int:
        return len(self.uploads.frames)

    def __iter__(self) -> Any:
        uploads, limit = self.uploads, self.max_pixels
        mask = decode(uploads.mask, "mask", limit) if uploads.mask else None  # once, for all
        for index, data in enumerate(uploads.frames):
            yield combine_mask(decode(data, f"frame #{index + 1}", limit), mask)


def job_size(uploads: Uploads, config: ServiceConfig) -> int:
    """The bytes the job's images take decoded (from their headers; of a frame sequence, one
    frame at a time); 413 over the budget."""
    images = [("content", uploads.content), *uploads.styles]
    images += [("mask", uploads.mask)] if uploads.mask else []
    images += [(f"style_mask #{i + 1}", m) for i, m in enumerate(uploads.style_masks)]
    images += [("strength_map", uploads.strength_map)] if uploads.strength_map else []
    total = sum(decoded_size(data, what, config.max_pixels) for what, data in images)
    if total > config.max_job_bytes:
        raise ApiError(
            413,
            f"the job's images take {total / MB:.0f} MB decoded, over the service's limit of "
            f"{config.max_job_bytes / MB:.0f} MB per job; send smaller or fewer images, or start "
            "the service with a larger --max-job-mb",
        )
    return total


def decode_uploads(uploads: Uploads, config: ServiceConfig, settings: Settings) -> tuple:
    """(content with the mask as alpha, style images, style masks, strength map) as the
    engines take them; every mistake is one sentence (RequestError or ApiError)."""
    from .. import regions

    content = decode(uploads.content, "content", config.max_pixels)
    mask = decode(uploads.mask, "mask", config.max_pixels) if uploads.mask else None
    style_images = [decode(data, what, config.max_pixels).rgb for what, data in uploads.styles]
    if uploads.style_masks:
        regions.check_blend(uploads.style_masks, settings.style_blend)
    guides = regions.load_guides(
        content.rgb.size,
        len(style_images),
        [
            decode(data, f"style_mask #{i + 1}", config.max_pixels)
            for i, data in enumerate(uploads.style_masks)
        ]
        if uploads.style_masks
        else None,
        decode(uploads.strength_map, "strength_map", config.max_pixels)
        if uploads.strength_map
        else None,
    )
    return combine_mask(content, mask), style_images, *guides
