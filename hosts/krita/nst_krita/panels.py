"""Parts of the docker: the document's results (history), the service address settings,
and ``reports_errors`` for its slots."""

from __future__ import annotations

import contextlib
import sys
import traceback

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QIcon, QImage, QPainter, QPixmap
from PyQt5.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from . import layers, recipes, settings
from .hostkit import recipes as kit_recipes
from .hostkit.errors import error_sentence
from .jobs import LOG

HISTORY_LIMIT = 12  # results kept in memory; the oldest goes first


def reports_errors(method):
    """Wrap a slot: an exception becomes ``self.show_error(sentence)``, never the modal
    dialog Krita opens for an uncaught one. Qt's extra arguments (a button's ``checked``)
    are dropped when the slot does not take them."""
    wanted = method.__code__.co_argcount - 1

    def run(self, *args, **kwargs):
        try:
            return method(self, *args[:wanted], **kwargs)
        except Exception as exc:
            traceback.print_exc(file=sys.stderr)
            self.show_error(error_sentence(exc, LOG))

    run.__name__, run.__doc__ = method.__name__, method.__doc__
    return run


def bgra_image(width: int, height: int, bgra: bytes) -> QImage:
    """A QImage (own copy) of 8-bit BGRA pixels: Qt's ARGB32 is B, G, R, A in memory."""
    image = QImage(bgra, width, height, width * 4, QImage.Format_ARGB32)
    return image.copy()


def fit(image: QImage, width: int, height=None) -> QPixmap:
    """``image`` scaled down to fit ``width`` x ``height`` (default: a square)."""
    height = width if height is None else height
    if image.isNull():
        return QPixmap()
    if image.width() > width or image.height() > height:
        image = image.scaled(
            max(1, width), max(1, height), Qt.KeepAspectRatio, Qt.SmoothTransformation
        )
    return QPixmap.fromImage(image)


class ImageView(QWidget):
    """A picture of a fixed height (None: as tall as its dock allows). Unlike a QLabel, a new
    image only repaints this widget: no re-layout of Krita's window (which repaints the canvas
    and stalls the UI)."""

    def __init__(self, height, parent=None):
        super().__init__(parent)
        if height is None:
            self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Expanding)
            self.setMinimumHeight(160)
        else:
            self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
            self.setFixedHeight(height)
        self.image = QImage()

    def set_image(self, image: QImage) -> None:
        edge = max(1024, 4 * self.height())  # a small copy: paintEvent scales it to the widget
        if image.width() > edge or image.height() > edge:
            image = image.scaled(edge, edge, Qt.KeepAspectRatio, Qt.SmoothTransformation)
        self.image = image
        self.update()

    def paintEvent(self, event):
        if self.image.isNull():
            return
        pixmap = fit(self.image, self.width(), self.height())
        painter = QPainter(self)
        painter.drawPixmap(
            (self.width() - pixmap.width()) // 2, (self.height() - pixmap.height()) // 2, pixmap
        )
        painter.end()


