"""What a job asks the service for, built from the docker's controls or Scripter's keywords.

Pure Python (no Krita, no Qt), so the ordinary test suite checks it: the options sent with a
job (engine, quality preset, strength, size, preserve colours, any schema option), the result
layer's name, the progress line and the one-sentence error texts.
"""

from __future__ import annotations

import os

QUALITIES = ("draft", "good", "best")
SIZE_CAPS = (512, 1024, 2048)  # the docker's "Output size" choices besides the document's
DEFAULT_QUALITY = "good"
LAYER_PREFIX = "Neural Style: "


class PluginError(Exception):
    """A user's mistake or a state the plug-in cannot work with, as one sentence."""


def sentence(text) -> str:
    """``text`` as one sentence: stripped, first line only, ending with a full stop."""
    text = " ".join(str(text).split())
    if not text:
        return "Neural Style failed without saying why."
    return text if text[-1] in ".!?" else text + "."


def error_sentence(exc: BaseException) -> str:
    """The one sentence a user sees for ``exc``.

    Our own errors and the client's ``ServiceError`` already are that sentence; anything else
    is a bug, named with its type so a report can find it.
    """
    if isinstance(exc, PluginError) or type(exc).__name__ in ("ServiceError", "Cancelled"):
        return sentence(exc)
    detail = " ".join(str(exc).split()) or "no details"
    return sentence(
        "Neural Style failed unexpectedly (%s: %s); please report this with "
        "Krita's log" % (type(exc).__name__, detail.rstrip("."))
    )


# --------------------------------------------------------------------------------- engines


def engine_entries(info: dict) -> list:
    """The service's engines (``GET /v1/engines`` answer) as a list of dicts with a name."""
    found = info.get("engines") if isinstance(info, dict) else None
    return [e for e in (found or []) if isinstance(e, dict) and isinstance(e.get("name"), str)]


def engine_names(info: dict) -> list:
    return [e["name"] for e in engine_entries(info)]


def default_engine(info: dict):
    names = engine_names(info)
    default = info.get("default") if isinstance(info, dict) else None
    return default if default in names else (names[0] if names else None)


def engine_unavailable(info: dict, name: str):
    """None when the service (its ``GET /v1/engines`` answer) can run engine ``name`` now;
    else one sentence saying why not and what to do."""
    entry = next((e for e in engine_entries(info) if e["name"] == name), None)
    if entry is None:
        hint = " with pip install 'nst-plugin[fast]'" if name == "fast" else ""
        return "The nst service has no %s engine; install it%s and restart the service." % (
            name,
            hint,
        )
    if entry.get("ready") is False:
        return sentence(entry.get("problem") or "The nst service cannot run its %s engine." % name)
    return None


def carried_strength(info: dict, strength: float, render_engine, preview_engine: str) -> float:
    """The strength for ``preview_engine`` that looks most like ``strength`` on the engine
    that will render (None: the service's default); e.g. vgg19's 50 % (its weights as set)
    is the fast engine's full style."""
    from . import client

    entries = {e["name"]: e for e in engine_entries(info)}
    render = entries.get(render_engine or default_engine(info) or preview_engine)
    return client.equivalent_strength(strength, render, entries.get(preview_engine))


def option_names(entry: dict):
    """The option names an engine takes, or None when its description does not say.

    The service describes them as a JSON schema (``{"properties": {...}}``); a plain list of
    names or of ``{"name": ...}`` dicts is read too.
    """
    options = entry.get("options") if isinstance(entry, dict) else None
    if isinstance(options, dict):
        props = options.get("properties")
        return set(props) if isinstance(props, dict) else set(options)
    if isinstance(options, list):
        return {
            o if isinstance(o, str) else o.get("name")
            for o in options
            if isinstance(o, str) or isinstance(o, dict)
        } - {None}
    return None


def presets(info: dict) -> dict:
    """The quality presets the service serves (``{"draft": {...}, ...}``); {} when none."""
    found = info.get("presets") if isinstance(info, dict) else None
    if not isinstance(found, dict):
        return {}
    return {k: dict(v) for k, v in found.items() if isinstance(k, str) and isinstance(v, dict)}


def quality_choices(info: dict) -> list:
    """The quality names to offer, in draft/good/best order first; [] hides the control."""
    found = presets(info)
    return [q for q in QUALITIES if q in found] + sorted(q for q in found if q not in QUALITIES)


def output_size(width: int, height: int, cap=None) -> int:
    """The long edge to ask for: the area's own, or ``cap`` when that is smaller."""
    edge = max(int(width), int(height))
    if cap is None:
        return edge
    cap = int(cap)
    if cap < 16:
        raise PluginError("The output size must be at least 16 pixels, not %d." % cap)
    return min(edge, cap)


