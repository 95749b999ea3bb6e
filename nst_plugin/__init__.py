"""nst-plugin: neural style transfer for image editors, hot folders and scripts.

    >>> import nst_plugin
    >>> result = nst_plugin.stylize("photo.jpg", "painting.jpg", "out.png", size=256)

Importing this package is cheap: no TensorFlow, no numpy, no Pillow until a job runs.
"""

from __future__ import annotations

from .engines import Engine
from .errors import Cancelled, ImageError, RequestError, UserError, WeightsError
from .hookspecs import hookimpl
from .options import Settings
from .pipeline import resume, stylize
from .progress import ProgressEvent, Reporter
from .request import Result, StylizeRequest

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "Engine",
    "ImageError",
    "ProgressEvent",
    "Reporter",
    "RequestError",
    "Result",
    "Settings",
    "StylizeRequest",
    "UserError",
    "WeightsError",
    "__version__",
    "hookimpl",
    "resume",
    "stylize",
]
