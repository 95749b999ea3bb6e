"""The docker's style picker: the service's style library as one row of thumbnails, "Add..."
(a style image from a file), Refresh, and "Layer as style". Service calls run in ``worker``
threads; the chosen style and the last folder are remembered."""

from __future__ import annotations

import os

from PyQt5.QtCore import QSize, Qt, pyqtSignal
from PyQt5.QtGui import QIcon, QImage
from PyQt5.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QInputDialog,
    QListView,
    QListWidget,
    QListWidgetItem,
    QToolButton,
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
from .widgets import QuietComboBox

THUMB = 56
STARTING = "Starting the nst service; the first start takes up to a minute..."
EMPTY = "The style library is empty: press Add... to add a painting from a file."
PICK = "Click a style above (or Add... one from a file), then Stylize."


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
        self.loading = False
        self.count = 0  # styles in the library, once loaded
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        self.styles = QListWidget()
        self.styles.setViewMode(QListView.IconMode)
        self.styles.setFlow(QListView.LeftToRight)
        self.styles.setWrapping(False)
        self.styles.setIconSize(QSize(THUMB, THUMB))
        self.styles.setMovement(QListView.Static)
        self.styles.setHorizontalScrollBarPolicy(Qt.ScrollBarAsNeeded)
        self.styles.setVerticalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.styles.setFixedHeight(THUMB + 44)
        self.styles.setToolTip("The service's style library: click the painting to use")
        box.addWidget(self.styles)
        row = QHBoxLayout()
        row.setSpacing(4)
        self.add_button = QToolButton()
        self.add_button.setText("Add...")
        self.add_button.setToolTip("Add a painting from an image file to the style library")
        self.refresh_button = QToolButton()
        self.refresh_button.setText("Refresh")
        self.refresh_button.setToolTip("List the style library again (starts the service)")
        self.use_layer = QCheckBox("Layer as style:")
        self.use_layer.setToolTip("Use one of this document's layers as the style image")
        self.style_layer = QuietComboBox()
        self.style_layer.setEnabled(False)
        self.add_button.clicked.connect(self.add_style)
        self.refresh_button.clicked.connect(lambda: self.refresh(start=True))
        self.use_layer.toggled.connect(self.style_layer.setEnabled)
        self.use_layer.toggled.connect(lambda on: on and self.fill_layers())
        row.addWidget(self.add_button)
        row.addWidget(self.refresh_button)
        row.addStretch(1)
        box.addLayout(row)
        row = QHBoxLayout()  # a row of its own: the dock column is narrow
        row.setSpacing(4)
        row.addWidget(self.use_layer)
        row.addWidget(self.style_layer, 1)
        box.addLayout(row)
        self.styles.currentItemChanged.connect(self._current_changed)
        self.use_layer.toggled.connect(lambda _on: self.changed.emit())
        self.style_layer.currentIndexChanged.connect(lambda _i: self.changed.emit())

    def show_error(self, text: str) -> None:
        self.failed.emit(text)

    def _placeholder(self, text: str) -> None:
        self.styles.clear()
        item = QListWidgetItem(text)
        item.setFlags(Qt.NoItemFlags)
        self.styles.addItem(item)

    @reports_errors
    def refresh(self, start: bool = True, select: str | None = None) -> None:
        """Fetch the engines and the style library; ``start``: start the service if needed
        (without it, only a service that already runs answers, and silence is no error);
        ``select``: the style to choose once listed."""
        self.asked = True
        where = dict(settings.load())
        if not start:
            where["start"] = False
        elif not self.count:
            self.loading = True
            self._placeholder("Starting the nst service...")
            self.message.emit(STARTING)
        worker.run_in_thread(
            lambda emit: styles.library(connect(**where)),
            on_done=lambda found: self._show(found, select),
            on_error=lambda exc: self._failed(exc, start),
        )

    def _failed(self, exc: BaseException, said: bool) -> None:
        self.loading = False
        if not self.count:
            self._placeholder("No style library: see below, then Refresh.")
        if said:
            self.show_error(error_sentence(exc, LOG))

    @reports_errors
    def add_style(self) -> None:
        folder = settings.read_choices()["style_folder"]
        path, _ = QFileDialog.getOpenFileName(self, "Add a style image", folder, styles.FILE_FILTER)
        if not path:
            return
        settings.write_choices({"style_folder": os.path.dirname(path)})
        default = os.path.splitext(os.path.basename(path))[0]
        name, ok = QInputDialog.getText(
            self, "Style name", "Name in the style library:", text=default
        )
        name = name.strip()
        if not ok or not name:
            return
        where = settings.load()
        self.message.emit("Adding %s to the style library..." % name)
        worker.run_in_thread(
            lambda emit: styles.add_style(connect(**where), name, path),
            on_done=lambda found: self._show(found, name),
            on_error=lambda exc: self.show_error(error_sentence(exc, LOG)),
        )

    @reports_errors
    def _show(self, found: dict, select: str | None = None) -> None:
        current = self.styles.currentItem()
        chosen = select or (current.text() if current and current.flags() else None)
        chosen = chosen or settings.read_choices()["style"]
        self.loading = False
        self.styles.clear()
        listed = found.get("styles", [])
        self.count = len(listed)
        for style in listed:
            image = QImage.fromData(style["thumbnail"]) if style.get("thumbnail") else QImage()
            icon = QIcon(fit(image, THUMB)) if not image.isNull() else QIcon()
            item = QListWidgetItem(icon, style["name"])
            source = " (%s)" % style["source"] if style.get("source") else ""
            item.setToolTip(style["name"] + source)
            self.styles.addItem(item)
            if style["name"] == chosen:
                self.styles.setCurrentItem(item)
                self.styles.scrollToItem(item)
        if not listed:
            self._placeholder("(empty: press Add...)")
        self.loaded.emit(found)

    def _current_changed(self, current, _previous) -> None:
        if current is not None and current.flags():
            settings.write_choices({"style": current.text()})
        self.changed.emit()

    def fill_layers(self) -> None:
        """List the active document's layers for "Layer as style"."""
        doc = Krita.instance().activeDocument()
        keep = self.style_layer.currentData()
        self.style_layer.clear()
        for node in layers.layers(doc) if doc is not None else []:
            self.style_layer.addItem(node.name(), layers.node_id(node))
        self.style_layer.setCurrentIndex(max(0, self.style_layer.findData(keep)))

    def select(self, ref: dict) -> bool:
        """Choose a recipe's style (a library name or a layer id); False when it is not here."""
        if ref.get("layer"):
            self.use_layer.setChecked(True)
            self.fill_layers()
            index = self.style_layer.findData(ref["layer"])
            self.style_layer.setCurrentIndex(max(0, index))
            return index >= 0
        self.use_layer.setChecked(False)
        for item in self.styles.findItems(str(ref.get("name") or ""), Qt.MatchExactly):
            self.styles.setCurrentItem(item)
            self.styles.scrollToItem(item)
            return True
        return False

    def chosen(self) -> bool:
        """Whether a style is chosen (a library style, or a layer as the style)."""
        item = self.styles.currentItem()
        return self.use_layer.isChecked() or (item is not None and bool(item.flags()))

    def hint(self) -> str:
        """What to do before Stylize can run, as one sentence."""
        if self.loading:
            return STARTING
        if not self.count:
            return EMPTY if self.asked else "Press Refresh to list the style library."
        return PICK

    def style(self, doc) -> dict:
        """The chosen style as a host kit style dict, read now (main thread)."""
        if self.use_layer.isChecked():
            node = layers.find_node(doc, self.style_layer.currentData() or "")
            if node is None:
                raise PluginError(
                    "Choose the layer to use as the style (it may have been deleted)."
                )
            w, h, data = layers.read_style_layer(doc, node)
            return {
                "pixels": (w, h, data, "BGRA"),
                "label": node.name(),
                "layer": layers.node_id(node),
            }
        if not self.chosen():
            raise PluginError(self.hint())
        item = self.styles.currentItem()
        return {"name": item.text(), "label": item.text()}


