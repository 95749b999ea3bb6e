"""What the artist directs, read from GIMP: a layer as the style, regions (a style per channel
or layer) and the strength map, over the area a job processes.

GIMP's API only (no GTK), so the procedure and the dialog's preview both use it, on the main
thread. Masks are 8-bit grey over the job's area, in the host kit's terms
(:mod:`hostkit.regions`): layers by their green channel and alpha, channels and layer masks
by their own values; what lies outside a mask's drawable counts as black.
"""

import math

import gi

gi.require_version("Gimp", "3.0")
gi.require_version("Gegl", "0.4")
from gi.repository import Gegl  # noqa: E402

from hostkit import regions, styles  # noqa: E402
from hostkit.errors import PluginError  # noqa: E402

RGBA = "R'G'B'A u8"
GREY = "Y u8"  # a channel's own values: a selection's coverage, linear


def image_box(drawable, area):
    """``area`` (x, y, w, h) of ``drawable`` in image coordinates."""
    _, ox, oy = drawable.get_offsets()
    x, y, w, h = area
    return ox + x, oy + y, w, h


def grey_over(drawable, box, size=None):
    """The 8-bit grey of ``drawable`` over ``box`` (x, y, w, h in image coordinates), a byte a
    pixel, at ``size`` (w, h; None: the box's own)."""
    _, ox, oy = drawable.get_offsets()
    x, y, w, h = box
    width, height = size or (w, h)
    scale = float(width) / max(w, 1)
    rect = Gegl.Rectangle.new(round((x - ox) * scale), round((y - oy) * scale), width, height)
    layer = drawable.is_layer()
    fmt = RGBA if layer else GREY
    pixels = drawable.get_buffer().get(rect, scale, fmt, Gegl.AbyssPolicy.NONE)
    return regions.grey(width, height, bytes(pixels), "RGBA" if layer else "L")


def layer_pixels(layer, edge=None):
    """``(width, height, RGBA bytes)`` of the whole ``layer``, scaled down to ``edge`` pixels
    on the long edge when it is larger."""
    w, h = layer.get_width(), layer.get_height()
    scale = min(1.0, float(edge) / max(w, h)) if edge else 1.0
    width, height = max(1, round(w * scale)), max(1, round(h * scale))
    rect = Gegl.Rectangle.new(0, 0, width, height)
    pixels = layer.get_buffer().get(rect, width / float(w), RGBA, Gegl.AbyssPolicy.CLAMP)
    return width, height, bytes(pixels)


def layer_style(layer, edge=None):
    """A layer as a style dict of the host kit (its pixels, at most ``edge`` on the long
    edge), labelled with its name."""
    if layer is None or not layer.is_valid():
        raise PluginError("The style layer is gone; choose another layer as the style.")
    width, height, pixels = layer_pixels(layer, edge)
    return {
        "pixels": (width, height, pixels, "RGBA"),
        "label": layer.get_name() or "layer",
        "layer": str(layer.get_tattoo()),
    }


def style_edge(output_edge, brush):
    """How many pixels a style layer needs on its long edge: the output's, over the brush
    size (bigger brush strokes come from a smaller painting)."""
    return math.ceil(output_edge / min(1.0, float(brush or 1.0)))


def all_layers(image):
    """Every layer of ``image``, groups and their children included, top to bottom."""
    found = []

    def walk(layers):
        for layer in layers:
            found.append(layer)
            if layer.is_group():
                walk(layer.get_children())

    walk(image.get_layers())
    return found


def layer_named(image, name):
    """The first layer of ``image`` called ``name``, or None."""
    return next((layer for layer in all_layers(image) if layer.get_name() == name), None)


def style_for(text, image, edge=None):
    """The style a region or a blend names: a file path, a layer of ``image`` by its name, or a
    name from the style library."""
    text = (text or "").strip()
    if text and not styles.looks_like_path(text):
        layer = layer_named(image, text)
        if layer is not None:
            return layer_style(layer, edge)
    return styles.style_from_text(text)


def names_a_style(name, image, library_names):
    """Whether a channel called ``name`` stands for a style: a library name, a layer of
    ``image`` or an image file that exists."""
    name = (name or "").strip()
    if not name:
        return False
    if styles.looks_like_path(name):
        try:
            styles.style_from_text(name)
        except PluginError:
            return False
        return True
    return name in library_names or layer_named(image, name) is not None


def channel_regions(image, library_names):
    """``[(style text, channel)]``: the image's channels named after a style, in the Channels
    list's order."""
    return [
        (channel.get_name().strip(), channel)
        for channel in image.get_channels()
        if names_a_style(channel.get_name(), image, library_names)
    ]


def no_channel_regions(names):
    """The sentence for regions switched on without a channel named after a style."""
    shown = ", ".join(list(names)[:3])
    example = (" such as %s" % shown) if shown else ""
    return (
        "No channel is named after a style: save a selection as a channel (Select > Save to "
        "Channel) and name it like a library style%s, a layer or a style file's path, or "
        "switch the regions off." % example
    )


def regions_from(pairs, image, box, edge=None):
    """The host kit's regions, ``[(style dict, grey mask)]``, from ``[(style text, mask
    drawable)]`` read over ``box`` (image coordinates); checked (one sentence)."""
    found = []
    for text, drawable in pairs:
        if drawable is None or not drawable.is_valid():
            raise PluginError("A region's mask is gone; choose its channels or layers again.")
        mask = checked_mask(drawable, grey_over(drawable, box), len(found) + 1)
        found.append((style_for(text, image, edge), mask))
    regions.check(found)
    return found


def checked_mask(drawable, mask, number):
    """``mask`` (the grey of region ``number``'s ``drawable``), or the sentence that it is
    black over the area."""
    if mask.count(0) == len(mask):
        raise PluginError(
            "The mask %r of the %s region is black over the area being stylized, so its "
            "style would cover nothing; make it white where the style goes, or remove it."
            % (drawable.get_name(), _ordinal(number))
        )
    return mask


def _ordinal(number):
    return {1: "first", 2: "second", 3: "third"}.get(number, "%dth" % number)


def _count(number, thing):
    return "%d %s%s" % (number, thing, "" if number == 1 else "s")


def drawable_named(image, name):
    """The channel of ``image`` called ``name``, else its first layer so called, or None."""
    found = next((c for c in image.get_channels() if c.get_name() == name), None)
    return found if found is not None else layer_named(image, name)


def pair_up(image, texts, names):
    """``[(style text, mask drawable)]`` from region styles and mask names (a channel's or a
    layer's of ``image``) given as two lists, checked to match one to one."""
    texts, names = list(texts or []), list(names or [])
    if len(texts) != len(names):
        raise PluginError(
            "%s given for %s; give one style per mask, in the same order."
            % (_count(len(texts), "region style"), _count(len(names), "region mask"))
        )
    pairs = []
    for number, (text, name) in enumerate(zip(texts, names), 1):
        drawable = drawable_named(image, name)
        if drawable is None:
            raise PluginError(
                "The image has no channel or layer named %r for the mask of region %d; give "
                "the name of one of its channels or layers." % (name, number)
            )
        pairs.append((text, drawable))
    return pairs


def second_text(config):
    """The second style of a blend, as typed."""
    return (config.get_property("blend-style") or "").strip()


def blend_style(config, image, edge):
    """The second style of a blend (its layer, or the style it names), or None."""
    layer = config.get_property("blend-layer")
    if layer is not None:
        return layer_style(layer, edge)
    text = second_text(config)
    return style_for(text, image, edge) if text else None
