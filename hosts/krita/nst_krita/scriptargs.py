"""The Scripter's ways of naming styles, checked and turned into what a job takes: one style,
two blended, or regions. No Qt here, so the logic tests check every sentence with a fake.
"""

from __future__ import annotations

import os

from . import layers, regions
from .hostkit.errors import PluginError
from .hostkit.styles import style_from_text

NAME_A_STYLE = (
    "Name a style: style='starry_night' (from the library), a path to an image file, or a layer."
)


def script_style(style, document) -> dict:
    """The host kit style dict of a library name, an image file or a layer (``Node``)."""
    if style is None:
        raise PluginError(NAME_A_STYLE)
    if regions.is_node(style):
        w, h, data = layers.read_style_layer(document, style)
        return {
            "pixels": (w, h, data, "BGRA"),
            "label": style.name(),
            "layer": layers.node_id(style),
        }
    if not isinstance(style, (str, os.PathLike)):
        raise PluginError(
            "A style is a library name, the path of an image file or a layer, not %s."
            % type(style).__name__
        )
    return style_from_text(os.fspath(style))


def script_styles(document, style=None, styles=None, blend_with=None, blend=None) -> tuple:
    """``(style, regions, blend)`` for a job from ``stylize()``'s keywords: ``style`` a style
    dict or ``[first, second]`` to blend, ``regions`` a list of ``regions.Region`` (empty:
    none), ``blend`` the second style's share or None."""
    if styles is not None:
        if style is not None:
            raise PluginError(
                "Give style= for one style everywhere or styles= for regions, not both."
            )
        if blend_with is not None or blend is not None:
            raise PluginError(
                "blend_with= mixes two styles everywhere and styles= places each one in its "
                "region; give one or the other."
            )
        found = regions.script_regions(document, styles, lambda s: script_style(s, document))
        return [r.style for r in found], found, None
    first = script_style(style, document)
    if blend_with is None:
        if blend is not None:
            raise PluginError(
                "blend= is the share of a second style; name it with blend_with= (a library "
                "name, an image file or a layer)."
            )
        return first, [], None
    share = 0.5 if blend is None else blend
    if isinstance(share, bool) or not isinstance(share, (int, float)):
        raise PluginError("blend= is a number from 0 to 1, not %s." % type(share).__name__)
    return [first, script_style(blend_with, document)], [], float(share)


def script_node(document, node, what: str):
    """A layer or mask of ``document`` given for ``what`` (None stays None)."""
    return None if node is None else regions.document_node(document, node, what)
