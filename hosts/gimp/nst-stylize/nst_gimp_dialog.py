"""The nst-stylize dialog: GIMP's procedure dialog for the arguments, with what it cannot show
by itself (the service's style library, the layers and channels to choose from, which channels
make regions) and the quick preview at the right.

The choices write the procedure's arguments (``config``), so OK runs exactly what the dialog
shows and GIMP remembers it. Main thread only; the service is reached by the ``Library``
thread of nst-stylize.py and by the preview's threads.
"""

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("GimpUi", "3.0")
gi.require_version("Gtk", "3.0")
from gi.repository import Gimp, GimpUi, GLib, GObject, Gtk  # noqa: E402

import nst_gimp_guides as guides  # noqa: E402
import nst_gimp_preview  # noqa: E402
from hostkit import engines, preview, regions, styles  # noqa: E402
from hostkit.choices import Choices  # noqa: E402
from hostkit.errors import PluginError, error_sentence  # noqa: E402

LOG = "GIMP's error console"
HEARTBEAT_S = 30  # while the dialog is open, well inside the service's idle limit
NONE = "(none)"


def _row(text, widget, mnemonic=True):
    """A label and ``widget`` side by side."""
    row = Gtk.Box(orientation=Gtk.Orientation.HORIZONTAL, spacing=6)
    label = Gtk.Label.new_with_mnemonic(text) if mnemonic else Gtk.Label(label=text)
    label.set_xalign(0.0)
    if mnemonic:
        label.set_mnemonic_widget(widget)
    row.pack_start(label, False, False, 0)
    row.pack_start(widget, True, True, 0)
    row.show_all()
    return row


def _insert(box, widget, position):
    box.pack_start(widget, False, False, 0)
    box.reorder_child(widget, position)


class LibraryCombo:
    """The service's style library as a combo box; picking a name writes it into the string
    argument ``prop`` (a style library name or a file path)."""

    def __init__(self, config, prop, text):
        self.config, self.prop, self.filling = config, prop, False
        self.combo = Gtk.ComboBoxText()
        self.combo.append("", "(looking for the nst service...)")
        self.combo.set_active_id("")
        self.combo.set_sensitive(False)
        self.combo.connect("changed", self.picked)
        self.row = _row(text, self.combo)

    def fill(self, names, error):
        self.filling = True
        self.combo.remove_all()
        if error is not None:
            self.combo.append("", "(service not reachable: type a name or choose a file)")
            self.combo.set_tooltip_text(error_sentence(error, LOG))
        elif not names:
            self.combo.append("", "(the library is empty: choose a file)")
        else:
            self.combo.append("", "(pick a style)")
            for name in names:
                self.combo.append(name, name)
        current = self.config.get_property(self.prop)
        self.combo.set_active_id(current if current in names else "")
        self.combo.set_sensitive(bool(names))
        self.filling = False

    def picked(self, widget):
        name = widget.get_active_id()
        if name and not self.filling:
            self.config.set_property(self.prop, name)


class DrawableCombo:
    """A combo box of drawables (``(drawable, text)`` entries, "(none)" first) that writes the
    drawable argument ``prop``; it follows the argument (Reset)."""

    def __init__(self, config, prop, text, entries):
        self.config, self.prop = config, prop
        self.combo = Gtk.ComboBoxText()
        self.combo.append("", NONE)
        for drawable, label in entries:
            self.combo.append(str(drawable.get_id()), label)
        self.show()
        self.combo.connect("changed", self.picked)
        config.connect("notify::" + prop, lambda *_: self.show())
        self.row = _row(text, self.combo)

    def show(self):
        current = self.config.get_property(self.prop)
        wanted = str(current.get_id()) if current is not None and current.is_valid() else ""
        if self.combo.get_active_id() != wanted and not self.combo.set_active_id(wanted):
            self.combo.set_active_id("")  # a drawable of an image closed since

    def picked(self, widget):
        chosen = widget.get_active_id() or ""
        drawable = Gimp.Item.get_by_id(int(chosen)) if chosen else None
        if self.config.get_property(self.prop) != drawable:
            self.config.set_property(self.prop, drawable)


