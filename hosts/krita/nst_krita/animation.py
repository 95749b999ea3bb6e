"""Stylize animation: a layer's frames over the document's playback range as one job in the
service (each frame linked to the one before along the optical flow, so they do not
flicker), into a new animated layer.

Krita 5.1's Python API reads a layer's frame only at its keyframe (``Node.pixelDataAtTime``)
and makes an animated layer only by importing files (``Document.importAnimation``: one
keyframe per file, at evenly spaced times). So each drawing that shows in the range is read
once and stylized once, and the results are imported as one file per time from the range's
start to its last keyframe: a held drawing becomes the same stylized picture repeated, which
plays the same. The Krita API is used on the main thread only; the job waits, and the
results are scaled and written, in a worker thread.
"""

from __future__ import annotations

import bisect
import os
import shutil
import tempfile
from dataclasses import dataclass

from . import layers, worker
from .hostkit import regions as kit_regions
from .hostkit.errors import PluginError, error_sentence
from .hostkit.naming import unique_name
from .hostkit.progress import CANCELLED, DONE, FAILED, RUNNING
from .jobs import DOCUMENT_CLOSED, LOG, StyleJob, document_open

MAX_FRAMES = 1000  # the service's limit for one job


@dataclass
class Frames:
    """An animated layer's drawings over the playback range, read for one job.

    ``source``: the first drawing as a ``layers.Source`` over the whole document (with the
    selection, if any, as its mask); ``keys``: the keyframe time of each drawing, in order;
    ``pixels``: each drawing's 8-bit BGRA; ``times``: the times the result fills, from the
    range's start to its last keyframe."""

    source: layers.Source
    keys: list
    pixels: list
    times: list

    def drawing_at(self, time: int) -> int:
        """The index of the drawing that shows at ``time`` (the last keyframe at or before)."""
        return max(0, bisect.bisect_right(self.keys, time) - 1)


def keyframes(node, start: int, end: int) -> list:
    """The keyframe times that show in ``start``..``end``: those inside it, led by the one
    held into it from before ``start`` when no keyframe sits on ``start`` itself."""
    keys = [t for t in range(start, end + 1) if node.hasKeyframeAtTime(t)]
    if not keys or keys[0] != start:
        held = next((t for t in range(start - 1, -1, -1) if node.hasKeyframeAtTime(t)), None)
        if held is not None:
            keys.insert(0, held)
    return keys


def read_frames(doc, node=None) -> Frames:
    """The active layer's (or ``node``'s) drawings over the playback range, read now."""
    if doc is None:
        raise PluginError("No document is open; open an animation first.")
    layer = layers.source_layer(doc, node)
    if not layer.animated():
        raise PluginError(
            "The layer %r has no animation frames; select an animated layer in the Layers "
            "docker, or use Stylize for a still picture." % layer.name()
        )
    if not layers.is_rgba8(layer):
        raise PluginError(
            "Stylize animation reads 8-bit RGBA layers and %r is %s %s; convert it with Image > "
            "Convert Image Color Space." % (layer.name(), layer.colorModel(), layer.colorDepth())
        )
    start, end = doc.playBackStartTime(), doc.playBackEndTime()
    keys = keyframes(layer, start, end)
    if not keys:
        raise PluginError(
            "The layer %r has no frames in the playback range %d to %d; draw a frame there or "
            "change the range in the Animation docker." % (layer.name(), start, end)
        )
    if len(keys) > MAX_FRAMES:
        raise PluginError(
            "The playback range holds %d drawings and one job takes at most %d; shorten the "
            "range in the Animation docker and stylize the rest as a second job."
            % (len(keys), MAX_FRAMES)
        )
    box = (0, 0, doc.width(), doc.height())
    pixels = [_drawing(layer, box, key) for key in keys]
    times = list(range(max(start, keys[0]), keys[-1] + 1)) if keys[-1] >= start else [start]
    source = layers.Source(doc, layer, box, pixels[0], _selection(doc, box), layer.name())
    return Frames(source, keys, pixels, times)


def _drawing(layer, box: tuple, time: int) -> bytes:
    x, y, w, h = box
    data = bytes(layer.pixelDataAtTime(x, y, w, h, time))
    if len(data) != w * h * 4:
        raise PluginError(
            "Krita handed over %d bytes for frame %d of %r instead of %d; the frame cannot be "
            "read." % (len(data), time, layer.name(), w * h * 4)
        )
    return data


