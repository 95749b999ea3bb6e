"""Stylize frames: the image's layers as an animation's frames, stylized as one job of the nst
service (each frame linked to the one before along the optical flow, so they do not flicker)
and added as a new layer group on top of the image, in one undo step.

GIMP's animation convention: every top-level layer is a frame, the bottom one first, hidden
ones too (Filters > Animation > Playback and GIF export take them so). Layer groups are not
frames here: skipping them keeps an earlier result group out. Each frame is read at the
image's size, a smaller or offset layer where it sits on the canvas with transparency around
it; its layer mask and opacity are not applied. Each new frame layer is named after its source,
keeping GIMP's frame tags ("(100ms)", "(combine)", "(replace)"), and is hidden or shown as its
source is. The user's layers are only read.
"""

from __future__ import annotations

import re

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl, Gimp  # noqa: E402

from hostkit.errors import PluginError  # noqa: E402
from hostkit.jobs import ServiceJob  # noqa: E402
from hostkit.naming import ENGINE_MARK, layer_name  # noqa: E402
from hostkit.png import decode_png, to_rgba  # noqa: E402

PROCEDURE = "plug-in-nst-stylize-frames"
PIXELS = "R'G'B'A u8"  # babl converts from and to grey, 16-bit and float layers
FRAME_TAG = re.compile(r"\(\s*(?:\d+\s*ms|combine|replace)\s*\)", re.IGNORECASE)
MARK = "stylized"  # between a source frame's name and its tags in the new frame's name
TOO_FEW = (
    "The image has %s outside layer groups, but an animation needs a layer per frame, at "
    "least two, the bottom one playing first; add them, or stylize a single layer with "
    "Filters > Artistic > Neural Style Transfer."
)


# ------------------------------------------------------------------------------- the frames


def frame_layers(image: Gimp.Image) -> list:
    """The image's frames in playing order (its top-level layers, bottom first, groups
    skipped); one sentence for fewer than two."""
    frames = [layer for layer in reversed(image.get_layers()) if not layer.is_group()]
    if len(frames) < 2:
        raise PluginError(TOO_FEW % ("one layer" if frames else "no layer"))
    return frames


def whole_layer(layer: Gimp.Layer) -> tuple:
    """``(0, 0, width, height)``: the area of ``layer`` the dialog's preview shows."""
    return 0, 0, layer.get_width(), layer.get_height()


def read_frame(layer: Gimp.Layer, width: int, height: int) -> tuple:
    """``(width, height, RGBA bytes, "RGBA")``: ``layer`` over the image's canvas of that size,
    where it sits (its offsets), transparent where it does not reach."""
    _, ox, oy = layer.get_offsets()
    rect = Gegl.Rectangle.new(-ox, -oy, width, height)
    pixels = layer.get_buffer().get(rect, 1.0, PIXELS, Gegl.AbyssPolicy.NONE)
    return width, height, bytes(pixels), "RGBA"


def frame_name(source: str) -> str:
    """A new frame's name: its source's, marked, GIMP's frame tags kept at the end, e.g.
    ``Frame 2 (100ms) (replace)`` -> ``Frame 2 · stylized (100ms) (replace)``."""
    tags = FRAME_TAG.findall(source)
    stem = " ".join(FRAME_TAG.sub(" ", source).split()) or "frame"
    return " ".join([stem + ENGINE_MARK + MARK, *tags])


def group_name(label: str, strength: float, engine: str, count: int) -> str:
    """The new group's name: like a result layer's, with the number of frames."""
    return "%s%s%d frames" % (layer_name(label, strength, engine), ENGINE_MARK, count)


# ------------------------------------------------------------------------------- the result


