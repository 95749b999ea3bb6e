"""The Scripter API: ``nst_krita.stylize(...)`` returns a ``Job``; ``job.wait()`` the new layer.

    import nst_krita
    job = nst_krita.stylize(style="starry_night", strength=0.7)
    layer = job.wait()          # Krita stays responsive while it waits
    nst_krita.recipe(layer)     # how it was made, saved with the document
    again = nst_krita.restylize(layer, strength=0.3).wait()
    nst_krita.history()         # the document's results, oldest first
    animated = nst_krita.stylize_animation(style="starry_night").wait()  # the active layer's frames

Call from Krita's main thread (Scripter, a plug-in, an action).
"""

from __future__ import annotations

import contextlib
import time

from PyQt5.QtCore import QEventLoop, QTimer

from . import animation, layers, recipes, regions, settings
from .hostkit import recipes as kit_recipes
from .hostkit.areas import MARGIN
from .hostkit.choices import Choices
from .hostkit.errors import Cancelled, PluginError, ServiceError
from .hostkit.progress import CANCELLED, FAILED
from .jobs import RUNNING, StyleJob
from .scriptargs import script_node, script_styles


class Job:
    """A running stylize job. ``state``: running, done, failed or cancelled; ``error``: the
    sentence when it failed or was cancelled; ``layer``: the new layer once done;
    ``progress``: the latest progress event (stage, step, total, loss, eta)."""

    def __init__(self, job: StyleJob):
        self._job = job

    def __repr__(self) -> str:
        return "<nst_krita.Job %s %r>" % (self.state, self._job.name)

    @property
    def state(self) -> str:
        return self._job.state

    @property
    def error(self):
        return self._job.error

    @property
    def layer(self):
        return self._job.layer

    @property
    def progress(self) -> dict:
        return {k: v for k, v in self._job.last_event.items() if k != "preview"}

    @property
    def name(self) -> str:
        return self._job.name

    def cancel(self) -> None:
        """Cancel the job; the document stays as it was."""
        self._job.cancel()

    def keep(self) -> None:
        """End the render now with its current picture: the job ends done, its layer's recipe
        says ``kept`` and ``iterations_run``. Once the job iterates (``progress["stage"]`` is
        ``"optimizing"``); a refusal (too early, already ended) is printed as one sentence."""
        self._job.keep()

    def wait(self, timeout=None):
        """Process Krita's events until the job ends; return the new layer.

        Raises ``ServiceError`` (one sentence) when the job failed, ``Cancelled`` when it was
        cancelled, ``TimeoutError`` when ``timeout`` seconds passed first (the job goes on).
        """
        job = self._job
        if job.state == RUNNING:
            loop = QEventLoop()
            job.ended.connect(loop.quit)
            deadline = None if timeout is None else time.monotonic() + float(timeout)
            ticker = QTimer()
            ticker.setInterval(100)
            ticker.timeout.connect(
                lambda: (
                    (
                        job.state != RUNNING
                        or (deadline is not None and time.monotonic() >= deadline)
                    )
                    and loop.quit()
                )
            )
            ticker.start()
            if job.state == RUNNING:
                loop.exec_()
            ticker.stop()
            with contextlib.suppress(TypeError):
                job.ended.disconnect(loop.quit)
            if job.state == RUNNING:
                raise TimeoutError(
                    "The Neural Style job did not finish within %g s; it goes on, "
                    "call wait() again or cancel()." % float(timeout)
                )
        if job.state == CANCELLED:
            raise Cancelled(job.error or "The job was cancelled.")
        if job.state == FAILED:
            raise ServiceError(job.error)
        return job.layer


def stylize(
    style=None,
    strength=None,
    *,
    styles=None,
    strength_map=None,
    brush=None,
    match_colors=None,
    blend_with=None,
    blend=None,
    document=None,
    node=None,
    visible: bool = False,
    size=None,
    quality=None,
    preserve_colors=None,
    engine=None,
    margin: int = MARGIN,
    **options,
) -> Job:
    """Stylize a layer (or the visible image) of a document; returns a running ``Job``.

    ``style``: a name in the service's style library, a path to an image file, or a layer
    (``Node``); ``styles``: regions instead, ``[(style, mask), ...]``, a mask being a layer or
    mask of the document (white: this style) or a ``Selection``; ``strength``: 0..1;
    ``strength_map``: a layer or mask whose grey is the strength (black: the photo);
    ``brush``: the brush strokes this many times the painting's (0.25..4); ``match_colors``;
    ``blend_with``: a second style mixed in, ``blend`` its share (0..1, default 0.5);
    ``document``/``node``: default the active ones; ``visible=True``: the whole visible image
    instead of a layer; ``size``: a cap on the long edge sent to the service (the result is
    scaled to the area); ``quality``: draft, good or best; ``preserve_colors``; ``engine``;
    ``margin``: pixels around a selection's box; any other option of the schema as a keyword
    (``iterations=50``...). With a selection only its box is sent and the selection goes into
    the new layer's alpha. Local problems raise ``PluginError`` at once; the service's
    refusals end the job as failed.
    """
    from krita import Krita

    document = document or Krita.instance().activeDocument()
    if document is None:
        raise PluginError("No document is open; open one or pass document=.")
    style, found, share = script_styles(document, style, styles, blend_with, blend)
    chosen = dict(size=size, quality=quality, preserve_colors=preserve_colors, engine=engine)
    chosen.update(brush=brush, match_colors=match_colors)
    choices = script_choices(strength, share, chosen, options)
    shown = script_node(document, strength_map, "strength map")
    source = layers.read_source(document, node, visible=visible, margin=margin)
    guides = regions.read_guides(document, source.box, found, shown)
    job = StyleJob(source, style, choices, settings.load(), guides=guides)
    return Job(job.start())


