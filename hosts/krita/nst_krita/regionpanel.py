"""The docker's Regions section: a style per region of the picture, and a layer as the
strength map. The pixels are read by ``regions`` (a selection when its region is added, a
layer or mask when Stylize starts); this is the list and its buttons."""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSizePolicy,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from krita import Krita

from . import regions
from .hostkit.errors import PluginError
from .layers import find_node
from .panels import reports_errors
from .widgets import NodeComboBox

ROWS_SHOWN = 4  # rows of the list before it scrolls


def _document():
    doc = Krita.instance().activeDocument()
    if doc is None:
        raise PluginError("Open an image first.")
    return doc


def _nodes() -> list:
    doc = Krita.instance().activeDocument()
    return regions.guide_nodes(doc) if doc is not None else []


class RegionsPanel(QWidget):
    """The regions (``regions.Region``, in order) and the strength map. ``style_for(doc)``
    gives the style chosen in the picker. Signals: ``changed()`` when the regions or the map
    change, ``message(text)`` and ``failed(sentence)`` for the status line."""

    changed = pyqtSignal()
    message = pyqtSignal(str)
    failed = pyqtSignal(str)

    def __init__(self, style_for, parent=None):
        super().__init__(parent)
        self.style_for = style_for
        self.regions = []
        self.list = QListWidget()
        self.list.setToolTip(
            "Each region gets its own style; where no region is, the photo shows through"
        )
        self.list.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.add_selection = QPushButton("Add with selection")
        self.add_selection.setToolTip("The style chosen above, where the selection is now")
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove every region: Stylize uses one style again")
        self.add_layer = QPushButton("Add with layer:")
        self.add_layer.setToolTip(
            "The style chosen above, where this layer or mask is white (read at Stylize)"
        )
        self.region_layer = NodeComboBox(_nodes)
        self.strength_map = NodeComboBox(_nodes, none="None")
        self.strength_map.setToolTip(
            "A layer or mask whose grey is the strength: black keeps the photo, white is full"
        )
        self.add_selection.clicked.connect(self.add_with_selection)
        self.add_layer.clicked.connect(self.add_with_layer)
        self.clear_button.clicked.connect(self.clear)
        self.strength_map.currentIndexChanged.connect(lambda _i: self.changed.emit())
        box = QVBoxLayout(self)
        box.setContentsMargins(0, 0, 0, 0)
        box.setSpacing(2)
        box.addWidget(self.list)
        row = QHBoxLayout()
        row.addWidget(self.add_selection, 1)
        row.addWidget(self.clear_button)
        box.addLayout(row)
        row = QHBoxLayout()
        row.addWidget(self.add_layer)
        row.addWidget(self.region_layer, 1)
        box.addLayout(row)
        form = QFormLayout()
        form.setContentsMargins(0, 0, 0, 0)
        form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
        form.addRow("Strength map:", self.strength_map)
        box.addLayout(form)
        self._show()

    def show_error(self, text: str) -> None:
        self.failed.emit(text)

    def refill(self) -> None:
        """List the active document's layers again (another document came to the front)."""
        self.region_layer.fill()
        self.strength_map.fill()

    # -- the list ------------------------------------------------------------------------

    @reports_errors
    def add_with_selection(self) -> None:
        doc = _document()
        self._add(regions.from_selection(doc, self.style_for(doc)))

    @reports_errors
    def add_with_layer(self) -> None:
        doc = _document()
        node = find_node(doc, self.region_layer.currentData() or "")
        if node is None:
            raise PluginError("Choose the layer or mask for the region (it may have been deleted).")
        self._add(regions.from_node(doc, node, self.style_for(doc)))

    def _add(self, region: regions.Region) -> None:
        self.regions.append(region)
        self._show()
        self.changed.emit()
        then = "deselect and Stylize" if region.selection is not None else "Stylize"
        self.message.emit(
            "Added region %d: %s on the %s; add another, or %s."
            % (len(self.regions), region.label, region.where, then)
        )

    def remove(self, region: regions.Region) -> None:
        if region in self.regions:
            self.regions.remove(region)
            self._show()
            self.changed.emit()

    def clear(self) -> None:
        if self.regions:
            self.regions = []
            self._show()
            self.changed.emit()

    def _show(self) -> None:
        self.list.clear()
        for number, region in enumerate(self.regions, 1):
            item = QListWidgetItem()
            row = _Row("%d. %s · %s" % (number, region.label, region.where))
            row.remove.clicked.connect(lambda _c=False, r=region: self.remove(r))
            item.setSizeHint(row.sizeHint())
            self.list.addItem(item)
            self.list.setItemWidget(item, row)
        if not self.regions:
            item = QListWidgetItem("No regions: one style everywhere.")
            item.setFlags(Qt.NoItemFlags)
            self.list.addItem(item)
        line = self.list.sizeHintForRow(0) if self.list.count() else 20
        shown = max(1, min(ROWS_SHOWN, self.list.count()))
        self.list.setFixedHeight(line * shown + 2 * self.list.frameWidth() + 2)
        self.clear_button.setEnabled(bool(self.regions))

    def strength_node(self, doc):
        """The strength map's layer or mask, or None."""
        unique_id = self.strength_map.currentData()
        if not unique_id:
            return None
        node = find_node(doc, unique_id)
        if node is None:
            raise PluginError(
                "The strength map's layer is not in this document (deleted, or another image "
                "is in front); choose it again, or None."
            )
        return node


class _Row(QWidget):
    """One region in the list: its text and a remove button."""

    def __init__(self, text: str, parent=None):
        super().__init__(parent)
        self.text = QLabel(text)
        self.text.setToolTip(text)
        self.text.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        self.remove = QToolButton()
        self.remove.setText("✕")
        self.remove.setAutoRaise(True)
        self.remove.setToolTip("Remove this region")
        row = QHBoxLayout(self)
        row.setContentsMargins(4, 0, 0, 0)
        row.addWidget(self.text, 1)
        row.addWidget(self.remove)
