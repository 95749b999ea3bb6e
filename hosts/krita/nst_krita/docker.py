"""The "Neural Style" docker: pick a style, stylize, watch, cancel, reuse.

Made for Krita's dock column: the style strip, Stylize, progress and the status line at the
top; the preview, the options, the painting's brush, colours and blend, the regions and the
strength map, this session's results and the service in sections that fold away. Everything
runs on Krita's main thread; the service calls go through ``worker.run_in_thread`` and a job
through ``jobs.StyleJob``, so Krita never waits on the network. The status line always says
what to do next, or what the last job did while its layer is there.
"""

from __future__ import annotations

import json

from PyQt5.QtCore import Qt, QTimer
from PyQt5.QtGui import QImage
from PyQt5.QtWidgets import (
    QCheckBox,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QVBoxLayout,
    QWidget,
)

from krita import DockWidget, Krita

from . import animation, layers, recipes, regions, settings, worker
from .hostkit import engines, estimates, preview
from .hostkit.choices import MAX_BRUSH, MIN_BRUSH, Choices
from .hostkit.discovery import connect
from .hostkit.errors import PluginError
from .hostkit.jobs import keepable
from .hostkit.progress import duration, progress_fraction, progress_text
from .jobs import StyleJob
from .panels import HistoryPanel, ImageView, ServicePanel, bgra_image, reports_errors
from .quickpreview import QuickPreview
from .regionpanel import RegionsPanel
from .stylepicker import BlendPicker, StylePicker
from .widgets import QuietComboBox, Section, form_body, slider_row

TITLE = "Neural Style"
PREVIEW_HEIGHT = 140
SIZE_CAPS = (512, 1024, 2048)  # the "Size" choices besides the document's
SIZES = [("Document size", None)] + [("%d px (long edge)" % s, s) for s in SIZE_CAPS]
SOURCES = ("Active layer", "Visible image")
HEARTBEAT_MS = 30_000  # well inside the service's idle limit (hostkit.discovery.IDLE_EXIT)


