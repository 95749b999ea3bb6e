"""The python-fu-eval scripts that gimp_screenshot runs in the GIMP 3 GUI (and PRELUDE, which
the batch tests of test_gimp.py use too)."""

import textwrap

# GIMP-side helpers for test scripts (batch or GUI): an image, its layers, a PDB call.
PRELUDE = textwrap.dedent('''\
    import hashlib, json, os, time
    import gi
    gi.require_version("Gimp", "3.0")
    gi.require_version("Gegl", "0.4")
    from gi.repository import Gegl, Gimp

    def make_image(width=64, height=48, grey=False, layer_size=None, offsets=(0, 0)):
        image = Gimp.Image.new(width, height, Gimp.ImageBaseType.GRAY if grey
                               else Gimp.ImageBaseType.RGB)
        lw, lh = layer_size or (width, height)
        kind = Gimp.ImageType.GRAY_IMAGE if grey else Gimp.ImageType.RGB_IMAGE
        layer = Gimp.Layer.new(image, "photo", lw, lh, kind, 100.0, Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, None, 0)
        layer.set_offsets(*offsets)
        pixels = bytes(v for y in range(lh) for x in range(lw)
                       for v in ((x * 7) % 256, (y * 11) % 256, (x * y) % 256, 255))
        buffer = layer.get_buffer()
        buffer.set(Gegl.Rectangle.new(0, 0, lw, lh), "R'G'B'A u8", pixels)
        buffer.flush()
        return image, layer

    def open_photo(path, width, height):
        """An image file (a photo-like picture) opened and scaled to width x height."""
        from gi.repository import Gio
        image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(path))
        image.scale(width, height)
        layer = image.get_layers()[0]
        layer.set_name("photo")
        return image, layer

    def read(drawable, fmt="R'G'B'A u8"):
        rect = Gegl.Rectangle.new(0, 0, drawable.get_width(), drawable.get_height())
        return drawable.get_buffer().get(rect, 1.0, fmt, Gegl.AbyssPolicy.CLAMP)

    def describe(image):
        layers = []
        for layer in image.get_layers():
            _, x, y = layer.get_offsets()
            mask = layer.get_mask()
            info = {"name": layer.get_name(), "size": [layer.get_width(), layer.get_height()],
                    "offsets": [x, y], "grey": layer.is_gray(),
                    "sha": hashlib.sha1(read(layer)).hexdigest(), "mask": None}
            if mask is not None:
                m, w = read(mask, "Y u8"), mask.get_width()
                on = [(i % w, i // w) for i, v in enumerate(m) if v > 127]
                xs, ys = [p[0] for p in on], [p[1] for p in on]
                info["mask"] = {"on": len(on), "x": [min(xs), max(xs)],
                                "y": [min(ys), max(ys)]} if on else {"on": 0}
            layers.append(info)
        return layers

    def differs(a, b):
        """Share of differing bytes between two same-size layers' pixels."""
        pa, pb = read(a), read(b)
        return sum(x != y for x, y in zip(pa, pb)) / len(pa)

    def stylize(image, layer, run_mode=Gimp.RunMode.NONINTERACTIVE, **args):
        proc = Gimp.get_pdb().lookup_procedure("plug-in-nst-stylize")
        config = proc.create_config()
        config.set_property("run-mode", run_mode)
        config.set_property("image", image)
        config.set_core_object_array("drawables", [layer])
        for key, value in args.items():
            if isinstance(value, list) and value and not isinstance(value[0], str):
                config.set_core_object_array(key.replace("_", "-"), value)  # drawables
            else:
                config.set_property(key.replace("_", "-"), value)
        result = proc.run(config)
        message = result.index(1) if result.length() > 1 else None
        return result.index(0).value_nick, message

    def add_layer(image, name, pixel, visible=False):
        """A layer over the whole image, ``pixel(x, y)`` -> (r, g, b) each pixel."""
        w, h = image.get_width(), image.get_height()
        layer = Gimp.Layer.new(image, name, w, h, Gimp.ImageType.RGBA_IMAGE, 100.0,
                               Gimp.LayerMode.NORMAL)
        image.insert_layer(layer, None, len(image.get_layers()))
        data = bytes(v for y in range(h) for x in range(w) for v in (*pixel(x, y), 255))
        layer.get_buffer().set(Gegl.Rectangle.new(0, 0, w, h), "R'G'B'A u8", data)
        layer.get_buffer().flush()
        layer.set_visible(visible)
        return layer

    def save_channel(image, box, name):
        """The rectangle ``box`` selected, saved as a channel called ``name``; no selection."""
        image.select_rectangle(Gimp.ChannelOps.REPLACE, *box)
        channel = Gimp.Selection.save(image)
        channel.set_name(name)
        Gimp.Selection.none(image)
        return channel

    def channels_from_env(image):
        """With NST_SHOT_REGIONS (style names, comma-separated), a channel named after each
        over its share of the image, side by side; whether there were any."""
        names = [n for n in os.environ.get("NST_SHOT_REGIONS", "").split(",") if n]
        for number, name in enumerate(names):
            step = image.get_width() // len(names)
            save_channel(image, (number * step, 0, step, image.get_height()), name)
        return bool(names)

    def mean_rgb(layer, x0, x1):
        """The mean R, G, B (0..255) of the layer's columns x0..x1-1."""
        w, h = layer.get_width(), layer.get_height()
        px = read(layer)
        sums, n = [0, 0, 0], 0
        for y in range(h):
            for x in range(x0, x1):
                i = (y * w + x) * 4
                for c in range(3):
                    sums[c] += px[i + c]
                n += 1
        return [round(v / n, 1) for v in sums]

    def mean_diff(a, b, x0, x1):
        """The mean absolute difference (0..255) of two same-size layers' R, G, B over the
        columns x0..x1-1."""
        w, h = a.get_width(), a.get_height()
        pa, pb = read(a), read(b)
        total = sum(abs(pa[(y * w + x) * 4 + c] - pb[(y * w + x) * 4 + c])
                    for y in range(h) for x in range(x0, x1) for c in range(3))
        return round(total / (h * (x1 - x0) * 3), 1)

    def report(**values):
        print("NST-RESULT " + json.dumps(values), flush=True)

    FLAGS = os.environ.get("NST_GUI_FLAGS", "/tmp")

    def flag(name, value=None):
        path = os.path.join(FLAGS, name)
        with open(path + ".part", "w") as f:
            json.dump(value, f)
        os.replace(path + ".part", path)

    def wait_flag(name, timeout=120):
        path = os.path.join(FLAGS, name)
        deadline = time.monotonic() + timeout
        while not os.path.exists(path):
            if time.monotonic() > deadline:
                raise TimeoutError(name)
            time.sleep(0.1)
''')


