"""The GIMP plug-in (hosts/gimp/nst-stylize) in the real GIMP 3.0 against a real `nst serve`.

GIMP runs in the Debian trixie chroot (``.ci/install-editors``), as gimp-console batch mode or
the GUI under Xvfb; the service runs outside it with random weights (tiny images, few
iterations) and is reached over 127.0.0.1. The plug-in is installed with the real
``nst install-host gimp --dest DIR`` where DIR is a private GIMP configuration folder inside
the chroot (``GIMP3_DIRECTORY``), so runs beside other tests never share GIMP's settings.
The logic it shares with Krita (the host kit) is tested without GIMP in tests/; the fixtures
and helpers are in gimp_session.py.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import editors  # noqa: E402
import gimp_screenshot  # noqa: E402
from gimp_session import REPO, gimp, nst_exe, nst_service  # noqa: E402,F401  (fixtures)
from gimp_session import list_jobs as _jobs  # noqa: E402
from gimp_session import plugin_pids as _plugin_pids  # noqa: E402

PROCEDURE = "plug-in-nst-stylize"
FAST = '{"iterations": 3}'  # with quality "draft": one scale, three iterations


# ------------------------------------------------------------------ the install, batch runs


def test_install_host_copies_every_file(gimp):
    """install-host must copy every file of hosts/gimp/nst-stylize/ (the fixture completed
    the install for the other tests when it did not)."""
    assert os.access(gimp.plugin_dir / "nst-stylize.py", os.X_OK)
    host = json.loads((gimp.plugin_dir / "nst-host.json").read_text())
    assert set(host) >= {"nst", "url", "token"}
    assert (gimp.plugin_dir / "hostkit" / "client.py").is_file()
    assert gimp.completed == [], f"nst install-host gimp did not copy {gimp.completed}"


def test_registered_in_the_pdb(gimp):
    _, _, _, (found,) = gimp.batch("""
        proc = Gimp.get_pdb().lookup_procedure("plug-in-nst-stylize")
        report(args=[p.name for p in proc.get_arguments()],
               aux=[p.name for p in proc.get_aux_arguments()],
               label=proc.get_menu_label(), menus=proc.get_menu_paths(),
               types=proc.get_image_types())
    """)
    assert found["args"] == [
        "run-mode",
        "image",
        "drawables",
        "style",
        "style-layer",
        "strength",
        "brush-size",
        "match-colors",
        "preserve-colors",
        "quality",
        "engine",
        "size",
        "blend-style",
        "blend-layer",
        "blend",
        "channel-regions",
        "region-styles",
        "region-masks",
        "strength-map",
        "from-recipe",
        "options",
    ]
    assert found["label"] == "Neural Style Transfer..."
    assert found["menus"] == ["<Image>/Filters/Artistic"]
    assert found["types"] == "RGB*, GRAY*"
    # The PDB does not hand the sensitivity mask back to plug-ins; GIMP keeps it in pluginrc
    # after the image types: 1 = GIMP_PROCEDURE_SENSITIVE_DRAWABLE (one drawable selected).
    pluginrc = (gimp.dir / "pluginrc").read_text(encoding="utf-8", errors="replace")
    block = pluginrc[pluginrc.index('(proc-def "plug-in-nst-stylize"') :]
    assert re.search(r'"RGB\*, GRAY\*"\s+1\s', block)


def test_stylize_adds_one_layer_in_one_undo_group(gimp):
    _, _, err, (run,) = gimp.batch(f"""
        image, layer = make_image()
        before = describe(image)
        status, message = stylize(image, layer, style="starry_night", quality="draft",
                                  engine="vgg19", options={FAST!r})
        new = image.get_layers()[0]
        report(status=status, message=message, before=before, after=describe(image),
               differs=differs(new, layer), undo=image.undo_is_enabled())
    """)
    assert run["status"] == "success", run["message"]
    before, after = run["before"], run["after"]
    assert len(after) == len(before) + 1 and after[1:] == before  # source untouched, below
    new = after[0]
    assert new["name"] == "starry_night 50% · vgg19"
    assert new["size"] == [64, 48] and new["offsets"] == [0, 0] and new["mask"] is None
    assert run["differs"] > 0.2  # really stylized, not a copy
    assert run["undo"]
    # An undo group left open would make GIMP close it with this warning when the plug-in ends.
    assert "inconsistent state" not in err


def test_style_file_size_and_grey_image(gimp):
    style = gimp.copy_in(REPO / "nst_plugin" / "examples" / "wave.jpg")
    _, _, _, runs = gimp.batch(f'''
        image, layer = make_image(grey=True)
        status, message = stylize(image, layer, style="{style}", strength=0.8, size=32,
                                  quality="draft", engine="vgg19", options={FAST!r})
        report(status=status, message=message, after=describe(image))
    ''')
    (run,) = runs
    assert run["status"] == "success", run["message"]
    new, source = run["after"]
    label = Path(style).stem
    assert new["name"] == f"{label} 80% · vgg19"
    assert new["size"] == [64, 48] and new["grey"]  # stylized at 32 px, scaled to the layer
    assert new["sha"] != source["sha"]


def test_selection_is_processed_with_a_margin_and_becomes_the_mask(gimp):
    _, _, _, (run,) = gimp.batch(f"""
        image, layer = make_image(80, 60, layer_size=(64, 48), offsets=(8, 6))
        image.select_rectangle(Gimp.ChannelOps.REPLACE, 20, 16, 12, 10)
        status, message = stylize(image, layer, style="wave", quality="draft",
                                  options={FAST!r})
        report(status=status, message=message, after=describe(image))
    """)
    assert run["status"] == "success", run["message"]
    new, source = run["after"]
    # Selection (20,16) 12x10 in the image = (12,10) in the layer; plus 32 px, clamped.
    assert new["offsets"] == [8, 6] and new["size"] == [56, 48]
    assert new["mask"] == {"on": 120, "x": [12, 23], "y": [10, 19]}
    assert source["mask"] is None


def test_errors_leave_the_image_as_it_was(gimp, tmp_path):
    notes = tmp_path / "notes.png"
    notes.write_text("this is not a picture")
    bad = gimp.copy_in(notes)
    _, _, err, runs = gimp.batch(f'''
        for style, options in (("{bad}", "{{}}"), ("no_such_style", "{{}}"),
                               ("wave", "[1, 2]"), ("wave", '{{"size": 1}}')):
            image, layer = make_image()
            image.select_rectangle(Gimp.ChannelOps.REPLACE, 4, 4, 10, 10)
            before = describe(image)
            status, message = stylize(image, layer, style=style, quality="draft",
                                      options=options)
            report(status=status, message=message, same=describe(image) == before)
    ''')
    assert len(runs) == 4
    for run in runs:
        assert run["status"] == "execution-error" and run["same"], run
        message = run["message"]
        assert "\n" not in message and message.endswith(".") and "Traceback" not in message
    assert "is not an image" in runs[0]["message"]
    assert "no style named 'no_such_style'" in runs[1]["message"]
    assert "JSON object" in runs[2]["message"]
    assert "size" in runs[3]["message"].lower()  # the service's own sentence about the bad option
    assert "inconsistent state" not in err


# ------------------------------------------------------------------ what the artist directs

PAINTINGS = {"red": (205, 40, 35), "blue": (35, 60, 210)}


@pytest.fixture(scope="module")
def paintings(gimp):
    """Two flat-noise paintings as files inside the chroot, red.png and blue.png, and a
    photo-like picture."""
    from PIL import Image

    rng = random.Random(17)
    inside = f"/tmp/nst-paintings-{uuid.uuid4().hex[:8]}"
    folder = gimp.root / inside.lstrip("/")
    folder.mkdir()
    found = {}
    for name, colour in PAINTINGS.items():
        image = Image.new("RGB", (128, 128))
        noisy = [
            tuple(min(255, max(0, c + rng.randint(-40, 40))) for c in colour)
            for _ in range(128 * 128)
        ]
        image.putdata(noisy)
        image.save(folder / f"{name}.png")
        found[name] = f"{inside}/{name}.png"
    shutil.copy(REPO / "nst_plugin" / "examples" / "wave.jpg", folder / "photo.jpg")
    found["photo"] = f"{inside}/photo.jpg"  # a photo-like picture: Hokusai's wave
    yield found
    shutil.rmtree(folder, ignore_errors=True)


def _reddish(rgb):
    return rgb[0] - rgb[2]


def test_two_channels_with_two_styles_make_one_layer(gimp, paintings):
    """Two selections saved as channels named after two style files: one new layer, the left
    half in the red painting's colours, the right half in the blue one's; given as the
    procedure's arrays with the masks swapped, the colours swap."""
    red, blue = paintings["red"], paintings["blue"]
    _, _, err, runs = gimp.batch(f"""
        image, layer = open_photo("{paintings["photo"]}", 96, 64)
        left = save_channel(image, (0, 0, 48, 64), "{red}")
        right = save_channel(image, (48, 0, 48, 64), "{blue}")
        before = describe(image)
        status, message = stylize(image, layer, engine="fast", channel_regions=True)
        new = image.get_layers()[0]
        report(status=status, message=message, before=before, after=describe(image),
               left=mean_rgb(new, 4, 40), right=mean_rgb(new, 56, 92),
               photo=[mean_rgb(layer, 4, 40), mean_rgb(layer, 56, 92)])
        image.remove_layer(new)
        left.set_name("left")
        right.set_name("right")
        status, message = stylize(image, layer, engine="fast", region_styles=["{red}", "{blue}"],
                                  region_masks=["right", "left"])
        new = image.get_layers()[0]
        report(status=status, message=message, layers=len(image.get_layers()),
               left=mean_rgb(new, 4, 40), right=mean_rgb(new, 56, 92))
        image.remove_layer(new)
        status, message = stylize(image, layer, engine="vgg19", quality="draft",
                                  options={FAST!r}, region_styles=["{red}", "{blue}"],
                                  region_masks=["left", "right"])
        report(status=status, message=message, names=[l["name"] for l in describe(image)])
    """)
    placed, swapped, optimized = runs
    assert placed["status"] == "success", placed["message"]
    before, after = placed["before"], placed["after"]
    assert len(after) == len(before) + 1 and after[1:] == before  # one new layer, on top
    assert after[0]["name"] == "blue + red 50% · fast"  # the Channels list's order: newest first
    assert after[0]["size"] == [96, 64] and after[0]["mask"] is None
    assert _reddish(placed["left"]) > 60 and _reddish(placed["right"]) < -60, placed
    assert swapped["status"] == "success", swapped["message"]
    assert swapped["layers"] == 2
    assert _reddish(swapped["left"]) < -60 and _reddish(swapped["right"]) > 60, swapped
    assert optimized["status"] == "success", optimized["message"]  # the guided optimization
    assert optimized["names"] == ["red + blue 50% · vgg19", "photo"]
    assert "inconsistent state" not in err


