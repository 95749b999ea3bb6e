"""Neural Style for Krita: a docker, an action and a Scripter API over the local nst service.

Installed by ``nst install-host krita`` with a copy of the host kit (``hostkit/``, the logic
it shares with the GIMP plug-in) and ``nst-host.json`` beside this file; see docs/KRITA.md.
From Scripter:

    import nst_krita
    job = nst_krita.stylize(style="starry_night", strength=0.7)
    layer = job.wait()

Outside Krita (the logic tests) importing this package registers nothing.
"""

import sys
import traceback

from .hostkit.errors import Cancelled, PluginError, ServiceError

__all__ = [
    "Cancelled",
    "PluginError",
    "ServiceError",
    "history",
    "recipe",
    "restylize",
    "stylize",
    "stylize_animation",
]

try:
    from krita import Extension as _Extension  # noqa: F401 - only in Krita
    from krita import Krita as _Krita
except ImportError:
    _Krita = None


def stylize(*args, **kwargs):
    """See ``nst_krita.scripting.stylize``."""
    from .scripting import stylize as _stylize

    return _stylize(*args, **kwargs)


def stylize_animation(*args, **kwargs):
    """See ``nst_krita.scripting.stylize_animation``."""
    from .scripting import stylize_animation as _stylize_animation

    return _stylize_animation(*args, **kwargs)


def restylize(*args, **kwargs):
    """See ``nst_krita.scripting.restylize``."""
    from .scripting import restylize as _restylize

    return _restylize(*args, **kwargs)


def recipe(*args, **kwargs):
    """See ``nst_krita.scripting.recipe``."""
    from .scripting import recipe as _recipe

    return _recipe(*args, **kwargs)


def history(*args, **kwargs):
    """See ``nst_krita.scripting.history``."""
    from .scripting import history as _history

    return _history(*args, **kwargs)


if _Krita is not None:
    try:
        from .extension import register as _register

        _register()
    except Exception:
        traceback.print_exc(file=sys.stderr)
