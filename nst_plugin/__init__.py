"""nst-plugin: neural style transfer for image editors, hot folders and scripts.

    >>> import nst_plugin
    >>> result = nst_plugin.stylize("photo.jpg", "painting.jpg", "out.png", size=256)

Importing this package is cheap: no TensorFlow, no numpy, no Pillow until a job runs.
"""

from __future__ import annotations

from .api import resume, stylize
from .hookspecs import hookimpl
from .progress import Cancelled, ProgressEvent, Reporter
from .request import RequestError, Result, Settings, StylizeRequest

__version__ = "0.1.0"

__all__ = [
    "Cancelled",
    "ProgressEvent",
    "Reporter",
    "RequestError",
    "Result",
    "Settings",
    "StylizeRequest",
    "hookimpl",
    "resume",
    "stylize",
    "__version__",
]
