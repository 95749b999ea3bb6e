"""The style library: the bundled paintings and the user's own, by name, with thumbnails.

Bundled styles are nst_plugin/examples/*.jpg; the user's live in one folder
($XDG_DATA_HOME/nst-plugin/styles unless `nst serve --styles-dir` says otherwise), where
uploads are saved as PNG and where a user may also drop image files. A name is never
reused: adding a style under a taken name is refused, so no style is ever overwritten.
"""

from __future__ import annotations

import base64
import hashlib
import io
import logging
import re
import threading
import unicodedata
from pathlib import Path
from typing import Any

from ..errors import RequestError, UserError, quote
from ..fsutil import atomic_file
from ..limits import MAX_PIXELS

log = logging.getLogger("nst_plugin.service")

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "examples"
SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
THUMBNAIL_EDGE = 128
MAX_NAME = 64


class StyleExists(UserError):
    """A style of that name exists already (answered with 409)."""


def clean_name(name: str) -> str:
    """`name` as a style name: lower case a-z, 0-9, _ and -; accents dropped."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode("ascii")
    cleaned = re.sub(r"[^a-z0-9_-]+", "_", ascii_name.lower()).strip("_-")[:MAX_NAME]
    if not cleaned:
        raise RequestError(
            f"the style name {quote(name)} has no letters or digits; "
            "give a name such as my_painting."
        )
    return cleaned


def decode(data: bytes, what: str, max_pixels: int = MAX_PIXELS):
    """Image bytes from a client -> `images.LoadedImage`; one sentence when they are refused.

    The pixel count is checked from the header, before the image is decoded.
    """
    import warnings

    from PIL import Image

    from .. import images

    if not data:
        raise RequestError(f"the {what} image is empty; send the image file's bytes.")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            img = Image.open(io.BytesIO(data))
            width, height = img.size
            if width * height > max_pixels:
                raise RequestError(
                    f"the {what} image is too large ({width} x {height} pixels, "
                    f"the limit is {max_pixels}); scale it down first."
                )
            img.load()
            return images.load_image(img, max_pixels=max_pixels)
        except UserError:
            raise
        except Image.DecompressionBombError:
            raise RequestError(
                f"the {what} image is too large (over {max_pixels} pixels); scale it down first."
            ) from None
        except Exception as err:  # Pillow raises many types on damaged data
            reason = " ".join(str(err).split()).rstrip(".")[:120] or type(err).__name__
            raise RequestError(
                f"the {what} image cannot be read ({reason}); send a PNG or JPEG file."
            ) from None


def decoded_size(data: bytes, what: str, max_pixels: int = MAX_PIXELS) -> int:
    """The bytes an image takes decoded (4 per pixel), read from its header; one sentence
    when it cannot be read or is over `max_pixels`."""
    from PIL import Image

    if not data:
        raise RequestError(f"the {what} image is empty; send the image file's bytes.")
    try:
        width, height = Image.open(io.BytesIO(data)).size
    except Exception:  # Pillow raises many types on damaged data; decode() says which
        decode(data, what, max_pixels)
        raise
    if width * height > max_pixels:
        raise RequestError(
            f"the {what} image is too large ({width} x {height} pixels, "
            f"the limit is {max_pixels}); scale it down first."
        )
    return 4 * width * height


def thumbnail_and_digest(path: Path) -> tuple[str, str]:
    """(a base64 PNG of the image at `path`, at most THUMBNAIL_EDGE pixels on its long edge,
    the SHA-256 of the file): what the listing shows of one style."""
    from .. import images

    rgb = images.load_image(path).rgb
    rgb.thumbnail((THUMBNAIL_EDGE, THUMBNAIL_EDGE))
    out = io.BytesIO()
    rgb.save(out, format="PNG")
    return base64.b64encode(out.getvalue()).decode("ascii"), hashlib.sha256(
        path.read_bytes()
    ).hexdigest()


class StyleLibrary:
    """Bundled and user styles by name. Thread-safe; thumbnails are cached per file version."""

    def __init__(
        self, user_dir: Path, bundled_dir: Path = BUNDLED_DIR, max_pixels: int = MAX_PIXELS
    ) -> None:
        self.user_dir = Path(user_dir)
        self.bundled_dir = Path(bundled_dir)
        self.max_pixels = max_pixels
        self._thumbnails: dict[tuple[str, int, int], tuple[str, str]] = {}
        self._lock = threading.Lock()

    def entries(self) -> dict[str, tuple[Path, str]]:
        """name -> (file, "bundled" or "user"); a bundled name hides a user file of that name."""
        found: dict[str, tuple[Path, str]] = {}
        for folder, source, suffixes in (
            (self.bundled_dir, "bundled", (".jpg",)),
            (self.user_dir, "user", SUFFIXES),
        ):
            try:
                files = sorted(
                    p
                    for p in folder.iterdir()
                    if p.suffix.lower() in suffixes and not p.name.startswith(".") and p.is_file()
                )
            except OSError:
                continue
            for path in files:
                found.setdefault(path.stem.lower(), (path, source))
        return found

    def listing(self) -> list[dict[str, Any]]:
        """Every readable style: {"name", "source", "thumbnail", "sha256"} (the file's hash, which
        a result's recipe keeps); unreadable files are logged."""
        out = []
        for name, (path, source) in self.entries().items():
            try:
                stat = path.stat()
                key = (str(path), stat.st_mtime_ns, stat.st_size)
                with self._lock:
                    thumb = self._thumbnails.get(key)
                if thumb is None:
                    thumb = thumbnail_and_digest(path)
                    with self._lock:
                        self._thumbnails[key] = thumb
            except (OSError, UserError) as err:
                log.warning("style %s skipped: %s", path, err)
                continue
            out.append({"name": name, "source": source, "thumbnail": thumb[0], "sha256": thumb[1]})
        return out

    def path(self, name: str) -> Path:
        """The file of the style called `name`; an unknown name is one sentence listing them."""
        entries = self.entries()
        found = entries.get(str(name).strip().lower())
        if found is None:
            names = ", ".join(sorted(entries)) or "none"
            raise RequestError(
                f"there is no style named {quote(str(name))}; the styles are: {names}."
            )
        return found[0]

    def read(self, name: str) -> bytes:
        """The image bytes of the style called `name`; one sentence when they cannot be read."""
        path = self.path(name)
        try:
            return path.read_bytes()
        except OSError as err:
            raise RequestError(
                f"the style {quote(str(name))} cannot be read ({err.strerror or 'unreadable'}); "
                f"check the file {path.name} in the style folder."
            ) from None

    def add(self, name: str, data: bytes) -> str:
        """Check the image, save it as PNG under the cleaned name; return that name."""
        name = clean_name(name)
        loaded = decode(data, "style", self.max_pixels)
        with self._lock:
            if name in self.entries():
                raise StyleExists(
                    f"a style named {quote(name)} exists already; choose another name."
                )
            self.user_dir.mkdir(parents=True, exist_ok=True)
            try:
                with atomic_file(self.user_dir / f"{name}.png", overwrite=False) as fh:
                    loaded.rgb.save(fh, format="PNG")
            except FileExistsError:
                raise StyleExists(
                    f"a style named {quote(name)} exists already; choose another name."
                ) from None
        log.info("style %s added", name)
        return name