def test_a_strength_map_from_a_layer(gimp, paintings):
    """Left black, right white: the left half stays near the photo, the right is stylized."""
    _, _, _, (run,) = gimp.batch(f"""
        image, layer = open_photo("{paintings["photo"]}", 96, 64)
        ramp = add_layer(image, "map", lambda x, y: (0, 0, 0) if x < 48 else (255, 255, 255))
        status, message = stylize(image, layer, style="{paintings["red"]}", strength=1.0,
                                  engine="fast", strength_map=ramp)
        new = image.get_layers()[0]
        report(status=status, message=message, name=new.get_name(),
               layers=len(image.get_layers()), kept=mean_diff(new, layer, 4, 40),
               changed=mean_diff(new, layer, 56, 92))
    """)
    assert run["status"] == "success", run["message"]
    assert run["layers"] == 3 and run["name"] == "red 100% · fast"
    assert run["changed"] > 40, run  # stylized
    assert run["kept"] < run["changed"] / 2, run  # near the photo


def test_a_layer_as_the_style_and_a_blend(gimp, paintings):
    """A layer (hidden, in the same image) is the style; blended all the way to the blue
    painting file, the result turns blue; brush size and colour matching run too."""
    _, _, _, runs = gimp.batch(f"""
        image, layer = open_photo("{paintings["photo"]}", 96, 64)
        import random
        rng = random.Random(3)
        painting = add_layer(image, "painting", lambda x, y: (
            200 + rng.randint(-40, 40), 40 + rng.randint(-30, 30), 35 + rng.randint(-30, 30)))
        for args in ({{}}, {{"blend_style": "{paintings["blue"]}", "blend": 1.0}},
                     {{"brush_size": 2.0, "match_colors": True}}):
            status, message = stylize(image, layer, style="no_such_style", style_layer=painting,
                                      engine="fast", **args)
            new = image.get_layers()[0]
            report(status=status, message=message, name=new.get_name(),
                   colour=mean_rgb(new, 0, 96))
            image.remove_layer(new)
    """)
    alone, blended, brushed = runs
    assert alone["status"] == "success", alone["message"]
    assert alone["name"] == "painting 50% · fast"
    assert _reddish(alone["colour"]) > 40, alone
    assert blended["status"] == "success", blended["message"]
    assert blended["name"] == "painting + blue 50% · fast"
    assert _reddish(blended["colour"]) < -40, blended
    assert brushed["status"] == "success", brushed["message"]


