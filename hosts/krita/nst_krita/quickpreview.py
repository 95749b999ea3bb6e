"""Quick preview in the docker (the host kit's ``preview`` holds its engine, size and delay).

The final render keeps the engine chosen in the docker; the preview is the fast engine's
one-pass approximation, in well under a second once the service is warm, at the fast
engine's strength that looks most like the slider's on the rendering engine, with the
render's regions and strength map scaled down to it. A new request supersedes the one in
flight (its service job is cancelled) and never shows an older result over a newer one. No
layer is added and the document is only read.

Live: the preview also follows the canvas as the user paints. A 2 Hz check compares the
source's 64 px thumbnail (which Krita keeps: well under a millisecond) and starts a preview
when it changed and none is in flight, so at most about two a second; the picture sent is
Krita's own scaled thumbnail of the layer, never a full read, so the brush never waits for it.
"""

from __future__ import annotations

from PyQt5.QtCore import QObject, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QImage

from krita import Krita

from . import layers, regions, settings
from .hostkit import preview
from .hostkit.areas import multiply_alpha
from .hostkit.errors import PluginError
from .jobs import RUNNING, StyleJob
from .panels import bgra_image

LIVE_MS = 500  # how often Live looks at the canvas: at most two previews a second


def shrink_grey(grey: bytes, size: tuple, to: tuple) -> bytes:
    """A grey image (a byte a pixel) of ``size`` scaled to ``to``."""
    (w, h), (tw, th) = size, to
    if (w, h) == (tw, th):
        return grey
    image = QImage(grey, w, h, w, QImage.Format_Grayscale8)
    image = image.scaled(tw, th, Qt.IgnoreAspectRatio, Qt.SmoothTransformation)
    stride = image.bytesPerLine()
    raw = image.constBits().asstring(stride * th)
    return b"".join(raw[y * stride : y * stride + tw] for y in range(th))


def shrink_guides(guides: regions.Guides, size: tuple, to: tuple) -> regions.Guides:
    """The regions' masks and the strength map of a ``size`` box scaled to ``to``."""
    shown = guides.strength_map
    return regions.Guides(
        guides.styles,
        [shrink_grey(m, size, to) for m in guides.masks],
        None if shown is None else shrink_grey(shown, size, to),
    )


def shrink(source: layers.Source, edge: int = preview.EDGE) -> layers.Source:
    """``source`` scaled so its long edge is at most ``edge``; its selection mask too."""
    w, h = source.size
    if max(w, h) <= edge:
        return source
    image = bgra_image(w, h, source.pixels).scaled(
        edge, edge, Qt.KeepAspectRatio, Qt.SmoothTransformation
    )
    mask = None
    if source.mask is not None:
        mask = shrink_grey(source.mask, (w, h), (image.width(), image.height()))
    return layers.Source(
        document=source.document,
        node=source.node,
        box=(0, 0, image.width(), image.height()),
        pixels=image_bytes(image),
        mask=mask,
        label=source.label,
    )


def image_bytes(image: QImage) -> bytes:
    """The pixels of ``image`` as 8-bit BGRA (Qt's ARGB32 in memory), rows packed."""
    image = image.convertToFormat(QImage.Format_ARGB32)
    return image.constBits().asstring(image.byteCount())


