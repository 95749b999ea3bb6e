"""A stylize job as seen from Krita's main thread: start, progress, cancel, result layer.

``StyleJob`` reads nothing itself: it gets a ``layers.Source`` read on the main thread, hands
the waiting to the host kit's ``ServiceJob`` in a worker thread, and when the result arrives
(queued back to the main thread) adds the layer. Closing the job's document, or Krita,
cancels the job.
"""

from __future__ import annotations

import contextlib

from PyQt5.QtCore import QObject, QTimer, pyqtSignal

from . import layers, recipes, results, worker
from .hostkit import recipes as kit_recipes
from .hostkit import regions as kit_regions
from .hostkit.choices import Choices
from .hostkit.errors import Cancelled, PluginError, error_sentence
from .hostkit.jobs import ServiceJob
from .hostkit.naming import layer_name
from .hostkit.progress import CANCELLED, DONE, FAILED, RUNNING
from .regions import Guides

LOG = "Krita's log"
DOCUMENT_CLOSED = "The document was closed, so its Neural Style job was cancelled."
_ACTIVE = []  # jobs not ended yet, for the document and application watchers


class StyleJob(QObject):
    """One job. Signals: ``progressed(event)``, ``finished(layer)``, ``failed(sentence)``,
    ``cancelled(sentence)``, then ``ended()``; ``keep_refused(sentence)`` after ``keep()``.
    ``state`` is running/done/failed/cancelled.

    ``style``: a host kit style dict, or a list of them (regions, a blend); ``connect``: the
    keywords of ``hostkit.discovery.connect``; ``guides``: the regions' masks and the strength
    map over ``source.box`` (``regions.Guides``); ``apply``: add the result as a layer;
    ``forget``: delete the service's job once its result is here (quick previews).
    """

    progressed = pyqtSignal(object)
    finished = pyqtSignal(object)
    failed = pyqtSignal(str)
    cancelled = pyqtSignal(str)
    keep_refused = pyqtSignal(str)  # the service could not keep the current picture: why
    ended = pyqtSignal()
    keepable = True  # "Keep current" applies (not to an animation's frames)

    def __init__(
        self,
        source: layers.Source,
        style,
        choices: Choices,
        connect: dict,
        *,
        guides: Guides | None = None,
        apply: bool = True,
        forget: bool = False,
        parent=None,
    ):
        super().__init__(parent)
        self.source = source
        self.style = style
        self.choices = choices
        self.guides = guides or Guides()
        self.apply = apply
        self.name = layer_name(style_label(style), choices.strength, choices.engine)
        self.state = RUNNING
        self.error = None
        self.layer = None
        self.result = None  # BGRA of source.box once done
        self.recipe = None  # how it was made (hostkit/recipes.py), once done
        self.keeping = False  # "Keep current" was asked
        self.last_event = {}
        width, height = source.size
        content = (width, height, source.pixels, "BGRA")
        self._work = ServiceJob(
            connect, content, style, choices, forget=forget, check_style=not forget
        )

    @property
    def document(self):
        return self.source.document

    def start(self) -> StyleJob:
        _watch(self)
        worker.run_in_thread(
            self._run,
            on_done=self._on_result,
            on_error=self._on_error,
            on_event=self._on_event,
        )
        return self

    def _run(self, emit) -> bytes:
        """In the worker: the guides as PNGs, the job, the result as BGRA."""
        width, height = self.source.size
        work, guides = self._work, self.guides
        work.style_masks = [kit_regions.mask_png(width, height, m) for m in guides.masks] or None
        if guides.strength_map is not None:
            work.strength_map = kit_regions.mask_png(width, height, guides.strength_map)
        return worker.to_bgra(self._work.run(emit), width, height)

    # -- from the worker (queued to the main thread) -------------------------------------

    def _on_event(self, event: dict) -> None:
        if self.state == RUNNING:
            self.last_event = event
            self.progressed.emit(event)

    def _on_result(self, pixels: bytes) -> None:
        if self.state != RUNNING:
            return
        if not document_open(self.document):
            self._end(CANCELLED, DOCUMENT_CLOSED)
            return
        self.name = layer_name(style_label(self.style), self.choices.strength, self._work.engine)
        try:
            self.result = results.keep_alpha(pixels, self.source.pixels)
            self.recipe = self.make_recipe()
            if self.apply:
                self.layer = self.add_layer()
        except Exception as exc:  # shown as a sentence, never as Krita's dialog
            self._end(FAILED, error_sentence(exc, LOG))
            return
        self._end(DONE, None)

    def _on_error(self, exc: BaseException) -> None:
        if self.state == RUNNING:
            state = CANCELLED if isinstance(exc, Cancelled) else FAILED
            self._end(state, error_sentence(exc, LOG))

    # -- from the user -------------------------------------------------------------------

    def make_recipe(self) -> dict:
        """How this job's result was made, as its layer keeps it."""
        work = self._work
        return kit_recipes.make(
            styles=recipes.style_refs(self.style, work.style_digests),
            engine=work.engine,
            choices=self.choices,
            options=work.options or {},
            source=recipes.source_ref(self.source),
            masks=self.guides.mask_refs or None,
            strength_map=self.guides.strength_ref,
            version=getattr(work.client, "version", None),
            iterations_run=work.iterations_run,
            kept=work.kept,
        )

    def add_layer(self):
        """Add the result as a new layer of the job's document (again, for the history), with
        its recipe."""
        if self.result is None:
            raise PluginError("This job has no result yet.")
        if not document_open(self.document):
            raise PluginError("The document of this result is closed.")
        layer = results.insert_result(self.document, self.source, self.result, self.name)
        if self.recipe is not None:
            recipes.store(self.document, layer, self.recipe)
        return layer

    def keep(self) -> None:
        """End the render now with its current picture (it still ends as done, with a layer
        whose recipe says how many iterations ran). A refusal comes back as a progress
        message; a one-pass engine just finishes."""
        if self.state != RUNNING or self.keeping:
            return
        self.keeping = True
        said = []

        def ask(_emit) -> list:
            return [] if self._work.keep_in_service(said.append) else said[:1]

        worker.run_in_thread(
            ask,
            on_done=self._keep_answered,
            on_error=lambda exc: self._keep_answered([error_sentence(exc, LOG)]),
        )

    def _keep_answered(self, refused: list) -> None:
        if refused and self.state == RUNNING:
            self.keeping = False
            self.keep_refused.emit(refused[0])

    def cancel(self, reason: str = "The job was cancelled.") -> None:
        """Stop the job: the state is cancelled at once, the service stops within a second."""
        if self.state == RUNNING:
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


def style_label(style) -> str:
    """What a result shows: a style's label, or ``starry_night + wave`` for several."""
    if isinstance(style, (list, tuple)):
        return kit_regions.label([(s, None) for s in style])
    return style.get("label") or "style"


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
                    job.cancel(DOCUMENT_CLOSED)
            if not _ACTIVE:
                self.timer.stop()
        except Exception:  # a watcher must never raise into Krita
            pass

    def closing(self) -> None:
        for job in list(_ACTIVE):
            with contextlib.suppress(Exception):
                job.cancel("Krita is closing, so the Neural Style job was cancelled.")


_WATCHER = []


def _watch(job: StyleJob) -> None:
    if not _WATCHER:
        _WATCHER.append(_Watcher())
    _ACTIVE.append(job)
    _WATCHER[0].timer.start()


def active_jobs() -> list:
    return list(_ACTIVE)
