"""Small widgets the docker is built from: a collapsible section, and a combo box and a slider
that take the mouse wheel only once focused (so scrolling the docker never changes them)."""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtWidgets import QComboBox, QSizePolicy, QSlider, QToolButton, QVBoxLayout, QWidget


class QuietComboBox(QComboBox):
    """A combo box that ignores the wheel until clicked or tabbed into; it shrinks with the
    dock (its longest item is elided instead of widening the docker)."""

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setSizeAdjustPolicy(QComboBox.AdjustToMinimumContentsLengthWithIcon)
        self.setMinimumContentsLength(4)
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def wheelEvent(self, event):
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()  # the scroll area behind it scrolls instead


class QuietSlider(QSlider):
    """A horizontal slider that ignores the wheel until clicked or tabbed into."""

    def __init__(self, parent=None):
        super().__init__(Qt.Horizontal, parent)
        self.setFocusPolicy(Qt.StrongFocus)

    def wheelEvent(self, event):
        if self.hasFocus():
            super().wheelEvent(event)
        else:
            event.ignore()


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
