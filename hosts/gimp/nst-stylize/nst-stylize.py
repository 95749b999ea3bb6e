#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters > Artistic > Neural Style Transfer... (PDB: plug-in-nst-stylize).

Sends the active layer (or the bounds of the selection plus a margin) to the local nst
service, shows its progress, and adds the result as a new layer above the source in one undo
step; a selection becomes the new layer's mask. The dialog shows a quick preview made with
the fast engine (``nst_gimp_preview.py``). Installed by ``nst install-host gimp`` as
``plug-ins/nst-stylize/`` with ``nst_gimp_preview.py``, ``hostkit/`` (a copy of
nst_plugin/hostkit, the logic it shares with the Krita plug-in) and ``nst-host.json`` beside
it. Standard library, GObject introspection and those files only.

Cancelling the progress makes GIMP kill this process; the progress stream drops and the
service cancels the job (it was submitted with cancel_on_disconnect).
"""

import contextlib
import os
import sys
import threading
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import gi  # noqa: E402

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GimpUi, GLib, GObject  # noqa: E402

from hostkit import discovery, engines, styles  # noqa: E402
from hostkit.areas import area_to_process  # noqa: E402
from hostkit.choices import Choices, parse_extra_options  # noqa: E402
from hostkit.errors import PluginError, ServiceError, error_sentence  # noqa: E402
from hostkit.jobs import ServiceJob  # noqa: E402
from hostkit.naming import layer_name  # noqa: E402
from hostkit.png import decode_png, to_rgba  # noqa: E402
from hostkit.progress import progress_fraction, progress_text  # noqa: E402

PROCEDURE = "plug-in-nst-stylize"
PIXELS = "R'G'B'A u8"  # babl converts from and to grey, 16-bit and float layers
RW = GObject.ParamFlags.READWRITE
LOG = "GIMP's error console"
HEARTBEAT_S = 30  # while the dialog is open, well inside the service's idle limit


def connect_service():
    """A client of the service named in nst-host.json, the discovery file, or started here."""
    config = discovery.load_host_config(HERE)
    return discovery.connect(**discovery.connect_kwargs({}, config))


class Library(threading.Thread):
    """Connects (starting the service if needed) and lists its styles and engines, off the
    main thread, while the dialog is open; only network here, the dialog is updated on the
    main thread."""

    def __init__(self, when_done=None):
        super().__init__(name="nst-library", daemon=True)
        self.client = self.error = self.engines = None
        self.styles = []
        self.when_done = when_done

    def run(self):
        try:
            self.client = connect_service()
            found = styles.library(self.client)
            self.styles, self.engines = found["styles"], found["engines"]
        except Exception as exc:
            self.error = exc
        if self.when_done is not None:
            GLib.idle_add(self.when_done)

    def service(self):
        """A connected client (waits for the thread): the thread's while its service answers,
        else a new connection (the service may have been started, or have stopped, while the
        dialog was open)."""
        self.join()
        if self.client is not None:
            with contextlib.suppress(ServiceError):
                self.client.health(timeout=2.0)
                return self.client
        return connect_service()

    def beat(self):
        """Tell the service the dialog still uses it (a GLib timeout, every HEARTBEAT_S)."""
        if self.client is None:
            return True
        client = self.client
        threading.Thread(target=lambda: _quietly(client.health), daemon=True).start()
        return True


def _quietly(call):
    with contextlib.suppress(Exception):
        call()


# ------------------------------------------------------------------------------- the dialog


def lay_out(dialog, library_row, preview_widget):
    """The fields at the left (the library row above the style's), the preview at the right."""
    from gi.repository import Gtk

    box = dialog.fill_box("style-box", ["style", "style-file"])
    box.pack_start(library_row, False, False, 0)
    box.reorder_child(library_row, 0)
    fields = dialog.fill_box(
        "nst-fields",
        ["style-box", "strength", "quality", "size", "preserve-colors", "engine", "options"],
    )
    columns = dialog.fill_box("nst-columns", ["nst-fields"])
    columns.set_orientation(Gtk.Orientation.HORIZONTAL)
    columns.set_spacing(12)
    columns.set_child_packing(fields, True, True, 0, Gtk.PackType.START)
    columns.pack_start(preview_widget, False, False, 0)
    dialog.fill(["nst-columns"])
    dialog.set_default_size(760, -1)  # the fields get what the preview leaves


def show_dialog(procedure, config, image, drawables):
    """The procedure dialog; returns (ok, Library). The library combo fills in when the
    service answers; picking a name or a file writes the ``style`` argument. The quick
    preview sits at the right of the fields."""
    GimpUi.init("nst-stylize")
    gi.require_version("Gtk", "3.0")
    import nst_gimp_preview
    from gi.repository import Gtk

    dialog = GimpUi.ProcedureDialog.new(procedure, config, "Neural Style Transfer")
    row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    label = Gtk.Label.new_with_mnemonic("Style li_brary")
    combo = Gtk.ComboBoxText()
    combo.append("", "(looking for the nst service...)")
    combo.set_active_id("")
    combo.set_sensitive(False)
    label.set_mnemonic_widget(combo)
    row.pack_start(label, False, False, 0)
    row.pack_start(combo, True, True, 0)
    row.show_all()
    state = {"open": True, "filling": False}
    source = nst_gimp_preview.read_source(drawables, lambda d: source_area(image, d)[0])
    mask = None
    if not isinstance(source, Exception):  # then the area is known to be fine
        area = source_area(image, drawables[0])[0]
        mask = nst_gimp_preview.selection_mask(image, drawables[0], area, source)
    preview = nst_gimp_preview.Preview(config, source, mask)

    def library_done():
        if not state["open"]:
            return False
        preview.service_ready(library.client, library.engines, library.error)
        state["filling"] = True
        combo.remove_all()
        names = styles.style_names(library.styles)
        if library.error is not None:
            combo.append("", "(service not reachable: type a name or choose a file)")
            combo.set_tooltip_text(error_sentence(library.error, LOG))
        elif not names:
            combo.append("", "(the library is empty: choose a file)")
        else:
            combo.append("", "(pick a style)")
            for name in names:
                combo.append(name, name)
        current = config.get_property("style")
        combo.set_active_id(current if current in names else "")
        combo.set_sensitive(bool(names))
        state["filling"] = False
        return False

    def picked(widget):
        name = widget.get_active_id()
        if name and not state["filling"]:
            config.set_property("style", name)

    def file_chosen(cfg, _pspec):
        chosen = cfg.get_property("style-file")
        if chosen is not None and chosen.get_path():
            cfg.set_property("style", chosen.get_path())

    combo.connect("changed", picked)
    config.connect("notify::style-file", file_chosen)
    dialog.get_scale_entry("strength", 1.0)  # a slider rather than a bare spin button
    lay_out(dialog, row, preview.widget)
    library = Library(library_done)
    library.start()
    heartbeat = GLib.timeout_add_seconds(HEARTBEAT_S, library.beat)
    ok = dialog.run()
    GLib.source_remove(heartbeat)
    state["open"] = False
    preview.close()
    dialog.destroy()
    return ok, library


# ------------------------------------------------------------------------------- the work


def progress(event):
    if event.get("job"):  # the service's job id, for the user's and the tests' eyes
        print("nst-stylize: job %s" % event["job"], flush=True)
    Gimp.progress_set_text(progress_text(event))
    fraction = progress_fraction(event)
    if fraction is not None:
        Gimp.progress_update(fraction)


def layer_anchor(drawable):
    """The layer the result goes above (a mask's layer; None for a channel: top of image)."""
    if drawable.is_layer():
        return drawable
    if drawable.is_layer_mask():
        return Gimp.Layer.from_mask(drawable)
    return None


def add_result_layer(image, drawable, area, result, name, masked):
    """The result as a new layer above ``drawable`` over ``area``, all in one undo group."""
    width, height, rgba = result
    x, y, w, h = area
    _, ox, oy = drawable.get_offsets()
    anchor = layer_anchor(drawable)
    parent = anchor.get_parent() if anchor is not None else None
    position = image.get_item_position(anchor) if anchor is not None else 0
    grey = image.get_base_type() == Gimp.ImageBaseType.GRAY
    kind = Gimp.ImageType.GRAYA_IMAGE if grey else Gimp.ImageType.RGBA_IMAGE
    image.undo_group_start()
    layer = None
    try:
        layer = Gimp.Layer.new(image, name, width, height, kind, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, parent, position)
        buffer = layer.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, width, height), PIXELS, rgba)
        buffer.flush()
        if (width, height) != (w, h):  # "size" asked for another resolution: fit the area
            layer.scale(w, h, True)
        layer.set_offsets(ox + x, oy + y)
        if masked:
            layer.add_mask(layer.create_mask(Gimp.AddMaskType.SELECTION))
        layer.update(0, 0, w, h)
    except Exception:
        if layer is not None and layer.is_valid():
            image.remove_layer(layer)
        raise
    finally:
        image.undo_group_end()
    return layer


