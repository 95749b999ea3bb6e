"""Neural Style Frames in the real GIMP 3: the image's layers as an animation's frames (the
bottom one first) stylized as one job of a real `nst serve` into a new layer group on top, one
layer per frame of the image's size in the same order, aligned, named after its frame with
GIMP's frame tags, the user's layers untouched; a strength map for every frame; docs/GIMP.md's
snippets; fewer than two frames is one sentence; a killed plug-in cancels the sequence; the
dialog, OK and one Ctrl+Z in GIMP's window. Fixtures and helpers: gimp_session.py; run with
`.venv/bin/pytest hosts/tests/test_gimp_frames.py`.
"""

from __future__ import annotations

import json
import os
import re
import signal
import textwrap
import threading
import time
from pathlib import Path

import gimp_screenshot
import pytest
from gimp_session import gimp, list_jobs, nst_exe, nst_service, plugin_pids  # noqa: F401
from xdisplay import click, press_keys, wait_for_window

GIMP_MD = Path(__file__).resolve().parent.parent.parent / "docs" / "GIMP.md"
FAST = '{"iterations": 3}'
SIZE = (48, 32)
BOXES = [(0, 0, 48, 32), (0, 0, 36, 32), (12, 8, 24, 16)]  # the frames' layers on the canvas

# GIMP-side: three frames (bottom first: the whole canvas; its left part, hidden; a smaller
# box inside), an empty layer group on top (not a frame), the frames procedure, each layer
# described, and how much a stylized frame differs from its source where that has pixels.
FRAMES = """
    W, H = %d, %d

    def frames_image():
        image = Gimp.Image.new(W, H, Gimp.ImageBaseType.RGB)

        def frame(name, box, pixel, visible=True):
            x0, y0, w, h = box
            layer = Gimp.Layer.new(image, name, w, h, Gimp.ImageType.RGBA_IMAGE, 100.0,
                                   Gimp.LayerMode.NORMAL)
            image.insert_layer(layer, None, 0)  # on top: the next frame
            layer.set_offsets(x0, y0)
            data = bytes(v for y in range(h) for x in range(w) for v in (*pixel(x, y), 255))
            layer.get_buffer().set(Gegl.Rectangle.new(0, 0, w, h), "R'G'B'A u8", data)
            layer.get_buffer().flush()
            layer.set_visible(visible)

        frame("one (100ms)", %r, lambda x, y: (20 + x * 4, 30 + y * 5, 40))
        frame("two (200ms) (replace)", %r, lambda x, y: (200 - x * 3, 110 + y, 90), False)
        frame("three (combine)", %r, lambda x, y: (240 - x, 230 - y * 6, 120 + x))
        image.insert_layer(Gimp.GroupLayer.new(image, "notes"), None, 0)
        return image

    def stylize_frames(image, **args):
        proc = Gimp.get_pdb().lookup_procedure("plug-in-nst-stylize-frames")
        config = proc.create_config()
        config.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
        config.set_property("image", image)
        for key, value in args.items():
            config.set_property(key.replace("_", "-"), value)
        result = proc.run(config)
        message = result.index(1) if result.length() > 1 else None
        return result.index(0).value_nick, message

    def info(layer):
        _, x, y = layer.get_offsets()
        found = {"name": layer.get_name(), "size": [layer.get_width(), layer.get_height()],
                 "offsets": [x, y], "visible": layer.get_visible(), "group": layer.is_group()}
        if layer.is_group():
            found["children"] = [info(child) for child in layer.get_children()]
        else:
            px, w = read(layer), layer.get_width()
            found["sha"] = hashlib.sha1(px).hexdigest()
            opaque = [i // 4 for i in range(0, len(px), 4) if px[i + 3] > 0]
            xs, ys = [i %% w for i in opaque], [i // w for i in opaque]
            found["opaque_box"] = [min(xs), min(ys), max(xs), max(ys)]
        return found

    def on_canvas(layer):
        _, x, y = layer.get_offsets()
        rect = Gegl.Rectangle.new(-x, -y, W, H)
        return layer.get_buffer().get(rect, 1.0, "R'G'B'A u8", Gegl.AbyssPolicy.NONE)

    def changed(made, source):  # the share of colour bytes that differ where source has pixels
        a, b = read(made), on_canvas(source)
        shown = [i for i in range(0, len(b), 4) if b[i + 3] > 0]
        return sum(a[i + c] != b[i + c] for i in shown for c in range(3)) / (3 * len(shown))
""" % (*SIZE, *BOXES)


def _frames_batch(gimp, *scripts: str):
    """FRAMES and ``scripts`` (each indented as it likes) run in gimp-console."""
    return gimp.batch("".join(textwrap.dedent(part) for part in (FRAMES, *scripts)))


def _one_sentence(message: str) -> None:
    assert message and "\n" not in message and message.endswith(".") and "Traceback" not in message