class NeuralStyleDocker(DockWidget):
    def __init__(self):
        super().__init__()
        self.setWindowTitle(TITLE)
        self.job = None
        self.restyle = None  # (result layer, recipe) whose settings are loaded
        self.estimates = {}  # how long a job takes, by its options and size (estimates.py)
        self.info = {}  # the service's GET /v1/engines answer
        self.extra_options = {}  # more schema options for every job (for scripts and tests)
        self.pending = None  # the latest progress event, shown by a 2 Hz timer
        self.sticky = None  # (text, layer or None): an error, or the last result while it is there
        self._build()
        self._load_choices()

    # -- layout --------------------------------------------------------------------------

    def _build(self) -> None:
        root = QWidget(self)
        box = QVBoxLayout(root)
        box.setContentsMargins(4, 4, 4, 4)
        box.setSpacing(4)
        self.picker = StylePicker()
        self.picker.loaded.connect(self._library)
        self.picker.message.connect(self.status_text)
        self.picker.failed.connect(self.show_error)
        box.addWidget(self.picker)
        box.addLayout(self._build_run_row())
        self.progress = QProgressBar()
        self.progress.setRange(0, 100)
        self.progress.setFormat("")
        self.progress.setTextVisible(True)
        self.progress.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        box.addWidget(self.progress)
        # Progress goes into the bar's own text and the preview into an ImageView: a QLabel's
        # new text or picture re-lays out Krita's whole window (measured: UI stalls of 200+
        # ms per update on two busy cores). The label below changes only a few times a job.
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.status.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Fixed)
        self.status.setFixedHeight(self.status.fontMetrics().lineSpacing() * 3 + 4)
        self.status.setAlignment(Qt.AlignLeft | Qt.AlignTop)
        box.addWidget(self.status)
        opened = set(settings.read_choices()["open_sections"].split(","))
        self.sections = {
            "preview": Section("Preview", self._build_preview(), "preview" in opened),
            "options": Section("Options", self._build_options(), "options" in opened),
            "painting": Section("Painting", self._build_painting(), "painting" in opened),
            "regions": Section("Regions", self._build_regions(), "regions" in opened),
            "results": Section("Results", self._build_results(), "results" in opened),
            "service": Section("Service", self._build_service(), "service" in opened),
        }
        for section in self.sections.values():
            section.toggled.connect(lambda _open: self._save_sections())
            box.addWidget(section)
        self.sections["regions"].toggled.connect(lambda on: on and self.regions.refill())
        box.addStretch(1)
        scroll = QScrollArea()  # the docker stays usable in a short dock
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        scroll.setWidget(root)
        self.setWidget(scroll)
        self.ui_timer = QTimer(self)
        self.ui_timer.setInterval(500)
        self.ui_timer.timeout.connect(self._show_progress)
        self.status_timer = QTimer(self)  # a result undone, a layer deleted: say so
        self.status_timer.setInterval(1000)
        self.status_timer.timeout.connect(self.refresh_status)
        self.status_timer.start()
        self.heartbeat = QTimer(self)  # a service the plug-in started stays while Krita is open
        self.heartbeat.setInterval(HEARTBEAT_MS)
        self.heartbeat.timeout.connect(self._beat)
        self.heartbeat.start()
        self._connect_changes()
        self._show_engine_info()
        self.refresh_status()

    def _build_run_row(self) -> QHBoxLayout:
        row = QHBoxLayout()
        self.stylize_button = QPushButton("Stylize")
        self.stylize_button.setDefault(True)
        self.stylize_button.clicked.connect(self.stylize)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        self.keep_button = QPushButton("Keep")
        self.keep_button.setToolTip(
            "Keep current: end the render now with the picture it has, as a layer whose recipe "
            "says how many iterations ran"
        )
        self.keep_button.setEnabled(False)
        self.keep_button.hide()  # in Stylize's place while a render runs
        self.keep_button.clicked.connect(self.keep)
        self.animate_button = QPushButton("Animation")
        self.animate_button.setToolTip(
            "Stylize animation: the active layer's frames over the playback range, each "
            "following the one before (no flicker), into a new animated layer"
        )
        self.animate_button.hide()  # shown while the active layer is animated
        self.animate_button.clicked.connect(self.stylize_animation)
        row.addWidget(self.stylize_button, 1)
        row.addWidget(self.animate_button)
        row.addWidget(self.keep_button)
        row.addWidget(self.cancel_button)
        return row

    def _build_preview(self) -> QWidget:
        body = QWidget()
        layout = QVBoxLayout(body)
        layout.setContentsMargins(0, 0, 0, 0)
        self.quick = QCheckBox("Quick preview as I change things")
        self.quick.setToolTip(preview.TIP)
        self.live = QCheckBox("Live: follow my brush")
        self.live.setToolTip(
            "The quick preview also follows your brush, at most twice a second; Apply in the "
            "large preview makes it a layer"
        )
        self.large_button = QPushButton("Large")
        self.large_button.setToolTip("Open the preview as its own docker, at any size")
        self.large_button.clicked.connect(self.open_large_preview)
        row = QHBoxLayout()
        row.addWidget(self.live)
        row.addWidget(self.large_button)
        self.preview = ImageView(PREVIEW_HEIGHT)
        layout.addWidget(self.quick)
        layout.addLayout(row)
        layout.addWidget(self.preview)
        self.quick_preview = QuickPreview(self)
        self.quick_preview.shown.connect(self._quick_shown)
        self.quick_preview.message.connect(lambda text: self._note(text, None))
        self.quick.toggled.connect(self._quick_toggled)
        self.live.toggled.connect(self._live_toggled)
        return body

    def _build_options(self) -> QWidget:
        body, form = form_body()
        self.engine = QuietComboBox()
        self.engine_label = QLabel("Engine:")
        form.addRow(self.engine_label, self.engine)
        self.source = QuietComboBox()
        self.source.addItems(SOURCES)
        form.addRow("Stylize:", self.source)
        row, self.strength, self.strength_spin = slider_row(0, 100)
        self.strength.setToolTip("0: the photo, 50 %: the standard look, 100 %: the strongest")
        form.addRow("Strength:", row)
        self.size = QuietComboBox()
        for text, value in SIZES:
            self.size.addItem(text, value)
        form.addRow("Size:", self.size)
        self.quality = QuietComboBox()
        self.quality_label = QLabel("Quality:")
        form.addRow(self.quality_label, self.quality)
        self.preserve = QCheckBox("Preserve colours")
        form.addRow("", self.preserve)
        return body

    def _build_painting(self) -> QWidget:
        """How the painting is used: its brush strokes' size, its colours, a second one."""
        body, form = form_body()
        low, high = round(MIN_BRUSH * 100), round(MAX_BRUSH * 100)
        row, self.brush, self.brush_spin = slider_row(low, high, step=5)
        self.brush.setToolTip("The painting's brush strokes at this size: 100 % as painted")
        form.addRow("Brush size:", row)
        self.match = QCheckBox("Match colours")
        self.match.setToolTip("Recolour the painting to the photo's colours first")
        form.addRow("", self.match)
        self.second = BlendPicker()
        self.second.failed.connect(self.show_error)
        form.addRow("Blend with:", self.second)
        row, self.blend, self.blend_spin = slider_row(0, 100)
        self.blend.setToolTip("How much of the second painting: 0 none of it, 100 % only it")
        self.blend_label = QLabel("Blend:")
        form.addRow(self.blend_label, row)
        return body

    def _build_regions(self) -> QWidget:
        self.regions = RegionsPanel(self.picker.style)
        self.regions.message.connect(lambda text: self._note(text, None))
        self.regions.failed.connect(self.show_error)
        return self.regions

    def _build_results(self) -> QWidget:
        self.history = HistoryPanel()
        self.history.chosen.connect(self.show_result)
        self.history.applied.connect(self.apply_again)
        self.history.restyled.connect(self.load_recipe)
        return self.history

    def _build_service(self) -> QWidget:
        self.service = ServicePanel()
        self.service.changed.connect(lambda: self.picker.refresh(start=True))
        return self.service

    def _connect_changes(self) -> None:
        """What the quick preview shows, and what the status line says, follow the controls."""
        for signal in (
            self.strength.valueChanged,
            self.preserve.toggled,
            self.source.currentIndexChanged,
            self.picker.changed,
            self.brush.valueChanged,
            self.match.toggled,
            self.second.changed,
            self.blend.valueChanged,
            self.regions.changed,
        ):
            signal.connect(lambda *_: self.quick_preview.request())
        for signal in (
            self.engine.currentIndexChanged,
            self.source.currentIndexChanged,
            self.size.currentIndexChanged,
            self.quality.currentIndexChanged,
            self.picker.changed,
            self.second.changed,
            self.regions.changed,
        ):
            signal.connect(lambda *_: self._changed())
        self.engine.currentIndexChanged.connect(lambda _i: self._show_quality())
        self.second.changed.connect(self._show_blend)
        self.regions.changed.connect(self._show_blend)

    # shortcuts used by scripts and tests
    @property
    def styles(self):
        return self.picker.styles

    @property
    def refresh_button(self):
        return self.picker.refresh_button

    # -- remembered choices --------------------------------------------------------------

    def _load_choices(self) -> None:
        """Set the controls to the choices kept in kritarc (``settings.REMEMBERED``)."""
        kept = settings.read_choices()
        self.strength.setValue(max(0, min(100, kept["strength"])))
        self.size.setCurrentIndex(max(0, self.size.findData(kept["size"] or None)))
        self.preserve.setChecked(kept["preserve_colors"])
        self.quick.setChecked(kept["quick_preview"])
        self.brush.setValue(kept["brush"])  # the slider keeps it in its range
        self.match.setChecked(kept["match_colors"])
        self.blend.setValue(kept["blend"])
        self._show_blend()

    def _save_choices(self) -> None:
        settings.write_choices(
            {
                "engine": self.engine.currentData(),
                "strength": self.strength.value(),
                "size": self.size.currentData() or 0,
                "preserve_colors": self.preserve.isChecked(),
                "quick_preview": self.quick.isChecked(),
                "quality": self.quality.currentData() if self.quality.count() else None,
                "brush": self.brush.value(),
                "match_colors": self.match.isChecked(),
                "blend_style": self.second.key(),
                "blend": self.blend.value(),
            }
        )

    def _save_sections(self) -> None:
        opened = [name for name, section in self.sections.items() if section.is_open()]
        settings.write_choices({"open_sections": ",".join(opened)})

    def choices(self) -> Choices:
        """What the controls say now: the render's choices (the quick preview derives its own)."""
        return Choices(
            strength=self.strength.value() / 100.0,
            size=self.size.currentData(),
            quality=self.quality.currentData() if self.quality.isVisible() else None,
            preserve_colors=self.preserve.isChecked(),
            engine=self.engine.currentData(),
            brush=None if self.brush.value() == 100 else self.brush.value() / 100.0,
            match_colors=self.match.isChecked() or None,
            blend=self.blend.value() / 100.0 if self._blending() else None,
            extra=dict(self.extra_options),
        )

    def _blending(self) -> bool:
        """A second style mixes in: one is chosen, and no regions place the styles."""
        return self.second.chosen() and not self.regions.regions

    def _show_blend(self) -> None:
        for widget in (self.blend, self.blend_spin, self.blend_label):
            widget.setEnabled(self._blending())

    def job_style(self, doc):
        """The job's style: the regions' styles in order, the picked one and the second to
        blend with, or the picked one (read now, main thread)."""
        if self.regions.regions:
            return [r.style for r in self.regions.regions]
        style = self.picker.style(doc)
        return [style, self.second.style()] if self._blending() else style

    def job_guides(self, doc, box: tuple) -> regions.Guides:
        """The regions' masks and the strength map over the job's ``box``, read and checked."""
        return regions.read_guides(doc, box, self.regions.regions, self.regions.strength_node(doc))

    # -- Krita ---------------------------------------------------------------------------

    def canvasChanged(self, canvas):
        if self.picker.use_layer.isChecked():
            self.picker.fill_layers()
        self.regions.refill()
        self.restyle = None
        self.stylize_button.setText("Stylize")
        self.history.refresh(Krita.instance().activeDocument())

    def showEvent(self, event):
        super().showEvent(event)
        if not self.picker.asked:  # the library fills in by itself, starting the service
            QTimer.singleShot(0, lambda: self.picker.refresh(start=True))

    # -- the service ---------------------------------------------------------------------

    @reports_errors
    def _library(self, found: dict) -> None:
        self.info = found.get("engines") or {}
        self.service.set_connected(found.get("url"))
        self.second.fill(found)
        self._show_engine_info()
        self._changed()

    def _show_engine_info(self) -> None:
        names = engines.names(self.info)
        keep = self.engine.currentData() or settings.read_choices()["engine"]
        if keep not in names:
            keep = engines.suggested(self.info)
        self.engine.blockSignals(True)
        self.engine.clear()
        for name in names:
            entry = engines.entry(self.info, name) or {}
            self.engine.addItem(engines.label(name), name)
            tip = "%s engine: %s" % (name, entry.get("description") or "")
            self.engine.setItemData(self.engine.count() - 1, tip, Qt.ToolTipRole)
        self.engine.setCurrentIndex(max(0, self.engine.findData(keep)))
        self.engine.blockSignals(False)
        self.engine.setVisible(len(names) > 1)
        self.engine_label.setVisible(len(names) > 1)
        self._show_quality()
        available, tip = preview.availability(self.info)
        self.quick.setEnabled(available)
        self.quick.setToolTip(tip)
        self._quick_toggled(self.quick.isChecked())

    def _show_quality(self) -> None:
        """Quality presets only for an engine that iterates (they set its iterations)."""
        qualities = engines.quality_choices(self.info)
        keep = self.quality.currentData() or settings.read_choices()["quality"]
        self.quality.blockSignals(True)
        self.quality.clear()
        for q in qualities:
            self.quality.addItem(engines.quality_label(q), q)
        self.quality.setCurrentIndex(max(0, self.quality.findData(keep)))
        self.quality.blockSignals(False)
        takes = engines.option_names(engines.entry(self.info, self.engine.currentData()))
        shown = bool(qualities) and (takes is None or "iterations" in takes)
        self.quality.setVisible(shown)
        self.quality_label.setVisible(shown)

    def _beat(self) -> None:
        """Tell the service this editor still uses it (only once connected; never starts one)."""
        if self.info:
            where = dict(settings.load(), start=False)
            worker.run_in_thread(
                lambda emit: connect(**where).health(), on_done=_ignore, on_error=_ignore
            )

    # -- the status line -----------------------------------------------------------------

    def _changed(self) -> None:
        """A control changed: an old error or result note no longer applies."""
        if self.job is None:
            self.sticky = None
            self.refresh_status()

    def _show_animate(self) -> None:
        """Offer Stylize animation while the active layer is animated."""
        animated = _animated_layer(Krita.instance().activeDocument())
        if animated != self.animate_button.isVisible():
            self.animate_button.setVisible(animated)

    def refresh_status(self) -> None:
        """Say what Stylize would do now; keep an error, or the last result while its layer
        is in the document."""
        if self.job is not None:
            return
        self._show_animate()
        if self.sticky is not None:
            text, layer = self.sticky
            if layer is None or _still_there(layer):
                self.status_text(text)
                return
            self.sticky = None
        ready = self.picker.chosen() or self.regions.regions
        self.status_text(self._plan() if ready else self.picker.hint())

    def _plan(self) -> str:
        """``Stylize paints the active layer as wave · Quick: about 2 s.``"""
        doc = Krita.instance().activeDocument()
        if doc is None:
            return "Open an image, then Stylize."
        name = self.engine.currentData()
        label = engines.label(name) if name else "the service's engine"
        what = "the visible image" if self.source.currentIndex() == 1 else "the active layer"
        selection = layers.active_selection(doc)
        if selection is not None:
            what = "the selected part of " + what
        count = len(self.regions.regions)
        if count:
            what += " in %d region%s" % (count, "s" if count > 1 else "")
        text = "Stylize paints %s with %s." % (what, label.split(":")[0])
        if self.info:
            width, height = _area(doc, self.source.currentIndex() == 1, selection)
            try:
                options = self.choices().options(self.info, width, height)
            except Exception:  # a choice the service does not offer: Stylize says why
                return text
            found = self._estimate(options, width, height)
            if found.seconds is not None:
                device = "GPU" if engines.on_gpu(engines.entry(self.info, name)) else "CPU"
                said = estimates.describe(found, "on this computer")
                if not found.measured:
                    said = "about %s on this %s" % (duration(found.seconds), device)
                text = text[:-1] + ": %s." % said
        return text

    def _estimate(self, options: dict, width: int, height: int) -> estimates.Estimate:
        """How long, measured from this machine's recent jobs when the service has said (asked
        in a worker thread, once per setting), else the engine's usual pace."""
        key = json.dumps([options, width, height], sort_keys=True)
        found = self.estimates.get(key)
        if found is not None:
            return found
        self.estimates[key] = guess = estimates.Estimate(
            engines.seconds_for(self.info, options, width, height), 0
        )
        where = dict(settings.load(), start=False)

        def ask(_emit):
            return estimates.estimate(connect(**where), self.info, options, width, height)

        def answered(found):
            self.estimates[key] = found
            if found != guess:
                self.refresh_status()

        worker.run_in_thread(ask, on_done=answered, on_error=_ignore)
        return guess

    def status_text(self, text: str) -> None:
        if text != self.status.text():
            self.status.setText(text)

    def show_error(self, text: str) -> None:
        self.sticky = ("<span style='color:#d04040'>%s</span>" % text.replace("<", "&lt;"), None)
        self.status_text(self.sticky[0])

    # -- quick preview -------------------------------------------------------------------

    def _quick_toggled(self, on: bool, refresh: bool = True) -> None:
        self.quick_preview.set_enabled(on and self.quick.isEnabled() and self.job is None, refresh)

    @reports_errors
    def _live_toggled(self, on: bool) -> None:
        if on and not self.quick.isChecked():
            self.quick.setChecked(True)
        self.quick_preview.set_live(on)

    @reports_errors
    def open_large_preview(self) -> None:
        from .extension import find_live_docker

        large = find_live_docker()
        if large is None:
            raise PluginError("Krita has no Neural Style Live docker in this window.")
        large.attach(self)
        if not large.isVisible():
            large.setFloating(True)  # its own window, at any size
            large.resize(480, 420)
        large.show()
        large.raise_()

    @reports_errors
    def apply_live(self) -> None:
        """Make the quick preview a layer: the quick engine at the full size, with its recipe."""
        if self.job is not None:
            raise PluginError("A render is running; wait for it or cancel it first.")
        choices = preview.preview_choices(self.info, self.choices()).with_(size=None)
        self.stylize(choices)

    @reports_errors
    def _quick_shown(self, image) -> None:
        if self.job is None:
            self.preview.set_image(image)

    # -- a job ---------------------------------------------------------------------------

    @reports_errors
    def stylize(self, choices=None) -> None:
        """Start a render with the controls' choices (or ``choices``)."""
        if self.job is not None:
            return
        doc = Krita.instance().activeDocument()
        source = self._job_source(doc)
        style = self.job_style(doc)
        guides = self.job_guides(doc, source.box)
        choices = choices if isinstance(choices, Choices) else self.choices()
        job = StyleJob(source, style, choices, settings.load(), guides=guides, parent=self)
        self._start(job, "Stylizing %s as %s..." % (source.label, job.name))

    @reports_errors
    def stylize_animation(self, choices=None) -> None:
        """Stylize the active layer's frames over the playback range into an animated layer."""
        if self.job is not None:
            return
        doc = Krita.instance().activeDocument()
        frames = animation.read_frames(doc)
        if self.regions.regions:
            raise PluginError(
                "Stylize animation takes one style (or a blend of two), not regions; clear "
                "the regions first."
            )
        style = self.job_style(doc)
        choices = choices if isinstance(choices, Choices) else self.choices()
        job = animation.AnimationJob(frames, style, choices, settings.load(), parent=self)
        count = len(frames.keys)
        self._start(
            job, "Stylizing %d frames of %s as %s..." % (count, frames.source.label, job.name)
        )

    def _start(self, job: StyleJob, text: str) -> None:
        self._save_choices()
        self.quick_preview.set_enabled(False)
        job.progressed.connect(self._progressed)
        job.finished.connect(lambda layer: self._finished(job))
        job.failed.connect(self.show_error)
        job.cancelled.connect(lambda text: self._note(text, None))
        job.keep_refused.connect(self.show_error)
        job.ended.connect(self._ended)
        self.job = job
        self.sticky = None
        self.stylize_button.setEnabled(False)
        self.stylize_button.hide()
        self.animate_button.setEnabled(False)
        self.keep_button.setVisible(job.keepable)
        self.cancel_button.setEnabled(True)
        self.progress.setValue(0)
        self.progress.setFormat("Connecting to the nst service")
        self.status_text(text)
        self.ui_timer.start()
        job.start()

    def _job_source(self, doc) -> layers.Source:
        """What Stylize sends: the recipe's source when restylizing, else the active layer or
        the visible image."""
        restyle, self.restyle = self.restyle, None
        self.stylize_button.setText("Stylize")
        if restyle is not None and _still_there(restyle[0]):
            return recipes.recipe_source(doc, restyle[1], restyle[0])
        return layers.read_source(doc, None, visible=self.source.currentIndex() == 1)

    @reports_errors
    def load_recipe(self, layer, recipe: dict) -> None:
        """Set the controls to a result's recipe; the next Stylize makes it again, from the
        same layer and area, as a new layer."""
        chosen = recipe["choices"]
        strength = recipe["options"].get("strength", chosen.get("strength"))
        if isinstance(strength, (int, float)):
            self.strength.setValue(round(strength * 100))
        self.size.setCurrentIndex(max(0, self.size.findData(chosen.get("size"))))
        self.preserve.setChecked(bool(chosen.get("preserve_colors")))
        self.brush.setValue(round(float(chosen.get("brush") or 1.0) * 100))
        self.match.setChecked(bool(chosen.get("match_colors")))
        for box, value in ((self.engine, recipe["engine"]), (self.quality, chosen.get("quality"))):
            if value is not None and box.findData(value) >= 0:
                box.setCurrentIndex(box.findData(value))
        found = self.picker.select(recipe["style"])
        self.restyle = (layer, recipe)
        self.stylize_button.setText("Restylize")
        self._note(
            "Loaded the settings of %r%s; Restylize makes it again from %r as a new layer."
            % (
                layer.name(),
                "" if found else " (its style is not here: choose one)",
                recipe["source"].get("label") or "its layer",
            ),
            layer,
        )

    @reports_errors
    def cancel(self) -> None:
        if self.job is not None:
            self.job.cancel()

    @reports_errors
    def keep(self) -> None:
        if self.job is not None:
            self.keep_button.setEnabled(False)
            self.job.keep()
            self.progress.setFormat("Keeping the current picture")

    def _progressed(self, event: dict) -> None:
        preview_png = event.get("preview") or (self.pending or {}).get("preview")
        self.pending = dict(event, preview=preview_png)

    @reports_errors
    def _show_progress(self) -> None:
        event, self.pending = self.pending, None
        if not event or self.job is None:
            return
        if (
            keepable(event)
            and self.job.keepable
            and not self.job.keeping
            and not self.keep_button.isEnabled()
        ):
            self.keep_button.setEnabled(True)
        if self.job.keeping:
            return  # the bar says it keeps the picture until the job ends
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
        if isinstance(job, animation.AnimationJob):
            self._note(
                "Added the animated layer %r: %d frames from %s."
                % (job.layer.name(), len(job.frames.times), job.source.label),
                job.layer,
            )
            return
        self.history.add(job)
        if job.layer is not None:
            self._note(
                "Added the layer %r above %s." % (job.layer.name(), job.source.label), job.layer
            )

    def _note(self, text: str, layer) -> None:
        self.sticky = (text, layer)
        self.status_text(text)

    @reports_errors
    def _ended(self) -> None:
        self.ui_timer.stop()
        self.pending = None
        self.job = None
        self.stylize_button.setEnabled(True)
        self.stylize_button.show()
        self.animate_button.setEnabled(True)
        self.keep_button.hide()
        self.cancel_button.setEnabled(False)
        self.keep_button.setEnabled(False)
        self.estimates.clear()  # the service measured one more job
        self.progress.setValue(0)
        self.progress.setFormat("")
        self._quick_toggled(self.quick.isChecked(), refresh=False)  # keep the render's picture
        self.refresh_status()

    @reports_errors
    def show_result(self, job) -> None:
        if job.result is not None:
            w, h = job.source.size
            self.preview.set_image(bgra_image(w, h, job.result))

    @reports_errors
    def apply_again(self, job) -> None:
        layer = job.add_layer()
        self._note("Added the layer %r again." % layer.name(), layer)
        self.history.refresh(job.document)


def _animated_layer(doc) -> bool:
    """Whether the active layer of ``doc`` has animation frames (cheap: no pixels read)."""
    try:
        node = doc.activeNode() if doc is not None else None
        return bool(node is not None and node.animated())
    except RuntimeError:  # its C++ object is gone
        return False


def _ignore(_value) -> None:
    pass


def _still_there(layer) -> bool:
    """Whether a layer the docker made is still in an open document (not undone, deleted)."""
    try:
        doc = Krita.instance().activeDocument()
        return doc is not None and layers.find_node(doc, layers.node_id(layer)) is not None
    except RuntimeError:  # its C++ object is gone
        return False


def _area(doc, visible: bool, selection) -> tuple:
    """The size Stylize would send now, from the selection, the layer or the image (cheap:
    no pixels are read)."""
    if selection is not None:
        return layers.rect(selection)[2:]
    node = None if visible else doc.activeNode()
    if node is not None and node.parentNode() is not None:
        box = layers.rect(node.bounds())
        if box[2] > 0 and box[3] > 0:
            return min(box[2], doc.width()), min(box[3], doc.height())
    return doc.width(), doc.height()
