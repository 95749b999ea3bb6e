"""Pure logic of the GIMP plug-in ``nst-stylize``: no GIMP, no network, standard library only.

Kept apart from ``nst-stylize.py`` so the rules (which area is processed, which options are
sent, how a style is named, what the progress bar says, which quick preview is current) are
testable outside GIMP.
``nst install-host gimp`` copies this file beside the plug-in.
"""

import json
import os
import threading

MARGIN = 32  # pixels of context around a selection, so the style flows in from its edges

# The quality argument's choices (GIMP 3.0's choices are fixed when the plug-in registers);
# their settings come from the service's presets (GET /v1/engines).
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
        raise UserError(
            "The selection does not touch the layer; select part of it, or "
            "select none to stylize all of it."
        )
    x0, y0 = max(0, x - margin), max(0, y - margin)
    x1, y1 = min(width, x + w + margin), min(height, y + h + margin)
    return x0, y0, x1 - x0, y1 - y0


def is_image(data):
    """Whether the bytes start like an image file the service reads."""
    head = bytes(data[:12])
    return (
        head.startswith(b"\x89PNG\r\n\x1a\n")
        or head.startswith(b"\xff\xd8\xff")
        or (head[:4] == b"RIFF" and head[8:12] == b"WEBP")
        or head[:4] in (b"II*\x00", b"MM\x00*")
        or head[:6] in (b"GIF87a", b"GIF89a")
        or head[:2] == b"BM"
    )


def looks_like_path(style):
    return (
        "/" in style
        or "\\" in style
        or style.startswith("~")
        or style.lower().endswith(IMAGE_EXTENSIONS)
    )


def resolve_style(style):
    """``("file", image_bytes, label)`` for a path, ``("name", name, name)`` for a library name."""
    style = (style or "").strip()
    if not style:
        raise UserError(
            "Choose a style: a name from the style library or the path of an image file."
        )
    if not looks_like_path(style):
        return "name", style, style
    path = os.path.expanduser(style)
    label = os.path.splitext(os.path.basename(path))[0] or "style"
    if not os.path.isfile(path):
        raise UserError(
            "The style file %s does not exist; give the path of an image file or "
            "a name from the style library." % path
        )
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise UserError(
            "The style file %s cannot be read (%s)." % (path, exc.strerror or exc)
        ) from None
    if not is_image(data):
        raise UserError("The style file %s is not an image (%s)." % (path, IMAGE_KINDS))
    return "file", data, label


def check_style_name(name, styles):
    """Raise UserError when the library (a list from GET /v1/styles) has no style ``name``."""
    names = [s.get("name") for s in styles if isinstance(s, dict) and s.get("name")]
    if names and name not in names:
        shown = ", ".join(sorted(names)[:12]) + (", ..." if len(names) > 12 else "")
        raise UserError(
            "There is no style named %r in the library; choose one of %s, or give "
            "the path of an image file." % (name, shown)
        )


