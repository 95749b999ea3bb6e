"""The docker's style picker: the service's style library as thumbnails, "Add style from
file...", and "Use a layer as the style". Service calls run in ``worker`` threads."""

from __future__ import annotations

import os

from PyQt5.QtCore import QSize, pyqtSignal
from PyQt5.QtGui import QIcon, QImage
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from krita import Krita

from . import layers, settings, worker
from .hostkit import styles
from .hostkit.discovery import connect
from .hostkit.errors import PluginError, error_sentence
from .jobs import LOG
from .panels import fit, reports_errors


class StylePicker(QWidget):
    """Signals: ``loaded(found)`` with the service's engines, styles and address;
    ``message(text)`` and ``failed(sentence)`` for the docker's status line; ``changed()``
    when the chosen style changes."""

    changed = pyqtSignal()
    loaded = pyqtSignal(object)
    message = pyqtSignal(str)
    failed = pyqtSignal(str)

    def __init__(self, parent=None):
        super().__init__(parent)
        self.asked = False  # whether the library was asked for yet
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        self.styles = QListWidget()
        self.styles.setViewMode(QListView.IconMode)
        self.styles.setIconSize(QSize(64, 64))
        self.styles.setResizeMode(QListView.Adjust)
        self.styles.setMovement(QListView.Static)
        self.styles.setMinimumHeight(100)
        self.styles.setMaximumHeight(150)
        self.styles.setToolTip("The service's style library; click the style to use")
        box.addWidget(self.styles)
        row = QHBoxLayout()
        self.add_button = QPushButton("Add style from file...")
        self.refresh_button = QPushButton("Refresh")
        self.add_button.clicked.connect(self.add_style)
        self.refresh_button.clicked.connect(lambda: self.refresh(start=True))
        row.addWidget(self.add_button)
        row.addWidget(self.refresh_button)
        box.addLayout(row)
        row = QHBoxLayout()
        self.use_layer = QCheckBox("Use a layer as the style:")
        self.style_layer = QComboBox()
        self.style_layer.setEnabled(False)
        self.use_layer.toggled.connect(self.style_layer.setEnabled)
        self.use_layer.toggled.connect(lambda on: on and self.fill_layers())
        row.addWidget(self.use_layer)
        row.addWidget(self.style_layer, 1)
        box.addLayout(row)
        self.styles.currentItemChanged.connect(lambda *_: self.changed.emit())
        self.use_layer.toggled.connect(lambda _on: self.changed.emit())
        self.style_layer.currentIndexChanged.connect(lambda _i: self.changed.emit())

    def show_error(self, text: str) -> None:
        self.failed.emit(text)

    @reports_errors
    def refresh(self, start: bool = True) -> None:
        """Fetch the engines and the style library; ``start``: start the service if needed
        (without it, only a service that already runs answers, and silence is no error)."""
        self.asked = True
        where = dict(settings.load())
        if not start:
            where["start"] = False
        else:
            self.message.emit("Connecting to the nst service...")
        worker.run_in_thread(
            lambda emit: styles.library(connect(**where)),
            on_done=self._show,
            on_error=lambda exc: start and self.show_error(error_sentence(exc, LOG)),
        )

    @reports_errors
    def add_style(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Add a style image", "", styles.FILE_FILTER)
        if not path:
            return
        default = os.path.splitext(os.path.basename(path))[0]
        name, ok = QInputDialog.getText(
            self, "Style name", "Name in the style library:", text=default
        )
        if not ok or not name.strip():
            return
        where = settings.load()
        self.message.emit("Adding %s to the style library..." % name.strip())
        worker.run_in_thread(
            lambda emit: styles.add_style(connect(**where), name.strip(), path),
            on_done=self._show,
            on_error=lambda exc: self.show_error(error_sentence(exc, LOG)),
        )

    @reports_errors
    def _show(self, found: dict) -> None:
        chosen = self.styles.currentItem().text() if self.styles.currentItem() else None
        self.styles.clear()
        for style in found.get("styles", []):
            image = QImage.fromData(style["thumbnail"]) if style.get("thumbnail") else QImage()
            item = QListWidgetItem(
                QIcon(fit(image, 64)) if not image.isNull() else QIcon(), style["name"]
            )
            item.setToolTip(
                style["name"] + (" (%s)" % style["source"] if style.get("source") else "")
            )
            self.styles.addItem(item)
            if style["name"] == chosen:
                self.styles.setCurrentItem(item)
        self.loaded.emit(found)

    def fill_layers(self) -> None:
        """List the active document's layers for "Use a layer as the style"."""
        doc = Krita.instance().activeDocument()
        keep = self.style_layer.currentData()
        self.style_layer.clear()
        for node in layers.layers(doc) if doc is not None else []:
            self.style_layer.addItem(node.name(), str(node.uniqueId()))
        self.style_layer.setCurrentIndex(max(0, self.style_layer.findData(keep)))

    def chosen(self) -> bool:
        """Whether a style is chosen (a library style, or a layer as the style)."""
        return self.use_layer.isChecked() or self.styles.currentItem() is not None

    def style(self, doc) -> dict:
        """The chosen style as a host kit style dict, read now (main thread)."""
        if self.use_layer.isChecked():
            node = layers.find_node(doc, self.style_layer.currentData() or "")
            if node is None:
                raise PluginError(
                    "Choose the layer to use as the style (it may have been deleted)."
                )
            w, h, data = layers.read_style_layer(doc, node)
            return {"pixels": (w, h, data, "BGRA"), "label": node.name()}
        item = self.styles.currentItem()
        if item is None:
            raise PluginError(
                "Pick a style in the library, add one from a file, or use a layer as the style."
            )
        return {"name": item.text(), "label": item.text()}
