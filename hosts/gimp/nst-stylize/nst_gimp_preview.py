"""The quick preview in the nst-stylize dialog: the layer (or the selection's area) stylized
with the service's fast engine at a small size, refreshed as the dialog's values change (the
style or its layer, strength, brush size, colours, the blend, the regions, the strength map).

The source pixels are read once, downscaled, when the dialog opens (main thread). Each change
waits ``PREVIEW_DELAY_MS`` for the next one, then a thread submits a fast job and reads its
result; the image is only touched on GTK's main thread. A newer request cancels the job of an
older one, whose result is never shown. Errors are one sentence under the image.

Tests set ``NST_GIMP_PREVIEW_TRACE`` to a file path: each time the area under the check button
changes, one JSON line is appended to it (the request's style and strength, the SHA-1 of the
shown pixels or the sentence shown, the image's box in the dialog window).
"""

import hashlib
import json
import os
import threading

import gi

gi.require_version("Gtk", "3.0")
gi.require_version("GdkPixbuf", "2.0")
gi.require_version("Gimp", "3.0")
from gi.repository import GdkPixbuf, Gimp, Gio, GLib, Gtk  # noqa: E402

from hostkit import preview  # noqa: E402
from hostkit.areas import multiply_alpha  # noqa: E402
from hostkit.errors import PluginError, error_sentence  # noqa: E402
from hostkit.jobs import ServiceJob  # noqa: E402
from hostkit.png import decode_png, to_rgba  # noqa: E402

TRACE = "NST_GIMP_PREVIEW_TRACE"
LOG = "GIMP's error console"
PIXEL_MODES = {1: "L", 2: "LA", 3: "RGB", 4: "RGBA"}  # GIMP's thumbnails, by bytes per pixel
FOLLOWED = (
    "style",
    "style-layer",
    "strength",
    "brush-size",
    "match-colors",
    "preserve-colors",
    "blend-style",
    "blend-layer",
    "blend",
    "channel-regions",
    "strength-map",
)


def read_source(drawables, area_of):
    """``(width, height, pixels, mode)``: the drawable's area to process (``area_of(drawable)``)
    downscaled to the preview size by GIMP's thumbnail code (fast on large layers), or the
    exception that stopped it (the preview says it; OK says it again). Main thread."""
    try:
        if len(drawables) != 1:
            raise PluginError("Select exactly one layer to stylize.")
        x, y, w, h = area_of(drawables[0])
        width, height = preview.fit(w, h, preview.EDGE)
        data, width, height, bpp = drawables[0].get_sub_thumbnail_data(x, y, w, h, width, height)
        return width, height, bytes(data.get_data()), PIXEL_MODES[bpp]
    except Exception as exc:
        return exc


def selection_mask(image, drawable, area, source):
    """The selection's grey values over the drawable's ``area`` at the size of ``source``
    (``read_source``'s answer), one byte a pixel, so that the preview shows only what OK
    keeps; None without a selection, or when GIMP cannot hand them over. Main thread."""
    if isinstance(source, Exception) or Gimp.Selection.is_empty(image):
        return None
    try:
        _, ox, oy = drawable.get_offsets()
        x, y, w, h = area
        selection = image.get_selection()
        data, width, height, bpp = selection.get_sub_thumbnail_data(
            ox + x, oy + y, w, h, source[0], source[1]
        )
        grey = bytes(data.get_data())[::bpp]
        return grey if (width, height) == tuple(source[:2]) else None
    except Exception:  # the preview then shows the whole area, as before
        return None


def shown_pixbuf(png, mask=None):
    """The result PNG as a pixbuf of the dialog's preview size (any thread); ``mask``: the
    selection's grey values, applied to its alpha."""
    if mask is None:
        stream = Gio.MemoryInputStream.new_from_bytes(GLib.Bytes.new(png))
        pixbuf = GdkPixbuf.Pixbuf.new_from_stream(stream, None)
    else:
        w, h, mode, pixels = decode_png(png)
        rgba = multiply_alpha(to_rgba(mode, pixels), mask)
        pixbuf = GdkPixbuf.Pixbuf.new_from_bytes(
            GLib.Bytes.new(rgba), GdkPixbuf.Colorspace.RGB, True, 8, w, h, w * 4
        )
    width, height = preview.fit(pixbuf.get_width(), pixbuf.get_height(), preview.SHOWN, True)
    return pixbuf.scale_simple(width, height, GdkPixbuf.InterpType.BILINEAR)


