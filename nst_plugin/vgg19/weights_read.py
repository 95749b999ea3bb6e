"""Reading VGG19 weights: Keras's HDF5 layout, or a seeded random stand-in."""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import WeightsError
from .vgg_layers import CHANNELS, VGG19_FILE, check_layers

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def random_arrays(layers: Sequence[str], seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Seeded stand-in weights: He-normal kernels, small normal biases, float32.

    Each layer's values depend only on ``(seed, layer name)``, so asking for a
    truncated network never changes the earlier layers.
    """
    import numpy as np

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    for name in check_layers(layers):
        cin, cout = CHANNELS[name]
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


def read_h5(path: Path, layers: Sequence[str]) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Read conv kernels/biases from a Keras (legacy HDF5) VGG19 weights file.

    Accepts the layer groups at the root or under ``model_weights`` (full-model
    saves), and weight names either flat (``block1_conv1_W_1:0``) or nested
    (``block1_conv1/kernel:0``).  Raises :class:`WeightsError` naming the file
    if it is unreadable, lacks a requested layer, or has wrong shapes.
    """
    import h5py

    names = check_layers(layers)
    path = Path(path)
    if not path.is_file():
        raise _h5_problem(path, "the file does not exist")
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise _h5_problem(path, f"not a readable HDF5 file ({exc})") from exc
    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    try:
        root: Any = f.get("model_weights", f)
        for name in names:
            if name not in root or not isinstance(root[name], h5py.Group):
                raise _h5_problem(path, f"layer {name} is missing")
            out[name] = _kernel_and_bias(path, root[name], name)
    except WeightsError:
        raise
    except (OSError, KeyError, ValueError, TypeError) as exc:
        raise _h5_problem(path, f"the file is damaged ({exc})") from exc
    finally:
        f.close()
    return out


def _datasets(path: Path, group: Any, name: str) -> list:
    """A layer group's weights: those its `weight_names` lists, else every dataset below it."""
    import h5py

    if "weight_names" not in group.attrs:
        found: list = []
        group.visititems(
            lambda _n, obj: found.append(obj) if isinstance(obj, h5py.Dataset) else None
        )
        return found
    arrays = []
    for wname in group.attrs["weight_names"]:
        wname = wname.decode("utf8") if isinstance(wname, bytes) else str(wname)
        if wname not in group:
            raise _h5_problem(path, f"layer {name} lacks dataset {wname}")
        arrays.append(group[wname])
    return arrays


def _kernel_and_bias(path: Path, group: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Layer `name`'s kernel and bias as float32, after checking there is one of each, in the
    shapes VGG19 has."""
    import h5py
    import numpy as np

    arrays = _datasets(path, group, name)
    kernels = [a for a in arrays if isinstance(a, h5py.Dataset) and a.ndim == 4]
    biases = [a for a in arrays if isinstance(a, h5py.Dataset) and a.ndim == 1]
    if len(kernels) != 1 or len(biases) != 1 or len(arrays) != 2:
        raise _h5_problem(
            path,
            f"layer {name} should hold one kernel and one bias, "
            f"found {[tuple(a.shape) for a in arrays]}",
        )
    cin, cout = CHANNELS[name]
    kshape, bshape = tuple(kernels[0].shape), tuple(biases[0].shape)
    if kshape != (3, 3, cin, cout) or bshape != (cout,):
        raise _h5_problem(
            path,
            f"layer {name} has kernel {kshape} and bias {bshape}, "
            f"expected {(3, 3, cin, cout)} and {(cout,)}",
        )
    return (
        np.asarray(kernels[0][()], dtype=np.float32),
        np.asarray(biases[0][()], dtype=np.float32),
    )