def build_options(
    info: dict,
    *,
    width: int,
    height: int,
    engine=None,
    quality=None,
    strength=None,
    size=None,
    preserve_colors=None,
    extra=None,
) -> dict:
    """The ``options`` JSON of a job.

    ``info``: the service's ``GET /v1/engines`` answer; ``width``/``height``: the area sent;
    ``quality``: a preset name (None: "good" when the service has presets, else none);
    ``strength``: 0..1; ``size``: a cap on the long edge (None: the area's size); ``extra``:
    any other schema option, sent as given (the service refuses what it does not allow).
    Controls the engine does not take are left out; ``extra`` is never filtered.
    """
    names = engine_names(info)
    chosen = engine or default_engine(info)
    if engine is not None and engine not in names:
        offered = ", ".join(names) or "none"
        raise PluginError(
            "The nst service has no engine named %r; it offers: %s." % (engine, offered)
        )
    entry = next((e for e in engine_entries(info) if e["name"] == chosen), {})
    takes = option_names(entry)

    def taken(name: str) -> bool:
        return takes is None or name in takes

    options = {}
    found = presets(info)
    if quality is None and found:
        quality = DEFAULT_QUALITY if DEFAULT_QUALITY in found else quality_choices(info)[0]
    if quality is not None:
        if not found:
            raise PluginError(
                "This nst service offers no quality presets; leave quality unset "
                "and pass iterations= instead."
            )
        if quality not in found:
            raise PluginError(
                "Quality must be one of %s, not %r." % (", ".join(quality_choices(info)), quality)
            )
        options.update({k: v for k, v in found[quality].items() if taken(k)})
    if strength is not None:
        strength = float(strength)
        if not 0.0 <= strength <= 1.0:
            raise PluginError("Strength must be between 0 and 1 (0.7 is 70 %%), not %g." % strength)
        if taken("strength"):
            options["strength"] = strength
    if taken("size"):
        options["size"] = output_size(width, height, size)
    if preserve_colors is not None and taken("preserve_colors"):
        options["preserve_colors"] = bool(preserve_colors)
    options.update(extra or {})
    if chosen:
        options["engine"] = chosen
    return options


# --------------------------------------------------------------------------------- naming


def style_label(style) -> str:
    """A short name for a style: a library name, a file's name without extension, a layer's name."""
    if isinstance(style, dict):
        return str(style.get("label") or style.get("name") or "style")
    text = os.fspath(style) if isinstance(style, os.PathLike) else str(style)
    if (
        os.sep in text
        or "/" in text
        or os.path.splitext(text)[1].lower()
        in (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif", ".kra")
    ):
        text = os.path.splitext(os.path.basename(text))[0]
    return text or "style"


def layer_name(label: str, strength=None) -> str:
    """The result layer's name, e.g. ``Neural Style: starry_night 70%``."""
    name = LAYER_PREFIX + (label or "style")
    if strength is not None:
        name += " %d%%" % round(float(strength) * 100)
    return name


def unique_name(name: str, taken) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when a sibling has it already."""
    taken = set(taken)
    if name not in taken:
        return name
    n = 2
    while "%s (%d)" % (name, n) in taken:
        n += 1
    return "%s (%d)" % (name, n)


# --------------------------------------------------------------------------------- progress

_STAGES = {
    "queued": "Waiting in the queue",
    "connecting": "Connecting to the nst service",
    "uploading": "Sending the image",
    "loading": "Loading the engine",
    "preparing": "Preparing",
    "optimizing": "Stylizing",
    "done": "Finishing",
    "saving": "Finishing",
}


def progress_text(event: dict) -> str:
    """One line for the progress label, e.g. ``Stylizing: iteration 3 of 10, about 12 s left``."""
    stage = str(event.get("stage") or event.get("event") or "working")
    text = _STAGES.get(stage, stage.replace("_", " ").capitalize())
    step, total = event.get("step"), event.get("total")
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total:
        text += ": iteration %d of %d" % (step, total)
    eta = event.get("eta")
    if isinstance(eta, (int, float)) and eta >= 0:
        text += (
            (", about %d s left" % round(eta))
            if eta < 90
            else (", about %d min left" % round(eta / 60))
        )
    return text


def progress_fraction(event: dict):
    """0..1 from step/total, or None when the event does not say."""
    step, total = event.get("step"), event.get("total")
    if isinstance(step, (int, float)) and isinstance(total, (int, float)) and total > 0:
        return max(0.0, min(1.0, float(step) / float(total)))
    return None
