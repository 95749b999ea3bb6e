"""The result as a new layer. Main thread only.

``insert_result`` adds one paint layer above the source and its earlier results, in one undo
step: the user's layers are never written (``setPixelData`` is not undoable), and the layer's
pixels, a selection's soft edges included, are set before it joins the document. Krita 5.1's
Python API can fill a transparency mask only through Krita's own action, which would be a
second undo step, so a selection goes into the layer's alpha. The source layer stays active.
No Qt here; the logic tests drive it with a fake ``krita``.
"""

from __future__ import annotations

from .hostkit.areas import multiply_alpha
from .hostkit.errors import PluginError
from .hostkit.naming import unique_name
from .layers import MASK_TYPES, SRGB, Source, is_rgba8, node_id

_MADE = {}  # the result layers made this session: unique id -> the source layer's unique id


# ------------------------------------------------------------------------------ pixels


def keep_alpha(result: bytes, source: bytes) -> bytes:
    """The result's colours with the source's alpha (transparent stays transparent)."""
    if len(result) != len(source):
        raise ValueError(
            "keep_alpha: %d result bytes for %d source bytes" % (len(result), len(source))
        )
    out = bytearray(result)
    out[3::4] = source[3::4]
    return bytes(out)


# ------------------------------------------------------------------------------ writing


def _placement(doc, source_node):
    """(parent, node to go above): above the source layer and the results made from it that
    sit directly above it, or on top of the image for the visible image."""
    if source_node is None or source_node.parentNode() is None:
        root = doc.rootNode()
        tops = [n for n in root.childNodes() if n.type() not in MASK_TYPES]
        return root, (tops[-1] if tops else None)
    parent = source_node.parentNode()
    siblings = [n for n in parent.childNodes() if n.type() not in MASK_TYPES]
    source_id = node_id(source_node)
    above = source_node
    for node in siblings[siblings.index(source_node) + 1 :]:
        if _MADE.get(node_id(node)) != source_id:
            break
        above = node
    return parent, above


def insert_result(doc, source: Source, pixels: bytes, name: str):
    """Add a paint layer named ``name`` holding ``pixels`` over ``source.box``; return it.

    With a selection, its grey values scale the layer's alpha. One undo step removes it all.
    """
    x, y, w, h = source.box
    if len(pixels) != w * h * 4:
        raise PluginError(
            "The result has %d bytes for a %dx%d area instead of %d; try again."
            % (len(pixels), w, h, w * h * 4)
        )
    if source.mask is not None:
        pixels = multiply_alpha(pixels, source.mask)
    parent, above = _placement(doc, source.node)
    name = unique_name(name, (n.name() for n in parent.childNodes()))
    layer = doc.createNode(name, "paintlayer")
    if layer is None:
        raise PluginError("Krita did not make a new layer; is the document locked?")
    if not is_rgba8(layer):
        layer.setColorSpace("RGBA", "U8", SRGB)
    layer.setPixelData(pixels, x, y, w, h)  # before it joins the document: one undo step
    active = doc.activeNode()
    if not parent.addChildNode(layer, above):
        raise PluginError("Krita did not accept a new layer in this document; is it locked?")
    if source.node is not None:
        _MADE[node_id(layer)] = node_id(source.node)
    if active is not None and doc.activeNode() != active:
        doc.setActiveNode(active)  # the next Stylize starts from the same layer
    doc.refreshProjection()
    return layer
