"""The "Neural Style" docker: pick a style, set the controls, stylize, watch, cancel, reuse.

All of it runs on Krita's main thread; the service calls go through ``worker.run_in_thread``
and a job through ``jobs.StyleJob``, so Krita never waits on the network.
"""

from __future__ import annotations

from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtGui import QImage
from PyQt5.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from krita import DockWidget, Krita

from . import layers, settings
from .hostkit import engines, preview
from .hostkit.choices import Choices
from .hostkit.progress import progress_fraction, progress_text
from .jobs import StyleJob
from .panels import HistoryPanel, ImageView, ServicePanel, bgra_image, reports_errors
from .quickpreview import QuickPreview
from .stylepicker import StylePicker

TITLE = "Neural Style"
PREVIEW_HEIGHT = 140
SIZE_CAPS = (512, 1024, 2048)  # the "Output size" choices besides the document's
SIZES = [("Document size", None)] + [("%d px (long edge)" % s, s) for s in SIZE_CAPS]


class NeuralStyleDocker(DockWidget):
    def __init__(self):
        super().__init__()
        self.setWindowTitle(TITLE)
        self.job = None
        self.info = {}  # the service's GET /v1/engines answer
        self.extra_options = {}  # more schema options for every job (for scripts and tests)
        self.pending = None  # the latest progress event, shown by a 2 Hz timer
        self._build()
        self._load_choices()

    # -- layout --------------------------------------------------------------------------

    def _build(self) -> None:
        root = QWidget(self)
        box = QVBoxLayout(root)
        self.picker = StylePicker()
        self.picker.loaded.connect(self._library)
        self.picker.message.connect(self.status_text)
        self.picker.failed.connect(self.show_error)
        box.addWidget(self.picker)

        form = QFormLayout()
        self.source = QComboBox()
        self.source.addItems(["Active layer", "Visible image"])
        form.addRow("Stylize:", self.source)
        row = QHBoxLayout()
        self.strength = QSlider(Qt.Horizontal)
        self.strength.setRange(0, 100)
        self.strength_label = QLabel()
        self.strength.valueChanged.connect(lambda v: self.strength_label.setText("%d %%" % v))
        row.addWidget(self.strength, 1)
        row.addWidget(self.strength_label)
        form.addRow("Strength:", row)
        self.size = QComboBox()
        for text, value in SIZES:
            self.size.addItem(text, value)
        form.addRow("Output size:", self.size)
        self.quality = QComboBox()
        self.quality_label = QLabel("Quality:")
        form.addRow(self.quality_label, self.quality)
        self.preserve = QCheckBox("Preserve colours")
        form.addRow("", self.preserve)
        self.engine = QComboBox()
        self.engine_label = QLabel("Engine:")
        form.addRow(self.engine_label, self.engine)
        box.addLayout(form)

        self.stylize_button = QPushButton("Stylize")
        self.stylize_button.clicked.connect(self.stylize)
        box.addWidget(self.stylize_button)
        row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.progress, 1)
        row.addWidget(self.cancel_button)
        box.addLayout(row)
        # Progress goes into the bar's own text and the preview into an ImageView: a QLabel's
        # new text or picture re-lays out Krita's whole window (measured: UI stalls of 200+
        # ms per update on two busy cores). The label below changes only a few times a job.
        self.status = QLabel("Pick a style, then Stylize.")
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.status.setFixedHeight(self.status.fontMetrics().lineSpacing() * 3 + 4)
        self.status.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        box.addWidget(self.status)
        self.quick = QCheckBox("Quick preview (fast engine)")
        self.quick.setToolTip(preview.TIP)
        box.addWidget(self.quick)
        self.preview = ImageView(PREVIEW_HEIGHT)
        box.addWidget(self.preview)
        self.quick_preview = QuickPreview(self)
        self.quick_preview.shown.connect(self._quick_shown)
        self.quick_preview.message.connect(self.status_text)
        self.quick.toggled.connect(self._quick_toggled)
        for signal in (
            self.strength.valueChanged,
            self.preserve.toggled,
            self.source.currentIndexChanged,
            self.picker.changed,
        ):
            signal.connect(lambda *_: self.quick_preview.request())
        self.ui_timer = QTimer(self)
        self.ui_timer.setInterval(500)
        self.ui_timer.timeout.connect(self._show_progress)
        self.history = HistoryPanel()
        self.history.chosen.connect(self.show_result)
        self.history.applied.connect(self.apply_again)
        box.addWidget(self.history)
        self.service = ServicePanel()
        self.service.changed.connect(lambda: self.picker.refresh(start=True))
        box.addWidget(self.service)
        box.addStretch(1)
        scroll = QScrollArea()  # the docker stays usable when Krita's window is small
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(root)
        self.setWidget(scroll)
        self._show_engine_info()

    # shortcuts used by scripts and tests
    @property
    def styles(self):
        return self.picker.styles

    @property
    def refresh_button(self):
        return self.picker.refresh_button

    def _load_choices(self) -> None:
        """Set the controls to the choices kept in kritarc (``settings.REMEMBERED``)."""
        kept = settings.read_choices()
        self.strength.setValue(max(0, min(100, kept["strength"])))
        self.size.setCurrentIndex(max(0, self.size.findData(kept["size"] or None)))
        self.preserve.setChecked(kept["preserve_colors"])
        self.quick.setChecked(kept["quick_preview"])
        self.strength_label.setText("%d %%" % self.strength.value())

    def _save_choices(self) -> None:
        settings.write_choices(
            {
                "strength": self.strength.value(),
                "size": self.size.currentData() or 0,
                "preserve_colors": self.preserve.isChecked(),
                "quick_preview": self.quick.isChecked(),
                "quality": self.quality.currentData() if self.quality.count() else None,
            }
        )

    def choices(self) -> Choices:
        """What the controls say now: the render's choices (the quick preview derives its own)."""
        return Choices(
            strength=self.strength.value() / 100.0,
            size=self.size.currentData(),
            quality=self.quality.currentData() if self.quality.count() else None,
            preserve_colors=self.preserve.isChecked(),
            engine=self.engine.currentData() if self.engine.count() > 1 else None,
            extra=dict(self.extra_options),
        )

    # -- Krita ---------------------------------------------------------------------------

    def canvasChanged(self, canvas):
        if self.picker.use_layer.isChecked():
            self.picker.fill_layers()

    def showEvent(self, event):
        super().showEvent(event)
        if not self.picker.asked:  # list a running service's styles; start none yet
            QTimer.singleShot(0, lambda: self.picker.refresh(start=False))

    # -- the service ---------------------------------------------------------------------

    @reports_errors
    def _library(self, found: dict) -> None:
        self.info = found.get("engines") or {}
        self._show_engine_info()
        if self.job is None:
            self.status_text(
                "Connected to %s; pick a style, then Stylize." % found.get("url", "the service")
            )

    def _show_engine_info(self) -> None:
        qualities = engines.quality_choices(self.info)
        keep = self.quality.currentData() or settings.read_choices()["quality"]
        self.quality.clear()
        for q in qualities:
            self.quality.addItem(engines.quality_label(q), q)
        self.quality.setCurrentIndex(max(0, self.quality.findData(keep)))
        self.quality.setVisible(bool(qualities))
        self.quality_label.setVisible(bool(qualities))
        names = engines.names(self.info)
        self.engine.clear()
        for name in names:
            self.engine.addItem(name, name)
        self.engine.setCurrentIndex(max(0, self.engine.findData(engines.default(self.info))))
        self.engine.setVisible(len(names) > 1)
        self.engine_label.setVisible(len(names) > 1)
        available, tip = preview.availability(self.info)
        self.quick.setEnabled(available)
        self.quick.setToolTip(tip)
        self._quick_toggled(self.quick.isChecked())

    # -- quick preview -------------------------------------------------------------------

    def _quick_toggled(self, on: bool, refresh: bool = True) -> None:
        self.quick_preview.set_enabled(on and self.quick.isEnabled() and self.job is None, refresh)

    @reports_errors
    def _quick_shown(self, image) -> None:
        if self.job is None:
            self.preview.set_image(image)
            engine = self.engine.currentData() or engines.default(self.info) or "the service"
            self.status_text("Quick preview by the fast engine; Stylize renders with %s." % engine)

    # -- a job ---------------------------------------------------------------------------

    @reports_errors
    def stylize(self) -> None:
        if self.job is not None:
            return
        doc = Krita.instance().activeDocument()
        source = layers.read_source(doc, None, visible=self.source.currentIndex() == 1)
        style = self.picker.style(doc)
        choices = self.choices()
        self._save_choices()
        self.quick_preview.set_enabled(False)
        job = StyleJob(source, style, choices, settings.load(), parent=self)
        job.progressed.connect(self._progressed)
        job.finished.connect(lambda layer: self._finished(job))
        job.failed.connect(self.show_error)
        job.cancelled.connect(self.status_text)
        job.ended.connect(self._ended)
        self.job = job
        self.stylize_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setFormat("Connecting to the nst service")
        self.status_text("Stylizing %s as %s..." % (source.label, job.name))
        self.ui_timer.start()
        job.start()

    @reports_errors
    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    def _progressed(self, event: dict) -> None:
        preview = event.get("preview") or (self.pending or {}).get("preview")
        self.pending = dict(event, preview=preview)

    @reports_errors
    def _show_progress(self) -> None:
        event, self.pending = self.pending, None
        if not event or self.job is None:
            return
        fraction = progress_fraction(event)
        if fraction is not None and int(fraction * 100) != self.progress.value():
            self.progress.setValue(int(fraction * 100))
        text = progress_text(event)
        if text != self.progress.format():
            self.progress.setFormat(text)
        if event.get("preview"):
            self.preview.set_image(QImage.fromData(event["preview"]))

    @reports_errors
    def _finished(self, job) -> None:
        self.history.add(job)
        self.status_text("Added the layer %r." % job.layer.name() if job.layer else "Done.")

    @reports_errors
    def _ended(self) -> None:
        self.ui_timer.stop()
        self.pending = None
        self.job = None
        self.stylize_button.setEnabled(True)
        self.cancel_button.setEnabled(False)
        self.progress.setValue(0)
        self.progress.setFormat("")
        self._quick_toggled(self.quick.isChecked(), refresh=False)  # keep the render's picture

    @reports_errors
    def show_result(self, job) -> None:
        if job.result is not None:
            w, h = job.source.size
            self.preview.set_image(bgra_image(w, h, job.result))

    @reports_errors
    def apply_again(self, job) -> None:
        layer = job.add_layer()
        self.status_text("Added the layer %r." % layer.name())

    def status_text(self, text: str) -> None:
        if text != self.status.text():
            self.status.setText(text)

    def show_error(self, text: str) -> None:
        self.status_text("<span style='color:#d04040'>%s</span>" % text.replace("<", "&lt;"))
