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

import hashlib
import os
import sys
import tempfile
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

__all__ = [
    "VGG19_FILE",
    "VGG19_URL",
    "VGG19_MD5",
    "CONV_LAYERS",
    "WeightsError",
    "WeightsSource",
    "keras_cache_path",
    "resolve",
    "load",
    "random_arrays",
    "read_h5",
    "file_md5",
    "download",
    "import_file",
    "status",
]

VGG19_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
VGG19_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/" + VGG19_FILE
)
VGG19_MD5 = "253f8cb515780f3b799900260a226db6"

CONV_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("block1_conv1", 3, 64),
    ("block1_conv2", 64, 64),
    ("block2_conv1", 64, 128),
    ("block2_conv2", 128, 128),
    ("block3_conv1", 128, 256),
    ("block3_conv2", 256, 256),
    ("block3_conv3", 256, 256),
    ("block3_conv4", 256, 256),
    ("block4_conv1", 256, 512),
    ("block4_conv2", 512, 512),
    ("block4_conv3", 512, 512),
    ("block4_conv4", 512, 512),
    ("block5_conv1", 512, 512),
    ("block5_conv2", 512, 512),
    ("block5_conv3", 512, 512),
    ("block5_conv4", 512, 512),
)
"""(name, in_channels, out_channels) of VGG19's convolution layers, in order."""

_CHANNELS: dict[str, tuple[int, int]] = {n: (i, o) for n, i, o in CONV_LAYERS}
_CHUNK = 1 << 20
_IMPORT_HINT = "nst weights import FILE"
_RANDOM_WARNING = (
    "nst: using random VGG19 weights: a stand-in for tests and benchmarks, "
    "not real stylization."
)
_random_warned = False

Progress = Callable[[int, "int | None"], None]


