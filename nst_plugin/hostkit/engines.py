"""The service's engines (its ``GET /v1/engines`` answer): names, the options each takes,
the quality presets, whether one can run now, and how strength carries from one to another."""

from __future__ import annotations

from .errors import sentence

# The quality presets in the order offered, with their labels; the settings are the service's.
QUALITIES = (("draft", "Draft (fast)"), ("good", "Good"), ("best", "Best (slow)"))
DEFAULT_QUALITY = "good"


def entries(info: dict) -> list:
    """The engines the service offers, each a dict with a ``name``."""
    found = info.get("engines") if isinstance(info, dict) else None
    return [e for e in (found or []) if isinstance(e, dict) and isinstance(e.get("name"), str)]


def names(info: dict) -> list:
    return [entry["name"] for entry in entries(info)]


def entry(info: dict, name: str | None) -> dict | None:
    """The engine ``name``'s description, or None when the service has none by that name."""
    return next((e for e in entries(info) if e["name"] == name), None)


def default(info: dict) -> str | None:
    """The service's default engine (its first when it names none)."""
    offered = names(info)
    chosen = info.get("default") if isinstance(info, dict) else None
    return chosen if chosen in offered else (offered[0] if offered else None)


def unavailable(info: dict, name: str) -> str | None:
    """None when the service can run engine ``name`` now, else one sentence: why not, and what
    to do."""
    found = entry(info, name)
    if found is None:
        hint = " with pip install 'nst-plugin[fast]'" if name == "fast" else ""
        return "The nst service has no %s engine; install it%s and restart the service." % (
            name,
            hint,
        )
    if found.get("ready") is False:
        problem = found.get("problem") or "The nst service cannot run its %s engine." % name
        return sentence(problem)
    return None


def option_names(engine: dict | None) -> set | None:
    """The option names an engine takes, or None when its description does not say.

    The service describes them as a JSON schema (``{"properties": {...}}``); a plain list of
    names or of ``{"name": ...}`` dicts is read too.
    """
    options = engine.get("options") if isinstance(engine, dict) else None
    if isinstance(options, dict):
        properties = options.get("properties")
        return set(properties) if isinstance(properties, dict) else set(options)
    if isinstance(options, list):
        listed = {o if isinstance(o, str) else o.get("name") for o in options if o}
        return listed - {None}
    return None


def presets(info: dict) -> dict:
    """The quality presets the service serves (``{"draft": {...}, ...}``); {} when none."""
    found = info.get("presets") if isinstance(info, dict) else None
    if not isinstance(found, dict):
        return {}
    return {k: dict(v) for k, v in found.items() if isinstance(k, str) and isinstance(v, dict)}


def quality_choices(info: dict) -> list:
    """The quality names to offer, draft/good/best first; [] when the service has no presets."""
    found = presets(info)
    known = [name for name, _label in QUALITIES]
    return [q for q in known if q in found] + sorted(q for q in found if q not in known)


def quality_label(name: str) -> str:
    """``Draft (fast)`` for ``draft``; an unknown preset's name, capitalized."""
    return dict(QUALITIES).get(name, name.capitalize())


def equivalent_strength(strength: float, engine: dict | None, other: dict | None) -> float:
    """The strength for engine ``other`` that looks most like ``strength`` on ``engine``.

    0 maps to 0 and each engine's standard look (its ``standard_strength``) to the other's,
    linearly; beyond ``other``'s range it stays at 1.
    """
    a, b = (float((e or {}).get("standard_strength") or 0.5) for e in (engine, other))
    s = min(max(float(strength), 0.0), 1.0)
    return min(1.0, s * b / a if s <= a else b + (s - a) * (1 - b) / (1 - a))


def carried_strength(info: dict, strength: float, render_engine: str | None, to: str) -> float:
    """The strength for engine ``to`` that looks most like ``strength`` on the engine that will
    render (None: the service's default); e.g. vgg19's 50 % is the fast engine's full style."""
    render = entry(info, render_engine or default(info) or to)
    return equivalent_strength(strength, render, entry(info, to))
