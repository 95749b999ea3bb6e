"""The large live preview: a docker of its own (so it can float, at any size) that shows the
Neural Style docker's quick preview, and Apply, which makes it a layer with its recipe."""

from __future__ import annotations

from PyQt5.QtWidgets import QLabel, QPushButton, QVBoxLayout, QWidget

from krita import DockWidget

from .panels import ImageView, reports_errors

LIVE_DOCKER_ID = "nst_krita_live"
TITLE = "Neural Style Live"


class LivePreviewDocker(DockWidget):
    def __init__(self):
        super().__init__()
        self.setWindowTitle(TITLE)
        self.view = ImageView(None)
        self.apply_button = QPushButton("Apply")
        self.apply_button.setToolTip(
            "Make the live preview a layer: the quick engine at the layer's full size, with "
            "its recipe"
        )
        self.apply_button.clicked.connect(self.apply)
        self.status = QLabel("Switch Live on in the Neural Style docker's Preview section.")
        self.status.setWordWrap(True)
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.addWidget(self.view, 1)
        layout.addWidget(self.apply_button)
        layout.addWidget(self.status)
        self.setWidget(body)
        self.main = None

    def attach(self, main) -> None:
        """Show what ``main`` (the Neural Style docker) previews."""
        if self.main is main:
            return
        self.main = main
        main.quick_preview.shown.connect(self.view.set_image)
        main.live.toggled.connect(self._say_live)
        self._say_live(main.live.isChecked())
        if not main.preview.image.isNull():
            self.view.set_image(main.preview.image)

    def _say_live(self, on: bool) -> None:
        self.status_text(
            "Live: the preview follows your painting; Apply makes it a layer."
            if on
            else "The quick preview; switch Live on in the Neural Style docker to follow "
            "your painting."
        )

    def status_text(self, text: str) -> None:
        self.status.setText(text)

    show_error = status_text  # for reports_errors

    @reports_errors
    def apply(self) -> None:
        if self.main is not None:
            self.main.apply_live()

    def canvasChanged(self, canvas):
        pass
