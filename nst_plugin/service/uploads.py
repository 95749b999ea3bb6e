"""A submitted form -> validated job inputs: images decoded under the pixel limit, options
checked against the one schema. Everything wrong is a 400 with one sentence."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import engines
from ..errors import RequestError
from ..options import BY_NAME, Settings
from .config import ServiceConfig
from .security import ApiError, BodyTooLarge
from .styles import StyleLibrary, decode

if TYPE_CHECKING:
    from PIL import Image

TRUE = ("1", "true", "yes", "on")


@dataclass
class Submission:
    """A job as the job table takes it."""

    content: Image.Image  # RGB, or RGBA when the content or the mask brings transparency
    styles: list[Image.Image]
    settings: Settings
    engine: str
    cancel_on_disconnect: bool
    style_masks: list[Image.Image] | None = None  # "L", the content's size (regions.py)
    strength_map: Image.Image | None = None


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


def parse_options(text: str | None, service_weights: str | None) -> tuple[Settings, str]:
    """(settings, engine name) from the `options` field, a JSON object of schema options."""
    data: Any = {}
    if text is not None and text.strip():
        try:
            data = json.loads(text)
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
        raise ApiError(400, "the engine option must be an engine's name")
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
    except (TypeError, ValueError) as err:
        raise ApiError(400, f"the options are invalid ({err})") from None


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
    """Check a POST /v1/jobs form; decode its images in a worker thread."""
    from starlette.concurrency import run_in_threadpool

    contents = await file_bytes(form, "content")
    if len(contents) != 1:
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

    def decode_all() -> tuple[Image.Image, list[Image.Image], Any, Any]:
        from .. import regions

        content = decode(contents[0], "content", config.max_pixels)
        mask = decode(masks[0], "mask", config.max_pixels) if masks else None
        style_images = [
            decode(library.path(part).read_bytes(), "style", 2**40).rgb
            if isinstance(part, str)
            else decode(part, f"style #{i + 1}", config.max_pixels).rgb
            for i, part in enumerate(styles)
        ]
        if style_masks:
            regions.check_blend(style_masks, settings.style_blend)
        guides = regions.load_guides(
            content.rgb.size,
            len(style_images),
            [
                decode(data, f"style_mask #{i + 1}", config.max_pixels)
                for i, data in enumerate(style_masks)
            ]
            if style_masks
            else None,
            decode(maps[0], "strength_map", config.max_pixels) if maps else None,
        )
        return combine_mask(content, mask), style_images, *guides

    content, style_images, guide_masks, guide_map = await run_in_threadpool(decode_all)
    if settings.style_blend is not None and len(settings.style_blend) != len(style_images):
        raise ApiError(
            400,
            f"style_blend has {len(settings.style_blend)} weights for "
            f"{len(style_images)} style images",
        )
    return Submission(content, style_images, settings, engine, cancel, guide_masks, guide_map)