def _selection(doc, box: tuple):
    """The selection's grey values over ``box``, or None (nothing or everything selected)."""
    sel = layers.active_selection(doc)
    if sel is None:
        return None
    mask = bytes(sel.pixelData(*box))
    return None if mask.count(255) == len(mask) else mask


class AnimationJob(StyleJob):
    """A ``StyleJob`` whose source is an animation: the frames go to the service as one job,
    and the result is a new animated layer on top of the document (``layer`` once done).
    It cannot keep a half-made frame (``keepable`` is False), and keeps no recipe."""

    keepable = False

    def __init__(self, frames: Frames, style, choices, connect: dict, parent=None):
        super().__init__(frames.source, style, choices, connect, parent=parent)
        width, height = frames.source.size
        self.frames = frames
        self._work.frames = [(width, height, px, "BGRA") for px in frames.pixels]
        if frames.source.mask is not None:
            self._work.mask = kit_regions.mask_png(width, height, frames.source.mask)

    def _run(self, emit) -> tuple:
        """In the worker: the job, then one PNG file of the document's size per time of the
        result (a held drawing's file copied: Krita imports each file once), in a folder of
        its own: (folder, paths)."""
        pngs = self._work.run(emit)
        width, height = self.source.size
        folder = tempfile.mkdtemp(prefix="nst-animation-")
        try:
            drawn, paths = {}, []
            for time in self.frames.times:
                index = self.frames.drawing_at(time)
                path = os.path.join(folder, "frame-%06d.png" % time)
                if index in drawn:
                    shutil.copyfile(drawn[index], path)
                else:
                    worker.write_png(pngs[index], path, width, height)
                    drawn[index] = path
                paths.append(path)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        return folder, paths

    def _on_result(self, written: tuple) -> None:
        folder, paths = written
        try:
            if self.state != RUNNING:
                return
            if not document_open(self.document):
                self._end(CANCELLED, DOCUMENT_CLOSED)
                return
            self.layer = import_frames(self.document, self.frames, paths, self.name)
        except Exception as exc:  # shown as a sentence, never as Krita's dialog
            self._end(FAILED, error_sentence(exc, LOG))
            return
        finally:
            shutil.rmtree(folder, ignore_errors=True)
        self._end(DONE, None)


def import_frames(doc, frames: Frames, files: list, name: str):
    """The stylized ``files`` (one per time of ``frames.times``) as a new animated layer
    named ``name`` (made unique) on top of the document; the source layer stays active.
    Returns the new layer."""
    before = {layers.node_id(n) for n in layers.walk(doc.rootNode())}
    active, ranges = doc.activeNode(), _ranges(doc)
    if not doc.importAnimation(files, frames.times[0], 1):
        raise PluginError(
            "Krita could not import the stylized frames as an animated layer; check that "
            "the document is not locked and try again."
        )
    doc.waitForDone()
    _restore_ranges(doc, ranges)  # Krita's import sets the clip range to the frames'
    made = [n for n in layers.walk(doc.rootNode()) if layers.node_id(n) not in before]
    if not made:
        raise PluginError("Krita imported the stylized frames but made no layer; try again.")
    layer = made[0]
    siblings = [n.name() for n in layer.parentNode().childNodes() if n != layer]
    layer.setName(unique_name(name, siblings))
    if active is not None and doc.activeNode() != active:
        doc.setActiveNode(active)  # the next Stylize starts from the same layer
    doc.refreshProjection()
    return layer


def _ranges(doc) -> tuple:
    """The document's full clip range and playback range."""
    return (
        doc.fullClipRangeStartTime(),
        doc.fullClipRangeEndTime(),
        doc.playBackStartTime(),
        doc.playBackEndTime(),
    )


def _restore_ranges(doc, ranges: tuple) -> None:
    """Put the ranges back as they were (an import changes them, also a moment later)."""
    clip_start, clip_end, start, end = ranges
    if _ranges(doc) != ranges:
        doc.setFullClipRangeStartTime(clip_start)
        doc.setFullClipRangeEndTime(clip_end)
        set_playback_range(doc, start, end)


def set_playback_range(doc, start: int, end: int) -> None:
    """The playback range ``start``..``end`` (Krita 5.1's ``setPlayBackRange`` ends it one
    frame early: asked again one further then)."""
    doc.setPlayBackRange(start, end)
    if doc.playBackEndTime() == end - 1:
        doc.setPlayBackRange(start, end + 1)
