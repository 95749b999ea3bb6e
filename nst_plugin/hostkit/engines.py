"""The service's engines (its ``GET /v1/engines`` answer): names, the options each takes,
the quality presets, whether one can run now, and how strength carries from one to another."""

from __future__ import annotations

from .errors import sentence

# The quality presets in the order offered, with their labels; the settings are the service's.
QUALITIES = (("draft", "Draft (fast)"), ("good", "Good"), ("best", "Best (slow)"))
DEFAULT_QUALITY = "good"

# What each engine gives, in a painter's words; the technical name goes in a tooltip.
LABELS = {"fast": "Quick: seconds", "vgg19": "Detailed: minutes"}
QUICK = "fast"

# Seconds per megapixel (and per iteration, for an optimizing engine), measured on the
# development machine (docs/BENCHMARKS.md); estimates say "about", never more.
_RATES = {
    ("vgg19", False): 2.0,  # 2 CPU cores: 1024 x 566 at Good (90 iterations) took 95 s
    ("vgg19", True): 0.02,
    ("fast", False): 1.0,
    ("fast", True): 0.1,
}


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


def label(name: str) -> str:
    """``Quick: seconds`` for the fast engine; an engine without a label by its name."""
    return LABELS.get(name, name)


def on_gpu(engine: dict | None) -> bool:
    """Whether the service runs ``engine`` on a GPU (it says so in ``device``)."""
    device = str((engine or {}).get("device") or "CPU")
    return not device.upper().startswith("CPU")


def suggested(info: dict) -> str | None:
    """The engine to offer first: the service's default, except that without a GPU, where it
    takes minutes, the quick engine is offered when it is ready."""
    chosen = default(info)
    if chosen != QUICK and not on_gpu(entry(info, chosen)) and unavailable(info, QUICK) is None:
        return QUICK
    return chosen


def seconds_for(info: dict, options: dict, width: int, height: int) -> float | None:
    """About how long a job with ``options`` on a ``width`` x ``height`` area takes, or None
    for an engine whose pace is not known."""
    name = options.get("engine") or default(info)
    rate = _RATES.get((name, on_gpu(entry(info, name))))
    if rate is None:
        return None
    edge = max(width, height)
    scale = min(1.0, float(options.get("size") or edge) / max(edge, 1))
    megapixels = width * height * scale * scale / 1e6
    iterations = options.get("iterations", 90) if name != QUICK else 1  # Good's
    return 1.0 + rate * megapixels * iterations


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
    render (None: the service's default); the same value between engines of one standard."""
    render = entry(info, render_engine or default(info) or to)
    return equivalent_strength(strength, render, entry(info, to))
