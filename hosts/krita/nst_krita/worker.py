"""Everything that waits runs in a worker thread; its results come back as Qt signals.

Nothing here touches the Krita API (it is not thread-safe): the main thread reads the pixels
first and applies the results (``jobs.py``). The thread runs the host kit's service calls
(``hostkit.jobs.ServiceJob``, ``hostkit.styles.library``) and decodes the result with Qt.
"""

from __future__ import annotations

import threading

from PyQt5.QtCore import QObject, Qt, pyqtSignal
from PyQt5.QtGui import QImage

from .hostkit.errors import ServiceError
from .hostkit.png import rgba_to_bgra


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
        except BaseException as exc:  # every failure goes to the main thread
            bridge.failed.emit(exc)
        else:
            bridge.done.emit(value)

    threading.Thread(target=body, name="nst-krita-worker", daemon=True).start()
    return bridge


def _sized(png: bytes, width: int, height: int) -> QImage:
    """The result PNG as an image of exactly ``width`` x ``height`` (scaled if needed)."""
    image = QImage.fromData(png)
    if image.isNull():
        raise ServiceError("The nst service sent a result that is not an image; check its log.")
    if (image.width(), image.height()) != (width, height):
        image = image.scaled(width, height, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    return image


def write_png(png: bytes, path: str, width: int, height: int) -> None:
    """The result PNG written to ``path`` at exactly ``width`` x ``height``."""
    if not _sized(png, width, height).save(path, "PNG"):
        raise OSError("could not write %s; check the free disk space" % path)


def to_bgra(png: bytes, width: int, height: int) -> bytes:
    """The result PNG as 8-bit BGRA of exactly ``width`` x ``height`` (scaled if needed)."""
    image = _sized(png, width, height).convertToFormat(QImage.Format_RGBA8888)
    stride = image.bytesPerLine()
    raw = image.constBits().asstring(stride * height)
    if stride != width * 4:
        raw = b"".join(raw[y * stride : y * stride + width * 4] for y in range(height))
    return rgba_to_bgra(raw)