def test_bad_regions_get_one_sentence_and_no_layer(gimp, paintings):
    red, blue = paintings["red"], paintings["blue"]
    _, _, err, runs = gimp.batch(f"""
        image, layer = open_photo("{paintings["photo"]}", 96, 64)
        left = save_channel(image, (0, 0, 48, 64), "{red}")
        black = save_channel(image, (0, 0, 0, 0), "{blue}")
        dark = add_layer(image, "dark", lambda x, y: (0, 0, 0))
        unnamed = save_channel(image, (48, 0, 48, 64), "Selection Mask copy")
        for args in ({{"channel_regions": True}},
                     {{"region_styles": ["{red}"], "region_masks": ["{red}", "dark"]}},
                     {{"region_styles": ["{red}", "{blue}"], "region_masks": ["{red}", "dark"]}},
                     {{"region_styles": ["{red}"], "region_masks": ["no such channel"]}},
                     {{"channel_regions": True, "blend_style": "{blue}"}}):
            before = describe(image)
            status, message = stylize(image, layer, engine="fast", **args)
            report(status=status, message=message, same=describe(image) == before)
        black.set_name("not a style")
        status, message = stylize(image, layer, engine="fast", channel_regions=True,
                                  style="{red}")
        report(status=status, message=message, layers=len(image.get_layers()))
        left.set_name("no style either")
        before = describe(image)
        status, message = stylize(image, layer, engine="fast", channel_regions=True)
        report(status=status, message=message, same=describe(image) == before)
    """)
    black, count, dark, unknown, blended, ignored, none = runs
    for run in (black, count, dark, unknown, blended, none):
        assert run["status"] == "execution-error" and run["same"], run
        message = run["message"]
        assert "\n" not in message and message.endswith(".") and "Traceback" not in message
    assert f"mask '{blue}' of the first region is black" in black["message"]
    assert "1 region style given for 2 region masks" in count["message"]
    assert "mask 'dark' of the second region is black" in dark["message"]
    assert "no channel or layer named 'no such channel'" in unknown["message"]
    assert "clear the second style or switch the regions off" in blended["message"]
    assert ignored["status"] == "success", ignored  # a channel named otherwise is no region
    assert "No channel is named after a style" in none["message"]
    assert "inconsistent state" not in err


