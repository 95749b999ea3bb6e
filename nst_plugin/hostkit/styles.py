"""Style images and names: which files are images, reading one, the service's style library.

A style, as both plug-ins pass it around, is a dict: ``{"name": ...}`` (from the service's
style library), ``{"path": ...}`` (an image file) or ``{"pixels": (w, h, data, mode)}`` (a
layer), each with a ``"label"`` for the result layer's name.
"""

from __future__ import annotations

import base64
import os

from .errors import PluginError
from .png import encode_png

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
IMAGE_KINDS = "PNG, JPEG, WebP, TIFF, BMP or GIF"
FILE_FILTER = "Images (%s)" % " ".join("*" + ext for ext in IMAGE_EXTENSIONS)  # for Qt dialogs


def is_image(data: bytes) -> bool:
    """Whether the bytes start like an image file the service reads."""
    head = bytes(data[:12])
    return (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith(b"\xff\xd8\xff")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head[:4] in (b"II*\x00", b"MM\x00*")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or head[:2] == b"BM"
    )


def looks_like_path(text: str) -> bool:
    """Whether a style typed as text names a file rather than a library style."""
    return (
        "/" in text
        or "\\" in text
        or text.startswith("~")
        or text.lower().endswith(IMAGE_EXTENSIONS)
    )


def style_from_text(text: str) -> dict:
    """The style a user typed: a library name, or the path of an image file (checked now)."""
    text = (text or "").strip()
    if not text:
        raise PluginError(
            "Choose a style: a name from the style library or the path of an image file."
        )
    if not looks_like_path(text):
        return {"name": text, "label": text}
    path = os.path.expanduser(text)
    if not os.path.isfile(path):
        raise PluginError(
            "The style file %s does not exist; give the path of an image file or a name from "
            "the style library." % path
        )
    return {"path": path, "label": os.path.splitext(os.path.basename(path))[0] or "style"}


def read_style_file(path: str) -> bytes:
    """The bytes of a style image file; one sentence when it cannot be read or is no image."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise PluginError(
            "The style file %s cannot be read (%s)." % (path, exc.strerror or exc)
        ) from None
    if not is_image(data):
        raise PluginError("The style file %s is not an image (%s)." % (path, IMAGE_KINDS))
    return data


def submit_kwargs(style) -> dict:
    """The style keywords of ``Client.submit`` for a style dict, or a list of them in order
    (regions, a blend); files are read now."""
    if isinstance(style, (list, tuple)):
        if len(style) == 1:
            return submit_kwargs(style[0])
        return {"styles": [style_part(s) for s in style]}
    if style.get("name"):
        return {"style_name": style["name"]}
    return {"styles": [style_part(style)]}


def style_part(style: dict):
    """One style as the service's ``style`` part: a library name, or image bytes."""
    if style.get("name"):
        return str(style["name"])
    if style.get("path"):
        return read_style_file(style["path"])
    width, height, data, mode = style["pixels"]
    return encode_png(width, height, data, mode)


def style_names(styles: list) -> list:
    """The sorted names of the service's style library (``GET /v1/styles``)."""
    return sorted({s["name"] for s in styles if isinstance(s, dict) and s.get("name")})


def digests(styles: list) -> dict:
    """Library name -> the SHA-256 of its file, from ``GET /v1/styles``."""
    return {
        s["name"]: s["sha256"]
        for s in styles
        if isinstance(s, dict) and isinstance(s.get("name"), str) and s.get("sha256")
    }


def check_style_name(name: str, styles: list) -> None:
    """Raise :class:`PluginError` when the library has no style ``name``."""
    names = style_names(styles)
    if names and name not in names:
        shown = ", ".join(names[:12]) + (", ..." if len(names) > 12 else "")
        raise PluginError(
            "There is no style named %r in the library; choose one of %s, or give the path of "
            "an image file." % (name, shown)
        )


def library(service) -> dict:
    """The service's engines and style library, thumbnails as PNG bytes.

    ``{"engines": <GET /v1/engines>, "styles": [{"name", "source", "thumbnail"}], "url"}``.
    """
    styles = []
    for entry in service.styles():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        thumbnail = entry.get("thumbnail")
        try:
            thumbnail = base64.b64decode(thumbnail) if isinstance(thumbnail, str) else None
        except ValueError:
            thumbnail = None
        styles.append(
            {
                "name": entry["name"],
                "source": entry.get("source"),
                "thumbnail": thumbnail,
                "sha256": entry.get("sha256"),
            }
        )
    return {"engines": service.engines(), "styles": styles, "url": service.url}


def add_style(service, name: str, path: str) -> dict:
    """Upload the image file ``path`` to the library as ``name``; returns :func:`library`."""
    data = read_style_file(path)
    service.add_style(name, data, filename=os.path.basename(path.replace("\\", "/")))
    return library(service)
