"""Fetching VGG19 ImageNet weights into Keras's cache: download, import, checksum."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from ..errors import WeightsError
from ..fsutil import atomic_file
from .vgg_layers import VGG19_FILE, VGG19_MD5, VGG19_URL

Progress = Callable[[int, "int | None"], None]
CHUNK = 1 << 20
IMPORT_HINT = "nst weights import FILE"


def keras_cache_path() -> Path:
    """Full path of the cached notop file, where Keras's ``get_file`` keeps it.

    ``$KERAS_HOME/models/<VGG19_FILE>`` if ``KERAS_HOME`` is set (read now, not
    at import), else ``~/.keras/models/...``, or ``/tmp/.keras/models/...``
    when the home directory is not writable.
    """
    home = os.environ.get("KERAS_HOME")
    if home:
        base = Path(os.path.expanduser(home))
    else:
        user = os.path.expanduser("~")
        if not os.access(user, os.W_OK):
            user = "/tmp"
        base = Path(user) / ".keras"
    return base / "models" / VGG19_FILE


def file_md5(path: Path) -> str:
    """Hex md5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    *,
    url: str = VGG19_URL,
    dest: Path | None = None,
    expected_md5: str | None = VGG19_MD5,
    progress: Progress | None = None,
    timeout: float = 30,
) -> Path:
    """Download ``url`` to ``dest`` (default :func:`keras_cache_path`) and return it.

    Streams into a temporary file beside ``dest``, checks the md5 (skipped if
    ``expected_md5`` is None), then renames into place; the temporary file is
    removed on any failure.  ``progress(done_bytes, total_bytes_or_None)`` is
    called after each chunk.  Raises :class:`WeightsError` on failure.
    """

    dest = Path(dest) if dest is not None else keras_cache_path()
    advice = f"download {VGG19_FILE} on a connected machine and run `{IMPORT_HINT}`"
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(dest) as out:
            got = stream_url(url, out, progress, timeout, advice)
            if expected_md5 is not None and got != expected_md5.lower():
                reason = f"md5 {got}, expected {expected_md5}"
                raise WeightsError(
                    f"The file downloaded from {url} is not the expected one ({reason}) "
                    f"and was discarded; try again later, or {advice}.",
                    reason=reason,
                )
    except OSError as exc:
        reason = f"cannot write to {dest.parent}: {exc.strerror or exc}"
        raise WeightsError(
            f"Could not download {url} ({reason}); make that folder writable "
            f"or set KERAS_HOME, or {advice}.",
            reason=reason,
        ) from exc
    return dest


def stream_url(url: str, out, progress: Progress | None, timeout: float, advice: str) -> str:
    """Copy `url` into the open file `out`; return the md5. Network trouble is WeightsError."""
    import http.client
    import urllib.error
    import urllib.request

    digest = hashlib.md5(usedforsecurity=False)
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "nst-plugin"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            length = response.headers.get("Content-Length")
            total = int(length) if length and length.isdigit() else None
            done = 0
            while chunk := response.read(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                done += len(chunk)
                if progress is not None:
                    progress(done, total)
    except urllib.error.HTTPError as exc:
        reason = f"HTTP {exc.code} {exc.reason}"
        raise WeightsError(
            f"Could not download {url} ({reason}); check the address, or {advice}.",
            reason=reason,
        ) from exc
    except urllib.error.URLError as exc:
        reason = str(exc.reason)
        raise WeightsError(
            f"Could not download {url} ({reason}); check the network connection, or {advice}.",
            reason=reason,
        ) from exc
    except (OSError, ValueError, http.client.HTTPException) as exc:
        reason = str(exc) or type(exc).__name__
        raise WeightsError(
            f"Could not download {url} ({reason}); try again, or {advice}.", reason=reason
        ) from exc
    if total is not None and done != total:
        reason = f"got {done} of {total} bytes"
        raise WeightsError(
            f"Download of {url} was cut short ({reason}); try again, or {advice}.", reason=reason
        )
    return digest.hexdigest()


def import_file(
    src: str | Path,
    *,
    dest: Path | None = None,
    expected_md5: str | None = VGG19_MD5,
) -> Path:
    """Copy a user-supplied weights file into the cache after checking its md5.

    ``dest`` defaults to :func:`keras_cache_path`.  The copy goes through a
    temporary file and a rename; ``src`` is only read.  Raises
    :class:`WeightsError` if ``src`` is missing or its md5 is wrong (nothing is
    then written to the cache).
    """
    src = Path(src).expanduser().absolute()
    dest = Path(dest) if dest is not None else keras_cache_path()
    if not src.is_file():
        raise WeightsError(
            f"Cannot import {src}: no such file; give the path of the downloaded "
            f"{VGG19_FILE} (from {VGG19_URL})."
        )
    got = file_md5(src)
    if expected_md5 is not None and got != expected_md5.lower():
        raise WeightsError(
            f"{src} is not Keras's published VGG19 notop file (md5 {got}, "
            f"expected {expected_md5}); download {VGG19_FILE} from {VGG19_URL} "
            f"and import that file.",
            reason=f"md5 {got}, expected {expected_md5}",
        )
    if dest.exists() and os.path.samefile(src, dest):
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_file(dest) as out, open(src, "rb") as fh:
            digest = hashlib.md5(usedforsecurity=False)
            for chunk in iter(lambda: fh.read(CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
            if digest.hexdigest() != got:
                raise WeightsError(f"{src} changed while it was being imported; import it again.")
    except OSError as exc:
        raise WeightsError(
            f"Cannot import {src} into {dest} ({exc.strerror or exc}); "
            f"check disk space and permissions, then try again."
        ) from exc
    return dest
