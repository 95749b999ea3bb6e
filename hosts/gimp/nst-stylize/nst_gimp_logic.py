"""Pure logic of the GIMP plug-in ``nst-stylize``: no GIMP, no network, standard library only.

Kept apart from ``nst-stylize.py`` so the rules (which area is processed, which options are
sent, how a style is named, what the progress bar says) are testable outside GIMP.
``nst install-host gimp`` copies this file beside the plug-in.
"""

import json
import os

MARGIN = 32  # pixels of context around a selection, so the style flows in from its edges

# Fallback for services that do not serve "presets" in GET /v1/engines
# (the same values as nst_plugin.options.PRESETS).
LOCAL_PRESETS = {
    "draft": {"iterations": 60, "scales": 1},
    "good": {"iterations": 200},
    "best": {"iterations": 500},
}
QUALITIES = (("draft", "Draft (fast)"), ("good", "Good"), ("best", "Best (slow)"))

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
IMAGE_KINDS = "PNG, JPEG, WebP, TIFF, BMP or GIF"


class UserError(Exception):
    """A mistake in the arguments, as one sentence for the user."""


def processing_area(width, height, selection=None, margin=MARGIN):
    """The rectangle ``(x, y, w, h)`` of the drawable to process, in drawable coordinates.

    ``selection`` is the selection's bounds intersected with the drawable, ``(x, y, w, h)`` in
    drawable coordinates, or None for no selection (the whole drawable). A selection grows by
    ``margin`` on each side, clamped to the drawable. Raises UserError for an empty area.
    """
    if width <= 0 or height <= 0:
        raise UserError("The layer is empty.")
    if selection is None:
        return 0, 0, width, height
    x, y, w, h = selection
    if w <= 0 or h <= 0:
        raise UserError("The selection does not touch the layer; select part of it, or "
                        "select none to stylize all of it.")
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(width, x + w + margin), min(height, y + h + margin)
    return x0, y0, x1 - x0, y1 - y0


def is_image(data):
    """Whether the bytes start like an image file the service reads."""
    head = bytes(data[:12])
    return (head.startswith(b"\x89PNG\r\n\x1a\n") or head.startswith(b"\xff\xd8\xff")
            or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
            or head[:4] in (b"II*\x00", b"MM\x00*") or head[:6] in (b"GIF87a", b"GIF89a")
            or head[:2] == b"BM")


def looks_like_path(style):
    return ("/" in style or "\\" in style or style.startswith("~")
            or style.lower().endswith(IMAGE_EXTENSIONS))


def resolve_style(style):
    """``("file", image_bytes, label)`` for a path, ``("name", name, name)`` for a library name."""
    style = (style or "").strip()
    if not style:
        raise UserError("Choose a style: a name from the style library or the path of an "
                        "image file.")
    if not looks_like_path(style):
        return "name", style, style
    path = os.path.expanduser(style)
    label = os.path.splitext(os.path.basename(path))[0] or "style"
    if not os.path.isfile(path):
        raise UserError("The style file %s does not exist; give the path of an image file or "
                        "a name from the style library." % path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UserError("The style file %s cannot be read (%s)."
                        % (path, exc.strerror or exc)) from None
    if not is_image(data):
        raise UserError("The style file %s is not an image (%s)." % (path, IMAGE_KINDS))
    return "file", data, label


def check_style_name(name, styles):
    """Raise UserError when the library (a list from GET /v1/styles) has no style ``name``."""
    names = [s.get("name") for s in styles if isinstance(s, dict) and s.get("name")]
    if names and name not in names:
        shown = ", ".join(sorted(names)[:12]) + (", ..." if len(names) > 12 else "")
        raise UserError("There is no style named %r in the library; choose one of %s, or give "
                        "the path of an image file." % (name, shown))


def parse_extra_options(text):
    """The ``options`` argument: a JSON object (empty text means none)."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UserError("The options are not valid JSON (%s); write an object such as "
                        '{"style_weight": 20}.' % exc.args[0].split(":")[0]) from None
    if not isinstance(value, dict):
        raise UserError('The options must be a JSON object such as {"style_weight": 20}.')
    return value


def engine_option_names(engines_info, engine):
    """The option names the engine takes, from GET /v1/engines, or None when not told."""
    if not isinstance(engines_info, dict):
        return None
    engine = engine or engines_info.get("default")
    for entry in engines_info.get("engines") or ():
        if isinstance(entry, dict) and entry.get("name") == engine:
            opts = entry.get("options")
            if isinstance(opts, dict):
                props = opts.get("properties")
                return set(props if isinstance(props, dict) else opts)
            if isinstance(opts, list):
                return {o if isinstance(o, str) else (o or {}).get("name") for o in opts}
    return None


def build_options(*, quality, strength, size, area, preserve_colors, engine="", extra="{}",
                  engines_info=None):
    """The options JSON for POST /v1/jobs.

    The quality preset (served by the service, else LOCAL_PRESETS), then ``strength``,
    ``size`` (0 = the processed area's long edge) and ``preserve_colors`` -- each dropped when
    the service says the engine does not take it -- then ``engine`` and the ``extra`` JSON
    object, which comes last and so wins.
    """
    presets = engines_info.get("presets") if isinstance(engines_info, dict) else None
    if not isinstance(presets, dict) or quality not in presets:
        presets = LOCAL_PRESETS
    options = dict(presets.get(quality) or {})
    options["strength"] = round(float(strength), 4)
    options["size"] = int(size) if size and size > 0 else max(area[2], area[3])
    options["preserve_colors"] = bool(preserve_colors)
    taken = engine_option_names(engines_info, engine)
    if taken:
        options = {k: v for k, v in options.items() if k in taken}
    if engine:
        options["engine"] = engine
    options.update(parse_extra_options(extra))
    return options


def layer_name(label, strength):
    return "Neural Style: %s %d%%" % (label, round(float(strength) * 100))


def _duration(seconds):
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return "%d s" % seconds
    if seconds < 3600:
        return "%d min %02d s" % (seconds // 60, seconds % 60)
    return "%d h %02d min" % (seconds // 3600, seconds % 3600 // 60)


def _number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def progress_fraction(event):
    """0..1 from a progress event's step and total, or None."""
    step, total = event.get("step"), event.get("total")
    if _number(step) and _number(total) and total > 0:
        return max(0.0, min(1.0, float(step) / float(total)))
    return None


def progress_text(event):
    """One line for the progress bar: stage, iteration and time left."""
    name = event.get("event", "progress")
    if name != "progress":
        return "Neural style: %s" % {"done": "fetching the result", "queued": "waiting for "
                                     "the device"}.get(name, str(name))
    parts = []
    stage = event.get("stage")
    if stage not in (None, ""):
        parts.append(str(stage))
    step, total = event.get("step"), event.get("total")
    if _number(step) and _number(total) and total > 0:
        parts.append("iteration %d/%d" % (step, total))
    elif _number(step) and step > 0:
        parts.append("iteration %d" % step)
    if _number(event.get("eta")):
        parts.append("about %s left" % _duration(event["eta"]))
    return "Neural style: " + (", ".join(parts) if parts else "working")


def style_names(styles):
    """Sorted library names from GET /v1/styles."""
    return sorted({s["name"] for s in styles if isinstance(s, dict) and s.get("name")})


def sentence(exc):
    """One sentence for any exception (ServiceError's str already is one)."""
    text = str(exc).strip() or type(exc).__name__
    text = text.splitlines()[0]
    return text if text[-1:] in ".!?" else text + "."