UNDO_SCRIPT = """
    image, layer = make_image(320, 240)
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 100, 80, 60, 40)  # the layer gets a mask
    image.undo_disable()  # frees the undo steps of making the image
    image.undo_enable()
    Gimp.Display.new(image)
    status, message = stylize(image, layer, style="wave", quality="draft", engine="vgg19",
                              options='{"iterations": 3}')
    Gimp.displays_flush()
    flag("ran", {"status": status, "message": message, "sha": describe(image)[-1]["sha"],
                 "layers": [l.get_name() for l in image.get_layers()]})
    wait_flag("undone")
    flag("result", {"layers": [l.get_name() for l in image.get_layers()],
                    "sha": describe(image)[-1]["sha"]})
"""


INTERACTIVE_SCRIPT = """
    image, layer = make_image(64, 48)
    channels_from_env(image)
    Gimp.Display.new(image)
    Gimp.displays_flush()
    flag("shown")
    status, message = stylize(image, layer, run_mode=Gimp.RunMode.INTERACTIVE)
    flag("ran", {"status": status, "message": message,
                 "layers": [l.get_name() for l in image.get_layers()]})
"""


DIALOG_SCRIPT = """
    from gi.repository import Gio
    src = os.environ.get("NST_SHOT_IMAGE")
    if src:
        image = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path(src))
        layer = image.get_layers()[0]
    else:
        image, layer = make_image(640, 480)
    Gimp.Display.new(image)
    Gimp.displays_flush()
    flag("shown")
    # The dialog shows the values of an interactive call (blocks until it closes).
    given = {"style": os.environ["NST_SHOT_STYLE"], "strength": 0.7} \
        if os.environ.get("NST_SHOT_STYLE") else {}
    if channels_from_env(image):
        given["channel_regions"] = True
    stylize(image, layer, run_mode=Gimp.RunMode.INTERACTIVE, **given)
"""
