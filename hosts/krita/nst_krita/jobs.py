"""A stylize job as seen from Krita's main thread: start, progress, cancel, result layer.

``StyleJob`` reads nothing itself: it gets a ``layers.Source`` read on the main thread, hands
the waiting to ``worker.JobWork`` in a thread, and when the result arrives (queued back to
the main thread) adds the layer. Closing the job's document, or Krita, cancels the job.
"""

from __future__ import annotations

from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from . import layers, results, worker
from .jobspec import PluginError, error_sentence, layer_name

RUNNING = "running"
DONE, FAILED, CANCELLED = "done", "failed", "cancelled"
_ACTIVE = []  # jobs not ended yet, for the document and application watchers


class StyleJob(QObject):
    """One job. Signals: ``progressed(event)``, ``finished(layer)``, ``failed(sentence)``,
    ``cancelled(sentence)``, then ``ended()``. ``state`` is running/done/failed/cancelled."""

    progressed = pyqtSignal(object)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal(str)
    ended = pyqtSignal()

    def __init__(
        self,
        source: layers.Source,
        style: dict,
        choices: dict,
        connect: dict,
        *,
        label: str,
        apply: bool = True,
        forget: bool = False,
        parent=None,
    ):
        super().__init__(parent)
        self.forget = forget  # delete the service's job once its result is here
        self.source = source
        self.style = style
        self.choices = dict(choices)
        self.connect = connect
        self.label = label
        self.apply = apply
        self.name = layer_name(label, self.choices.get("strength"))
        self.state = RUNNING
        self.error = None
        self.layer = None
        self.result = None  # BGRA of source.box once done
        self.last_event = {}
        self._work = None

    @property
    def document(self):
        return self.source.document

    def start(self) -> StyleJob:
        w, h = self.source.size
        self._work = worker.JobWork(
            self.connect, (w, h, self.source.pixels), self.style, self.choices, forget=self.forget
        )
        _watch(self)
        worker.run_in_thread(
            self._work, on_done=self._on_result, on_error=self._on_error, on_event=self._on_event
        )
        return self

    # -- from the worker (queued to the main thread) -------------------------------------

    def _on_event(self, event: dict) -> None:
        if self.state == RUNNING:
            self.last_event = event
            self.progressed.emit(event)

    def _on_result(self, pixels: bytes) -> None:
        if self.state != RUNNING:
            return
        if not document_open(self.document):
            self._end(CANCELLED, "The document was closed, so its Neural Style job was cancelled.")
            return
        try:
            self.result = results.keep_alpha(pixels, self.source.pixels)
            if self.apply:
                self.layer = self.add_layer()
        except Exception as exc:
            self._end(FAILED, error_sentence(exc))
            return
        self._end(DONE, None)

    def _on_error(self, exc: BaseException) -> None:
        if self.state != RUNNING:
            return
        if type(exc).__name__ == "Cancelled":
            self._end(CANCELLED, error_sentence(exc))
        else:
            self._end(FAILED, error_sentence(exc))

    # -- from the user -------------------------------------------------------------------

    def add_layer(self):
        """Add the result as a new layer of the job's document (again, for the history)."""
        if self.result is None:
            raise PluginError("This job has no result yet.")
        if not document_open(self.document):
            raise PluginError("The document of this result is closed.")
        return results.insert_result(self.document, self.source, self.result, self.name)

    def cancel(self, reason: str = "The job was cancelled.") -> None:
        """Stop the job: the state is cancelled at once, the service stops within a second."""
        if self.state != RUNNING:
            return
        if self._work is not None:
            self._work.cancel()
        self._end(CANCELLED, reason)

    def _end(self, state: str, error) -> None:
        self.state = state
        self.error = error
        if self in _ACTIVE:
            _ACTIVE.remove(self)
        if state == DONE:
            self.finished.emit(self.layer)
        elif state == FAILED:
            self.failed.emit(error)
        else:
            self.cancelled.emit(error)
        self.ended.emit()


# ---------------------------------------------------------------------------- watchers


def document_open(doc) -> bool:
    """Whether ``doc`` is still one of Krita's open documents."""
    from krita import Krita

    try:
        return any(d == doc for d in Krita.instance().documents())
    except RuntimeError:  # the wrapper's C++ object is gone
        return False


class _Watcher(QObject):
    """Cancels jobs whose document closed, and every job when Krita closes."""

    def __init__(self):
        from krita import Krita

        super().__init__()
        notifier = Krita.instance().notifier()
        notifier.imageClosed.connect(lambda *_: self.check())
        notifier.viewClosed.connect(lambda *_: QTimer.singleShot(0, self.check))
        notifier.applicationClosing.connect(self.closing)
        self.timer = QTimer(self)
        self.timer.setInterval(500)  # documents closed by scripts send no signal
        self.timer.timeout.connect(self.check)

    def check(self) -> None:
        try:
            for job in list(_ACTIVE):
                if not document_open(job.document):
                    job.cancel("The document was closed, so its Neural Style job was cancelled.")
            if not _ACTIVE:
                self.timer.stop()
        except Exception:
            pass

    def closing(self) -> None:
        for job in list(_ACTIVE):
            try:
                job.cancel("Krita is closing, so the Neural Style job was cancelled.")
            except Exception:
                pass


_WATCHER = []


def _watch(job: StyleJob) -> None:
    if not _WATCHER:
        _WATCHER.append(_Watcher())
    _ACTIVE.append(job)
    _WATCHER[0].timer.start()


def active_jobs() -> list:
    return list(_ACTIVE)
