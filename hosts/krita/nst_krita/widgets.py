"""Small widgets the docker is built from: a collapsible section; a combo box, a slider and a
spin box that take the mouse wheel only once focused (so scrolling the docker never changes
them); a slider with its number beside it; a combo box of the document's layers."""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QComboBox,
    QFormLayout,
    QHBoxLayout,
    QSizePolicy,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)


class WheelWhenFocused:
    """Mixed into a control: it takes the mouse wheel only once clicked or tabbed into."""

    def wheelEvent(self, event):
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # the scroll area behind it scrolls instead


class QuietComboBox(WheelWhenFocused, QComboBox):
    """A combo box that ignores the wheel until focused; it shrinks with the dock (its
    longest item is elided instead of widening the docker)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(4)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)


class QuietSlider(WheelWhenFocused, QSlider):
    """A horizontal slider that ignores the wheel until focused."""

    def __init__(self, parent=None):
        super().__init__(Qt.Horizontal, parent)
        self.setFocusPolicy(Qt.StrongFocus)


class QuietSpinBox(WheelWhenFocused, QSpinBox):
    """A spin box that ignores the wheel until focused."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)


def form_body() -> tuple:
    """``(body, form)``: a widget holding a borderless form whose fields take the width."""
    body = QWidget()
    form = QFormLayout(body)
    form.setContentsMargins(0, 0, 0, 0)
    form.setFieldGrowthPolicy(QFormLayout.AllNonFixedFieldsGrow)
    return body, form


def slider_row(low: int, high: int, suffix: str = " %", step: int = 1) -> tuple:
    """``(row, slider, spin)``: a slider from ``low`` to ``high`` with a spin box beside it for
    typing the number; each follows the other."""
    slider = QuietSlider()
    slider.setRange(low, high)
    slider.setSingleStep(step)
    slider.setPageStep(step * 10)
    spin = QuietSpinBox()
    spin.setRange(low, high)
    spin.setSingleStep(step)
    spin.setSuffix(suffix)
    spin.setKeyboardTracking(False)  # typing "150" is one change, not 1, 15, 150
    slider.valueChanged.connect(lambda v: spin.value() != v and spin.setValue(v))
    spin.valueChanged.connect(lambda v: slider.value() != v and slider.setValue(v))
    row = QHBoxLayout()
    row.addWidget(slider, 1)
    row.addWidget(spin)
    return row, slider, spin


class NodeComboBox(QuietComboBox):
    """A choice of the active document's layers and masks, listed afresh each time it opens
    (so new layers show): ``lister()`` gives ``(label, unique id)`` pairs; ``none``: the text
    of a first item that chooses nothing (its data is None)."""

    def __init__(self, lister, none: str | None = None, parent=None):
        super().__init__(parent)
        self.lister = lister
        self.none = none
        self.fill()

    def fill(self) -> None:
        keep = self.currentData()
        self.blockSignals(True)
        self.clear()
        if self.none is not None:
            self.addItem(self.none, None)
        for label, unique_id in self.lister():
            self.addItem(label, unique_id)
        found = self.findData(keep) if keep is not None else -1
        self.setCurrentIndex(max(0, found))
        self.blockSignals(False)
        if found < 0 and keep is not None:
            self.currentIndexChanged.emit(self.currentIndex())  # the chosen one is gone

    def showPopup(self):
        self.fill()
        super().showPopup()


class Section(QWidget):
    """A titled part of the docker that folds away: a flat arrow button above its body.

    ``toggled(open)`` tells when the user opens or closes it.
    """

    toggled = pyqtSignal(bool)

    def __init__(self, title: str, body: QWidget, open_: bool = True, parent=None):
        super().__init__(parent)
        self.body = body
        self.button = QToolButton()
        self.button.setText(title)
        self.button.setCheckable(True)
        self.button.setAutoRaise(True)
        self.button.setToolButtonStyle(Qt.ToolButtonTextBesideIcon)
        self.button.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)
        self.button.toggled.connect(self._show)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        layout.addWidget(self.button)
        layout.addWidget(body)
        self.button.setChecked(open_)
        self._show(open_, announce=False)

    def is_open(self) -> bool:
        return self.button.isChecked()

    def set_open(self, open_: bool) -> None:
        self.button.setChecked(open_)

    def _show(self, open_: bool, announce: bool = True) -> None:
        self.button.setArrowType(Qt.DownArrow if open_ else Qt.RightArrow)
        self.body.setVisible(open_)
        if announce:
            self.toggled.emit(open_)