def add_frames(image: Gimp.Image, name: str, sources: list, results: list) -> Gimp.GroupLayer:
    """A new layer group ``name`` on top of the image holding a layer per result
    (``(width, height, RGBA bytes)``, scaled to the image's size), in the order of
    ``sources`` (the first frame at the bottom); one undo group, nothing left on failure."""
    width, height = image.get_width(), image.get_height()
    grey = image.get_base_type() == Gimp.ImageBaseType.GRAY
    kind = Gimp.ImageType.GRAYA_IMAGE if grey else Gimp.ImageType.RGBA_IMAGE
    image.undo_group_start()
    group = None
    try:
        group = Gimp.GroupLayer.new(image, name)
        image.insert_layer(group, None, 0)
        for source, (w, h, rgba) in zip(sources, results):
            layer = Gimp.Layer.new(
                image, frame_name(source.get_name()), w, h, kind, 100.0, Gimp.LayerMode.NORMAL
            )
            image.insert_layer(layer, group, 0)  # above the frames before it
            buffer = layer.get_buffer()
            buffer.set(Gegl.Rectangle.new(0, 0, w, h), PIXELS, rgba)
            buffer.flush()
            if (w, h) != (width, height):  # "size" asked for another resolution: fit
                layer.scale(width, height, True)
            layer.set_offsets(0, 0)
            layer.set_visible(source.get_visible())
            layer.update(0, 0, width, height)
    except Exception:
        if group is not None and group.is_valid():
            image.remove_layer(group)
        raise
    finally:
        image.undo_group_end()
    return group


def decoded(png: bytes) -> tuple:
    """``(width, height, RGBA bytes)`` of a result PNG."""
    width, height, mode, pixels = decode_png(png)
    return width, height, to_rgba(mode, pixels)


# ------------------------------------------------------------------------------- the job


def stylize_frames(image: Gimp.Image, prepare, emit) -> Gimp.GroupLayer:
    """Stylize the image's frames as one job and add them as a new group; returns it.

    ``prepare(box)`` gives the job's ``(service, choices, style, style masks, strength map,
    label)`` over ``box`` (the whole canvas); ``emit(event)`` shows its progress. Raises
    PluginError / ServiceError (one sentence), the image untouched."""
    sources = frame_layers(image)
    width, height = image.get_width(), image.get_height()
    Gimp.progress_init("Reading %d frames" % len(sources))
    service, chosen, style, masks, strength_map, label = prepare((0, 0, width, height))
    frames = [read_frame(layer, width, height) for layer in sources]
    job = ServiceJob(
        service,
        frames[0],
        style,
        chosen,
        style_masks=masks,
        strength_map=strength_map,
        frames=frames,
    )
    pngs = job.run(emit)
    Gimp.progress_set_text("Adding the frames")
    results = [decoded(png) for png in pngs]
    name = group_name(label, chosen.strength, job.engine, len(sources))
    group = add_frames(image, name, sources, results)
    Gimp.progress_update(1.0)
    Gimp.displays_flush()
    return group


# ------------------------------------------------------------------------------- registration


def describe(procedure: Gimp.ImageProcedure) -> None:
    """The frames procedure's menu entries, documentation and when it can run (any image,
    whatever layers are selected)."""
    mask = Gimp.ProcedureSensitivityMask
    procedure.set_sensitivity_mask(mask.DRAWABLE | mask.DRAWABLES | mask.NO_DRAWABLES)
    procedure.set_menu_label("Neural Style Frames...")
    procedure.add_menu_path("<Image>/Filters/Artistic")
    procedure.add_menu_path("<Image>/Filters/Animation")
    procedure.set_documentation(
        "Paint the image's layers, as an animation's frames, in the style of a painting",
        "Takes the image's top-level layers as frames (the bottom one first, layer groups "
        "skipped), sends them to the local nst service as one job, each frame following the "
        "one before so that they do not flicker, and adds the stylized frames as a new layer "
        "group on top of the image (one undo step), each named after its frame with its "
        "timing and combine or replace tags. 'style' is a name from the service's style "
        "library, the path of an image file or a layer's name.",
        PROCEDURE,
    )