def test_preview_source_is_the_area_downscaled(gimp):
    """The quick preview's content: the area to process, at most 384 px, any layer type."""
    _, _, _, runs = gimp.batch(f'''
        import sys
        sys.path.insert(0, "{gimp.chroot_dir}/plug-ins/nst-stylize")
        import nst_gimp_preview as preview
        from hostkit.errors import error_sentence
        for grey, area in ((True, (0, 0, 800, 600)), (False, (68, 68, 264, 164))):
            image, layer = make_image(800, 600, grey=grey)
            width, height, pixels, mode = preview.read_source([layer], lambda d: area)
            size = [width, height]
            direct = layer.get_buffer().get(Gegl.Rectangle.new(*area), 1.0, "R'G'B' u8",
                                            Gegl.AbyssPolicy.CLAMP)
            report(size=size, decoded=[width, height], mode=mode,
                   same=grey or pixels == bytes(direct))
        failed = preview.read_source([], lambda d: (0, 0, 1, 1))
        report(error=error_sentence(failed))
    ''')
    whole, selected, failed = runs
    assert whole == {"size": [384, 288], "decoded": [384, 288], "mode": "L", "same": True}
    assert selected == {
        "size": [264, 164],
        "decoded": [264, 164],
        "mode": "RGB",
        "same": True,
    }  # never enlarged: the area's own pixels
    assert failed["error"] == "Select exactly one layer to stylize."


