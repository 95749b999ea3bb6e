#!/usr/bin/env python3
"""GIMP 3 plug-in: Filters > Artistic > Neural Style Transfer... (PDB: plug-in-nst-stylize)
and Neural Style Frames... (plug-in-nst-stylize-frames, ``nst_gimp_frames.py``: the image's
layers as an animation's frames, stylized into a new layer group).

Sends the active layer (or the bounds of the selection plus a margin) to the local nst
service, shows its progress, and adds the result as a new layer above the source in one undo
step; a selection becomes the new layer's mask. The style is a library name, a file or a
layer, or two of them blended; regions (a style per channel or layer) and a strength map
direct it (``nst_gimp_guides.py`` reads them from GIMP). The dialog (``nst_gimp_dialog.py``)
shows a quick preview made with the fast engine (``nst_gimp_preview.py``). Installed by
``nst install-host gimp`` as ``plug-ins/nst-stylize/`` with those modules, ``hostkit/`` (a
copy of nst_plugin/hostkit, the logic it shares with the Krita plug-in) and ``nst-host.json``
beside it. Standard library, GObject introspection and those files only.

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
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp, GLib, GObject  # noqa: E402

import nst_gimp_frames as frames  # noqa: E402
import nst_gimp_guides as guides  # noqa: E402
import nst_gimp_recipes as recipes  # noqa: E402
from hostkit import discovery, engines, regions, styles  # noqa: E402
from hostkit.areas import area_to_process  # noqa: E402
from hostkit.choices import (  # noqa: E402
    MAX_BRUSH,
    MIN_BRUSH,
    Choices,
    output_size,
    parse_extra_options,
)
from hostkit.errors import PluginError, ServiceError, error_sentence  # noqa: E402
from hostkit.jobs import ServiceJob  # noqa: E402
from hostkit.naming import layer_name  # noqa: E402
from hostkit.png import decode_png, to_rgba  # noqa: E402
from hostkit.progress import progress_fraction, progress_text  # noqa: E402

PROCEDURE = "plug-in-nst-stylize"
PIXELS = "R'G'B'A u8"  # babl converts from and to grey, 16-bit and float layers
RW = GObject.ParamFlags.READWRITE
LOG = "GIMP's error console"
SUGGESTED = "suggested"  # the engine choice that lets the service suggest one


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
        """Tell the service the dialog still uses it (the dialog's GLib timeout)."""
        if self.client is None:
            return True
        client = self.client
        threading.Thread(target=lambda: _quietly(client.health), daemon=True).start()
        return True


def _quietly(call):
    with contextlib.suppress(Exception):
        call()


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


def add_result_layer(image, drawable, area, result, name, masked, recipe=None):
    """The result as a new layer above ``drawable`` over ``area``, with its ``recipe``, all
    in one undo group."""
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
        if recipe is not None:
            recipes.attach(layer, recipe)
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


def engine_name(config, info, extra):
    """The engine to render with: one named in the options, else the dialog's choice (the
    service's suggestion for this machine by default)."""
    named = extra.pop("engine", None)
    if named:
        return str(named)
    chosen = config.get_property("engine")
    return engines.suggested(info) if chosen == SUGGESTED else chosen


def choices(config, info):
    """The dialog's (or the caller's) settings as the host kit's Choices."""
    extra = parse_extra_options(config.get_property("options"))
    return Choices(
        strength=config.get_property("strength"),
        size=config.get_property("size") or None,
        quality=config.get_property("quality") if engines.quality_choices(info) else None,
        preserve_colors=config.get_property("preserve-colors"),
        engine=engine_name(config, info, extra),
        brush=config.get_property("brush-size"),
        match_colors=config.get_property("match-colors"),
        extra=extra,
    )


def region_pairs(config, image, known):
    """``[(style text, mask drawable)]``: the regions given as arguments, else (with
    *channel-regions*) the image's channels named after a style; [] for none."""
    texts = config.get_property("region-styles") or []
    masks = config.get_property("region-masks") or []
    if texts or masks:
        return guides.pair_up(image, texts, masks)
    if not config.get_property("channel-regions"):
        return []
    pairs = guides.channel_regions(image, known())
    if not pairs:
        raise PluginError(guides.no_channel_regions(known()))
    return pairs


def what_to_send(config, image, box, known, edge):
    """``(style, style masks, blend share, label, mask drawables)`` of the job: regions, a
    blend of two styles, or one style (a layer, a file or a library name)."""
    pairs = region_pairs(config, image, known)
    second = guides.blend_style(config, image, edge)
    if pairs:
        if second is not None:
            raise PluginError(
                "Regions place each style and a blend mixes two everywhere; clear the second "
                "style or switch the regions off."
            )
        found = guides.regions_from(pairs, image, box, edge)
        style, masks = regions.styles_and_masks(found, box[2], box[3])
        return style, masks, None, regions.label(found), [mask for _, mask in pairs]
    layer = config.get_property("style-layer")
    if layer is not None:
        style = guides.layer_style(layer, edge)
    else:
        style = guides.style_for(config.get_property("style"), image, edge)
    if second is None:
        return style, None, None, style["label"], []
    label = regions.label([(style, None), (second, None)])
    return [style, second], None, config.get_property("blend"), label, []


def strength_map(config, box):
    """The strength map's grey over ``box`` as a PNG, or None."""
    drawable = config.get_property("strength-map")
    if drawable is None:
        return None
    if not drawable.is_valid():
        raise PluginError("The strength map's layer or channel is gone; choose it again.")
    return regions.mask_png(box[2], box[3], guides.grey_over(drawable, box))


def job_parts(config, image, box, library=None):
    """``(service, choices, style, style masks, label, mask drawables)`` of a job over ``box``
    (image coordinates): the service connected, the settings and the styles read."""
    service = library.service() if library is not None else connect_service()
    info = (library.engines if library is not None else None) or service.engines()
    chosen = choices(config, info)
    edge = guides.style_edge(output_size(box[2], box[3], chosen.size), chosen.brush)

    def known():
        found = library.styles if library is not None and library.styles else service.styles()
        return styles.style_names(found)

    style, masks, blend, label, mask_items = what_to_send(config, image, box, known, edge)
    if blend is not None:
        chosen = chosen.with_(blend=blend)
    return service, chosen, style, masks, label, mask_items


def stylize(image, drawables, config, library=None):
    """Do the job; raises PluginError / ServiceError (one sentence) on failure, the image
    untouched."""
    if len(drawables) != 1:
        raise PluginError("Select exactly one layer to stylize.")
    drawable = drawables[0]
    parse_extra_options(config.get_property("options"))  # a typo fails before any work
    area, masked = source_area(image, drawable)
    box = guides.image_box(drawable, area)

    Gimp.progress_init("Reading the layer")
    service, chosen, style, masks, label, mask_items = job_parts(config, image, box, library)
    pixels = drawable.get_buffer().get(
        Gegl.Rectangle.new(*area), 1.0, PIXELS, Gegl.AbyssPolicy.CLAMP
    )
    job = ServiceJob(
        service,
        (area[2], area[3], pixels, "RGBA"),
        style,
        chosen,
        style_masks=masks,
        strength_map=strength_map(config, box),
    )
    png = job.run(progress)
    name = layer_name(label, chosen.strength, job.engine)
    shown = config.get_property("strength-map")
    recipe = recipes.make(job, chosen, drawable, area, masked, mask_items, shown)

    Gimp.progress_set_text("Adding the layer")
    width, height, mode, pixels = decode_png(png)
    result = (width, height, to_rgba(mode, pixels))
    layer = add_result_layer(image, drawable, area, result, name, masked, recipe)
    Gimp.progress_update(1.0)
    Gimp.progress_end()
    Gimp.displays_flush()
    return layer


def stylize_frames(image, config, library=None):
    """The image's layers as an animation's frames, stylized into a new layer group."""

    def prepare(box):
        service, chosen, style, masks, label, _ = job_parts(config, image, box, library)
        return service, chosen, style, masks, strength_map(config, box), label

    return frames.stylize_frames(image, prepare, progress)


def failure(procedure, message):
    error = GLib.Error.new_literal(Gimp.PlugIn.error_quark(), message, 0)
    return procedure.new_return_values(Gimp.PDBStatusType.EXECUTION_ERROR, error)


def outcome(procedure, work):
    """GIMP's return values of ``work()``: success, or the one sentence of what went wrong."""
    try:
        work()
    except (PluginError, ServiceError) as exc:
        return failure(procedure, error_sentence(exc, LOG))
    except Exception as exc:  # a bug: GIMP gets a status and one sentence, the log the rest
        traceback.print_exc()
        return failure(procedure, error_sentence(exc, LOG))
    finally:
        with contextlib.suppress(Exception):
            Gimp.progress_end()
    return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


def run(procedure, run_mode, image, drawables, config, data):
    library = None
    if config.get_property("from-recipe"):
        try:
            drawables = [recipes.settings_from(config, image, drawables)]
        except (PluginError, ServiceError) as exc:
            return failure(procedure, error_sentence(exc, LOG))
    if run_mode == Gimp.RunMode.INTERACTIVE:
        import nst_gimp_dialog

        def area_of(drawable):
            return source_area(image, drawable)[0]

        ok, library = nst_gimp_dialog.show_dialog(
            procedure, config, image, drawables, area_of, Library
        )
        if not ok:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return outcome(procedure, lambda: stylize(image, drawables, config, library))


def run_frames(procedure, run_mode, image, drawables, config, data):
    """The frames procedure: the dialog (its preview shows the first frame), then the job."""
    try:
        first = frames.frame_layers(image)[0]
    except PluginError as exc:
        return failure(procedure, error_sentence(exc, LOG))
    library = None
    if run_mode == Gimp.RunMode.INTERACTIVE:
        import nst_gimp_dialog

        ok, library = nst_gimp_dialog.show_dialog(
            procedure, config, image, [first], frames.whole_layer, Library, "Neural Style Frames"
        )
        if not ok:
            return procedure.new_return_values(Gimp.PDBStatusType.CANCEL, GLib.Error())
    return outcome(procedure, lambda: stylize_frames(image, config, library))


# ------------------------------------------------------------------------------- registration


class NstStylize(Gimp.PlugIn):
    def do_set_i18n(self, name):
        return False

    def do_query_procedures(self):
        return [PROCEDURE, frames.PROCEDURE]

    def do_create_procedure(self, name):
        animation = name == frames.PROCEDURE
        work = run_frames if animation else run
        procedure = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, work, None)
        procedure.set_image_types("RGB*, GRAY*")
        if animation:
            frames.describe(procedure)
        else:
            procedure.set_sensitivity_mask(Gimp.ProcedureSensitivityMask.DRAWABLE)
            procedure.set_menu_label("Neural Style Transfer...")
            procedure.add_menu_path("<Image>/Filters/Artistic")
            procedure.set_documentation(
                "Paint the layer in the style of a painting (neural style transfer)",
                "Sends the layer, or the selection's bounds plus a margin, to the local nst "
                "service and adds the stylized result as a new layer above it (one undo step); "
                "a selection becomes the new layer's mask. 'style' is a name from the "
                "service's style library or the path of an image file.",
                name,
            )
        procedure.set_attribution("nst-plugin", "nst-plugin authors", "2025")
        procedure.add_string_argument(
            "style",
            "St_yle",
            "A style library name, the path of a style image file, or a layer's name",
            "",
            RW,
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
        procedure.add_layer_argument(
            "style-layer",
            "Style _layer",
            "A layer (of any open image) as the style; it wins over 'style'",
            True,
            RW,
        )
        procedure.add_double_argument(
            "strength",
            "S_trength",
            "0 gives the layer back, 0.5 (50 %) the standard look, 1 the strongest style",
            0.0,
            1.0,
            0.5,
            RW,
        )
        procedure.add_double_argument(
            "brush-size",
            "Br_ush size",
            "The painting's brush strokes at this size: 1 (100 %) as painted, 0.25 to 4",
            MIN_BRUSH,
            MAX_BRUSH,
            1.0,
            RW,
        )
        procedure.add_boolean_argument(
            "match-colors",
            "_Match colors",
            "Recolour the painting to the layer's colours first",
            False,
            RW,
        )
        procedure.add_boolean_argument(
            "preserve-colors",
            "_Preserve colors",
            "Stylize the luminance only and keep the layer's colours",
            False,
            RW,
        )
        quality = Gimp.Choice.new()
        for number, (nick, text) in enumerate(engines.QUALITIES):
            quality.add(nick, number, text, "")
        procedure.add_choice_argument(
            "quality",
            "_Quality",
            "A preset of iterations for the detailed engine: draft, good or best",
            quality,
            "good",
            RW,
        )
        engine = Gimp.Choice.new()
        engine.add(SUGGESTED, 0, "Suggested for this computer", "Detailed with a GPU, else Quick")
        for number, name in enumerate((engines.QUICK, "vgg19"), 1):
            engine.add(name, number, engines.label(name), "The %s engine" % name)
        procedure.add_choice_argument(
            "engine",
            "_Engine",
            "suggested (the service's choice for this computer), fast (seconds) or vgg19 "
            "(minutes); 'options' may name another engine",
            engine,
            SUGGESTED,
            RW,
        )
        procedure.add_int_argument(
            "size",
            "Size",
            "A cap on the long edge stylized, in pixels (the result is scaled to fit the "
            "area); 0 = the area's own size",
            0,
            16384,
            0,
            RW,
        )
        procedure.add_boolean_aux_argument(
            "limit-size",
            "Limit the si_ze (off: the layer's own size)",
            "Stylize at a smaller size (faster; the result is scaled up to fit)",
            False,
            RW,
        )
        procedure.add_int_aux_argument(
            "size-cap",
            "Long e_dge at most (px)",
            "The long edge to stylize at",
            16,
            16384,
            1024,
            RW,
        )
        procedure.add_string_argument(
            "blend-style",
            "Seco_nd style",
            "A second style to blend with the first: a library name, a file path or a layer's name",
            "",
            RW,
        )
        procedure.add_layer_argument(
            "blend-layer",
            "Second style layer",
            "A layer as the second style; it wins over 'blend-style'",
            True,
            RW,
        )
        procedure.add_double_argument(
            "blend",
            "Blend _amount",
            "The second style's share of the blend: 0 to 1 (0.3 is 30 %)",
            0.0,
            1.0,
            0.5,
            RW,
        )
        procedure.add_boolean_argument(
            "channel-regions",
            "Regions _from channels named after styles",
            "Each channel of the image named after a style (a library name, a layer's name "
            "or a file path) is that style's region; the photo shows where none covers it",
            False,
            RW,
        )
        procedure.add_string_array_argument(
            "region-styles",
            "Region styles",
            "For scripts: one style per region mask, in order (a library name, a file path or "
            "a layer's name)",
            RW,
        )
        procedure.add_string_array_argument(
            "region-masks",
            "Region masks",
            "For scripts: the name of a channel (or else a layer) of the image per region "
            "style, in order (white: that style)",
            RW,
        )
        procedure.add_drawable_argument(
            "strength-map",
            "Stren_gth map",
            "A layer or channel: black keeps the photo, white is full strength",
            True,
            RW,
        )
        if not animation:  # a recipe makes one layer again
            procedure.add_boolean_argument(
                "from-recipe",
                "From the result's _recipe",
                "On a result layer: its recipe's settings and source layer, changed by 'options' "
                '(e.g. {"strength": 0.3}); the new result is a new layer',
                False,
                RW,
            )
        procedure.add_string_argument(
            "options",
            "More options (JSON)",
            'For scripts: a JSON object of any further option, e.g. {"style_weight": 20}',
            "{}",
            RW,
        )
        return procedure


Gimp.main(NstStylize.__gtype__, sys.argv)
