"""The VGG19 optimization engine (Gatys et al. 2015), registered as a default plugin.

Importing this module is cheap: TensorFlow, Keras and numpy load on the first job.
"""

from __future__ import annotations

import contextlib
import glob
import os
import sys
from collections.abc import Iterator

from ..engines import Engine
from ..hookspecs import hookimpl
from ..options import taken_by

NAME = "vgg19"


@contextlib.contextmanager
def _native_logs_silenced() -> Iterator[None]:
    """Hide TensorFlow's C++ start-up log lines (they ignore TF_CPP_MIN_LOG_LEVEL).

    Python errors still surface: they are raised after stderr is restored. NST_DEBUG=1 shows all.
    """
    if os.environ.get("NST_DEBUG") == "1":
        yield
        return
    sys.stderr.flush()
    saved = os.dup(2)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def load_engine():
    """Import the engine's heavy half (Keras, the backend) once, quietly; return its module."""
    if "nst_plugin.vgg19.transfer" not in sys.modules:
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with _native_logs_silenced():
            from . import transfer

            transfer.backend_module().device()  # devices log as they start: start them here
    from . import transfer

    return transfer


def device() -> str:
    """Where the engine runs: exact once its backend is loaded; before that a guess that loads
    nothing ("GPU" where the machine has an NVIDIA device, else "CPU")."""
    transfer = sys.modules.get("nst_plugin.vgg19.transfer")
    if hasattr(transfer, "backend_module"):  # not while another thread still imports it
        return transfer.backend_module().device()
    return "GPU" if glob.glob("/dev/nvidia[0-9]*") else "CPU"


def stylize(request, reporter):
    """The engine's stylize function: load the heavy half on first use, then run."""
    return load_engine().run(request, reporter)


@hookimpl
def nst_register_engines(register):
    register(
        Engine(
            NAME,
            "VGG19 optimization (Gatys et al. 2015) on Keras 3, on the GPU "
            "when there is one; L-BFGS or Adam iterate on the device; --precision "
            "auto runs a bfloat16 network where the device computes bfloat16 "
            "natively, float32 elsewhere (the result's precision says which).",
            stylize,
            taken_by(NAME),
            device=device,
        )
    )
