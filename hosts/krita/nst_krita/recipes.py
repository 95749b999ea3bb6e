"""Recipes of result layers, saved in the document. Main thread only.

Krita 5.1's Python API keeps no data on a layer, so a document keeps its results' recipes in
one annotation (``nst-plugin/recipes``: JSON, layer id -> recipe; see ``hostkit/recipes.py``),
which Krita saves in the .kra file together with the layers' ids: renaming or moving a result
keeps its recipe, and the user's own layers never get one. ``restyle_parts`` turns a recipe
back into what a job takes, with one sentence for whatever is missing. No Qt widgets here, so
the logic tests drive it with a fake ``krita``.
"""

from __future__ import annotations

import json

from . import layers, regions
from .hostkit import recipes as kit
from .hostkit.errors import PluginError
from .hostkit.styles import style_from_text

UNREADABLE = kit.ANNOTATION + "-unreadable"  # a damaged table is kept here, never dropped


# ------------------------------------------------------------------------------ storage


def _read_table(doc) -> dict:
    """The document's {layer id: recipe}; raises when the annotation is damaged."""
    if kit.ANNOTATION not in (doc.annotationTypes() or []):
        return {}
    data = bytes(doc.annotation(kit.ANNOTATION))
    try:
        table = json.loads(data.decode("utf-8")) if data.strip() else {}
    except (ValueError, UnicodeDecodeError):
        table = None
    if not isinstance(table, dict):
        raise PluginError(
            "This document's Neural Style recipes are damaged (not a JSON object), so no result "
            "in it can be made again; its layers are unchanged."
        )
    return table


def _write(doc, name: str, data: bytes) -> None:
    try:
        from PyQt5.QtCore import QByteArray

        data = QByteArray(data)
    except ImportError:  # the logic tests' fake Krita takes bytes
        pass
    doc.setAnnotation(name, "Neural Style recipes of result layers", data)


def store(doc, layer, recipe: dict) -> None:
    """Keep ``recipe`` for the result ``layer`` in ``doc`` (saved with it)."""
    try:
        table = _read_table(doc)
    except PluginError:
        _write(doc, UNREADABLE, bytes(doc.annotation(kit.ANNOTATION)))
        table = {}
    table[layers.node_id(layer)] = recipe
    _write(doc, kit.ANNOTATION, json.dumps(table, sort_keys=True).encode("utf-8"))


def recipe_of(doc, node):
    """The recipe of result layer ``node``, checked; None for a layer that is not a result."""
    found = _read_table(doc).get(layers.node_id(node))
    if found is None:
        return None
    return kit.check(found, "The layer %r's" % node.name())


def results(doc) -> list:
    """``[(layer, recipe)]`` of the document's results still in it, oldest first; results
    whose recipe is damaged are left out (``recipe_of`` says why)."""
    table = _read_table(doc)
    found = []
    for order, node in enumerate(layers.layers(doc)):
        recipe = table.get(layers.node_id(node))
        try:
            recipe = kit.check(recipe) if recipe is not None else None
        except PluginError:
            recipe = None
        if recipe is not None:
            found.append((str(recipe.get("created", "")), order, node, recipe))
    found.sort(key=lambda entry: entry[:2])
    return [(node, recipe) for _, _, node, recipe in found]


# ------------------------------------------------------------------------------ making one


def style_refs(style, digests: dict) -> list:
    """The recipe entries of a job's style (a style dict or a list of them)."""
    found = list(style) if isinstance(style, (list, tuple)) else [style]
    refs = []
    for entry in found:
        ref = kit.style_ref(entry, entry.get("layer"))
        if ref.get("name") in digests:
            ref["sha256"] = digests[ref["name"]]
        refs.append(ref)
    return refs


def source_ref(source: layers.Source) -> dict:
    """Where a job's photo came from: a layer (by id) or the visible image, and the box."""
    ref = {"label": source.label, "box": list(source.box), "selection": source.mask is not None}
    if source.node is None:
        ref["visible"] = True
    else:
        ref["layer"] = layers.node_id(source.node)
    return ref


# ------------------------------------------------------------------------------ using one


def find_ref(doc, ref: dict, what: str):
    """The layer a recipe names by id; one sentence when it is gone."""
    node = layers.find_node(doc, str(ref.get("layer") or ""))
    if node is None:
        raise PluginError(
            "The %s %r this result was made from is not in the document any more; undo its "
            "deletion, or give another one." % (what, ref.get("label") or "?")
        )
    return node


def recipe_style(doc, ref: dict) -> dict:
    """A recipe's style entry as a host kit style dict, read now."""
    if ref.get("name"):
        return {"name": ref["name"], "label": ref.get("label") or ref["name"]}
    if ref.get("path"):
        return style_from_text(ref["path"])
    node = find_ref(doc, ref, "style layer")
    w, h, data = layers.read_style_layer(doc, node)
    return {"pixels": (w, h, data, "BGRA"), "label": node.name(), "layer": layers.node_id(node)}


def recipe_regions(doc, recipe: dict, styles: list) -> list:
    """The regions of a recipe with masks: its mask layers, read at Stylize."""
    found = []
    for number, (style, ref) in enumerate(zip(styles, recipe["masks"]), 1):
        if not isinstance(ref, dict) or not ref.get("layer"):
            raise PluginError(
                "Region %d of this result came from a selection, which the document does not "
                "keep; restylize with styles=[(style, mask), ...] instead." % number
            )
        found.append(regions.from_node(doc, find_ref(doc, ref, "region mask"), style))
    return found


def recipe_source(doc, recipe: dict, result_node) -> layers.Source:
    """The photo a result was made from, over the same box; with a selection then, the
    result's own alpha stands for it."""
    ref = recipe["source"]
    box = ref.get("box")
    if not (isinstance(box, list) and len(box) == 4 and all(isinstance(v, int) for v in box)):
        raise PluginError("This result's recipe has no area to stylize; stylize it anew.")
    node = None if ref.get("visible") else find_ref(doc, ref, "source layer")
    pixels = layers.read_pixels(doc, node, tuple(box))
    mask = None
    if ref.get("selection"):
        mask = bytes(layers.read_pixels(doc, result_node, tuple(box))[3::4])
    label = "Visible image" if node is None else node.name()
    return layers.Source(doc, node, tuple(box), pixels, mask, label)
