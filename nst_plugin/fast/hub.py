"""The fast engine's TensorFlow Hub source: Magenta's SavedModel, run on TensorFlow.

`https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2` is one SavedModel
whose call takes (content, style) float images in 0..1 — content any size, style 256x256 —
and returns the stylized content first. It keeps the style vector inside, so this source
can only mix results (see `runners.SavedModelRunner`).

`nst models download` fetches the compressed archive once into the cache with a progress
bar; `nst models import FILE` takes the archive (.tar.gz) or its unpacked folder on machines
without internet. Either way the model is loaded and run once on a small image before it is
kept, so a damaged archive is refused at once and the cache keeps what it had.
"""

from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path

from ..errors import UserError

HUB_URL = (
    "https://tfhub.dev/google/magenta/arbitrary-image-stylization-v1-256/2?tf-hub-format=compressed"
)
FOLDER = "magenta-arbitrary-v1-256"
Progress = Callable[[int, "int | None"], None]


def url() -> str:
    """Where `nst models download` fetches the archive ($NST_FAST_HUB_URL overrides it)."""
    return os.environ.get("NST_FAST_HUB_URL") or HUB_URL


def folder(cache: Path) -> Path:
    """The unpacked SavedModel's folder in the cache `cache`."""
    return cache / FOLDER


def installed(cache: Path) -> Path | None:
    """The cached SavedModel's folder, or None when there is none."""
    path = folder(cache)
    return path if (path / "saved_model.pb").is_file() else None


def load(path: Path):
    """The loaded SavedModel and a function (content, style) -> stylized (1, h, w, 3) array."""
    import tensorflow as tf

    model = tf.saved_model.load(str(path))
    if callable(model):
        return model, lambda content, style: _first(model(tf.constant(content), tf.constant(style)))
    signature = model.signatures.get("serving_default")
    if signature is None:
        raise UserError(
            f"{path} holds a SavedModel that cannot be called with a photo and a "
            f"style; import the TensorFlow Hub model from {HUB_URL}."
        )
    names = sorted(signature.structured_input_signature[1])  # placeholder, placeholder_1

    def call(content, style):
        out = signature(**{names[0]: tf.constant(content), names[1]: tf.constant(style)})
        return out[sorted(out)[0]].numpy()

    return model, call


def _first(outputs):
    """The stylized image of a model call's answer: a tensor, or a list or dict of them."""
    if isinstance(outputs, dict):
        outputs = outputs[sorted(outputs)[0]]
    elif isinstance(outputs, (list, tuple)):
        outputs = outputs[0]
    return outputs.numpy()


def probe(path: Path) -> None:
    """Load the SavedModel in `path` and run it on a small image; UserError if it fails."""
    import numpy as np

    try:
        _, call = load(path)
        out = call(
            np.full((1, 64, 64, 3), 0.5, np.float32), np.full((1, 256, 256, 3), 0.5, np.float32)
        )
        if out.shape != (1, 64, 64, 3):
            raise ValueError(f"it returned shape {out.shape} for a 64x64 photo")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(
            f"{path} is not a working copy of Magenta's stylization model "
            f"({str(exc).splitlines()[0] if str(exc) else type(exc).__name__}); "
            f"download it again from {HUB_URL}."
        ) from exc


def install(source: Path, cache: Path) -> Path:
    """Check the SavedModel folder or archive `source`, then put it in the cache; return it.

    The copy is unpacked and probed in a temporary folder beside the destination and renamed
    into place, so the cache holds the old model or the new one, never half of one.
    """
    dest = folder(cache)
    try:
        cache.mkdir(parents=True, exist_ok=True)
        work = Path(tempfile.mkdtemp(prefix=f".{FOLDER}.", dir=cache))
    except OSError as exc:
        raise UserError(
            f"cannot write to {cache} ({exc.strerror or exc}); make it writable or "
            "set NST_MODELS_DIR to another folder."
        ) from exc
    try:
        staged = work / "model"
        if source.is_dir():
            shutil.copytree(_model_root(source), staged)
        else:
            unpacked = work / "unpacked"
            _unpack(source, unpacked)
            _model_root(unpacked).rename(staged)
        probe(staged)
        _swap_in(staged, dest, work / "old")
    except OSError as exc:
        raise UserError(
            f"could not put the model into {cache} ({exc.strerror or exc}); check "
            "the free disk space and the folder's permissions."
        ) from exc
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return dest


def _swap_in(staged: Path, dest: Path, old: Path) -> None:
    """Rename `staged` to `dest`; a model already there moves to `old`, and back on failure."""
    had = dest.exists()
    if had:
        dest.rename(old)
    try:
        staged.rename(dest)
    except OSError:
        if had:
            old.rename(dest)
        raise


def _model_root(tree: Path) -> Path:
    """The folder in `tree` that holds saved_model.pb; UserError when none does."""
    found = sorted(tree.rglob("saved_model.pb"), key=lambda p: len(p.parts))
    if not found:
        raise UserError(
            f"{tree} holds no saved_model.pb; give the TensorFlow Hub archive "
            f"(.tar.gz from {HUB_URL}) or the folder unpacked from it."
        )
    return found[0].parent


def _unpack(archive: Path, into: Path) -> None:
    """Unpack the .tar.gz `archive` into `into`, refusing members that would land outside it."""
    try:
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                target = (into / member.name).resolve()
                if not (member.isfile() or member.isdir()) or not target.is_relative_to(
                    into.resolve()
                ):
                    raise UserError(
                        f"{archive} holds {member.name!r}, which a model archive "
                        "never does; it was not unpacked."
                    )
            if hasattr(tarfile, "data_filter"):
                tar.extractall(into, filter="data")
            else:
                tar.extractall(into)
    except (tarfile.TarError, EOFError, OSError) as exc:
        raise UserError(
            f"{archive} is not a readable .tar.gz archive ({exc}); download it "
            f"again from {HUB_URL}."
        ) from exc


def download(cache: Path, *, progress: Progress | None = None, timeout: float = 60) -> Path:
    """Download the archive from `url()`, check it, unpack it into the cache; return the folder."""
    from ..vgg19.weights_fetch import stream_url

    cache.mkdir(parents=True, exist_ok=True)
    advice = f"download {HUB_URL} on a connected machine and run `nst models import FILE`"
    handle, name = tempfile.mkstemp(prefix=f".{FOLDER}.", suffix=".tar.gz", dir=cache)
    try:
        with os.fdopen(handle, "wb") as out:
            stream_url(url(), out, progress, timeout, advice)
        return install(Path(name), cache)
    finally:
        Path(name).unlink(missing_ok=True)