def layer_entries(image):
    """Every layer of every open image, this image's first, named for a list."""
    entries = [(layer, layer.get_name()) for layer in guides.all_layers(image)]
    for other in Gimp.get_images():
        if other != image:
            name = other.get_name()
            entries += [
                (layer, "%s: %s" % (name, layer.get_name())) for layer in guides.all_layers(other)
            ]
    return entries


def map_entries(image):
    """This image's layers and channels, for the strength map."""
    channels = [(c, "%s (channel)" % c.get_name()) for c in image.get_channels()]
    return [(layer, layer.get_name()) for layer in guides.all_layers(image)] + channels


class SizeCap:
    """*Limit the size* and *Long edge at most* (aux arguments) written into ``size`` (0: the
    layer's own size), so the dialog never shows a bare 0."""

    def __init__(self, config):
        self.config = config
        size = config.get_property("size")
        if size > 0:
            config.set_property("size-cap", max(size, 16))
        config.set_property("limit-size", size > 0)
        for name in ("limit-size", "size-cap"):
            config.connect("notify::" + name, self.changed)
        config.connect("notify::size", self.loaded)

    def changed(self, *_):
        limited = self.config.get_property("limit-size")
        size = self.config.get_property("size-cap") if limited else 0
        if self.config.get_property("size") != size:
            self.config.set_property("size", size)

    def loaded(self, *_):
        """``size`` changed by itself (Reset, Load Saved Settings): show it."""
        size = self.config.get_property("size")
        if size > 0 and self.config.get_property("size-cap") != max(size, 16):
            self.config.set_property("size-cap", max(size, 16))
        if self.config.get_property("limit-size") != (size > 0):
            self.config.set_property("limit-size", size > 0)


