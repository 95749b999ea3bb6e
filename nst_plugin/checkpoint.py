"""Checkpoints: everything a run needs to continue after a crash, in one .npz file.

A checkpoint holds the decoded inputs (so moved or edited source files do not matter), the
settings, the output path and the engine's state (current image, scale, tile, step).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from .errors import RequestError
from .fsutil import atomic_file
from .options import Settings

SUFFIX = ".nst-checkpoint.npz"
VERSION = 1


def path_for(output: str | os.PathLike[str]) -> Path:
    """Where the checkpoint of a run writing `output` lives: beside it."""
    output = Path(output)
    return output.with_name(output.name + SUFFIX)


def save(
    path: Path,
    *,
    content,
    alpha,
    styles,
    settings: Settings,
    output: str | None,
    engine: str,
    state: dict[str, Any],
    style_masks=None,
    strength_map=None,
) -> None:
    """Write atomically (temporary name, then rename): a crash mid-write keeps the last one."""
    import numpy as np

    meta = {
        "version": VERSION,
        "settings": settings.to_dict(),
        "output": output,
        "engine": engine,
        "styles": len(styles),
        **{k: v for k, v in state.items() if k != "image"},
    }
    arrays = {
        "content": np.asarray(content),
        "image": np.asarray(state["image"], np.float32),
        "meta": np.frombuffer(json.dumps(meta).encode(), np.uint8),
    }
    if alpha is not None:
        arrays["alpha"] = np.asarray(alpha)
    for i, style in enumerate(styles):
        arrays[f"style_{i}"] = np.asarray(style)
    for i, mask in enumerate(style_masks or []):
        arrays[f"mask_{i}"] = np.asarray(mask)
    if strength_map is not None:
        arrays["strength_map"] = np.asarray(strength_map)
    with atomic_file(path) as f:
        np.savez(f, **arrays)


def load(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read a checkpoint: content, alpha, styles (PIL images), settings, output, engine, state."""
    import numpy as np
    from PIL import Image

    try:
        with np.load(path) as data:
            meta = json.loads(bytes(data["meta"]).decode())
            if meta.get("version") != VERSION:
                raise ValueError(f"version {meta.get('version')}")
            arrays = {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError) as err:
        raise RequestError(
            f"{os.fspath(path)} is not an nst checkpoint this version can resume ({err})."
        ) from None
    state = {k: meta[k] for k in ("scale", "tile", "tile_step", "tile_size") if k in meta}
    state["image"] = arrays["image"]
    return {
        "content": Image.fromarray(arrays["content"], "RGB"),
        "alpha": Image.fromarray(arrays["alpha"], "L") if "alpha" in arrays else None,
        "styles": [Image.fromarray(arrays[f"style_{i}"], "RGB") for i in range(meta["styles"])],
        "style_masks": [Image.fromarray(arrays[f"mask_{i}"], "L") for i in range(meta["styles"])]
        if "mask_0" in arrays
        else None,
        "strength_map": Image.fromarray(arrays["strength_map"], "L")
        if "strength_map" in arrays
        else None,
        "settings": Settings.from_dict(meta["settings"]),
        "output": meta["output"],
        "engine": meta["engine"],
        "state": state,
    }