class WeightsError(RuntimeError):
    """Weights missing, corrupt or of the wrong layout; str() is one sentence saying what to do.

    ``reason`` optionally carries the short underlying cause (e.g. a network
    error), for callers that wrap the message in their own advice.
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = reason


@dataclass(frozen=True)
class WeightsSource:
    """Where the conv weights come from."""

    kind: str  # "imagenet" | "file" | "random"
    path: Path | None  # the .h5 file for imagenet/file, None for random
    label: str  # short text for logs/JSON: "imagenet", "random", "file:/x/y.h5"


# --------------------------------------------------------------------------- paths


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


def _check_layers(layers: Sequence[str]) -> list[str]:
    if isinstance(layers, str):
        layers = [layers]
    names = list(dict.fromkeys(layers))
    unknown = [n for n in names if n not in _CHANNELS]
    if unknown:
        raise ValueError(
            f"unknown VGG19 conv layer(s) {unknown}; expected names like "
            f"'block1_conv1' ... 'block5_conv4'"
        )
    return names


def load(
    spec: str | None,
    layers: Sequence[str],
    *,
    seed: int = 0,
    download: bool = True,
    progress: Progress | None = None,
) -> dict[str, tuple["np.ndarray", "np.ndarray"]]:
    """Return ``{layer: (kernel, bias)}`` for the requested conv layers.

    ``spec`` as for :func:`resolve`.  For ``imagenet`` the Keras cache file is
    used, downloaded first when missing and ``download`` is true.  ``random``
    uses :func:`random_arrays` with ``seed`` and warns once per process on
    stderr.  Raises :class:`WeightsError` when no usable weights are found.
    """
    names = _check_layers(layers)
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
                f"on a connected machine and run `{_IMPORT_HINT}`, or use "
                f"--weights random for the untrained stand-in network."
            )
    try:
        return read_h5(path, names)
    except WeightsError as exc:
        raise WeightsError(
            f"The cached VGG19 ImageNet weights {path} are unusable ({exc.reason}); "
            f"delete the file and let nst download it again, or run "
            f"`{_IMPORT_HINT}` with a good copy of {VGG19_FILE}.",
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


def random_arrays(
    layers: Sequence[str], seed: int = 0
) -> dict[str, tuple["np.ndarray", "np.ndarray"]]:
    """Seeded stand-in weights: He-normal kernels, small normal biases, float32.

    Each layer's values depend only on ``(seed, layer name)``, so asking for a
    truncated network never changes the earlier layers.
    """
    import numpy as np

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in _check_layers(layers):
        cin, cout = _CHANNELS[name]
        key = zlib.crc32(name.encode("ascii"))
        rng = np.random.default_rng(np.random.SeedSequence([int(seed) & (2**64 - 1), key]))
        std = np.float32(np.sqrt(2.0 / (9 * cin)))
        kernel = rng.standard_normal((3, 3, cin, cout), dtype=np.float32) * std
        bias = rng.standard_normal((cout,), dtype=np.float32) * np.float32(0.01)
        out[name] = (kernel, bias)
    return out


def _h5_problem(path: Path, problem: str) -> WeightsError:
    return WeightsError(
        f"Cannot use VGG19 weights file {path}: {problem}; use Keras's "
        f"{VGG19_FILE} (or a file in its layout), 'imagenet' or 'random'.",
        reason=problem,
    )


def read_h5(
    path: Path, layers: Sequence[str]
) -> dict[str, tuple["np.ndarray", "np.ndarray"]]:
    """Read conv kernels/biases from a Keras (legacy HDF5) VGG19 weights file.

    Accepts the layer groups at the root or under ``model_weights`` (full-model
    saves), and weight names either flat (``block1_conv1_W_1:0``) or nested
    (``block1_conv1/kernel:0``).  Raises :class:`WeightsError` naming the file
    if it is unreadable, lacks a requested layer, or has wrong shapes.
    """
    import h5py
    import numpy as np

    names = _check_layers(layers)
    path = Path(path)
    if not path.is_file():
        raise _h5_problem(path, "the file does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _h5_problem(path, f"not a readable HDF5 file ({exc})") from exc
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        root: Any = f["model_weights"] if "model_weights" in f else f
        for name in names:
            if name not in root or not isinstance(root[name], h5py.Group):
                raise _h5_problem(path, f"layer {name} is missing")
            group = root[name]
            arrays = []
            if "weight_names" in group.attrs:
                for wname in group.attrs["weight_names"]:
                    wname = wname.decode("utf8") if isinstance(wname, bytes) else str(wname)
                    if wname not in group:
                        raise _h5_problem(path, f"layer {name} lacks dataset {wname}")
                    arrays.append(group[wname])
            else:
                group.visititems(
                    lambda _n, obj: arrays.append(obj)
                    if isinstance(obj, h5py.Dataset)
                    else None
                )
            kernels = [a for a in arrays if isinstance(a, h5py.Dataset) and a.ndim == 4]
            biases = [a for a in arrays if isinstance(a, h5py.Dataset) and a.ndim == 1]
            if len(kernels) != 1 or len(biases) != 1 or len(arrays) != 2:
                raise _h5_problem(
                    path,
                    f"layer {name} should hold one kernel and one bias, "
                    f"found {[tuple(a.shape) for a in arrays]}",
                )
            cin, cout = _CHANNELS[name]
            kshape, bshape = tuple(kernels[0].shape), tuple(biases[0].shape)
            if kshape != (3, 3, cin, cout) or bshape != (cout,):
                raise _h5_problem(
                    path,
                    f"layer {name} has kernel {kshape} and bias {bshape}, "
                    f"expected {(3, 3, cin, cout)} and {(cout,)}",
                )
            out[name] = (
                np.asarray(kernels[0][()], dtype=np.float32),
                np.asarray(biases[0][()], dtype=np.float32),
            )
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise _h5_problem(path, f"the file is damaged ({exc})") from exc
    finally:
        f.close()
    return out


# --------------------------------------------------------------------------- files


def file_md5(path: Path) -> str:
    """Hex md5 of a file, read in chunks."""
    digest = hashlib.md5(usedforsecurity=False)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _temp_beside(dest: Path) -> tuple[int, Path]:
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    return fd, Path(name)


def _unlink_quietly(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass


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
    import http.client
    import urllib.error
    import urllib.request

    dest = Path(dest) if dest is not None else keras_cache_path()
    advice = (
        f"download {VGG19_FILE} on a connected machine and run `{_IMPORT_HINT}`"
    )
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _temp_beside(dest)
    except OSError as exc:
        reason = f"cannot write to {dest.parent}: {exc.strerror or exc}"
        raise WeightsError(
            f"Could not download {url} ({reason}); make that folder writable "
            f"or set KERAS_HOME, or {advice}.",
            reason=reason,
        ) from exc

    digest = hashlib.md5(usedforsecurity=False)
    try:
        with os.fdopen(fd, "wb") as out:
            try:
                request = urllib.request.Request(url, headers={"User-Agent": "nst-plugin"})
                with urllib.request.urlopen(request, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    done = 0
                    while True:
                        chunk = response.read(_CHUNK)
                        if not chunk:
                            break
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
                    f"Could not download {url} ({reason}); check the network "
                    f"connection, or {advice}.",
                    reason=reason,
                ) from exc
            except (OSError, ValueError, http.client.HTTPException) as exc:
                reason = str(exc) or type(exc).__name__
                raise WeightsError(
                    f"Could not download {url} ({reason}); try again, or {advice}.",
                    reason=reason,
                ) from exc
            if total is not None and done != total:
                reason = f"got {done} of {total} bytes"
                raise WeightsError(
                    f"Download of {url} was cut short ({reason}); try again, or {advice}.",
                    reason=reason,
                )
        got = digest.hexdigest()
        if expected_md5 is not None and got != expected_md5.lower():
            reason = f"md5 {got}, expected {expected_md5}"
            raise WeightsError(
                f"The file downloaded from {url} is not the expected one ({reason}) "
                f"and was discarded; try again later, or {advice}.",
                reason=reason,
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dest)
    except BaseException:
        _unlink_quietly(tmp)
        raise
    return dest


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
        fd, tmp = _temp_beside(dest)
    except OSError as exc:
        raise WeightsError(
            f"Cannot import {src}: {dest.parent} is not writable "
            f"({exc.strerror or exc}); fix its permissions or set KERAS_HOME."
        ) from exc
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out, open(src, "rb") as fh:
            for chunk in iter(lambda: fh.read(_CHUNK), b""):
                out.write(chunk)
                digest.update(chunk)
        if digest.hexdigest() != got:
            raise WeightsError(
                f"{src} changed while it was being imported; import it again."
            )
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, dest)
    except WeightsError:
        _unlink_quietly(tmp)
        raise
    except BaseException as exc:
        _unlink_quietly(tmp)
        if isinstance(exc, OSError):
            raise WeightsError(
                f"Cannot import {src} into {dest} ({exc.strerror or exc}); "
                f"check disk space and permissions, then try again."
            ) from exc
        raise
    return dest


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
