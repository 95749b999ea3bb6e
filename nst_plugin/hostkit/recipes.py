"""A result's recipe: how it was made, saved with the document so that it can be made again.

Both plug-ins keep one on every result layer they create, as JSON (Krita: an annotation of the
document keyed by the layer's unique id; GIMP: the layer's persistent ``nst-recipe``
parasite). A recipe is a dict:

    nst_recipe     the format, 1
    style          the first style: {"name"} (library), {"path"} (a file) or {"layer"} (a layer
                   of the document, by id), each with "label" and, where known, "sha256"
    styles         every style in order (regions, a blend); [style] for one
    masks          with regions: one {"layer", "label"} per style, in order
    strength_map   a {"layer", "label"} whose grey was the strength, or absent
    engine         the engine that ran it
    choices        what the user chose (strength, size, quality, brush...: see Choices)
    options        the options the service got, as sent
    source         {"layer", "label"} or {"visible": true}; "box" [x, y, w, h]; "selection"
    created        UTC, ISO 8601
    version        the nst service's version that made it
    iterations_run / kept   when the render was stopped early with its current image

Restylize: :func:`choices` turns a recipe and the user's changes into new ``Choices``.
Standard library only (the editors' Pythons).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import fields

from .choices import Choices
from .errors import PluginError

FORMAT = 1
PARASITE = "nst-recipe"  # GIMP's parasite name
ANNOTATION = "nst-plugin/recipes"  # Krita's annotation: {layer id: recipe}
CHOICE_NAMES = tuple(f.name for f in fields(Choices))
REF_KINDS = ("name", "path", "layer")


def digest(data: bytes) -> str:
    """The SHA-256 of ``data``, hex."""
    return hashlib.sha256(bytes(data)).hexdigest()


def style_ref(style: dict, layer_id: str | None = None) -> dict:
    """A host kit style dict (``name``, ``path`` or ``pixels``) as a recipe's style entry;
    ``layer_id``: the document layer a ``pixels`` style was read from."""
    ref = {"label": style.get("label") or "style"}
    if style.get("name"):
        ref["name"] = str(style["name"])
    elif style.get("path"):
        ref["path"] = str(style["path"])
        try:
            with open(ref["path"], "rb") as fh:
                ref["sha256"] = digest(fh.read())
        except OSError:
            pass
    else:
        ref["layer"] = layer_id
        ref["sha256"] = digest(style["pixels"][2])
    return ref


def choices_dict(choices: Choices) -> dict:
    """The user's choices without the unset ones."""
    out = {}
    for name in CHOICE_NAMES:
        value = getattr(choices, name)
        if value is not None and value != {}:
            out[name] = dict(value) if isinstance(value, dict) else value
    return out


def make(
    *,
    styles: list,
    engine,
    choices: Choices,
    options: dict,
    source: dict,
    masks: list | None = None,
    strength_map: dict | None = None,
    version=None,
    iterations_run=None,
    kept: bool = False,
) -> dict:
    """A new recipe (see the module's docstring for each field)."""
    recipe = {
        "nst_recipe": FORMAT,
        "style": styles[0],
        "styles": list(styles),
        "engine": engine or options.get("engine"),
        "choices": choices_dict(choices),
        "options": dict(options),
        "source": dict(source),
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "version": version,
    }
    if masks:
        recipe["masks"] = list(masks)
    if strength_map:
        recipe["strength_map"] = dict(strength_map)
    if kept:
        recipe["kept"] = True
        recipe["iterations_run"] = iterations_run
    return recipe


def dumps(recipe: dict) -> bytes:
    """The recipe as UTF-8 JSON."""
    return json.dumps(recipe, sort_keys=True, ensure_ascii=False).encode("utf-8")


def loads(data, where: str = "This layer's") -> dict:
    """A stored recipe, checked; one sentence when it is not readable or makes no sense."""
    try:
        recipe = json.loads(bytes(data).decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise PluginError(
            "%s Neural Style recipe is not valid JSON; it cannot be used to make the result "
            "again." % where
        ) from None
    return check(recipe, where)


def check(recipe, where: str = "This layer's") -> dict:
    """``recipe`` when it has what restylizing needs; else one sentence saying what is missing."""
    problem = _problem(recipe)
    if problem:
        raise PluginError(
            "%s Neural Style recipe %s, so it cannot be used to make the result again."
            % (where, problem)
        )
    return recipe


def _problem(recipe) -> str | None:
    if not isinstance(recipe, dict):
        return "is not a JSON object"
    if recipe.get("nst_recipe") != FORMAT:
        return "has an unknown format (%r instead of %d)" % (recipe.get("nst_recipe"), FORMAT)
    styles = recipe.get("styles")
    if not isinstance(styles, list) or not styles:
        return "names no style"
    for ref in styles:
        if not isinstance(ref, dict) or not any(isinstance(ref.get(k), str) for k in REF_KINDS):
            return "has a style that is neither a library name, a file nor a layer"
    masks = recipe.get("masks")
    if masks is not None and (not isinstance(masks, list) or len(masks) != len(styles)):
        return "has %s region masks for %d styles" % (_count(masks), len(styles))
    if not isinstance(recipe.get("engine"), str) or not recipe["engine"]:
        return "names no engine"
    for key in ("choices", "options", "source"):
        if not isinstance(recipe.get(key), dict):
            return "has no %s" % key
    return _choices_problem(recipe["choices"])


def _choices_problem(chosen: dict) -> str | None:
    unknown = sorted(set(chosen) - set(CHOICE_NAMES))
    if unknown:
        return "has choices this plug-in does not know (%s)" % ", ".join(unknown)
    try:
        Choices(**chosen)
    except PluginError as exc:
        return "has a setting out of range (%s)" % str(exc).rstrip(".")
    except (TypeError, ValueError):
        return "has choices of the wrong kind"
    return None


def _count(value) -> str:
    return str(len(value)) if isinstance(value, list) else "no list of"


def choices(recipe: dict, changes: dict) -> Choices:
    """The recipe's choices with ``changes`` (Choices' fields; any other key is a schema
    option, as in ``stylize(**options)``)."""
    base = dict(recipe["choices"])
    extra = dict(base.pop("extra", {}) or {})
    for key, value in changes.items():
        if key in CHOICE_NAMES and key != "extra":
            base[key] = value
        else:
            extra[key] = value
    return Choices(extra=extra, **base)


def label(recipe: dict) -> str:
    """A line saying how a result was made, for a tooltip or the history."""
    names = " + ".join(ref.get("label") or "style" for ref in recipe.get("styles", []))
    parts = [names, recipe.get("engine") or "?"]
    strength = recipe.get("options", {}).get("strength")
    if isinstance(strength, (int, float)):
        parts.append("strength %d %%" % round(strength * 100))
    if recipe.get("kept"):
        parts.append("kept after %s iterations" % recipe.get("iterations_run"))
    parts.append(str(recipe.get("created", "")).replace("T", " ").rstrip("Z"))
    return ", ".join(p for p in parts if p)
