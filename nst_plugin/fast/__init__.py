"""The fast engine: Magenta's arbitrary image stylization (Ghiasi et al. 2017), one forward
pass, at any output size through overlapping tiles. Registered as a default plugin.

Importing this module is cheap: onnxruntime and numpy load on the first job.
"""

from __future__ import annotations

from ..engines import Engine
from ..hookspecs import hookimpl
from ..options import taken_by

NAME = "fast"


def stylize(request, reporter):
    """The engine's stylize function: load the model on first use, then run."""
    from . import transfer

    return transfer.run(request, reporter)


def problem() -> str | None:
    """None when a model source is installed; else the sentence saying what to install."""
    from ..errors import UserError, user_message
    from . import models

    try:
        models.source()
    except UserError as exc:
        text = user_message(exc)
        return text[0].upper() + text[1:]
    return None


def device() -> str:
    """Where the model runs: "GPU" when onnxruntime has CUDA here, else "CPU"."""
    try:
        import onnxruntime
    except ImportError:  # the TensorFlow Hub source: TensorFlow's own placement
        return "CPU"
    return "GPU" if "CUDAExecutionProvider" in onnxruntime.get_available_providers() else "CPU"


@hookimpl
def nst_register_engines(register):
    register(
        Engine(
            NAME,
            "Magenta's arbitrary stylization (Ghiasi et al. 2017): one pass, "
            "in seconds, for previews and quick results.",
            stylize,
            taken_by(NAME),
            check=problem,
            device=device,
        )
    )
