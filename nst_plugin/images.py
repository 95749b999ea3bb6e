"""Image loading and saving with Pillow.

``load_image`` turns any file or ``PIL.Image`` Pillow understands into an
8-bit sRGB ``RGB`` image plus an optional ``L`` alpha mask; ``save_image``
writes a result atomically without clobbering files by accident. Every
problem a user can cause is reported as an ``ImageError`` whose message is
one sentence naming the file and saying what to do.
"""

from __future__ import annotations

import io
import os
import pathlib
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import ImageError, OutputExistsError
from .fsutil import atomic_file
from .limits import MAX_PIXELS

try:
    from PIL import ImageCms
except ImportError:  # Pillow built without LittleCMS
    ImageCms = None

__all__ = [
    "SUPPORTED_OUTPUT",
    "LoadedImage",
    "check_output",
    "join_alpha",
    "load_image",
    "save_image",
]

SUPPORTED_OUTPUT = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".webp", ".bmp"}

_NO_ALPHA_FORMATS = {"JPEG", "BMP"}
_SAVE_OPTIONS = {"JPEG": {"quality": 95}, "WEBP": {"quality": 95}}
_ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}


@dataclass
class LoadedImage:
    """A decoded image: 8-bit sRGB colour plus optional transparency."""

    rgb: Image.Image  # mode "RGB", EXIF orientation applied
    alpha: Image.Image | None  # mode "L" when the source had transparency, else None
    name: str  # file path as given, or "<image>" for a PIL image passed in


# --------------------------------------------------------------------------- loading


def load_image(
    source: str | os.PathLike | Image.Image, *, max_pixels: int = MAX_PIXELS
) -> LoadedImage:
    """Load a file path or PIL image as 8-bit sRGB RGB plus an optional L alpha.

    Applies EXIF orientation, converts embedded non-sRGB ICC profiles to sRGB,
    scales 16/32-bit and float data to 8 bits and splits off transparency.
    Images larger than ``max_pixels`` are refused before decoding.
    A PIL image passed in is never modified.
    """
    if isinstance(source, Image.Image):
        name = "<image>"
        _check_size(name, source.size, max_pixels)
        try:
            source.load()
        except Exception as err:  # lazily opened images can still fail to decode
            raise _unreadable(name, err) from None
        return _convert(source, name)

    name = os.fspath(source)
    if os.path.isdir(name):
        raise ImageError(f"{name} is a folder, not an image; give the path of an image file.")
    with warnings.catch_warnings():
        # Pillow warns (or raises) for huge images; turn both into our error.
        action = "error" if max_pixels <= (Image.MAX_IMAGE_PIXELS or 0) else "ignore"
        warnings.simplefilter(action, Image.DecompressionBombWarning)
        try:
            with Image.open(name) as img:
                _check_size(name, img.size, max_pixels)
                img.load()  # full decode here, so truncated files fail inside the try
                return _convert(img, name)
        except ImageError:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError) as err:
            reason = str(err).rstrip(".")
            raise ImageError(
                f"{name} is too large ({reason}); scale it down before using it."
            ) from None
        except FileNotFoundError:
            raise ImageError(f"{name} does not exist; check the path and the file name.") from None
        except PermissionError:
            raise ImageError(
                f"{name} cannot be read (permission denied); check its permissions."
            ) from None
        except Exception as err:  # Pillow raises many types on corrupt data
            raise _unreadable(name, err) from None


def _check_size(name: str, size: tuple[int, int], max_pixels: int) -> None:
    width, height = size
    if width * height > max_pixels:
        raise ImageError(
            f"{name} is too large ({width} x {height} pixels, the limit is {max_pixels}); "
            "scale it down or raise the pixel limit."
        )


def _unreadable(name: str, err: Exception) -> ImageError:
    if os.path.isfile(name) and os.path.getsize(name) == 0:
        reason = "the file is empty"
    elif isinstance(err, UnidentifiedImageError):
        reason = "cannot identify image file"
    else:
        reason = " ".join(str(err).split()).rstrip(".") or type(err).__name__
    return ImageError(
        f"{name} is not an image Pillow can read ({reason}); "
        "check the file or export it again as PNG or JPEG."
    )


def _convert(img: Image.Image, name: str) -> LoadedImage:
    """Orient, split alpha, reduce to 8 bits and convert to sRGB; returns new images."""
    icc = img.info.get("icc_profile")
    colour, alpha = _split_alpha(_orient(img))
    colour = _to_8bit(colour)
    if colour.mode not in ("L", "RGB", "CMYK"):
        try:
            colour = colour.convert("RGB")
        except ValueError:
            raise ImageError(
                f"{name} uses the {colour.mode} colour mode, which is not supported; "
                "export it again as RGB."
            ) from None
    rgb = _to_srgb(colour, icc)
    if rgb is img:  # never hand back the caller's own object
        rgb = rgb.copy()
    return LoadedImage(rgb=rgb, alpha=alpha, name=name)


def _orient(img: Image.Image) -> Image.Image:
    try:
        return ImageOps.exif_transpose(img)
    except Exception:  # broken EXIF must not stop a load; keep the stored orientation
        return img


def _split_alpha(img: Image.Image) -> tuple[Image.Image, Image.Image | None]:
    """Return (colour image, alpha in mode L or None if fully opaque)."""
    if "transparency" in img.info and img.mode in ("1", "L", "P", "RGB"):
        img = img.convert("RGBA")  # palette or colour-key transparency
    elif img.mode == "P":
        img = img.convert("RGB")
    elif img.mode == "1":
        img = img.convert("L")
    if img.mode not in _ALPHA_MODES:
        return img, None
    img = img.convert("LA" if img.mode in ("LA", "La") else "RGBA")
    alpha = img.getchannel("A")
    colour = img.convert(img.mode[:-1])
    if alpha.getextrema() == (255, 255):
        alpha = None
    return colour, alpha