def test_preview_follows_the_selection(gimp):
    """With a selection the preview shows only what OK keeps: the selection's grey values over
    the area sent (its box plus the margin), at the preview's size, from an offset layer."""
    _, _, _, (run, cleared) = gimp.batch(f'''
        import sys
        sys.path.insert(0, "{gimp.chroot_dir}/plug-ins/nst-stylize")
        import nst_gimp_preview as preview
        image, layer = make_image(800, 600, layer_size=(700, 500), offsets=(100, 100))
        image.select_rectangle(Gimp.ChannelOps.REPLACE, 300, 200, 200, 100)
        area = (168, 68, 264, 164)  # the selection in layer coordinates, plus 32 px
        source = preview.read_source([layer], lambda d: area)
        mask = preview.selection_mask(image, layer, area, source)
        w, h = source[0], source[1]
        report(size=[w, h], length=len(mask), corner=mask[0], middle=mask[(h // 2) * w + w // 2],
               inside=sum(1 for v in mask if v > 127))
        Gimp.Selection.none(image)
        report(none=preview.selection_mask(image, layer, area, source) is None)
    ''')
    assert run["size"] == [264, 164] and run["length"] == 264 * 164, run
    assert run["corner"] == 0 and run["middle"] == 255, run  # the margin is cut away
    assert abs(run["inside"] - 200 * 100) < 600, run
    assert cleared == {"none": True}


def test_no_service_is_an_error_status_with_one_sentence(gimp):
    _, _, _, (run,) = gimp.batch(
        f"""
        image, layer = make_image()
        before = describe(image)
        status, message = stylize(image, layer, style="wave", options={FAST!r})
        report(status=status, message=message, same=describe(image) == before,
               layers=len(image.get_layers()))
    """,
        env={"NST_SERVICE_FILE": "/tmp/nst-no-such-service.json"},
    )
    assert run["status"] == "execution-error"
    assert run["same"] and run["layers"] == 1
    message = run["message"]
    assert "\n" not in message and message.endswith(".") and "nst" in message
    # The installed nst command lives outside the chroot, so starting it fails too.
    assert "cannot be started" in message or "not running" in message


