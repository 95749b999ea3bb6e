"""Parts of the docker: this session's results (history), the service address settings,
and ``reports_errors`` for its slots."""

from __future__ import annotations

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

from . import settings
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
    """A fixed-height picture. Unlike a QLabel, a new image only repaints this widget: no
    re-layout of Krita's window (which repaints the canvas and stalls the UI)."""

    def __init__(self, height: int, parent=None):
        super().__init__(parent)
        self.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.setFixedHeight(height)
        self.image = QImage()

    def set_image(self, image: QImage) -> None:
        edge = 4 * self.height()  # keep a small copy: paintEvent scales it to the widget
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
    """The results of this session. Click one to preview it; add it again or discard it."""

    chosen = pyqtSignal(object)  # the StyleJob clicked
    applied = pyqtSignal(object)  # the StyleJob to add as a layer again

    def __init__(self, parent=None):
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setIconSize(QPixmap(48, 48).size())
        self.list.setMaximumHeight(110)
        self.list.currentItemChanged.connect(self._current_changed)
        self.apply_button = QPushButton("Apply as layer")
        self.apply_button.setToolTip("Add the chosen result as a new layer again")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Forget the chosen result (its layers stay)")
        self.apply_button.clicked.connect(self._apply)
        self.discard_button.clicked.connect(self._discard)
        buttons = QHBoxLayout()
        buttons.addWidget(self.apply_button)
        buttons.addWidget(self.discard_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list)
        layout.addLayout(buttons)
        self._jobs = {}
        self._update_buttons()

    def add(self, job) -> None:
        w, h = job.source.size
        item = QListWidgetItem(QIcon(fit(bgra_image(w, h, job.result), 48)), job.name)
        item.setToolTip(
            "%s, %dx%d px at (%d, %d)" % (job.name, w, h, job.source.box[0], job.source.box[1])
        )
        self._jobs[id(item)] = (item, job)
        self.list.insertItem(0, item)
        while self.list.count() > HISTORY_LIMIT:
            self._forget(self.list.item(self.list.count() - 1))
        self.list.setCurrentItem(item)

    def current_job(self):
        item = self.list.currentItem()
        return self._jobs.get(id(item), (None, None))[1] if item is not None else None

    def _current_changed(self, current, _previous) -> None:
        self._update_buttons()
        job = self.current_job()
        if job is not None:
            self.chosen.emit(job)

    def _apply(self) -> None:
        job = self.current_job()
        if job is not None:
            self.applied.emit(job)

    def _discard(self) -> None:
        item = self.list.currentItem()
        if item is not None:
            self._forget(item)

    def _forget(self, item) -> None:
        entry = self._jobs.pop(id(item), None)
        if entry is not None:
            entry[1].result = None  # the pixels can go
        self.list.takeItem(self.list.row(item))
        self._update_buttons()

    def _update_buttons(self) -> None:
        has = self.list.currentItem() is not None
        self.apply_button.setEnabled(has)
        self.discard_button.setEnabled(has)


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