class Preview:
    """The "Quick preview" check button, the preview image and the sentence under it.

    ``source`` is ``read_source``'s answer; ``compose()`` (main thread) returns ``(key,
    request)`` for the dialog's values: the key tells requests apart (its first item is the
    style's label, its second the render's Choices), the request holds the job's ``style``,
    ``render`` Choices, style ``masks`` and strength ``map`` (PNGs at the source's size), or it
    raises PluginError. The preview starts when ``service_ready`` gives it the connected
    client."""

    def __init__(self, config, source, mask, compose):
        self.config, self.source, self.mask, self.compose = config, source, mask, compose
        self.requests = preview.PreviewRequests()
        self.service = self.timer = None
        self.engines = {}  # the service's GET /v1/engines answer
        self.open = True
        self.check = Gtk.CheckButton.new_with_mnemonic("Quick pre_view")
        self.check.set_active(True)
        self.check.set_sensitive(False)
        self.image = Gtk.Image()
        size = (4, 3) if isinstance(source, Exception) else source[:2]
        self.image.set_size_request(*preview.fit(*size, preview.SHOWN, enlarge=True))
        frame = Gtk.Frame()
        frame.set_shadow_type(Gtk.ShadowType.IN)
        frame.add(self.image)
        self.message = Gtk.Label(label="Looking for the nst service...")
        self.message.set_line_wrap(True)
        self.message.set_max_width_chars(32)
        self.message.set_xalign(0.0)
        self.widget = Gtk.Box(orientation=Gtk.Orientation.VERTICAL, spacing=6)
        for child in (self.check, frame, self.message):
            self.widget.pack_start(child, False, False, 0)
        self.widget.show_all()
        self.check.connect("toggled", self.toggled)
        for name in FOLLOWED:
            config.connect("notify::" + name, self.changed)

    # ---------------------------------------------------------------- main thread

    def service_ready(self, service, engines_info, error=None):
        """The library thread connected to the service (or could not)."""
        if error is not None:
            self.say(error_sentence(error, LOG))
            return
        available, tip = preview.availability(engines_info)
        self.service, self.engines = service, engines_info or {}
        self.check.set_tooltip_text(tip)
        self.check.set_sensitive(available)
        if not available:
            self.check.set_active(False)
            self.say(tip)
        elif self.check.get_active():
            self.schedule(0)

    def changed(self, *_):
        self.schedule()

    def toggled(self, *_):
        if self.check.get_active():
            self.schedule(0)
            return
        self.stop()
        self.image.clear()
        if self.check.get_sensitive():
            self.say("")

    def schedule(self, delay=preview.DELAY_MS):
        """Ask for a preview ``delay`` ms after the last change (a newer change restarts it)."""
        if not (self.open and self.service is not None and self.check.get_active()):
            return
        if self.timer is not None:
            GLib.source_remove(self.timer)
        self.timer = GLib.timeout_add(delay, self.fire)

    def fire(self):
        self.timer = None
        if isinstance(self.source, Exception):
            self.say(error_sentence(self.source, LOG))
            return False
        try:
            key, request = self.compose()
        except Exception as exc:  # a style file or a region that cannot be: its sentence
            self.stop()
            self.image.clear()
            self.say(error_sentence(exc, LOG))
            return False
        number = self.requests.start(key)
        if number is not None:
            self.message.set_text("Updating the preview...")
            threading.Thread(
                target=self.work, args=(number, key, request), name="nst-preview", daemon=True
            ).start()
        return False

    def show(self, number, key, pixbuf, text):
        """Show a request's result or sentence, unless a newer request superseded it."""
        if self.open and self.requests.is_current(number):
            if pixbuf is not None:
                self.image.set_from_pixbuf(pixbuf)
            else:  # an older picture would pass for this request's
                self.image.clear()
            self.say(text, key, pixbuf)
        return False

    def say(self, text, key=None, pixbuf=None):
        self.message.set_text(text)
        if os.environ.get(TRACE):
            self.trace(text, key, pixbuf)

    def trace(self, text, key, pixbuf):
        """The test hook: one JSON line per change under the check button."""
        place = self.image.translate_coordinates(self.image.get_toplevel(), 0, 0)
        area = self.image.get_allocation()
        line = {
            "style": key and key[0],
            "strength": key and key[1].strength,
            "message": text,
            "sha1": pixbuf and hashlib.sha1(pixbuf.get_pixels()).hexdigest(),
            "size": pixbuf and [pixbuf.get_width(), pixbuf.get_height()],
            "box": [*place, area.width, area.height] if place else None,
            "mapped": self.image.get_mapped(),
        }
        with open(os.environ[TRACE], "a", encoding="utf-8") as out:
            out.write(json.dumps(line) + "\n")

    def stop(self):
        """Supersede every request and cancel their jobs (off the main thread)."""
        if self.timer is not None:
            GLib.source_remove(self.timer)
            self.timer = None
        self.requests.stop()
        if self.service is not None:
            threading.Thread(target=self.cancel_stale, daemon=True).start()

    def close(self):
        """The dialog closes: no more previews; their jobs are cancelled."""
        self.open = False
        self.stop()

    # ---------------------------------------------------------------- worker threads

    def cancel_stale(self):
        for job in self.requests.stale_jobs():
            job.cancel()

    def work(self, number, key, request):
        """Make the preview of request ``number`` (a thread of its own)."""
        pixbuf, text = None, preview.TIP
        try:
            self.cancel_stale()  # the device runs one job at a time: free it first
            job = ServiceJob(
                self.service,
                self.source,
                request["style"],
                preview.preview_choices(self.engines, request["render"]),
                style_masks=request["masks"],
                strength_map=request["map"],
                forget=True,
                check_style=False,
            )
            if self.requests.submitted(number, job):
                pixbuf = shown_pixbuf(job.run(), self.mask)
        except Exception as exc:  # shown as one sentence under the preview
            pixbuf, text = None, error_sentence(exc, LOG)
        finally:
            self.requests.finished(number)
        GLib.idle_add(self.show, number, key, pixbuf, text)
