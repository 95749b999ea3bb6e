"""Write stand-in VGG19 weight files in the layout of Keras's published notop file.

The values come from :func:`nst_plugin.vgg19.weights_read.random_arrays`, so a file
written here with ``seed=s`` reads back exactly as ``--weights random`` with the
same seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import h5py
import numpy as np

from nst_plugin.vgg19.vgg_layers import CONV_LAYERS
from nst_plugin.vgg19.weights_read import random_arrays

ALL_CONV = tuple(name for name, _, _ in CONV_LAYERS)


def _network_order(layers: Sequence[str]) -> list[str]:
    """input_1, the chosen convs, and each block's pool up to the deepest chosen block."""
    chosen = set(layers)
    last_block = max(int(n[5]) for n in chosen) if chosen else 0
    order = ["input_1"]
    for block in range(1, last_block + 1):
        order += [n for n in ALL_CONV if n.startswith(f"block{block}_") and n in chosen]
        order.append(f"block{block}_pool")
    return order


def write_vgg19_h5(path: Path, seed: int = 0, layers: Sequence[str] = ALL_CONV) -> Path:
    """Write ``layers`` (default: all 16 convs, ~80 MB) to ``path`` and return it.

    Root attrs ``layer_names``/``backend``/``keras_version``; one group per
    layer with attr ``weight_names`` and datasets ``<layer>_W_1:0`` (kernel,
    3x3xinxout float32) and ``<layer>_b_1:0`` (bias), as in the original file.
    """
    unknown = set(layers) - set(ALL_CONV)
    if unknown:
        raise ValueError(f"unknown conv layers {sorted(unknown)}")
    arrays = random_arrays(list(layers), seed=seed)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    order = _network_order(layers)
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([n.encode("utf8") for n in order])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"2.1.5"
        for name in order:
            group = f.create_group(name)
            if name in arrays:
                kernel, bias = arrays[name]
                wnames = [f"{name}_W_1:0", f"{name}_b_1:0"]
                group.attrs["weight_names"] = np.array([w.encode("utf8") for w in wnames])
                group.create_dataset(wnames[0], data=kernel)
                group.create_dataset(wnames[1], data=bias)
            else:
                group.attrs["weight_names"] = np.array([], dtype="S1")
    return path
