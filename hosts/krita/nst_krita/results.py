"""The result as a new layer. Main thread only.

``insert_result`` adds a paint layer above the source (the user's layers are never written:
``setPixelData`` is not undoable) and, with a selection, a transparency mask made from it
when the document is on screen, else the selection multiplied into the layer's alpha.
No Qt here; the logic tests drive it with a fake ``krita``.
"""

from __future__ import annotations

from .hostkit.errors import PluginError
from .hostkit.naming import unique_name
from .layers import MASK_TYPES, SRGB, Source, is_rgba8

MASK_NAME = "Neural Style selection"


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


def multiply_alpha(pixels: bytes, mask: bytes) -> bytes:
    """BGRA ``pixels`` with alpha scaled by the 8-bit ``mask`` (one byte per pixel)."""
    if len(pixels) != 4 * len(mask):
        raise ValueError(
            "multiply_alpha: %d pixel bytes for a %d-byte mask" % (len(pixels), len(mask))
        )
    out = bytearray(pixels)
    out[3::4] = bytes((a * m + 127) // 255 for a, m in zip(pixels[3::4], mask))
    return bytes(out)


# ------------------------------------------------------------------------------ writing


def _placement(doc, source_node):
    """(parent, node to go above): above the source layer, or on top of the image."""
    if source_node is not None and source_node.parentNode() is not None:
        return source_node.parentNode(), source_node
    root = doc.rootNode()
    tops = [n for n in root.childNodes() if n.type() not in MASK_TYPES]
    return root, (tops[-1] if tops else None)


def insert_result(
    doc, source: Source, pixels: bytes, name: str, *, krita=None, process_events=None
):
    """Add a paint layer named ``name`` holding ``pixels`` over ``source.box``; return it.

    With a selection the layer gets a transparency mask of it (or, when the document is not
    the one on screen, the selection multiplied into its alpha).
    """
    x, y, w, h = source.box
    if len(pixels) != w * h * 4:
        raise PluginError(
            "The result has %d bytes for a %dx%d area instead of %d; try again."
            % (len(pixels), w, h, w * h * 4)
        )
    parent, above = _placement(doc, source.node)
    name = unique_name(name, (n.name() for n in parent.childNodes()))
    layer = doc.createNode(name, "paintlayer")
    if layer is None or not parent.addChildNode(layer, above):
        raise PluginError("Krita did not accept a new layer in this document; is it locked?")
    if not is_rgba8(layer):
        layer.setColorSpace("RGBA", "U8", SRGB)
    layer.setPixelData(pixels, x, y, w, h)
    if (
        source.mask is not None
        and add_selection_mask(doc, layer, source, krita=krita, process_events=process_events)
        is None
    ):
        layer.setPixelData(multiply_alpha(pixels, source.mask), x, y, w, h)
    doc.refreshProjection()
    return layer


def _process_events() -> None:
    from PyQt5.QtCore import QCoreApplication, QEventLoop

    QCoreApplication.processEvents(QEventLoop.ExcludeUserInputEvents)


def _activate(doc, layer, process_events, tries: int = 50) -> bool:
    """Make ``layer`` the active node; a just-added layer reaches the view's model only after
    Krita has handled its queued signals, so let it (user input excluded) and try again."""
    for _ in range(tries):
        doc.setActiveNode(layer)
        if doc.activeNode() == layer:
            return True
        process_events()
        doc.waitForDone()
    return False


def add_selection_mask(doc, layer, source: Source, *, krita=None, process_events=None):
    """Give ``layer`` a transparency mask of the job's selection; return it, or None.

    Krita 5.1 makes a working transparency mask only through its own action (a mask made by
    ``createNode`` has no pixels to set), and that action needs the document on screen. The
    user's selection is put back afterwards.
    """
    if krita is None:
        from krita import Krita

        krita = Krita.instance()
    from krita import Selection

    process_events = process_events or _process_events

    action = krita.action("add_new_transparency_mask")
    if action is None or krita.activeWindow() is None or krita.activeDocument() != doc:
        return None
    saved = doc.selection()
    saved = saved.duplicate() if saved is not None else None
    wanted = Selection()
    wanted.setPixelData(source.mask, *source.box)
    before = {str(n.uniqueId()) for n in layer.childNodes()}
    try:
        # Deselecting first: removing and adding the global selection's node makes the
        # view learn about nodes added from Python, which it can activate only then.
        for selection in (None, wanted):
            doc.setSelection(selection)
            doc.waitForDone()
            process_events()  # let the view take each change in before the next one
        if not _activate(doc, layer, process_events):
            return None
        action.trigger()
        doc.waitForDone()
        made = [
            n
            for n in layer.childNodes()
            if n.type() == "transparencymask" and str(n.uniqueId()) not in before
        ]
    finally:
        doc.setSelection(saved)
        doc.waitForDone()
        process_events()
    if not made:
        return None
    made[0].setName(MASK_NAME)
    doc.setActiveNode(layer)
    return made[0]
