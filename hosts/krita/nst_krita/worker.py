"""Everything that waits: the service's HTTP calls in a worker thread, results as Qt signals.

Nothing here touches the Krita API (it is not thread-safe): the main thread reads the pixels
first and applies the results (``jobs.py``). The thread starts the service when needed
(``client.connect``), encodes PNGs, submits, follows the progress stream and decodes the
result; ``JobWork.cancel`` ends a blocked read at once and cancels the job in the service.
"""

from __future__ import annotations

import base64
import threading

from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtGui import QImage

from . import client as nst
from .jobspec import build_options


class _Bridge(QObject):
    """Lives in the main thread; signals emitted from the worker arrive there queued."""

    event = pyqtSignal(object)
    done = pyqtSignal(object)
    failed = pyqtSignal(object)


_ALIVE = set()  # bridges of running tasks (kept from garbage collection until they end)


def run_in_thread(work, *, on_done, on_error, on_event=None):
    """Run ``work(emit)`` in a daemon thread; its callbacks run on the main thread.

    ``emit(dict)`` sends a progress event to ``on_event``; the return value goes to
    ``on_done``, an exception to ``on_error``. Call from the main thread.
    """
    bridge = _Bridge()
    _ALIVE.add(bridge)

    def finish(callback, value):
        _ALIVE.discard(bridge)
        callback(value)

    bridge.done.connect(lambda value: finish(on_done, value), Qt.QueuedConnection)
    bridge.failed.connect(lambda exc: finish(on_error, exc), Qt.QueuedConnection)
    if on_event is not None:
        bridge.event.connect(on_event, Qt.QueuedConnection)

    def body():
        try:
            value = work(bridge.event.emit)
        except BaseException as exc:
            bridge.failed.emit(exc)
        else:
            bridge.done.emit(value)

    threading.Thread(target=body, name="nst-krita-worker", daemon=True).start()
    return bridge


def to_bgra(png: bytes, width: int, height: int) -> bytes:
    """The result PNG as 8-bit BGRA of exactly ``width`` x ``height`` (scaled if needed)."""
    image = QImage.fromData(png)
    if image.isNull():
        raise nst.ServiceError("The nst service sent a result that is not an image; check its log.")
    if (image.width(), image.height()) != (width, height):
        image = image.scaled(width, height, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    image = image.convertToFormat(QImage.Format_RGBA8888)
    stride = image.bytesPerLine()
    raw = image.constBits().asstring(stride * height)
    if stride != width * 4:
        raw = b"".join(raw[y * stride : y * stride + width * 4] for y in range(height))
    return nst.rgba_to_bgra(raw)


def _event_with_preview(event: dict) -> dict:
    preview = event.get("preview")
    if isinstance(preview, str):
        event = dict(event)
        try:
            event["preview"] = base64.b64decode(preview)
        except ValueError:
            event["preview"] = None
    return event


def library(connect: dict) -> dict:
    """``{"engines": <GET /v1/engines>, "styles": [...]}`` with thumbnails as PNG bytes."""
    service = nst.connect(**connect)
    styles = []
    for entry in service.styles():
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            continue
        thumb = entry.get("thumbnail")
        try:
            thumb = base64.b64decode(thumb) if isinstance(thumb, str) else None
        except ValueError:
            thumb = None
        styles.append({"name": entry["name"], "source": entry.get("source"), "thumbnail": thumb})
    return {"engines": service.engines(), "styles": styles, "url": service.url}


def add_style(connect: dict, name: str, path: str) -> dict:
    """Upload a style image file under ``name``; returns ``library()`` afterwards."""
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError as exc:
        raise nst.ServiceError(
            "The style image %s cannot be read (%s)." % (path, exc.strerror or exc)
        ) from exc
    nst.connect(**connect).add_style(
        name, data, filename=path.replace("\\", "/").rsplit("/", 1)[-1]
    )
    return library(connect)


class JobWork:
    """One stylize job in the service, run by ``run_in_thread``.

    ``content``: (width, height, BGRA); ``style``: {"name": library name} or {"path": file}
    or {"pixels": (w, h, BGRA)}; ``choices``: keywords of ``jobspec.build_options``;
    ``forget``: delete the job in the service once its result is here (quick previews, so
    they do not crowd other clients' results out of the service's list).
    Returns the result as BGRA of the content's size.
    """

    def __init__(
        self, connect: dict, content: tuple, style: dict, choices: dict, forget: bool = False
    ):
        self.forget = forget
        self.connect = connect
        self.content = content
        self.style = style
        self.choices = choices
        self.cancelled = threading.Event()
        self.client = None
        self.job_id = None

    def _check(self):
        if self.cancelled.is_set():
            raise nst.Cancelled("The job was cancelled.")

    def _style_kwargs(self) -> dict:
        if self.style.get("name"):
            return {"style_name": self.style["name"]}
        if self.style.get("path"):
            path = self.style["path"]
            try:
                with open(path, "rb") as fh:
                    return {"styles": [fh.read()]}
            except OSError as exc:
                raise nst.ServiceError(
                    "The style image %s cannot be read (%s)." % (path, exc.strerror or exc)
                ) from exc
        w, h, data = self.style["pixels"]
        return {"styles": [nst.encode_png(w, h, data, "BGRA")]}

    def __call__(self, emit) -> bytes:
        width, height, pixels = self.content
        emit({"event": "progress", "stage": "connecting"})
        service = nst.connect(**self.connect)
        self.client = service
        self._check()
        options = build_options(service.engines(), width=width, height=height, **self.choices)
        emit({"event": "progress", "stage": "uploading"})
        content = nst.encode_png(width, height, pixels, "BGRA")
        style = self._style_kwargs()
        self._check()
        self.job_id = service.submit(content, options=options, cancel_on_disconnect=True, **style)
        if self.cancelled.is_set():
            self._cancel_remote()
            self._check()
        png = service.wait(self.job_id, on_event=lambda e: emit(_event_with_preview(e)))
        if self.forget:
            self._cancel_remote()  # a finished job: the service forgets it
        self._check()
        return to_bgra(png, width, height)

    def cancel(self) -> None:
        """Stop now, from the main thread: the stream closes, the service cancels the job."""
        self.cancelled.set()
        service = self.client
        if service is not None:
            service.close_streams()
        threading.Thread(target=self._cancel_remote, name="nst-krita-cancel", daemon=True).start()

    def _cancel_remote(self) -> None:
        service, job_id = self.client, self.job_id
        if service is None or job_id is None:
            return
        try:
            service.cancel(job_id)
        except nst.ServiceError:
            pass  # already ended, or the service is gone: nothing left to stop