def source_area(image, drawable):
    """``(area, masked)``: the part of the drawable to process, and whether a selection
    limits it (then it becomes the new layer's mask)."""
    masked = not Gimp.Selection.is_empty(image)
    selection = None
    if masked:
        touches, sx, sy, sw, sh = drawable.mask_intersect()
        selection = (sx, sy, sw, sh) if touches else (0, 0, 0, 0)
    area = area_to_process(drawable.get_width(), drawable.get_height(), selection)
    return area, masked


def choices(config, info):
    """The dialog's (or the caller's) settings as the host kit's Choices."""
    return Choices(
        strength=config.get_property("strength"),
        size=config.get_property("size") or None,
        quality=config.get_property("quality") if engines.quality_choices(info) else None,
        preserve_colors=config.get_property("preserve-colors"),
        engine=(config.get_property("engine") or "").strip() or None,
        extra=parse_extra_options(config.get_property("options")),
    )


def stylize(image, drawables, config, library=None):
    """Do the job; raises PluginError / ServiceError (one sentence) on failure, the image
    untouched."""
    if len(drawables) != 1:
        raise PluginError("Select exactly one layer to stylize.")
    drawable = drawables[0]
    style = styles.style_from_text(config.get_property("style"))
    parse_extra_options(config.get_property("options"))  # a typo fails before any work
    area, masked = source_area(image, drawable)

    Gimp.progress_init("Reading the layer")
    pixels = drawable.get_buffer().get(
        Gegl.Rectangle.new(*area), 1.0, PIXELS, Gegl.AbyssPolicy.CLAMP
    )
    service = library.service() if library is not None else connect_service()
    info = (library.engines if library is not None else None) or service.engines()
    chosen = choices(config, info)
    job = ServiceJob(service, (area[2], area[3], pixels, "RGBA"), style, chosen)
    png = job.run(progress)
    name = layer_name(style["label"], chosen.strength, job.engine)

    Gimp.progress_set_text("Adding the layer")
    width, height, mode, pixels = decode_png(png)
    layer = add_result_layer(
        image, drawable, area, (width, height, to_rgba(mode, pixels)), name, masked
    )
    Gimp.progress_update(1.0)
    Gimp.progress_end()
    Gimp.displays_flush()
    return layer