def _to_8bit(img: Image.Image) -> Image.Image:
    """Scale high bit depth grey to L.

    ``I;16*``: 0..65535. ``I``: 0..255 if its maximum is <= 255, 0..65535 if
    <= 65535, else the full 32-bit range. ``F``: 0..1 if its maximum is <= 1,
    else 0..255. Values outside the range are clipped.
    """
    if img.mode.startswith("I;16"):
        img, top = img.convert("I"), 65535
    elif img.mode == "I":
        high = img.getextrema()[1]
        top = 255 if high <= 255 else 65535 if high <= 65535 else 2**31 - 1
    elif img.mode == "F":
        top = 1.0 if img.getextrema()[1] <= 1.0 else 255
    else:
        return img
    scale = 255 / top
    return img.point(lambda v: v * scale + 0.5).convert("L")


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """Convert an L, RGB or CMYK image to sRGB RGB using its ICC profile when usable."""
    if icc and ImageCms is not None:
        try:
            profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
            if "srgb" not in ImageCms.getProfileDescription(profile).lower():
                srgb = ImageCms.createProfile("sRGB")
                return ImageCms.profileToProfile(img, profile, srgb, outputMode="RGB")
        except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
            pass  # broken or mismatched profile: fall back to a plain conversion
    return img if img.mode == "RGB" else img.convert("RGB")


def from_array(x) -> Image.Image:
    """An RGB image from a float (1, h, w, 3) or (h, w, 3) array in 0..255, rounded."""
    import numpy as np

    x = np.asarray(x)
    x = x[0] if x.ndim == 4 else x
    return Image.fromarray(np.clip(np.rint(x), 0, 255).astype(np.uint8), "RGB")


def join_alpha(rgb: Image.Image, alpha: Image.Image | None) -> Image.Image:
    """Return ``rgb`` with ``alpha`` (resized with LANCZOS to fit) as RGBA; ``rgb`` itself
    if alpha is None."""
    if alpha is None:
        return rgb
    mask = alpha.convert("L")
    if mask.size != rgb.size:
        mask = mask.resize(rgb.size, Image.Resampling.LANCZOS)
    out = rgb.convert("RGB")
    out.putalpha(mask)
    return out


# --------------------------------------------------------------------------- saving


def check_output(path: str | os.PathLike, *, overwrite: bool = False) -> pathlib.Path:
    """Check that ``path`` can be written, before a long job starts; return it as a Path."""
    out = pathlib.Path(path)
    ext = out.suffix.lower()
    if ext not in SUPPORTED_OUTPUT:
        choices = ", ".join(sorted(SUPPORTED_OUTPUT))
        raise ImageError(
            f"{out} has an unsupported extension ({ext or 'none'}); use one of {choices}."
        )
    if _format(out) not in Image.SAVE:
        raise ImageError(
            f"{out} cannot be written because this Pillow build lacks {ext} support; "
            "use .png or .jpg instead."
        )
    parent = out.parent
    if not parent.is_dir():
        raise ImageError(
            f"{out} cannot be written because the folder {parent} does not exist; "
            "create it first or choose another folder."
        )
    if out.is_dir():
        raise ImageError(f"{out} is a folder; choose a file name for the output.")
    if out.exists() and not overwrite:
        raise _exists(out)
    return out


def save_image(
    image: Image.Image, path: str | os.PathLike, *, overwrite: bool = False
) -> pathlib.Path:
    """Save an 8-bit image atomically, in the format given by the extension; return the path.

    The image is written to a hidden temporary file in the same folder and
    moved into place, so a crash never leaves a half-written output. JPEG and
    BMP cannot hold alpha, so transparent images are flattened onto white.
    """
    out = check_output(path, overwrite=overwrite)
    fmt = _format(out)
    prepared = _prepare(image, fmt)
    try:
        with atomic_file(out, overwrite=overwrite) as fh:
            prepared.save(fh, format=fmt, **_SAVE_OPTIONS.get(fmt, {}))
    except FileExistsError:
        raise _exists(out) from None
    except (OSError, ValueError) as err:
        reason = getattr(err, "strerror", None) or " ".join(str(err).split()).rstrip(".")
        raise ImageError(
            f"{out} could not be written ({reason}); "
            "check the image size, the free disk space and the folder permissions."
        ) from None
    return out


def _exists(out: pathlib.Path) -> OutputExistsError:
    return OutputExistsError(
        f"{out} already exists; pass --overwrite to replace it or choose another name."
    )


def _format(out: pathlib.Path) -> str:
    return Image.registered_extensions().get(out.suffix.lower(), "")


def _prepare(image: Image.Image, fmt: str) -> Image.Image:
    """Return an 8-bit RGB or RGBA copy suitable for ``fmt``."""
    has_alpha = image.mode in _ALPHA_MODES or "transparency" in image.info
    if not has_alpha:
        return _to_8bit(image).convert("RGB")
    rgba = image.convert("RGBA")
    if fmt not in _NO_ALPHA_FORMATS:
        return rgba
    flat = Image.new("RGB", rgba.size, (255, 255, 255))
    flat.paste(rgba, mask=rgba.getchannel("A"))
    return flat