class Dialog:
    """The dialog's state: the widgets GIMP's procedure dialog does not make, the library
    once the service answered, and what the preview asks for (``compose``)."""

    def __init__(self, procedure, config, image, drawables, area_of, library_class, title):
        self.config, self.image = config, image
        self.drawable = drawables[0] if len(drawables) == 1 else None
        self.open = True
        self.names = []  # the library's style names, once known
        self.masks = {}  # drawable id -> grey bytes at the preview's size
        self.dialog = GimpUi.ProcedureDialog.new(procedure, config, title)
        for name in ("region-styles", "region-masks"):  # scripts' regions: the dialog has its own
            config.set_property(name, [])
        self.size_cap = SizeCap(config)
        self.style_library = LibraryCombo(config, "style", "Style li_brary")
        self.blend_library = LibraryCombo(config, "blend-style", "Second style from the library")
        entries = layer_entries(image)
        self.style_layer = DrawableCombo(config, "style-layer", "Style _layer", entries)
        self.blend_layer = DrawableCombo(config, "blend-layer", "Second style layer", entries)
        self.strength_map = DrawableCombo(
            config, "strength-map", "Stren_gth map", map_entries(image)
        )
        self.regions_note = Gtk.Label()
        self.regions_note.set_line_wrap(True)
        self.regions_note.set_max_width_chars(48)
        self.regions_note.set_xalign(0.0)
        self.regions_note.show()
        self.source = nst_gimp_preview.read_source(drawables, area_of)
        self.area, mask = None, None
        if not isinstance(self.source, Exception):  # then the area is known to be fine
            self.area = area_of(self.drawable)
            mask = nst_gimp_preview.selection_mask(image, self.drawable, self.area, self.source)
        self.preview = nst_gimp_preview.Preview(config, self.source, mask, self.compose)
        self.lay_out()
        for name in ("style-layer", "blend-layer", "blend-style", "channel-regions"):
            config.connect("notify::" + name, self.refresh)
        config.connect("notify::style-file", self.file_chosen)
        self.refresh()
        self.library = library_class(self.library_done)

    # ------------------------------------------------------------------ layout

    def lay_out(self):
        """The style at the top, how it looks, the engine and size, then the blend and the
        regions in expanders; the preview at the right."""
        d = self.dialog
        for name in ("strength", "brush-size", "blend"):
            d.get_spin_scale(name, 100.0).set_digits(0)  # in per cent, typed or dragged
        cap = d.get_spin_scale("size-cap", 1.0)
        cap.set_gamma(3.0)  # a long range: fine steps for small sizes
        d.get_widget("engine", Gtk.ComboBox.__gtype__)
        d.get_widget("quality", Gtk.ComboBox.__gtype__)
        style = d.fill_box("style-box", ["style", "style-file"])
        _insert(style, self.style_library.row, 0)
        _insert(style, self.style_layer.row, 3)
        colours = d.fill_box("colours-box", ["match-colors", "preserve-colors"])
        colours.set_orientation(Gtk.Orientation.HORIZONTAL)
        colours.set_spacing(12)
        d.fill_frame("size-frame", "limit-size", False, "size-cap")
        blend = d.fill_box("blend-box", ["blend-style", "blend"])
        _insert(blend, self.blend_library.row, 0)
        _insert(blend, self.blend_layer.row, 2)
        d.get_label("blend-title", "Blend with a second style", False, False)
        self.blend_expander = d.fill_expander("blend-expander", "blend-title", False, "blend-box")
        place = d.fill_box("regions-box", ["channel-regions"])
        _insert(place, self.regions_note, 1)
        _insert(place, self.strength_map.row, 2)
        d.get_label("regions-title", "Regions and strength map", False, False)
        self.regions_expander = d.fill_expander(
            "regions-expander", "regions-title", False, "regions-box"
        )
        fields = d.fill_box(
            "nst-fields",
            [
                "style-box",
                "strength",
                "brush-size",
                "colours-box",
                "quality",
                "engine",
                "size-frame",
                "blend-expander",
                "regions-expander",
            ],
        )
        columns = d.fill_box("nst-columns", ["nst-fields"])
        columns.set_orientation(Gtk.Orientation.HORIZONTAL)
        columns.set_spacing(12)
        columns.set_child_packing(fields, True, True, 0, Gtk.PackType.START)
        columns.pack_start(self.preview.widget, False, False, 0)
        d.fill(["nst-columns"])
        d.set_default_size(800, -1)  # the fields get what the preview leaves
        c = self.config
        self.blend_expander.set_expanded(
            bool(c.get_property("blend-layer") or guides.second_text(c))
        )
        self.regions_expander.set_expanded(
            bool(c.get_property("channel-regions") or c.get_property("strength-map"))
        )

    # ------------------------------------------------------------------ reactions

    def refresh(self, *_):
        """What applies: regions replace the style and the blend; a style layer the typed
        style; the blend share needs a second style."""
        c, d = self.config, self.dialog
        regions_on = c.get_property("channel-regions")
        by_layer = c.get_property("style-layer") is not None
        for widget in (self.style_library.row, d.get_widget("style", GObject.TYPE_NONE)):
            widget.set_sensitive(not regions_on and not by_layer)
        d.get_widget("style-file", GObject.TYPE_NONE).set_sensitive(not regions_on and not by_layer)
        self.style_layer.row.set_sensitive(not regions_on)
        self.blend_expander.set_sensitive(not regions_on)
        second_layer = c.get_property("blend-layer") is not None
        for widget in (self.blend_library.row, d.get_widget("blend-style", GObject.TYPE_NONE)):
            widget.set_sensitive(not second_layer)
        second = second_layer or bool(guides.second_text(c))
        d.get_widget("blend", GObject.TYPE_NONE).set_sensitive(second)
        self.regions_note.set_text(self.regions_text())

    def regions_text(self):
        if not self.config.get_property("channel-regions"):
            return (
                "Off. Save selections as channels named after styles (e.g. starry_night, a "
                "layer's name or a file's path) to give each area its own style."
            )
        pairs = guides.channel_regions(self.image, self.names)
        if not pairs:
            return guides.no_channel_regions(self.names)
        return "Each channel named after a style gets it: %s. They replace the style above." % (
            ", ".join(text for text, _ in pairs)
        )

    def file_chosen(self, config, _pspec):
        chosen = config.get_property("style-file")
        if chosen is not None and chosen.get_path():
            config.set_property("style", chosen.get_path())
            config.set_property("style-layer", None)

    def library_done(self):
        """The library thread connected (or could not): fill the combos, start the preview."""
        if not self.open:
            return False
        lib = self.library
        self.names = styles.style_names(lib.styles)
        self.preview.service_ready(lib.client, lib.engines, lib.error)
        self.style_library.fill(self.names, lib.error)
        self.blend_library.fill(self.names, lib.error)
        if lib.engines:
            suggested = engines.suggested(lib.engines)
            self.dialog.get_widget("engine", GObject.TYPE_NONE).set_tooltip_text(
                "Suggested for this computer: %s." % engines.label(suggested or "none")
            )
            if engines.unavailable(lib.engines, engines.QUICK):
                pspec = self.config.find_property("engine")
                Gimp.param_spec_choice_get_choice(pspec).set_sensitive(engines.QUICK, False)
        self.refresh()
        return False

    # ------------------------------------------------------------------ the preview's request

    def compose(self):
        """``(key, request)`` of a preview of the dialog's values (main thread): the key tells
        requests apart, the request is what the preview's job sends. Raises PluginError."""
        c = self.config
        render = Choices(
            strength=c.get_property("strength"),
            preserve_colors=c.get_property("preserve-colors"),
            brush=c.get_property("brush-size"),
            match_colors=c.get_property("match-colors"),
        )
        ids = []
        edge = preview.EDGE
        style, masks = None, None
        if c.get_property("channel-regions"):
            pairs = guides.channel_regions(self.image, self.names)
            if not pairs:
                raise PluginError(guides.no_channel_regions(self.names))
            found = [
                (guides.style_for(text, self.image, edge), guides.checked_mask(m, self.mask(m), n))
                for n, (text, m) in enumerate(pairs, 1)
            ]
            regions.check(found)
            w, h = self.source[:2]
            style, masks = regions.styles_and_masks(found, w, h)
            label = regions.label(found)
            ids = [(text, m.get_id()) for text, m in pairs]
        else:
            layer = c.get_property("style-layer")
            if layer is not None:
                style = guides.layer_style(layer, edge)
                ids.append(layer.get_id())
            else:
                style = guides.style_for(c.get_property("style"), self.image, edge)
            label = style["label"]
            second = guides.blend_style(c, self.image, edge)
            if second is not None:
                style = [style, second]
                render = render.with_(blend=c.get_property("blend"))
                label = regions.label([(style[0], None), (second, None)])
                ids.append(second.get("name") or second.get("path") or second["label"])
        strength_map = c.get_property("strength-map")
        map_png = None
        if strength_map is not None:
            map_png = regions.mask_png(*self.source[:2], self.mask(strength_map))
            ids.append(("map", strength_map.get_id()))
        key = (label, render, tuple(ids), c.get_property("style"))
        return key, {"style": style, "render": render, "masks": masks, "map": map_png}

    def mask(self, drawable):
        """A channel's or layer's grey over the area at the preview's size (kept while the
        dialog is open)."""
        if drawable.get_id() not in self.masks:
            box = guides.image_box(self.drawable, self.area)
            self.masks[drawable.get_id()] = guides.grey_over(drawable, box, self.source[:2])
        return self.masks[drawable.get_id()]

    # ------------------------------------------------------------------ run

    def run(self):
        """Show the dialog until OK or Cancel; returns whether OK was pressed."""
        self.library.start()
        heartbeat = GLib.timeout_add_seconds(HEARTBEAT_S, self.library.beat)
        try:
            return self.dialog.run()
        finally:
            GLib.source_remove(heartbeat)
            self.open = False
            self.preview.close()
            self.dialog.destroy()


def show_dialog(
    procedure, config, image, drawables, area_of, library_class, title="Neural Style Transfer"
):
    """The procedure dialog; returns ``(ok, library)``. ``area_of(drawable)``: the area a job
    processes (it may raise: the preview then says why); ``title``: the window's."""
    GimpUi.init("nst-stylize")
    dialog = Dialog(procedure, config, image, drawables, area_of, library_class, title)
    ok = dialog.run()
    return ok, dialog.library