class HistoryPanel(QWidget):
    """The document's results, newest first: the result layers with a saved recipe (after a
    reopen too) and this session's results whose layer is gone. Click one to preview it;
    Restylize loads its settings, Before/after hides it while pressed, Apply adds a result
    of this session again, Discard forgets one whose layer is gone."""

    chosen = pyqtSignal(object)  # the StyleJob clicked (its pixels are here)
    applied = pyqtSignal(object)  # the StyleJob to add as a layer again
    restyled = pyqtSignal(object, object)  # (result layer, recipe) whose settings to load

    def __init__(self, parent=None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setIconSize(QPixmap(48, 48).size())
        self.list.setMaximumHeight(130)
        self.list.currentItemChanged.connect(self._current_changed)
        self.apply_button = QPushButton("Apply as layer")
        self.apply_button.setToolTip("Add the chosen result of this session as a layer again")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Forget the chosen result of this session")
        self.restyle_button = QPushButton("Restylize")
        self.restyle_button.setToolTip(
            "Load the chosen result's settings; Stylize then makes it again from the same "
            "layer as a new layer"
        )
        self.compare_button = QPushButton("Before/after")
        self.compare_button.setCheckable(True)
        self.compare_button.setToolTip(
            "While pressed, hide the chosen result (and the others from its layer): see the layer"
        )
        self.apply_button.clicked.connect(self._apply)
        self.discard_button.clicked.connect(self._discard)
        self.restyle_button.clicked.connect(self._restyle)
        self.compare_button.toggled.connect(self._compare)
        buttons = QHBoxLayout()
        for button in (self.restyle_button, self.compare_button):
            buttons.addWidget(button)
        more = QHBoxLayout()
        for button in (self.apply_button, self.discard_button):
            more.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        layout.addLayout(more)
        self._jobs = []  # this session's StyleJobs, newest last
        self._entries = {}  # id(item) -> (layer or None, recipe or None, job or None)
        self._hidden = None  # the layers Before/after hides
        self.document = None
        self._update_buttons()

    def add(self, job) -> None:
        """A finished job of this session."""
        self._jobs.append(job)
        while len(self._jobs) > HISTORY_LIMIT:
            self._jobs.pop(0).result = None  # the pixels can go
        self.refresh(job.document, select=job)

    def refresh(self, doc, select=None) -> None:
        """List ``doc``'s results (None: no document)."""
        self._compare(False)
        current = self.current()
        self.document = doc
        entries = []
        if doc is not None:
            by_layer = {
                layers.node_id(j.layer): j
                for j in self._jobs
                if j.layer is not None and j.document == doc
            }
            listed = set()
            for node, recipe in recipes.results(doc):
                job = by_layer.get(layers.node_id(node))
                listed.add(id(job))
                entries.append((recipe.get("created", ""), len(entries), node, recipe, job))
            for job in self._jobs:  # this session's results whose layer is gone
                if job.document == doc and id(job) not in listed and job.result is not None:
                    created = (job.recipe or {}).get("created", "")
                    entries.append((created, len(entries), None, job.recipe, job))
        entries.sort(key=lambda entry: entry[:2], reverse=True)  # newest first
        self.list.blockSignals(True)
        self.list.clear()
        self._entries = {}
        chosen = None
        for _created, _order, node, recipe, job in entries:
            item = self._item(node, recipe, job)
            self._entries[id(item)] = (node, recipe, job)
            self.list.addItem(item)
            wanted = select if select is not None else (current[2] or current[0])
            if wanted is not None and wanted in (job, node):
                chosen = item
        self.list.blockSignals(False)
        if chosen is not None:
            self.list.setCurrentItem(chosen)
        self._update_buttons()

    def _item(self, node, recipe, job):
        if job is not None and job.result is not None:
            w, h = job.source.size
            icon = QIcon(fit(bgra_image(w, h, job.result), 48))
        else:
            icon = QIcon(QPixmap.fromImage(node.thumbnail(48, 48)))
        name = node.name() if node is not None else job.name + " (layer gone)"
        item = QListWidgetItem(icon, name)
        item.setToolTip(kit_recipes.label(recipe) if recipe else name)
        return item

    def current(self) -> tuple:
        """(layer, recipe, job) of the chosen entry; Nones when none is chosen."""
        item = self.list.currentItem()
        return self._entries.get(id(item), (None, None, None)) if item else (None, None, None)

    def current_job(self):
        return self.current()[2]

    def _current_changed(self, current, _previous) -> None:
        self._compare(False)
        self._update_buttons()
        job = self.current_job()
        if job is not None:
            self.chosen.emit(job)

    def _apply(self) -> None:
        job = self.current()[2]
        if job is not None and job.result is not None:
            self.applied.emit(job)

    def _discard(self) -> None:
        node, _recipe, job = self.current()
        if job is not None and node is None:
            self._jobs.remove(job)
            job.result = None
            self.refresh(self.document)

    def _restyle(self) -> None:
        node, recipe, _job = self.current()
        if node is not None and recipe is not None:
            self.restyled.emit(node, recipe)

    def _compare(self, on: bool) -> None:
        """Before/after: while the button is down, hide the chosen result and the other results
        made from the same layer, so the canvas shows that layer as it is."""
        for node in self._hidden or []:
            with contextlib.suppress(RuntimeError):
                node.setVisible(True)
        if self._hidden:
            self.document.refreshProjection()
        self._hidden = None
        node, recipe = self.current()[:2] if on else (None, None)
        if node is not None and self.document is not None:
            source = (recipe or {}).get("source", {}).get("layer")
            same = [
                n
                for n, r in recipes.results(self.document)
                if source and r["source"].get("layer") == source
            ]
            self._hidden = [n for n in [node, *same] if n.visible()]
            for hidden in self._hidden:
                hidden.setVisible(False)
            self.document.refreshProjection()
        if not on and self.compare_button.isChecked():
            self.compare_button.blockSignals(True)
            self.compare_button.setChecked(False)
            self.compare_button.blockSignals(False)

    def _update_buttons(self) -> None:
        node, recipe, job = self.current()
        gone = job is not None and node is None
        self.apply_button.setEnabled(job is not None and job.result is not None)
        self.discard_button.setEnabled(gone)
        self.restyle_button.setEnabled(node is not None and recipe is not None)
        self.compare_button.setEnabled(node is not None)


class ServicePanel(QWidget):
    """Which service the docker uses: the address it is connected to, and the fields for
    another one (empty: the local service that ``nst install-host`` set up)."""

    changed = pyqtSignal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.where = QLabel("Not connected yet.")
        self.where.setWordWrap(True)
        self.where.setTextInteractionFlags(Qt.TextSelectableByMouse)
        self.url = QLineEdit()
        self.url.setPlaceholderText("empty: the local nst service")
        self.url.setToolTip("Another service's address, e.g. http://127.0.0.1:5000")
        self.token = QLineEdit()
        self.token.setEchoMode(QLineEdit.Password)
        self.token.setPlaceholderText("that service's access token")
        self.fingerprint = QLineEdit()
        self.fingerprint.setPlaceholderText("its certificate fingerprint (https)")
        self.fingerprint.setToolTip(
            "The SHA-256 fingerprint `nst serve --status` prints on the service's machine; "
            "the docker refuses a service whose certificate does not match it."
        )
        save = QPushButton("Save and reconnect")
        save.clicked.connect(self._save)
        form = QVBoxLayout(self)
        form.setContentsMargins(0, 0, 0, 0)
        for widget in (self.where, self.url, self.token, self.fingerprint, save):
            form.addWidget(widget)
        current = settings.read()
        self.url.setText(current["url"])
        self.token.setText(current["token"])
        self.fingerprint.setText(current["fingerprint"])

    def set_connected(self, url: str | None) -> None:
        self.where.setText("Connected to %s." % url if url else "Not connected.")

    def _save(self) -> None:
        settings.write(self.url.text(), self.token.text(), self.fingerprint.text())
        self.changed.emit()