def failure(procedure, message):
    error = GLib.Error.new_literal(Gimp.PlugIn.error_quark(), message, 0)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, error)


def run(procedure, run_mode, image, drawables, config, data):
    library = None
    if run_mode == Gimp.RunMode.INTERACTIVE:
        ok, library = show_dialog(procedure, config, image, drawables)
        if not ok:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    try:
        stylize(image, drawables, config, library)
    except (PluginError, ServiceError) as exc:
        return failure(procedure, error_sentence(exc, LOG))
    except Exception as exc:  # a bug: GIMP gets a status and one sentence, the log the rest
        traceback.print_exc()
        return failure(procedure, error_sentence(exc, LOG))
    finally:
        with contextlib.suppress(Exception):
            Gimp.progress_end()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


# ------------------------------------------------------------------------------- registration


class NstStylize(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        return [PROCEDURE]

    def do_create_procedure(self, name):
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, run, None)
        procedure.set_image_types("RGB*, GRAY*")
        procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
        procedure.set_menu_label("Neural Style Transfer...")
        procedure.add_menu_path("<Image>/Filters/Artistic")
        procedure.set_documentation(
            "Paint the layer in the style of a painting (neural style transfer)",
            "Sends the layer, or the selection's bounds plus a margin, to the local nst "
            "service and adds the stylized result as a new layer above it (one undo step); a "
            "selection becomes the new layer's mask. 'style' is a name from the service's "
            "style library or the path of an image file.",
            name,
        )
        procedure.set_attribution("nst-plugin", "nst-plugin authors", "2025")
        procedure.add_string_argument(
            "style", "St_yle", "A style library name, or the path of a style image file", "", RW
        )
        procedure.add_file_aux_argument(
            "style-file",
            "Style _image file",
            "Choose an image file as the style",
            Gimp.FileChooserAction.OPEN,
            True,
            None,
            RW,
        )
        procedure.add_double_argument(
            "strength",
            "S_trength",
            "0 gives the layer back, 0.5 the weights as set, 1 the strongest style",
            0.0,
            1.0,
            0.5,
            RW,
        )
        procedure.add_int_argument(
            "size",
            "Si_ze",
            "Long edge in pixels to stylize at; 0 = the processed area's "
            "(the result is scaled to fit)",
            0,
            16384,
            0,
            RW,
        )
        quality = Gimp.Choice.new()
        for number, (nick, text) in enumerate(engines.QUALITIES):
            quality.add(nick, number, text, "")
        procedure.add_choice_argument(
            "quality",
            "_Quality",
            "A preset of iterations: draft, good or best",
            quality,
            "good",
            RW,
        )
        procedure.add_boolean_argument(
            "preserve-colors",
            "_Preserve colors",
            "Stylize the luminance only and keep the layer's colours",
            False,
            RW,
        )
        procedure.add_string_argument(
            "engine", "_Engine", "Engine name; empty = the service's default", "", RW
        )
        procedure.add_string_argument(
            "options",
            "More optio_ns (JSON)",
            'A JSON object of any further option, e.g. {"style_weight": 20, "seed": 1}',
            "{}",
            RW,
        )
        return procedure


Gimp.main(NstStylize.__gtype__, sys.argv)
