"""Recipes on GIMP result layers: the persistent ``nst-recipe`` parasite, saved in .xcf files.

``make`` says how a job's result was made (``hostkit/recipes.py``), ``attach`` keeps it on the
new layer, ``read`` gets it back. ``settings_from`` fills the procedure's settings from a result
layer's recipe, so running the procedure on a result with *from-recipe* makes it again: a
script changes what it passes in *options* (``{"strength": 0.3}``), the dialog opens with the
recipe's values. Layers are named in a recipe by their tattoo, which .xcf files keep.
"""

import json

from gi.repository import Gimp

from hostkit import recipes as kit
from hostkit.choices import parse_extra_options
from hostkit.errors import PluginError

ENGINE_CHOICES = ("fast", "vgg19")  # the dialog's engine choice; others go into options
SETTINGS = (  # recipe choice -> procedure argument
    ("strength", "strength"),
    ("size", "size"),
    ("quality", "quality"),
    ("preserve_colors", "preserve-colors"),
    ("brush", "brush-size"),
    ("match_colors", "match-colors"),
    ("blend", "blend"),
)


# ------------------------------------------------------------------------------ the parasite


def attach(layer, recipe):
    """Keep ``recipe`` on ``layer`` (persistent: saved with the image, undone with it)."""
    flags = Gimp.PARASITE_PERSISTENT | Gimp.PARASITE_UNDOABLE
    layer.attach_parasite(Gimp.Parasite.new(kit.PARASITE, flags, list(kit.dumps(recipe))))


def read(drawable):
    """The recipe of a result layer, checked; None for any other drawable."""
    parasite = drawable.get_parasite(kit.PARASITE)
    if parasite is None:
        return None
    return kit.loads(bytes(parasite.get_data()), "The layer %r's" % drawable.get_name())


# ------------------------------------------------------------------------------ making one


def ref_of(item):
    """A layer or channel as a recipe names it."""
    kind = "channel" if item.is_channel() and not item.is_layer_mask() else "layer"
    return {"layer": str(item.get_tattoo()), "kind": kind, "label": item.get_name()}


def make(job, chosen, source, area, masked, mask_items, strength_item):
    """The recipe of a finished ``hostkit.jobs.ServiceJob`` on ``source`` over ``area``."""
    refs = []
    for entry in job.styles():
        ref = kit.style_ref(entry, entry.get("layer"))
        if ref.get("name") in job.style_digests:
            ref["sha256"] = job.style_digests[ref["name"]]
        refs.append(ref)
    where = dict(ref_of(source), box=list(area), selection=bool(masked))
    return kit.make(
        styles=refs,
        engine=job.engine,
        choices=chosen,
        options=job.options or {},
        source=where,
        masks=[ref_of(item) for item in mask_items] or None,
        strength_map=ref_of(strength_item) if strength_item is not None else None,
        version=getattr(job.client, "version", None),
    )


# ------------------------------------------------------------------------------ using one


def item_of(image, ref, what):
    """The layer or channel a recipe names by tattoo; one sentence when it is gone."""
    try:
        tattoo = int(ref.get("layer"))
    except (TypeError, ValueError):
        tattoo = 0
    found = image.get_layer_by_tattoo(tattoo) if tattoo else None
    if found is None and tattoo:
        found = image.get_channel_by_tattoo(tattoo)
    if found is None:
        raise PluginError(
            "The %s %r this result was made from is not in the image any more; undo its "
            "deletion, or stylize anew." % (what, ref.get("label") or "?")
        )
    return found


def _style_setting(image, ref):
    """(text, layer) for a recipe's style: a library name or file path, or a layer."""
    if ref.get("name"):
        return ref["name"], None
    if ref.get("path"):
        return ref["path"], None
    return "", item_of(image, ref, "style layer")


def _set_styles(config, image, recipe):
    styles = recipe["styles"]
    if recipe.get("masks"):
        texts = []
        for ref in styles:
            text, layer = _style_setting(image, ref)
            texts.append(text or layer.get_name())
        masks = [item_of(image, ref, "region mask").get_name() for ref in recipe["masks"]]
        config.set_property("region-styles", texts)
        config.set_property("region-masks", masks)
        return
    text, layer = _style_setting(image, styles[0])
    config.set_property("style", text)
    config.set_property("style-layer", layer)
    if len(styles) > 1:
        text, layer = _style_setting(image, styles[1])
        config.set_property("blend-style", text)
        config.set_property("blend-layer", layer)


def settings_from(config, image, drawables):
    """Fill ``config`` from the recipe of the one result layer in ``drawables``, the caller's
    *options* winning; returns the recipe's source layer, which the job stylizes."""
    if len(drawables) != 1:
        raise PluginError("Select the one result layer whose recipe to use.")
    recipe = read(drawables[0])
    if recipe is None:
        raise PluginError(
            "The layer %r is not a Neural Style result, so it has no recipe; select a result "
            "layer, or switch 'from recipe' off." % drawables[0].get_name()
        )
    source = item_of(image, recipe["source"], "source layer")
    changes = parse_extra_options(config.get_property("options"))
    chosen = dict(recipe["choices"])
    options = dict(chosen.pop("extra", {}) or {})
    for key, _ in (*SETTINGS, ("engine", "engine")):
        if key in changes:
            chosen[key] = changes.pop(key)
    options.update(changes)
    kit.choices({"choices": chosen}, {})  # a change out of range: one sentence, nothing done
    engine = chosen.get("engine") or recipe["engine"]
    if engine in ENGINE_CHOICES:
        config.set_property("engine", engine)
    else:
        options["engine"] = engine
    for key, name in SETTINGS:
        if chosen.get(key) is not None:
            config.set_property(name, chosen[key])
    config.set_property("options", json.dumps(options))
    _set_styles(config, image, recipe)
    if recipe.get("strength_map"):
        config.set_property("strength-map", item_of(image, recipe["strength_map"], "strength map"))
    return source
