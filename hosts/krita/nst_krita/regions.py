"""Regions and the strength map, read from a Krita document for a job. Main thread only.

A region is a style and where it goes: the document's selection, kept (a byte a pixel) when
the region was added, so the user can select the next area; or a layer or mask of the
document, read when the job starts. The strength map is a layer or mask too. Each is cut to
the job's box and turned into grey by the host kit's ``regions`` (white: this style, or full
strength), which also checks them.

No Qt here and only duck-typed Krita objects, so the logic tests drive it with a fake.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .hostkit import regions as kit
from .hostkit.errors import PluginError
from .layers import MASK_TYPES, find_node, node_id, read_pixels, rect

ANOTHER_DOCUMENT = (
    "The regions were added in another document; switch back to it, or Clear the regions."
)


@dataclass(eq=False)  # two regions alike are still two rows of the docker's list
class Region:
    """One style and where it goes: ``selection`` (the document's, when added, with the
    document's ``size`` then) or the node ``node_id`` (a layer or mask, read at Stylize)."""

    style: dict  # a host kit style dict
    document: object
    selection: bytes | None = None
    size: tuple = (0, 0)
    node_id: str | None = None
    where: str = ""  # for the docker's list: "selection 48x64 px", "layer 'Sky'"

    @property
    def label(self) -> str:
        return str(self.style.get("label") or "style")


@dataclass
class Guides:
    """What a job sends besides the photo: the styles in order, one grey mask per style over
    the job's box (none: one style everywhere), and the strength map's grey (or None)."""

    styles: list = field(default_factory=list)
    masks: list = field(default_factory=list)
    strength_map: bytes | None = None
    mask_refs: list = field(default_factory=list)  # where each mask came from, for the recipe
    strength_ref: dict | None = None


# ------------------------------------------------------------------------------ nodes


def is_node(obj) -> bool:
    return hasattr(obj, "uniqueId") and hasattr(obj, "pixelData")


def is_selection(obj) -> bool:
    return not hasattr(obj, "uniqueId") and hasattr(obj, "pixelData") and hasattr(obj, "select")


def describe(node) -> str:
    """``layer 'Sky'`` or ``mask 'Transparency Mask'``."""
    kind = "mask" if node.type() in MASK_TYPES else "layer"
    return "%s %r" % (kind, node.name())


def guide_nodes(doc) -> list:
    """``(label, unique id)`` of every layer and mask that can guide a job, as the Layers
    docker lists them (top first, a layer's masks below it as ``Photo / Transparency Mask``)."""
    found = []

    def add(parent):
        for node in reversed(parent.childNodes()):
            label = node.name()
            if node.type() in MASK_TYPES:
                label = "%s / %s" % (parent.name(), label)
            found.append((label, node_id(node)))
            add(node)

    add(doc.rootNode())
    return found


def document_node(doc, node, what: str):
    """``node`` when it is a layer or mask of ``doc``; else one sentence naming ``what``."""
    if not is_node(node):
        raise PluginError(
            "The %s must be a layer or mask of the document (a Node), not %s."
            % (what, type(node).__name__)
        )
    if find_node(doc, node_id(node)) is None:
        raise PluginError(
            "The %s %r is not part of this document; use a layer or mask of the document "
            "being stylized." % (what, node.name())
        )
    return node


def node_grey(doc, node, box: tuple) -> bytes:
    """The grey of a layer (its green channel under its alpha, masks applied) or a mask over
    ``box``: a byte a pixel, white where it is white."""
    x, y, w, h = box
    if node.type() not in MASK_TYPES:
        return kit.grey(w, h, read_pixels(doc, node, box), "BGRA")
    data = bytes(node.pixelData(x, y, w, h))
    if len(data) == 2 * w * h:  # a 16-bit mask: the high bytes
        data = data[1::2]
    if len(data) != w * h:
        raise PluginError(
            "The mask %r holds no pixels Neural Style can read; paint on it, or use a layer."
            % node.name()
        )
    return data


def crop(grey: bytes, width: int, box: tuple) -> bytes:
    """``box`` (x, y, w, h) of a grey image ``width`` pixels wide."""
    x, y, w, h = box
    if (x, w) == (0, width):
        return grey[y * width : (y + h) * width]
    return b"".join(grey[(y + r) * width + x : (y + r) * width + x + w] for r in range(h))


# ------------------------------------------------------------------------------ regions


def from_selection(doc, style: dict, selection=None) -> Region:
    """A region of ``style`` where ``selection`` (default: the document's) is, kept now."""
    sel = selection if selection is not None else doc.selection()
    if sel is None or sel.width() <= 0 or sel.height() <= 0:
        raise PluginError("Select where this style goes first, then add the region.")
    w, h = doc.width(), doc.height()
    data = bytes(sel.pixelData(0, 0, w, h))
    if len(data) != w * h:
        raise PluginError(
            "Krita handed over a selection of an unexpected size; deselect and select again."
        )
    _x, _y, sw, sh = rect(sel)
    return Region(style, doc, selection=data, size=(w, h), where="selection %dx%d px" % (sw, sh))


def from_node(doc, node, style: dict) -> Region:
    """A region of ``style`` where the layer or mask ``node`` is white, read at Stylize."""
    document_node(doc, node, "region's mask")
    return Region(style, doc, node_id=node_id(node), where=describe(node))


def region_mask(doc, region: Region, number: int, box: tuple) -> bytes:
    """Region ``number``'s grey over ``box``, read now."""
    if region.document != doc:
        raise PluginError(ANOTHER_DOCUMENT)
    if region.selection is not None:
        if region.size != (doc.width(), doc.height()):
            raise PluginError(
                "The image's size changed since region %d was added; remove it and add it "
                "again." % number
            )
        return crop(region.selection, region.size[0], box)
    node = find_node(doc, region.node_id or "")
    if node is None:
        raise PluginError(
            "The %s of region %d is gone; remove the region, or undo the deletion."
            % (region.where, number)
        )
    return node_grey(doc, node, box)


def read_guides(doc, box: tuple, regions=(), strength=None) -> Guides:
    """The regions' masks and the strength map over the job's ``box``, read and checked now
    (a sentence for none that fits: all black, too many, from another document)."""
    regions = list(regions)
    if len(regions) > kit.MAX_REGIONS:
        kit.check([(r.style, b"\xff") for r in regions])
    masks = [region_mask(doc, r, i, box) for i, r in enumerate(regions, 1)]
    styles = [r.style for r in regions]
    if regions:
        kit.check(list(zip(styles, masks)))
    shown = shown_ref = None
    if strength is not None:
        node = document_node(doc, strength, "strength map")
        shown = node_grey(doc, node, box)
        shown_ref = {"layer": node_id(node), "label": node.name()}
    return Guides(styles, masks, shown, [mask_ref(r) for r in regions], shown_ref)


def mask_ref(region: Region) -> dict:
    """Where a region's mask came from, as its result's recipe keeps it."""
    if region.node_id:
        return {"layer": region.node_id, "label": region.where}
    return {"selection": True, "label": region.where}


def script_regions(doc, pairs, to_style) -> list:
    """The regions of a script's ``styles=[(style, mask), ...]``: a mask is a layer or mask
    of ``doc``, or a ``Selection``; ``to_style`` turns a style into a host kit style dict."""
    usage = (
        "styles= takes a list of (style, mask) pairs, e.g. styles=[('starry_night', layer), "
        "('wave', other_layer)]."
    )
    if not isinstance(pairs, (list, tuple)) or not pairs:
        raise PluginError(usage)
    found = []
    for number, pair in enumerate(pairs, 1):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2:
            raise PluginError(usage)
        style, mask = pair
        if is_selection(mask):
            found.append(from_selection(doc, to_style(style), mask))
        elif is_node(mask):
            found.append(from_node(doc, mask, to_style(style)))
        else:
            raise PluginError(
                "The mask of region %d is %s; give a layer or mask of the document, or a "
                "Selection." % (number, type(mask).__name__)
            )
    return found