def test_killed_plugin_gets_its_job_cancelled(gimp, nst_service):
    """What GIMP does when the user cancels the progress: kill the plug-in process."""
    service = nst_service["client"]
    known = {j["id"] for j in _jobs(nst_service)}
    box = {}

    def run():
        box["result"] = gimp.batch("""
            image, layer = make_image()
            status, message = stylize(image, layer, style="wave", quality="best",
                                      engine="vgg19", options='{"iterations": 100000}')
            report(status=status, message=message, layers=len(image.get_layers()))
        """)

    thread = threading.Thread(target=run)
    thread.start()
    try:
        deadline = time.monotonic() + 120
        running = None
        while time.monotonic() < deadline and running is None and thread.is_alive():
            jobs = _jobs(nst_service)
            running = next(
                (
                    j
                    for j in jobs
                    if j["id"] not in known and j["state"] == "running" and j.get("step")
                ),
                None,
            )
            time.sleep(0.2)
        assert running, "the plug-in's job never started running"
        pids = _plugin_pids(gimp.root)
        assert len(pids) == 1, pids
        os.kill(pids[0], signal.SIGKILL)
    finally:
        thread.join(180)
    _, out, _, (run,) = box["result"]
    assert run["status"] != "success" and run["layers"] == 1
    assert f"nst-stylize: job {running['id']}" in out  # the id the plug-in printed
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state = service.status(running["id"])["state"]
        if state != "running":
            break
        time.sleep(0.2)
    assert state == "cancelled"


# ------------------------------------------------------------------ docs/GIMP.md's examples

GIMP_MD = REPO / "docs" / "GIMP.md"


def test_console_snippet_from_the_docs(gimp):
    text = GIMP_MD.read_text(encoding="utf-8")
    snippet = re.search(r"```python\n(image = Gimp.get_images.*?)```", text, re.S).group(1)
    snippet = snippet.replace("'{\"seed\": 1}'", '\'{"seed": 1, "iterations": 3}\'')  # quick
    script = (
        "image, layer = make_image()\nimage.set_selected_layers([layer])\n"
        + snippet
        + "report(status=result.index(0).value_nick, layers=describe(image))\n"
    )
    _, _, _, (run,) = gimp.batch(script)
    assert run["status"] == "success"
    assert [layer["name"] for layer in run["layers"]] == ["starry_night 70% · vgg19", "photo"]


def test_regions_snippet_from_the_docs(gimp):
    text = GIMP_MD.read_text(encoding="utf-8")
    first = re.search(r"```python\n(image = Gimp.get_images.*?)```", text, re.S).group(1)
    first = first.replace("'{\"seed\": 1}'", '\'{"seed": 1, "iterations": 3}\'')
    regions = re.search(r"```python\n(w, h = image.get_width.*?)```", text, re.S).group(1)
    script = (
        "image, layer = make_image(96, 64)\nimage.set_selected_layers([layer])\n"
        + first
        + regions
        + "report(status=result.index(0).value_nick, layers=describe(image),"
        + " channels=[c.get_name() for c in image.get_channels()])\n"
    )
    _, _, _, (run,) = gimp.batch(script)
    assert run["status"] == "success", run
    first, regions, photo = [layer["name"] for layer in run["layers"]]  # each above the photo
    assert first == "starry_night 70% · vgg19" and photo == "photo"
    assert regions.startswith("starry_night + wave 50% · "), regions
    assert run["channels"] == ["right", "left"]


