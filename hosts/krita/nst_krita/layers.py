"""Reading a Krita document for a job. Main thread only (the Krita API is not thread-safe).

``read_source``: the pixels of a layer or of the visible image, 8-bit BGRA (Krita's order),
limited to the selection's bounding box plus a margin, with the selection's grey values for
that box; layers and documents in other colour spaces are read from a converted clone, the
document itself is never touched. ``results.py`` writes the result layer.

No Qt here and only duck-typed Krita objects, so the logic tests drive it with a fake.
"""

from __future__ import annotations

from dataclasses import dataclass

from .hostkit.areas import MARGIN, area_to_process, clamp_box
from .hostkit.errors import PluginError

RGBA8 = ("RGBA", "U8")
SRGB = "sRGB-elle-V2-srgbtrc.icc"
MASK_TYPES = ("transparencymask", "filtermask", "selectionmask", "transformmask", "colorizemask")


@dataclass
class Source:
    """What one job stylizes: a box of the document, read when the job starts."""

    document: object
    node: object  # the source layer, or None for the visible image
    box: tuple  # (x, y, width, height) in document pixels
    pixels: bytes  # 8-bit BGRA, width * height * 4 bytes
    mask: bytes | None  # the selection's 8-bit values over the box, None: no selection
    label: str  # the layer's name, or "Visible image"

    @property
    def size(self) -> tuple:
        return self.box[2], self.box[3]


# ------------------------------------------------------------------------------ geometry


def rect(obj) -> tuple:
    """(x, y, width, height) of a QRect or a Krita Selection."""
    return int(obj.x()), int(obj.y()), int(obj.width()), int(obj.height())


def active_selection(doc):
    """The document's selection, or None when nothing is selected."""
    sel = doc.selection()
    if sel is None or sel.width() <= 0 or sel.height() <= 0:
        return None
    return sel


# ------------------------------------------------------------------------------ nodes


def walk(node):
    """``node``'s descendants, depth first, bottom to top within each parent."""
    for child in node.childNodes():
        yield child
        yield from walk(child)


def layers(doc) -> list:
    """Every layer of the document (masks left out)."""
    return [n for n in walk(doc.rootNode()) if n.type() not in MASK_TYPES]


def node_id(node) -> str:
    """A node's unique id as Krita saves it in a .kra file, e.g. ``{f57a07fa-...}``."""
    uid = node.uniqueId()
    return uid.toString() if hasattr(uid, "toString") else str(uid)


def find_node(doc, unique_id: str):
    """The node whose :func:`node_id` is ``unique_id``, or None."""
    for node in walk(doc.rootNode()):
        if node_id(node) == unique_id:
            return node
    return None


def node_path(doc, node) -> list:
    """Child indices from the root to ``node`` (the same in a clone of the document)."""

    def search(parent, path):
        for i, child in enumerate(parent.childNodes()):
            if child == node:
                return [*path, i]
            found = search(child, [*path, i])
            if found is not None:
                return found
        return None

    path = search(doc.rootNode(), [])
    if path is None:
        raise PluginError("The layer %r is not part of the document any more." % node.name())
    return path


def node_at(doc, path: list):
    node = doc.rootNode()
    for i in path:
        node = node.childNodes()[i]
    return node


def source_layer(doc, node=None):
    """``node`` (default: the active one) as a layer: a mask stands for the layer it is on."""
    node = node if node is not None else doc.activeNode()
    if node is not None and node.type() in MASK_TYPES:
        node = node.parentNode()
    if node is None or node.parentNode() is None:
        raise PluginError(
            "No layer is selected; click a layer in the Layers docker, or choose the visible image."
        )
    return node


def is_rgba8(obj) -> bool:
    return (obj.colorModel(), obj.colorDepth()) == RGBA8


# ------------------------------------------------------------------------------ reading


def read_pixels(doc, node, box: tuple) -> bytes:
    """8-bit BGRA of ``node`` (None: the visible image) over ``box``.

    Layers and documents in another colour model or depth are read from a clone converted
    to 8-bit sRGB; the document itself is not touched.
    """
    x, y, w, h = box
    owner = doc if node is None else node
    if is_rgba8(owner):
        data = doc.pixelData(x, y, w, h) if node is None else node.projectionPixelData(x, y, w, h)
    else:
        data = _converted_pixels(doc, node, box)
    data = bytes(data)
    if len(data) != w * h * 4:
        raise PluginError(
            "Krita handed over %d bytes for a %dx%d area instead of %d; the layer "
            "cannot be read." % (len(data), w, h, w * h * 4)
        )
    return data


def _converted_pixels(doc, node, box: tuple) -> bytes:
    path = None if node is None else node_path(doc, node)
    clone = doc.clone()
    if clone is None:
        raise PluginError(
            "Krita could not copy the document to convert it to 8-bit RGBA; convert "
            "it with Image > Convert Image Color Space and try again."
        )
    try:
        if not clone.setColorSpace("RGBA", "U8", SRGB):
            raise PluginError(
                "Neural Style works on 8-bit RGBA and this %s %s document could not "
                "be converted; convert it with Image > Convert Image Color Space."
                % (doc.colorModel(), doc.colorDepth())
            )
        clone.waitForDone()
        if path is None:
            return bytes(clone.pixelData(*box))
        target = node_at(clone, path)
        if not is_rgba8(target):
            target.setColorSpace("RGBA", "U8", SRGB)
        return bytes(target.projectionPixelData(*box))
    finally:
        clone.close()


def read_source(doc, node=None, visible: bool = False, margin: int = MARGIN) -> Source:
    """The pixels (and selection) a job sends, read now on the main thread."""
    if doc is None:
        raise PluginError("No document is open; open or create one first.")
    doc_w, doc_h = doc.width(), doc.height()
    layer = None if visible else source_layer(doc, node)
    sel = active_selection(doc)
    if sel is not None:
        box = area_to_process(doc_w, doc_h, rect(sel), margin)
    elif layer is None:
        box = (0, 0, doc_w, doc_h)
    else:
        box = clamp_box(rect(layer.bounds()), doc_w, doc_h)
        if box is None:
            raise PluginError(
                "The layer %r is empty; paint on it or pick another layer." % layer.name()
            )
    mask = None
    if sel is not None:
        mask = bytes(sel.pixelData(*box))
        if len(mask) != box[2] * box[3]:
            raise PluginError(
                "Krita handed over a selection of an unexpected size; deselect and select again."
            )
        if mask.count(255) == len(mask):
            mask = None  # the whole box is selected: nothing to cut out
    pixels = read_pixels(doc, layer, box)
    label = "Visible image" if layer is None else layer.name()
    return Source(doc, layer, box, pixels, mask, label)


def read_style_layer(doc, node) -> tuple:
    """(width, height, BGRA) of a layer used as the style image: its painted area."""
    box = clamp_box(rect(node.bounds()), doc.width(), doc.height())
    if box is None:
        raise PluginError(
            "The style layer %r is empty; paint on it or pick another layer." % node.name()
        )
    return box[2], box[3], read_pixels(doc, node, box)
