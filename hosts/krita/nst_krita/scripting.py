"""The Scripter API: ``nst_krita.stylize(...)`` returns a ``Job``; ``job.wait()`` the new layer.

    import nst_krita
    job = nst_krita.stylize(style="starry_night", strength=0.7)
    layer = job.wait()          # Krita stays responsive while it waits

Call from Krita's main thread (Scripter, a plug-in, an action).
"""

from __future__ import annotations

import contextlib
import os
import time

from PyQt5.QtCore import QEventLoop, QTimer

from . import layers, settings
from .hostkit.areas import MARGIN
from .hostkit.choices import Choices
from .hostkit.errors import Cancelled, PluginError, ServiceError
from .hostkit.progress import CANCELLED, FAILED
from .hostkit.styles import style_from_text
from .jobs import RUNNING, StyleJob


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


def _style(style, document) -> dict:
    """The host kit style dict of a library name, an image file or a layer."""
    if style is None:
        raise PluginError(
            "Name a style: style='starry_night' (from the library), a path to an image file, "
            "or a layer."
        )
    if hasattr(style, "pixelData") and hasattr(style, "name"):
        w, h, data = layers.read_style_layer(document, style)
        return {"pixels": (w, h, data, "BGRA"), "label": style.name()}
    return style_from_text(os.fspath(style))


def stylize(
    style=None,
    strength=None,
    *,
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
    (``Node``); ``strength``: 0..1; ``document``/``node``: default the active ones;
    ``visible=True``: the whole visible image instead of a layer; ``size``: a cap on the long
    edge sent to the service (the result is scaled to the area); ``quality``: draft, good or
    best; ``preserve_colors``; ``engine``; ``margin``: pixels around a selection's box; any
    other option of the schema as a keyword (``iterations=50``...). With a selection only its
    box is sent and the new layer gets a transparency mask of it. Local problems raise
    ``PluginError`` at once; the service's refusals end the job as failed.
    """
    from krita import Krita

    document = document or Krita.instance().activeDocument()
    if document is None:
        raise PluginError("No document is open; open one or pass document=.")
    choices = Choices(
        strength=strength,
        size=size,
        quality=quality,
        preserve_colors=preserve_colors,
        engine=engine,
        extra=options,
    )
    source = layers.read_source(document, node, visible=visible, margin=margin)
    job = StyleJob(source, _style(style, document), choices, settings.load())
    return Job(job.start())