def test_batch_one_liner_from_the_docs(gimp):
    text = GIMP_MD.read_text(encoding="utf-8")
    line = next(x for x in text.splitlines() if x.startswith("gimp-console -idf"))
    work = f"/tmp/nst-oneliner-{uuid.uuid4().hex[:8]}"
    host = gimp.root / work.lstrip("/")
    host.mkdir()
    try:
        subprocess.run(
            [
                "convert",
                str(REPO / "nst_plugin/examples/wave.jpg"),
                "-resize",
                "64x",
                str(host / "photo.jpg"),
            ],
            check=True,
            timeout=60,
        )
        argv = gimp_screenshot.chroot_argv(
            gimp.root, gimp.env, ["sh", "-c", f"cd {work} && {line}"]
        )
        done = subprocess.run(
            argv, capture_output=True, text=True, timeout=300, start_new_session=True
        )
        assert done.returncode == 0, done.stderr[-3000:]
        width, _ = editors.png_size(host / "photo-styled.png")
        assert width == 64  # the whole photo, stylized and flattened
    finally:
        shutil.rmtree(host, ignore_errors=True)


# ------------------------------------------------------------------ the GUI under Xvfb


def test_one_ctrl_z_removes_the_new_layer(gimp):
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    outcome = gimp_screenshot.undo_in_gui(gimp.root, gimp.chroot_dir, gimp.env)
    assert outcome["after_run"]["status"] == "success", outcome
    assert outcome["after_run"]["layers"] == ["wave 50% · vgg19", "photo"]
    assert outcome["after_undo"]["layers"] == ["photo"]
    assert outcome["after_undo"]["sha"] == outcome["after_run"]["sha"]  # source untouched


def test_dialog_opens_with_the_last_values_and_ok_runs(gimp):
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    last = {
        "style": "wave",
        "strength": 0.3,
        "quality": "draft",
        "engine": "vgg19",
        "options": FAST,
    }
    outcome = gimp_screenshot.interactive_run(gimp.root, gimp.chroot_dir, gimp.env, last)
    assert outcome["status"] == "success", outcome
    assert outcome["layers"] == ["wave 30% · vgg19", "photo"]  # the remembered values
    # GIMP saved this run's values for the next one.
    assert '(style "wave")' in outcome["last"]
    assert re.search(r"\(strength 0\.(3|29999)", outcome["last"])


def test_cancel_in_the_status_bar_cancels_the_job(gimp, nst_service):
    """The user's cancel: GIMP kills the plug-in, the service cancels its job."""
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    known = {j["id"] for j in _jobs(nst_service)}
    seen = []

    def cancel_when_running(press_cancel):
        deadline = time.monotonic() + 120
        while not seen and time.monotonic() < deadline:
            seen.extend(
                j
                for j in _jobs(nst_service)
                if j["id"] not in known and j["state"] == "running" and j.get("step")
            )
            time.sleep(0.2)
        assert seen, "the plug-in's job never started running"
        press_cancel()

    last = {
        "style": "wave",
        "quality": "draft",
        "engine": "vgg19",
        "options": '{"iterations": 100000}',
    }
    outcome = gimp_screenshot.interactive_run(
        gimp.root, gimp.chroot_dir, gimp.env, last, cancel_when_running
    )
    assert outcome["status"] != "success" and outcome["layers"] == ["photo"]
    service = nst_service["client"]
    deadline = time.monotonic() + 30
    while service.status(seen[0]["id"])["state"] == "running":
        assert time.monotonic() < deadline, "the job still runs after the plug-in ended"
        time.sleep(0.2)
    assert service.status(seen[0]["id"])["state"] == "cancelled"


def test_dialog_screenshot(gimp, tmp_path):
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    shot = Path(os.environ.get("NST_EDITOR_SHOTS", tmp_path)) / "gimp-dialog.png"
    found = gimp_screenshot.dialog_screenshot(gimp.root, gimp.chroot_dir, gimp.env, shot)
    assert found["dialog"], "the Neural Style Transfer dialog did not open"
    assert found["preview"] and found["preview"]["sha1"], found["preview"]  # it shows one
    assert shot.stat().st_size < 500_000
    assert editors.png_size(shot) == gimp_screenshot.SCREEN