class QuickPreview(QObject):
    """Runs preview jobs for ``docker``. Signals ``shown(QImage)`` and ``message(str)``."""

    shown = pyqtSignal(object)
    message = pyqtSignal(str)

    def __init__(self, docker):
        super().__init__(docker)
        self.docker = docker
        self.enabled = False
        self.job = None  # the preview job in flight or last finished
        self.cached = None  # (document, signature, shrunk Source, its box) of the last preview
        self.cached_guides = None  # (signature, shrunk Guides, the regions) of the last preview
        self.reads = 0  # times the document's pixels were read, for scripts and tests
        self.count = 0  # previews shown, for scripts and tests
        self.timer = QTimer(self)
        self.timer.setSingleShot(True)
        self.timer.setInterval(preview.DELAY_MS)
        self.timer.timeout.connect(self._start)
        self.live = False
        self.live_seen = None  # the source's thumbnail signature the last live preview saw
        self.live_timer = QTimer(self)
        self.live_timer.setInterval(LIVE_MS)
        self.live_timer.timeout.connect(self._live_tick)

    def set_enabled(self, on: bool, refresh: bool = True) -> None:
        self.enabled = bool(on)
        if self.enabled and refresh:
            self.request()
        else:
            self.stop()

    def set_live(self, on: bool) -> None:
        """Follow the canvas as the user paints (with the quick preview on)."""
        self.live = bool(on)
        self.live_seen = None
        if self.live:
            self.live_timer.start()
        else:
            self.live_timer.stop()

    def _live_tick(self) -> None:
        d = self.docker
        doc = Krita.instance().activeDocument()
        if not self.enabled or d.job is not None or doc is None:
            return
        if self.job is not None and self.job.state == RUNNING:
            return  # one at a time: the next tick looks again
        try:
            node = None if d.source.currentIndex() == 1 else layers.source_layer(doc)
        except PluginError:
            return
        seen = (
            doc,
            hash(image_bytes((doc.rootNode() if node is None else node).thumbnail(64, 64))),
        )
        if seen != self.live_seen:
            self.live_seen = seen
            self.timer.stop()
            self._start()

    def request(self) -> None:
        """Something the preview shows changed: start one once the user pauses."""
        if self.enabled:
            self.timer.start()

    def stop(self) -> None:
        self.timer.stop()
        if self.job is not None and self.job.state == RUNNING:
            self.job.cancel("The quick preview was superseded.")

    def _start(self) -> None:
        d = self.docker
        doc = Krita.instance().activeDocument()
        ready = d.picker.chosen() or d.regions.regions
        if not self.enabled or d.job is not None or doc is None or not ready:
            return  # a render shows its own previews; nothing to preview yet
        self.stop()
        try:
            source, box = self._source(doc, d.source.currentIndex() == 1)
            guides = self._guides(doc, box, source.size)
            style = d.job_style(doc)
            choices = preview.preview_choices(d.info, d.choices())
        except PluginError as exc:
            self.message.emit(str(exc))
            return
        job = StyleJob(
            source,
            style,
            choices,
            settings.load(),
            guides=guides,
            apply=False,
            forget=True,
            parent=self,
        )
        job.finished.connect(lambda _layer: self._finished(job))
        job.failed.connect(lambda text: self._failed(job, text))
        self.job = job
        job.start()

    def _source(self, doc, visible: bool) -> tuple:
        """``(shrunk source, the box it was read from)``, read again only when the layer, the
        selection's box or the pixels changed: reading and shrinking a 6000x4000 layer pauses
        Krita's UI for about 0.2 s, its 64 px thumbnail (which Krita keeps) for well under a
        millisecond."""
        node = None if visible else layers.source_layer(doc)
        sel = layers.active_selection(doc)
        if self.live and sel is None:
            return self._scaled_source(doc, node)
        thumb = (doc.rootNode() if node is None else node).thumbnail(64, 64)
        signature = (
            None if node is None else layers.node_id(node),
            visible,
            None if sel is None else layers.rect(sel),
            hash(image_bytes(thumb)),
        )
        if self.cached and self.cached[0] == doc and self.cached[1] == signature:
            return self.cached[2], self.cached[3]
        full = layers.read_source(doc, node, visible=visible)
        source = shrink(full)
        self.reads += 1
        self.cached = (doc, signature, source, full.box)
        return source, full.box

    def _scaled_source(self, doc, node) -> tuple:
        """Live: the whole image's area of the layer as Krita's own scaled thumbnail."""
        owner = doc.rootNode() if node is None else node
        w, h = preview.fit(doc.width(), doc.height(), preview.EDGE)
        image = owner.thumbnail(w, h).convertToFormat(QImage.Format_ARGB32)
        label = "Visible image" if node is None else node.name()
        w, h = image.width(), image.height()
        source = layers.Source(doc, node, (0, 0, w, h), image_bytes(image), None, label)
        return source, (0, 0, doc.width(), doc.height())

    def _guides(self, doc, box: tuple, size: tuple) -> regions.Guides:
        """The docker's regions and strength map over ``box``, shrunk to ``size``; read again
        only when they, the box or their layers' pixels changed."""
        found = list(self.docker.regions.regions)
        shown = self.docker.regions.strength_node(doc)
        nodes = [layers.find_node(doc, r.node_id) for r in found if r.node_id]
        nodes += [shown] if shown is not None else []
        signature = (
            box,
            size,
            tuple(id(r) for r in found),
            None if shown is None else layers.node_id(shown),
            tuple(hash(image_bytes(n.thumbnail(64, 64))) for n in nodes if n is not None),
        )
        if self.cached_guides and self.cached_guides[0] == signature:
            return self.cached_guides[1]
        guides = shrink_guides(self.docker.job_guides(doc, box), box[2:], size)
        self.cached_guides = (signature, guides, found)  # the regions kept: their ids stay
        return guides

    def _finished(self, job: StyleJob) -> None:
        if job is self.job and job.result is not None:
            w, h = job.source.size
            shown = job.result
            if job.source.mask is not None:  # what Stylize would add: the selection only
                shown = multiply_alpha(shown, job.source.mask)
            self.count += 1
            self.shown.emit(bgra_image(w, h, shown))

    def _failed(self, job: StyleJob, text: str) -> None:
        if job is self.job:
            self.message.emit("Quick preview: " + text[0].lower() + text[1:])
