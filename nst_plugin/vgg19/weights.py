"""VGG19 convolution weights: where they come from, how they are fetched and read.

The engine needs only the 16 convolution layers of VGG19 (Keras names
``block1_conv1`` ... ``block5_conv4``).  Three sources exist:

* ``"imagenet"``: Keras's published notop file, cached where Keras caches it
  (``$KERAS_HOME/models`` or ``~/.keras/models``); downloaded on demand or
  imported by hand with ``nst weights import FILE`` on offline machines.
* a path to an ``.h5`` file in the same (legacy Keras HDF5) layout.
* ``"random"``: seeded He-normal weights, a stand-in for tests and benchmarks.

This module imports neither TensorFlow nor Keras; numpy and h5py are imported
lazily inside the functions that need them.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import WeightsError
from .vgg_layers import VGG19_FILE, VGG19_MD5, VGG19_URL, check_layers
from .weights_fetch import IMPORT_HINT, Progress, download, file_md5, import_file, keras_cache_path
from .weights_read import random_arrays, read_h5

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

# `status`, `download` and `import_file` are what `nst weights` runs (cli/weights.py).
__all__ = ["WeightsSource", "download", "import_file", "load", "resolve", "status"]

_RANDOM_WARNING = (
    "nst: using random VGG19 weights: a stand-in for tests and benchmarks, not real stylization."
)
_random_warned = False


@dataclass(frozen=True)
class WeightsSource:
    """Where the conv weights come from."""

    kind: str  # "imagenet" | "file" | "random"
    path: Path | None  # the .h5 file for imagenet/file, None for random
    label: str  # short text for logs/JSON: "imagenet", "random", "file:/x/y.h5"


def resolve(spec: str | None = None) -> WeightsSource:
    """Turn a ``--weights`` value into a :class:`WeightsSource`.

    ``None`` (or empty) means ``$NST_WEIGHTS``, else ``"imagenet"``.  The
    keywords ``imagenet`` and ``random`` are case-insensitive and win over
    files of the same name; anything else is a path that must exist.
    """
    if spec is None or not str(spec).strip():
        spec = os.environ.get("NST_WEIGHTS", "").strip() or "imagenet"
    spec = str(spec).strip()
    keyword = spec.lower()
    if keyword == "imagenet":
        return WeightsSource("imagenet", keras_cache_path(), "imagenet")
    if keyword == "random":
        return WeightsSource("random", None, "random")
    path = Path(spec).expanduser().absolute()
    if not path.exists():
        raise WeightsError(
            f"Weights file {path} does not exist; pass 'imagenet', 'random' "
            f"or the path of a VGG19 .h5 weights file (layout of {VGG19_FILE})."
        )
    if not path.is_file():
        raise WeightsError(
            f"Weights path {path} is not a file; pass the path of a VGG19 .h5 "
            f"weights file (layout of {VGG19_FILE}), 'imagenet' or 'random'."
        )
    return WeightsSource("file", path, f"file:{path}")


# --------------------------------------------------------------------------- loading


def load(
    spec: str | None,
    layers: Sequence[str],
    *,
    seed: int = 0,
    download: bool = True,
    progress: Progress | None = None,
) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Return ``{layer: (kernel, bias)}`` for the requested conv layers.

    ``spec`` as for :func:`resolve`.  For ``imagenet`` the Keras cache file is
    used, downloaded first when missing and ``download`` is true.  ``random``
    uses :func:`random_arrays` with ``seed`` and warns once per process on
    stderr.  Raises :class:`WeightsError` when no usable weights are found.
    """
    names = check_layers(layers)
    source = resolve(spec)
    if source.kind == "random":
        _warn_random()
        return random_arrays(names, seed=seed)
    assert source.path is not None
    if source.kind == "file":
        return read_h5(source.path, names)

    path = source.path
    if not path.is_file():
        if download:
            try:
                _fetch(path, progress)
            except WeightsError as exc:
                reason = exc.reason or str(exc)
            else:
                reason = None
        else:
            reason = "downloading is disabled"
        if reason is not None:
            raise WeightsError(
                f"VGG19 ImageNet weights are missing ({path}) and could not be "
                f"downloaded ({reason}); download {VGG19_FILE} from {VGG19_URL} "
                f"on a connected machine and run `{IMPORT_HINT}`, or use "
                f"--weights random for the untrained stand-in network."
            )
    try:
        return read_h5(path, names)
    except WeightsError as exc:
        raise WeightsError(
            f"The cached VGG19 ImageNet weights {path} are unusable ({exc.reason}); "
            f"delete the file and let nst download it again, or run "
            f"`{IMPORT_HINT}` with a good copy of {VGG19_FILE}.",
            reason=exc.reason,
        ) from exc


def _fetch(dest: Path, progress: Progress | None) -> Path:
    # ``download`` and ``VGG19_URL`` are looked up at call time, not bound at
    # definition, so tests can point them elsewhere.
    return download(url=VGG19_URL, dest=dest, expected_md5=VGG19_MD5, progress=progress)


def _warn_random() -> None:
    global _random_warned
    if not _random_warned:
        _random_warned = True
        print(_RANDOM_WARNING, file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- files


def status() -> dict:
    """State of the ImageNet cache and the default source, for ``nst weights``.

    Keys: ``cache_path``, ``present``, ``md5_ok`` (None if absent), ``bytes``
    (None if absent), ``default`` (label of :func:`resolve`'s default, or the
    raw ``$NST_WEIGHTS`` value if it does not resolve) and ``default_error``
    (None, or that resolution error's message).
    """
    path = keras_cache_path()
    present = path.is_file()
    md5_ok: bool | None = None
    size: int | None = None
    if present:
        size = path.stat().st_size
        try:
            md5_ok = file_md5(path) == VGG19_MD5
        except OSError:
            md5_ok = False
    try:
        default, error = resolve().label, None
    except WeightsError as exc:
        default, error = os.environ.get("NST_WEIGHTS", ""), str(exc)
    return {
        "cache_path": str(path),
        "present": present,
        "md5_ok": md5_ok,
        "bytes": size,
        "default": default,
        "default_error": error,
    }