def test_dialog_preview_follows_style_and_strength(gimp, nst_service, tmp_path):
    """The quick preview (fast engine): a sentence for an unknown style, a picture once a
    style is typed, another one when the strength changes, never an older one after it; OK
    still renders with the service's default engine (vgg19)."""
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    known = {j["id"] for j in _jobs(nst_service)}
    seen = {}

    def in_dialog(gui, dialog):
        seen["dialog"] = dialog
        seen["error"] = gui.wait_preview(lambda t: "no_such_style" in t["message"])
        gimp_screenshot.type_in_field(gui.display, dialog, "y", "wave")  # Alt+Y: Style
        seen["weak"] = gui.wait_preview(lambda t: t["sha1"] and t["style"] == "wave")
        time.sleep(1.0)  # GTK paints it
        gui.xvfb.screenshot(tmp_path / "weak.png")
        gimp_screenshot.type_in_field(gui.display, dialog, "t", "100")  # Alt+T: Strength %
        seen["strong"] = gui.wait_preview(lambda t: t["sha1"] and t["strength"] == 1.0)
        time.sleep(1.0)
        gui.xvfb.screenshot(tmp_path / "strong.png")
        seen["trace"] = gui.preview_trace()

    last = {
        "style": "no_such_style",
        "strength": 0.0,
        "quality": "draft",
        "engine": "vgg19",
        "options": FAST,
    }
    outcome = gimp_screenshot.interactive_run(
        gimp.root, gimp.chroot_dir, gimp.env, last, in_dialog=in_dialog
    )
    message = seen["error"]["message"]
    assert message.endswith(".") and "\n" not in message and "Traceback" not in message
    weak, strong = seen["weak"], seen["strong"]
    assert weak["strength"] == 0.0 and weak["mapped"] and max(weak["size"]) == 256
    assert strong["sha1"] != weak["sha1"]
    later = seen["trace"][seen["trace"].index(strong) :]
    assert all(t["strength"] == 1.0 for t in later if t["sha1"]), later  # nothing stale
    # On the screen: a picture in the preview's box, which changed with the strength.
    x, y, _, _ = seen["dialog"]
    bx, by, bw, bh = strong["box"]
    box = (x + bx, y + by, bw, bh)
    assert gimp_screenshot.region_stats(tmp_path / "strong.png", box) > 0.1  # blank: 0
    assert gimp_screenshot.region_stats(tmp_path / "weak.png", box, tmp_path / "strong.png") > 0.03
    # OK renders the dialog's values with the default engine; no preview job is left.
    assert outcome["status"] == "success", outcome
    assert outcome["layers"] == ["wave 100% · vgg19", "photo"]
    jobs = [j for j in _jobs(nst_service) if j["id"] not in known]
    assert [j["engine"] for j in jobs if j["state"] == "done" and j["engine"] != "fast"] == [
        "vgg19"
    ], jobs
    assert not [j for j in jobs if j["state"] in ("queued", "running")], jobs


def test_dialog_regions_from_channels(gimp, nst_service):
    """Two channels named after library styles and the regions on: the preview shows both
    styles, OK adds one layer named after them; Regions from channels is remembered."""
    reason = gimp_screenshot.gui_missing_reason()
    if reason:
        pytest.skip(reason)
    seen = {}

    def in_dialog(gui, dialog):
        seen["preview"] = gui.wait_preview(lambda t: t["sha1"] and " + " in (t["style"] or ""))

    last = {"channel-regions": True, "engine": "fast", "strength": 0.5, "style": ""}
    outcome = gimp_screenshot.interactive_run(
        gimp.root,
        gimp.chroot_dir,
        {**gimp.env, "NST_SHOT_REGIONS": "starry_night,wave"},
        last,
        in_dialog=in_dialog,
    )
    assert seen["preview"]["style"] == "wave + starry_night"  # the Channels list's order
    assert outcome["status"] == "success", outcome
    assert outcome["layers"] == ["wave + starry_night 50% · fast", "photo"]
    assert "(channel-regions yes)" in outcome["last"]