def stylize_animation(
    style=None,
    strength=None,
    *,
    blend_with=None,
    blend=None,
    document=None,
    node=None,
    **options,
) -> Job:
    """Stylize an animated layer's frames over the document's playback range; returns a
    running ``Job`` whose ``wait()`` gives the new animated layer (on top of the document).

    Each drawing is stylized once, following the one before along the optical flow (no
    flicker; ``temporal_weight=0`` turns that off); held drawings stay held. The keywords are
    ``stylize``'s (one style, or a blend of two; no regions); ``progress`` has ``frame`` and
    ``frames``. A selection goes into the new layer's alpha on every frame."""
    document = _document(document)
    style, _found, share = script_styles(document, style, None, blend_with, blend)
    chosen = {key: options.pop(key, None) for key in CHOICE_KEYWORDS}
    choices = script_choices(strength, share, chosen, options)
    frames = animation.read_frames(document, node)
    return Job(animation.AnimationJob(frames, style, choices, settings.load()).start())


CHOICE_KEYWORDS = ("size", "quality", "preserve_colors", "engine", "brush", "match_colors")


def script_choices(strength, share, chosen: dict, options: dict) -> Choices:
    """A script's choices: ``chosen`` holds the ``CHOICE_KEYWORDS``, ``options`` the rest of
    the schema's options."""
    return Choices(strength=strength, blend=share, extra=options, **chosen)


def _document(document):
    from krita import Krita

    document = document or Krita.instance().activeDocument()
    if document is None:
        raise PluginError("No document is open; open one or pass document=.")
    return document


def recipe(node=None, document=None):
    """How the result layer ``node`` (default: the active layer) was made: a dict with
    ``style``, ``styles``, ``engine``, ``choices``, ``options`` (as sent), ``source`` and
    ``created``; None for a layer that is not a Neural Style result. Saved with the document."""
    document = _document(document)
    node = node if node is not None else document.activeNode()
    return None if node is None else recipes.recipe_of(document, node)


def history(document=None) -> list:
    """The document's results still in it, oldest first, from their saved recipes:
    ``[{"layer": Node, "name": str, "recipe": dict}]``."""
    document = _document(document)
    return [
        {"layer": node, "name": node.name(), "recipe": found}
        for node, found in recipes.results(document)
    ]


def restylize(node=None, document=None, **changes) -> Job:
    """Make the result layer ``node`` (default: the active one) again from its recipe, with
    ``changes`` (any keyword of ``stylize``: ``strength=0.3``, ``style=``, ``engine=``...), from
    the same source layer and area; the new result is a new layer with its own recipe. A
    recipe whose style, layers or settings are gone or damaged is one sentence, and nothing in
    the document changes."""
    document = _document(document)
    node = node if node is not None else document.activeNode()
    found = None if node is None else recipes.recipe_of(document, node)
    if found is None:
        raise PluginError(
            "The layer %r is not a Neural Style result, so it has no recipe to make again; "
            "select a result layer, or use stylize()." % (node.name() if node else "(none)")
        )
    if any(key in changes for key in ("style", "styles", "blend_with")):
        style, chosen, share = script_styles(
            document,
            changes.pop("style", None),
            changes.pop("styles", None),
            changes.pop("blend_with", None),
            changes.pop("blend", None),
        )
        if share is not None:
            changes["blend"] = share
    else:
        styles = [recipes.recipe_style(document, ref) for ref in found["styles"]]
        chosen = recipes.recipe_regions(document, found, styles) if found.get("masks") else []
        style = styles if len(styles) > 1 else styles[0]
    shown = changes.pop("strength_map", None)
    if shown is None and found.get("strength_map"):
        shown = recipes.find_ref(document, found["strength_map"], "strength map")
    shown = script_node(document, shown, "strength map")
    choices = kit_recipes.choices(found, changes)
    source = recipes.recipe_source(document, found, node)
    guides = regions.read_guides(document, source.box, chosen, shown)
    job = StyleJob(source, style, choices, settings.load(), guides=guides)
    return Job(job.start())