def test_three_layers_become_a_group_of_three_stylized_frames(gimp):
    text = GIMP_MD.read_text(encoding="utf-8")
    call = re.search(r"```python\n(proc = .*?-frames.*?)```", text, re.S).group(1)
    call = call.replace(
        "result = proc.run",
        f"config.set_property('engine', 'vgg19')\n"
        f"config.set_property('options', {FAST!r})\nresult = proc.run",
    )
    movie = re.search(r"```python\n(movie = image.duplicate.*?)```", text, re.S).group(1)
    _, _, err, (run,) = _frames_batch(
        gimp,
        """
        image = frames_image()
        before = [info(layer) for layer in image.get_layers()]
        """,
        call,  # docs/GIMP.md's call, quick: the engine and the iterations added
        """
        status = result.index(0).value_nick
        message = result.index(1) if result.length() > 1 else None
        after = [info(layer) for layer in image.get_layers()]
        sources = [layer for layer in image.get_layers() if not layer.is_group()][::-1]
        made = image.get_layers()[0].get_children()[::-1] if status == "success" else []
        changes = [changed(m, s) for m, s in zip(made, sources)]
        """,
        movie,  # docs/GIMP.md: the stylized frames as an image of their own
        """
        report(status=status, message=message, before=before, after=after, changes=changes,
               undo=image.undo_is_enabled(),
               movie=[layer.get_name() for layer in movie.get_layers()])
        """,
    )
    assert run["status"] == "success", run["message"]
    before, after = run["before"], run["after"]
    assert after[1:] == before  # the user's layers and group byte-identical, below the new one
    group = after[0]
    assert group["group"] and group["name"] == "starry_night 50% · vgg19 · 3 frames"
    sources = before[1:][::-1]  # the frames in playing order: the bottom layer first
    made = group["children"][::-1]
    assert [frame["name"] for frame in made] == [
        "one · stylized (100ms)",
        "two · stylized (200ms) (replace)",
        "three · stylized (combine)",
    ]
    for frame, source, (x0, y0, w, h) in zip(made, sources, BOXES):
        assert frame["size"] == list(SIZE) and frame["offsets"] == [0, 0]
        assert frame["visible"] == source["visible"]
        # Each frame was read where its layer sits on the canvas, transparent around it: the
        # frames stay aligned, and each result is its own frame's (the order is right).
        assert frame["opaque_box"] == [x0, y0, x0 + w - 1, y0 + h - 1]
    assert min(run["changes"]) > 0.2, run["changes"]  # stylized, not copies
    assert run["undo"] and "inconsistent state" not in err  # the undo group was closed
    # The docs' snippet: an image whose top-level layers are the stylized frames, in order.
    assert run["movie"] == [frame["name"] for frame in group["children"]]


def test_registered_and_one_frame_is_one_sentence(gimp):
    _, _, _, (found, single, grouped) = _frames_batch(
        gimp,
        """
        proc = Gimp.get_pdb().lookup_procedure("plug-in-nst-stylize-frames")
        report(args=[p.name for p in proc.get_arguments()], label=proc.get_menu_label(),
               menus=proc.get_menu_paths())
        image, layer = make_image(32, 24)
        before = describe(image)
        status, message = stylize_frames(image, style="starry_night")
        report(status=status, message=message, same=describe(image) == before)
        image = frames_image()
        for layer in image.get_layers()[1:]:
            image.reorder_item(layer, image.get_layers()[0], 0)  # every frame into the group
        before = len(image.get_layers())
        status, message = stylize_frames(image, style="starry_night")
        report(status=status, message=message, same=len(image.get_layers()) == before)
        """,
    )
    assert found["label"] == "Neural Style Frames..."
    assert found["menus"] == ["<Image>/Filters/Artistic", "<Image>/Filters/Animation"]
    assert "from-recipe" not in found["args"]
    assert {"style", "strength", "quality", "engine", "size", "options"} <= set(found["args"])
    for run in (single, grouped):
        assert run["status"] == "execution-error" and run["same"], run
        _one_sentence(run["message"])
    assert "has one layer outside layer groups" in single["message"]
    assert "Neural Style Transfer" in single["message"]
    assert "has no layer outside layer groups" in grouped["message"]