class BlendPicker(QuietComboBox):
    """ "Blend with": no second style, one of the library's, or an image file (its last item
    opens a file dialog in the folder "Add..." used last). ``changed()`` when it changes,
    ``failed(sentence)`` for the status line."""

    changed = pyqtSignal()
    failed = pyqtSignal(str)
    FILE = "\x00file"  # the data of the "Image file..." item

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setIconSize(QSize(16, 16))
        self.setToolTip("A second painting mixed into the style everywhere")
        self.fill({}, settings.read_choices()["blend_style"])
        self.activated.connect(self._activated)
        self.currentIndexChanged.connect(lambda _i: self.changed.emit())

    def fill(self, found: dict, keep: str | None = None) -> None:
        """List the library's styles from ``found`` (``styles.library``); keep the choice."""
        keep = self.key() if keep is None else keep
        self.blockSignals(True)
        self.clear()
        self.addItem("None", "")
        for style in found.get("styles", []):
            image = QImage.fromData(style["thumbnail"]) if style.get("thumbnail") else QImage()
            icon = QIcon(fit(image, THUMB)) if not image.isNull() else QIcon()
            self.addItem(icon, style["name"], style["name"])
        if keep and self.findData(keep) < 0:  # a file, or a style the library lost
            if styles.looks_like_path(keep):
                self._add_file(keep)
            else:
                self.addItem(keep, keep)
        self.addItem("Image file...", self.FILE)
        self.setCurrentIndex(max(0, self.findData(keep)))
        self.blockSignals(False)

    def _add_file(self, path: str) -> None:
        name = os.path.splitext(os.path.basename(path))[0] or path
        self.insertItem(self.count(), name + " (file)", path)
        self.setItemData(self.count() - 1, path, Qt.ToolTipRole)

    @reports_errors
    def _activated(self, index: int) -> None:
        if self.itemData(index) != self.FILE:
            return
        folder = settings.read_choices()["style_folder"]
        path, _ = QFileDialog.getOpenFileName(
            self, "Blend with a style image", folder, styles.FILE_FILTER
        )
        if not path:
            self.setCurrentIndex(0)
            return
        settings.write_choices({"style_folder": os.path.dirname(path)})
        self.blockSignals(True)
        if self.findData(path) < 0:
            self.removeItem(self.count() - 1)
            self._add_file(path)
            self.addItem("Image file...", self.FILE)
        self.blockSignals(False)
        self.setCurrentIndex(self.findData(path))

    def show_error(self, text: str) -> None:
        self.failed.emit(text)

    def key(self) -> str:
        """The second style as kept in the settings: a library name, a file's path, or ""."""
        data = self.currentData()
        return "" if not data or data == self.FILE else str(data)

    def chosen(self) -> bool:
        return bool(self.key())

    def style(self) -> dict | None:
        """The second style as a host kit style dict (a file is checked now), or None."""
        return styles.style_from_text(self.key()) if self.chosen() else None