def parse_extra_options(text):
    """The ``options`` argument: a JSON object (empty text means none)."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UserError(
            "The options are not valid JSON (%s); write an object such as "
            '{"style_weight": 20}.' % exc.args[0].split(":")[0]
        ) from None
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


def build_options(
    *, quality, strength, size, area, preserve_colors, engine="", extra="{}", engines_info=None
):
    """The options JSON for POST /v1/jobs.

    The quality preset (served by the service; none when it serves none), then ``strength``,
    ``size`` (0 = the processed area's long edge) and ``preserve_colors`` -- each dropped when
    the service says the engine does not take it -- then ``engine`` and the ``extra`` JSON
    object, which comes last and so wins.
    """
    presets = engines_info.get("presets") if isinstance(engines_info, dict) else None
    options = dict(presets.get(quality) or {}) if isinstance(presets, dict) else {}
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
        return "Neural style: %s" % {
            "done": "fetching the result",
            "queued": "waiting for the device",
        }.get(name, str(name))
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


# ------------------------------------------------------------------------------- the preview

PREVIEW_ENGINE = "fast"
PREVIEW_EDGE = 384  # long edge the preview is stylized at
PREVIEW_SHOWN = 256  # long edge of the preview image in the dialog
PREVIEW_DELAY_MS = 300  # quiet time after the last change before a preview is asked for
PIXEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # by bytes per pixel
FAST_MISSING = (
    "The quick preview needs the fast engine: install it where the service runs "
    "with pip install 'nst-plugin[fast]'."
)
PREVIEW_TIP = (
    "A quick approximation with the fast engine; OK renders with the engine chosen in this dialog."
)


def fit(width, height, edge, enlarge=False):
    """``(w, h)`` with the long edge at ``edge`` (never enlarged unless ``enlarge``)."""
    scale = float(edge) / max(width, height, 1)
    if scale >= 1 and not enlarge:
        return max(1, int(width)), max(1, int(height))
    return max(1, int(round(width * scale))), max(1, int(round(height * scale)))


def preview_available(engines_info):
    """``(available, tooltip)`` of the quick preview, from GET /v1/engines: the service must
    list the fast engine as ready (else its ``problem`` sentence says what to install)."""
    engines = engines_info.get("engines") if isinstance(engines_info, dict) else None
    entry = next(
        (e for e in engines or () if isinstance(e, dict) and e.get("name") == PREVIEW_ENGINE), None
    )
    if entry is None:
        return False, FAST_MISSING
    if entry.get("ready") is False:
        return False, sentence(entry.get("problem") or FAST_MISSING)
    return True, PREVIEW_TIP


def carried_strength(engines_info, strength, render_engine=""):
    """The fast engine's strength that looks most like ``strength`` on the engine that will
    render (empty: the service's default): vgg19's 0.5, its weights as set, is the fast
    engine's full style. Uses the client beside this module."""
    import client

    engines = engines_info.get("engines") if isinstance(engines_info, dict) else None
    entries = {e.get("name"): e for e in engines or () if isinstance(e, dict)}
    default = engines_info.get("default") if isinstance(engines_info, dict) else None
    render = entries.get(render_engine or default or PREVIEW_ENGINE)
    return client.equivalent_strength(strength, render, entries.get(PREVIEW_ENGINE))


def preview_key(style, strength, preserve_colors):
    """What a preview depends on in the dialog (``strength``: the fast engine's, from
    ``carried_strength``): equal keys give the same preview."""
    return (style or "").strip(), round(float(strength), 3), bool(preserve_colors)


def preview_job(key, edge):
    """The keyword arguments of ``client.submit`` for the preview of ``key``, the content
    having ``edge`` pixels on its long edge; reads a style file (UserError when it fails)."""
    style, strength, preserve_colors = key
    kind, value, _ = resolve_style(style)
    options = {
        "engine": PREVIEW_ENGINE,
        "size": int(min(edge, PREVIEW_EDGE)),
        "strength": strength,
        "preserve_colors": preserve_colors,
    }
    return {
        "styles": [value] if kind == "file" else None,
        "style_name": value if kind == "name" else None,
        "options": options,
    }


def preview_message(exc):
    """The one sentence shown under the preview when it cannot be made."""
    said = isinstance(exc, UserError) or any(
        kind.__name__ == "ServiceError" for kind in type(exc).__mro__
    )
    if said:  # already one sentence for the user (client.ServiceError: the service's own)
        return sentence(exc)
    return "The preview failed (%s)." % sentence(exc).rstrip(".")


class PreviewRequests:
    """Which preview request is current: each change in the dialog starts a newer one, which
    supersedes the older ones; their service jobs are handed out once to be cancelled and
    their results are never shown. Safe to use from several threads."""

    def __init__(self):
        self._lock = threading.Lock()
        self.current = 0
        self.key = None
        self._jobs = {}  # request number -> service job id, while the job may run

    def start(self, key):
        """The number of a new request for ``key``; None when the current one is for ``key``."""
        with self._lock:
            if key == self.key:
                return None
            self.current += 1
            self.key = key
            return self.current

    def stop(self):
        """Supersede every request (the preview was turned off, the dialog closed)."""
        with self._lock:
            self.current += 1
            self.key = None

    def is_current(self, number):
        with self._lock:
            return number == self.current

    def submitted(self, number, job):
        """Note the job of request ``number``; False when the request is already superseded
        (then its thread cancels the job itself)."""
        with self._lock:
            if number != self.current:
                return False
            self._jobs[number] = job
            return True

    def finished(self, number):
        """The job of request ``number`` ended (or was handed out to be cancelled)."""
        with self._lock:
            self._jobs.pop(number, None)

    def stale_jobs(self):
        """The jobs of superseded requests, each returned once, to be cancelled."""
        with self._lock:
            old = [number for number in self._jobs if number != self.current]
            return [self._jobs.pop(number) for number in old]
