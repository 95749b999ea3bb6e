"""Compiled engine code kept on disk between runs, where the backend can keep it.

JAX compiles the engine's step once per image shape (seconds each on a CPU); its persistent
compilation cache keeps those programs in `$XDG_CACHE_HOME/nst-plugin/jax` (default
`~/.cache/nst-plugin/jax`), so the next run, or the next start of `nst serve`, loads them
instead of compiling again. TensorFlow has no portable equivalent: a `tf.function`'s traced
graph lives only in its process (one trace serves every image size, and the service's warm-up
pays it at start instead of the first job).

`enable()` sets JAX's variables unless the user set them; it must run before JAX loads (it
also updates an already loaded JAX). JAX makes the folder when it first writes there, and an
unwritable one only costs the compile. `NST_COMPILE_CACHE=0` turns it off.
"""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path

from .fsutil import user_dir

MIN_COMPILE_SECONDS = 0.2  # programs that compile faster are not worth a file
MAX_BYTES = 1 << 30  # the folder's size, least recently used programs dropped beyond it


def cache_dir() -> Path:
    """$XDG_CACHE_HOME/nst-plugin/jax (the platform's cache folder elsewhere)."""
    return (
        user_dir("XDG_CACHE_HOME", ".cache", mac="Library/Caches", windows="LOCALAPPDATA")
        / "nst-plugin"
        / "jax"
    )


def enable() -> Path | None:
    """Point JAX's persistent compilation cache at `cache_dir()` unless the user chose a
    folder (`JAX_COMPILATION_CACHE_DIR`) or turned it off; the folder in use, or None."""
    if os.environ.get("NST_COMPILE_CACHE", "").strip() == "0":
        return None
    chosen = os.environ.get("JAX_COMPILATION_CACHE_DIR")
    folder = Path(chosen) if chosen else cache_dir()
    settings = {
        "JAX_COMPILATION_CACHE_DIR": (str(folder), str),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": (str(MIN_COMPILE_SECONDS), float),
        "JAX_COMPILATION_CACHE_MAX_SIZE": (str(MAX_BYTES), int),
    }
    for name, (value, _) in settings.items():
        os.environ.setdefault(name, value)
    jax = sys.modules.get("jax")
    if jax is not None:  # loaded already: its settings were read at import
        with contextlib.suppress(Exception):  # a value the user set that JAX refuses
            for name, (_, kind) in settings.items():
                jax.config.update(name.lower(), kind(os.environ[name]))
    return folder
