"""One job in the service, as a plug-in runs it in a worker thread: connect, send, follow,
fetch the result; :meth:`ServiceJob.cancel` stops it from any thread within a moment, and
:meth:`ServiceJob.keep` ends it with its current image as the result ("Keep current")."""

from __future__ import annotations

import base64
import threading
from contextlib import suppress

from . import styles
from .choices import Choices
from .discovery import connect
from .errors import Cancelled, ServiceError, sentence
from .png import encode_png


class ServiceJob:
    """A stylize job: ``content`` is ``(width, height, pixels, mode)``, ``style`` a style dict
    (see :mod:`.styles`) or a list of them (regions, or a blend of two), ``choices`` the
    :class:`Choices` to send.

    ``connection``: the keywords of :func:`.discovery.connect`, or a connected ``Client``;
    ``mask``: an 8-bit grey PNG, the area to stylize; ``style_masks``: one grey PNG per style
    (regions, :mod:`.regions`); ``strength_map``: a grey PNG; ``forget``: delete the job in the
    service once its result is
    here (quick previews, so that they do not crowd other clients' results out);
    ``check_style``: check a library name first, for a sentence that lists the names;
    ``frames``: an animation's frames, each like ``content`` (which is then the first), as one
    job: each frame follows the one before (no flicker), and :meth:`run` returns their PNGs.

    After :meth:`run` returns, ``status`` holds the finished job's status from the service
    (``iterations_run``, ``kept``, ``engine``, ...; None when the service could not say).
    """

    def __init__(
        self,
        connection,
        content: tuple,
        style: dict,
        choices: Choices,
        *,
        mask: bytes | None = None,
        style_masks: list | None = None,
        strength_map: bytes | None = None,
        forget: bool = False,
        check_style: bool = True,
        frames: list | None = None,
    ):
        self.connection = connection
        self.content = content
        self.style = style
        self.choices = choices
        self.mask = mask
        self.style_masks = style_masks
        self.strength_map = strength_map
        self.forget = forget
        self.check_style = check_style
        self.frames = frames
        self.cancelled = threading.Event()
        self.client = None
        self.job_id = None
        self.engine = choices.engine  # the engine that runs it, once the service said
        self.status = None  # the service's status of the finished job, after run()
        self.options = None  # the options sent, once sent (a result's recipe keeps them)
        self.style_digests = {}  # library style name -> its file's SHA-256, when checked

    def styles(self) -> list:
        """The job's styles as a list of style dicts."""
        return list(self.style) if isinstance(self.style, (list, tuple)) else [self.style]

    def _service(self):
        if isinstance(self.connection, dict):
            return connect(**self.connection)
        return self.connection

    def _stop_if_cancelled(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled("The job was cancelled.")

    def run(self, emit=None):
        """Do the job; returns the result PNG (a list of PNGs, one per frame, for ``frames``).
        ``emit(event)`` gets each progress event, with a ``preview`` as PNG bytes where the
        service sent one; a frame sequence's events have ``frame`` and ``frames``."""
        emit = emit or (lambda event: None)
        width, height, pixels, mode = self.content
        emit({"event": "progress", "stage": "connecting"})
        service = self.client = self._service()
        self._stop_if_cancelled()
        options = self.options = self.choices.options(service.engines(), width, height)
        self.engine = options.get("engine") or self.engine
        named = [s["name"] for s in self.styles() if s.get("name")]
        if self.check_style and named:
            known = service.styles()
            for name in named:
                styles.check_style_name(name, known)
            self.style_digests = styles.digests(known)
        emit({"event": "progress", "stage": "uploading"})
        content = encode_png(width, height, pixels, mode) if not self.frames else None
        frames = [encode_png(*frame) for frame in self.frames or ()]
        style = styles.submit_kwargs(self.style)
        self._stop_if_cancelled()
        self.job_id = service.submit(
            content,
            frames=frames or None,
            mask=self.mask,
            style_masks=self.style_masks,
            strength_map=self.strength_map,
            options=options,
            cancel_on_disconnect=True,
            **style,
        )
        if self.cancelled.is_set():
            self.cancel_in_service()
            self._stop_if_cancelled()
        emit({"event": "progress", "stage": "queued", "job": self.job_id})
        service.wait_done(self.job_id, on_event=lambda event: emit(with_preview(event)))
        if frames:
            png = [service.frame(self.job_id, n) for n in range(1, len(frames) + 1)]
        else:
            png = service.result(self.job_id)
        with suppress(ServiceError):  # the result is here; its status is a nicety
            self.status = service.status(self.job_id)
        if self.forget:
            self.cancel_in_service()  # of a finished job: the service forgets it
        self._stop_if_cancelled()
        return png

    def cancel(self) -> None:
        """Stop now, from any thread: the stream closes and the service cancels the job."""
        self.cancelled.set()
        if self.client is not None:
            self.client.close_streams()
        threading.Thread(target=self.cancel_in_service, name="nst-cancel", daemon=True).start()

    @property
    def kept(self) -> bool:
        """Whether the finished job ended early with the image it had when keep was asked."""
        return bool(self.status and self.status.get("kept"))

    @property
    def iterations_run(self):
        """The iterations behind the result (1 for a one-pass engine), or None."""
        found = (self.status or {}).get("iterations_run")
        return found if isinstance(found, int) and not isinstance(found, bool) else None

    def keep(self, on_refused=None) -> None:
        """End the job now with its current image as the result, from any thread ("Keep
        current"): the service stops the engine at its next iteration boundary and the job
        ends done, so :meth:`run` returns that image and ``kept`` is then true. A job whose
        engine makes one pass (fast) just finishes. ``on_refused(sentence)`` is called, in
        another thread, when the service could not (the job still waits in the queue, or has
        ended)."""
        threading.Thread(
            target=self.keep_in_service, args=(on_refused,), name="nst-keep", daemon=True
        ).start()

    def keep_in_service(self, on_refused=None) -> bool:
        """Ask the service to keep the job's current image (blocking); True when it took it,
        else ``on_refused`` gets the sentence why."""
        if self.client is None or self.job_id is None:
            refused = (
                "The job has not reached the nst service yet, so it has no image to keep; "
                "cancel it instead."
            )
        else:
            try:
                self.client.keep(self.job_id)
                return True
            except ServiceError as exc:
                refused = sentence(exc)
        if on_refused is not None:
            on_refused(refused)
        return False

    def cancel_in_service(self) -> None:
        """Cancel the job in the service, or forget it once finished; quiet when it is gone."""
        if self.client is not None and self.job_id is not None:
            with suppress(ServiceError):
                self.client.cancel(self.job_id)


def keepable(event: dict) -> bool:
    """Whether a progress event shows the job iterating on an image it could keep now (the
    moment to offer "Keep current")."""
    return event.get("event", "progress") == "progress" and event.get("stage") == "optimizing"


def with_preview(event: dict) -> dict:
    """``event`` with its ``preview`` (base64 in the stream) as PNG bytes, or None."""
    preview = event.get("preview")
    if not isinstance(preview, str):
        return event
    event = dict(event)
    try:
        event["preview"] = base64.b64decode(preview)
    except ValueError:
        event["preview"] = None
    return event