def test_a_strength_map_channel_holds_back_every_frame(gimp):
    """A channel as the strength map (black left, white right) applies to every frame: each
    stays nearer its source on the left than on the right."""
    _, _, _, (run,) = _frames_batch(
        gimp,
        f"""
        image = frames_image()
        right = save_channel(image, (W // 2, 0, W - W // 2, H), "right")
        status, message = stylize_frames(image, style="starry_night", quality="draft",
                                         engine="vgg19", options={FAST!r}, strength_map=right)
        sources = [layer for layer in image.get_layers() if not layer.is_group()][::-1]
        made = image.get_layers()[0].get_children()[::-1] if status == "success" else []

        def away(result, source, x0, x1):  # mean colour distance where the source has pixels
            a, b = read(result), on_canvas(source)
            found = [abs(a[i + c] - b[i + c]) for y in range(H) for x in range(x0, x1)
                     for i in [(y * W + x) * 4] if b[i + 3] for c in range(3)]
            return sum(found) / len(found)

        report(status=status, message=message,
               left=[away(m, s, 0, W // 2) for m, s in zip(made, sources)],
               right=[away(m, s, W // 2, W) for m, s in zip(made, sources)])
        """,
    )
    assert run["status"] == "success", run["message"]
    left, right = run["left"], run["right"]
    assert len(left) == 3 and all(a < b for a, b in zip(left, right)), run
    assert sum(left) * 2 < sum(right), run


def test_killed_plugin_cancels_the_frames_job(gimp, nst_service):
    """What GIMP does when the user cancels the progress: kill the plug-in; the service then
    cancels the whole sequence and the image gets no group."""
    known = {job["id"] for job in list_jobs(nst_service)}
    box = {}

    def run():
        box["result"] = _frames_batch(
            gimp,
            """
            image = frames_image()
            status, message = stylize_frames(image, style="wave", quality="best",
                                             engine="vgg19", options='{"iterations": 100000}')
            report(status=status, layers=len(image.get_layers()))
            """,
        )

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        running = None
        while time.monotonic() < deadline and running is None and thread.is_alive():
            running = next(
                (
                    job
                    for job in list_jobs(nst_service)
                    if job["id"] not in known and job["state"] == "running" and job.get("step")
                ),
                None,
            )
            time.sleep(0.2)
        assert running, "the plug-in's job never started running"
        assert running["frames"] == 3, running
        (pid,) = plugin_pids(gimp.root)
        os.kill(pid, signal.SIGKILL)
    finally:
        thread.join(180)
    _, out, _, (result,) = box["result"]
    assert result["status"] != "success" and result["layers"] == 4  # no group added
    assert f"nst-stylize: job {running['id']}" in out
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = nst_service["client"].status(running["id"])["state"]
        if state != "running":
            break
        time.sleep(0.2)
    assert state == "cancelled"


def test_dialog_previews_the_first_frame_and_ok_runs(gimp):
    """From the menu: GIMP opens the dialog with the last values, its quick preview shows the
    first frame, OK makes the group, one Ctrl+Z removes it."""
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    last = gimp.dir / "plug-in-settings" / "GimpProcedureConfigRun-plug-in-nst-stylize-frames.last"
    last.parent.mkdir(parents=True, exist_ok=True)
    values = ['(style "wave")', '(engine "vgg19")', f"(options {json.dumps(FAST)})"]
    last.write_text("# settings\n\n" + "\n".join(values) + "\n\n# end of settings\n")
    script = textwrap.dedent(FRAMES) + textwrap.dedent("""
        image = frames_image()
        image.undo_disable()  # frees the undo steps of making the image
        image.undo_enable()
        Gimp.Display.new(image)
        Gimp.displays_flush()
        flag("shown")
        status, message = stylize_frames(image, run_mode=Gimp.RunMode.INTERACTIVE)
        group = image.get_layers()[0]
        flag("ran", {"status": status, "message": message, "group": group.get_name(),
                     "frames": [layer.get_name() for layer in group.get_children()]})
        wait_flag("undone")
        flag("result", {"layers": [layer.get_name() for layer in image.get_layers()]})
    """)
    with gimp_screenshot.GimpGui(gimp.root, gimp.chroot_dir, gimp.env, script) as gui:
        gui.wait_flag("shown")
        found = wait_for_window(gui.display, "Neural Style Frames", 60)  # its own title
        assert found is not None, gui.output()
        shown = gui.wait_preview(lambda line: line["sha1"] or line["message"], 60)
        x, y, w, h = found
        click(gui.display, x + w - 68, y + h - 42)  # OK, bottom right of the dialog
        outcome = gui.wait_flag("ran", 180)
        time.sleep(1.0)  # let the window show the new group
        screen = gimp_screenshot.SCREEN
        press_keys(gui.display, ["Control_L", "z"], (screen[0] // 2, screen[1] // 2))
        time.sleep(1.0)
        gui.set_flag("undone")
        undone = gui.wait_flag("result", 60)
    assert shown["sha1"] and shown["style"] == "wave", shown  # a picture, not a sentence
    assert outcome["status"] == "success", outcome
    assert outcome["group"] == "wave 50% · vgg19 · 3 frames"
    assert outcome["frames"] == [
        "three · stylized (combine)",
        "two · stylized (200ms) (replace)",
        "one · stylized (100ms)",
    ]
    # One Ctrl+Z removes the whole group, and only it.
    assert undone["layers"] == ["notes", "three (combine)", "two (200ms) (replace)", "one (100ms)"]
