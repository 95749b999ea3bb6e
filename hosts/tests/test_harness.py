"""The real-editor harness itself, proven with throwaway plug-ins made in temp dirs.

Krita: the full Krita 5.1 under Xvfb loads an enabled pykrita plug-in (extension + docker) and
the driver runs code in it. GIMP 3 (trixie chroot): a Gimp.PlugIn in the user plug-in folder
is found in the PDB and run NONINTERACTIVE from a batch script; errors come back; it reaches
a server on 127.0.0.1 outside the chroot; the GUI can be screenshot under Xvfb.
"""

from __future__ import annotations

import os
import shutil
import sys
import textwrap
from pathlib import Path

import editors
import pytest


@pytest.fixture
def shots_dir(tmp_path) -> Path:
    """Where screenshots go: $NST_EDITOR_SHOTS when set (to look at them), else tmp_path."""
    d = Path(os.environ.get("NST_EDITOR_SHOTS") or tmp_path)
    d.mkdir(parents=True, exist_ok=True)
    return d


# --------------------------------------------------------------------------------------------
# Krita

KRITA_PROBE = textwrap.dedent("""\
    from krita import Krita, Extension, DockWidget, DockWidgetFactory, DockWidgetFactoryBase
    from PyQt5.QtWidgets import QLabel

    STATE = {"setup": False, "windows": 0, "triggered": 0}


    class ProbeDocker(DockWidget):
        def __init__(self):
            super().__init__()
            self.setWindowTitle("NST Probe Docker")
            self.setWidget(QLabel("NST probe docker"))

        def canvasChanged(self, canvas):
            pass


    class ProbeExtension(Extension):
        def setup(self):
            STATE["setup"] = True

        def createActions(self, window):
            STATE["windows"] += 1
            action = window.createAction("nst_probe_action", "NST probe", "tools/scripts")
            action.triggered.connect(self.run)

        def run(self):
            STATE["triggered"] += 1


    Krita.instance().addExtension(ProbeExtension(Krita.instance()))
    Krita.instance().addDockWidgetFactory(
        DockWidgetFactory("nst_probe_docker", DockWidgetFactoryBase.DockRight, ProbeDocker))
""")

KRITA_DRIVE = textwrap.dedent("""\
    import sys

    def drive(result):
        probe = sys.modules.get("nst_probe")
        result["imported"] = probe is not None
        result["module_file"] = getattr(probe, "__file__", None)
        result["setup"] = probe.STATE["setup"]
        result["windows"] = probe.STATE["windows"]
        Krita.instance().action("nst_probe_action").trigger()
        result["triggered"] = probe.STATE["triggered"]
        docks = [d for d in Krita.instance().dockers() if d.windowTitle() == "NST Probe Docker"]
        result["docker_found"] = len(docks)

        doc = Krita.instance().createDocument(64, 48, "t", "RGBA", "U8", "", 72.0)
        main_window().addView(doc)
        layer = doc.createNode("probe layer", "paintlayer")
        doc.rootNode().addChildNode(layer, None)
        # 8-bit RGBA pixel data is B, G, R, A: opaque magenta plus a varying stripe.
        data = bytearray(bytes([255, 0, 255, 255]) * (64 * 48))
        for x in range(64):
            data[4 * x:4 * x + 4] = bytes([x, 2 * x, 3 * x, 255])
        layer.setPixelData(bytes(data), 0, 0, 64, 48)
        doc.refreshProjection()
        back = bytes(layer.pixelData(0, 0, 64, 48))
        result["pixel_bytes"] = len(back)
        result["roundtrip"] = back == bytes(data)
        result["channels"] = [c.name() for c in layer.channels()]
        result["layers"] = [n.name() for n in doc.topLevelNodes()]
        for d in docks:
            d.show()
        process_events(0.5)
        result["docker_visible"] = any(d.isVisible() for d in docks)
        result["window_size"] = [main_window().qwindow().width(),
                                 main_window().qwindow().height()]
        result["shot"] = screenshot(SHOT)
        doc.setModified(False)
""")


def _krita_probe(home: Path) -> None:
    editors.write_krita_plugin(home, "nst_probe", KRITA_PROBE, "NST harness probe")


def test_krita_full_window_loads_enabled_plugin(krita_home, shots_dir):
    locks = editors.x_server_locks()
    _krita_probe(krita_home)
    shot = shots_dir / "krita-harness.png"
    code = f"SHOT = {str(shot)!r}\n" + KRITA_DRIVE
    outcome = editors.run_krita(krita_home, code, enable=["nst_probe"], timeout=90)
    r = outcome["result"]
    assert r["imported"] and r["module_file"].startswith(str(krita_home))
    assert r["setup"] is True and r["windows"] >= 1 and r["triggered"] == 1
    assert r["docker_found"] == 1 and r["docker_visible"]
    assert r["pixel_bytes"] == 64 * 48 * 4 and r["roundtrip"]
    assert r["channels"][:3] == ["Blue", "Green", "Red"]
    assert "probe layer" in r["layers"]
    assert r["window_size"] == list(editors.KRITA_SCREEN)
    assert outcome["uncaught"] == []
    assert editors.png_size(shot) == editors.KRITA_SCREEN
    if shutil.which("convert"):
        # The 64x48 magenta canvas shows on screen (whatever the zoom).
        assert editors.count_color(shot, (255, 0, 255)) > 500
    assert editors.processes_with_home(krita_home) == []
    assert editors.x_server_locks() == locks


def test_krita_plugin_not_enabled_is_not_loaded(krita_home):
    _krita_probe(krita_home)
    outcome = editors.run_krita(
        krita_home,
        "import sys\ndef drive(result):\n    result['imported'] = 'nst_probe' in sys.modules\n",
    )
    assert outcome["result"] == {"imported": False}
    assert "enable_nst_probe" not in editors.kritarc_path(krita_home).read_text()


def test_krita_drive_errors_and_timeouts(krita_home):
    code = "def drive(result):\n    result['before'] = 1\n    raise ValueError('boom 42')\n"
    with pytest.raises(editors.EditorError, match="boom 42"):
        editors.run_krita(krita_home, code)
    outcome = editors.run_krita(krita_home, code, check=False)
    assert not outcome["ok"] and "ValueError: boom 42" in outcome["traceback"]
    assert outcome["result"] == {"before": 1}

    locks = editors.x_server_locks()
    hang = "import time\ndef drive(result):\n    time.sleep(600)\n"
    with pytest.raises(editors.EditorError, match="did not finish within"):
        editors.run_krita(krita_home, hang, timeout=10)
    assert editors.processes_with_home(krita_home) == []
    assert editors.x_server_locks() == locks


# --------------------------------------------------------------------------------------------
# GIMP 3

GIMP_PROBE = textwrap.dedent("""\
    #!/usr/bin/env python3
    import os, sys, urllib.request
    import gi
    gi.require_version("Gimp", "3.0")
    from gi.repository import Gimp, GLib, GObject

    NAME = "{name}"


    class Probe(Gimp.PlugIn):
        def do_query_procedures(self):
            return [NAME]

        def do_set_i18n(self, name):
            return False

        def do_create_procedure(self, name):
            proc = Gimp.ImageProcedure.new(self, name, Gimp.PDBProcType.PLUGIN, self.run, None)
            proc.set_image_types("*")
            proc.set_menu_label("NST harness probe")
            proc.set_documentation("Harness probe", "Adds a layer above the drawable", name)
            proc.set_attribution("nst-plugin", "nst-plugin", "2025")
            proc.add_double_argument("strength", "Strength", "above 5 fails", 0.0, 10.0, 1.0,
                                     GObject.ParamFlags.READWRITE)
            proc.add_string_argument("url", "URL", "names the layer when set", "",
                                     GObject.ParamFlags.READWRITE)
            return proc

        def run(self, procedure, run_mode, image, drawables, config, data):
            strength = config.get_property("strength")
            url = config.get_property("url")
            print("PROBE-RUN", run_mode.value_nick, strength,
                  os.environ.get("NST_PROBE_ENV"), flush=True)
            if strength > 5:
                return procedure.new_return_values(
                    Gimp.PDBStatusType.EXECUTION_ERROR,
                    GLib.Error.new_literal(Gimp.PlugIn.error_quark(),
                                           "probe: strength %g is too high" % strength, 0))
            name = "probe layer"
            if url:
                name = urllib.request.urlopen(url, timeout=10).read().decode().strip()
            src = drawables[0]
            layer = Gimp.Layer.new(image, name, image.get_width(), image.get_height(),
                                   Gimp.ImageType.RGBA_IMAGE, 100.0, Gimp.LayerMode.NORMAL)
            image.insert_layer(layer, src.get_parent(), image.get_item_position(src))
            return procedure.new_return_values(Gimp.PDBStatusType.SUCCESS, GLib.Error())


    Gimp.main(Probe.__gtype__, sys.argv)
""")

GIMP_BATCH = textwrap.dedent("""\
    import json, os
    import gi
    gi.require_version("Gimp", "3.0")
    from gi.repository import Gimp

    image = Gimp.Image.new(64, 48, Gimp.ImageBaseType.RGB)
    bg = Gimp.Layer.new(image, "bg", 64, 48, Gimp.ImageType.RGB_IMAGE, 100.0,
                        Gimp.LayerMode.NORMAL)
    image.insert_layer(bg, None, 0)
    proc = Gimp.get_pdb().lookup_procedure(os.environ["NST_PROBE_NAME"])
    out = {"found": proc is not None, "runs": []}
    for strength in json.loads(os.environ["NST_PROBE_STRENGTHS"]):
        cfg = proc.create_config()
        cfg.set_property("run-mode", Gimp.RunMode.NONINTERACTIVE)
        cfg.set_property("image", image)
        cfg.set_core_object_array("drawables", [bg])
        cfg.set_property("strength", strength)
        cfg.set_property("url", os.environ.get("NST_PROBE_URL", ""))
        res = proc.run(cfg)
        values = [res.index(i) for i in range(res.length())]
        out["runs"].append({"status": values[0].value_nick,
                            "message": values[1] if len(values) > 1 else None,
                            "layers": [l.get_name() for l in image.get_layers()]})
    print("RESULT " + json.dumps(out), flush=True)
    image.delete()
""")


def _batch_result(stdout: str) -> dict:
    import json

    lines = [line for line in stdout.splitlines() if line.startswith("RESULT ")]
    assert lines, stdout
    return json.loads(lines[-1][len("RESULT ") :])


def test_gimp_plugin_runs_noninteractive_and_reports_errors(
    gimp_root, gimp_plugins, run_gimp_batch
):
    name = gimp_plugins(GIMP_PROBE)
    plugin = editors.install_gimp_plugin_dir(gimp_root) / "plug-ins" / name / f"{name}.py"
    assert os.access(plugin, os.X_OK)
    rc, out, err = run_gimp_batch(
        GIMP_BATCH,
        env={"NST_PROBE_NAME": name, "NST_PROBE_STRENGTHS": "[2.0, 7.0]", "NST_PROBE_ENV": "seen"},
    )
    assert rc == 0, err[-3000:]
    r = _batch_result(out)
    assert r["found"]
    ok, bad = r["runs"]
    assert ok == {"status": "success", "message": None, "layers": ["probe layer", "bg"]}
    assert bad["status"] == "execution-error"
    assert bad["message"] == "probe: strength 7 is too high"
    assert bad["layers"] == ["probe layer", "bg"]
    # Variables given to gimp-console reach the plug-in; what it prints arrives on stdout.
    assert "PROBE-RUN noninteractive 2.0 seen" in out


def test_gimp_batch_script_errors_and_timeouts(gimp_root, run_gimp_batch):
    rc, out, err = run_gimp_batch("print('before', flush=True)\nraise RuntimeError('bad 17')\n")
    assert rc == 64 and "before" in out
    assert "RuntimeError: bad 17" in err and "/tmp/nst-batch-" in err
    with pytest.raises(editors.EditorError, match="did not finish within"):
        run_gimp_batch("import time\ntime.sleep(600)\n", timeout=6)
    assert editors.processes_in_root(gimp_root) == []
    assert editors.mounts_under(gimp_root) == []
    assert not list((gimp_root / "tmp").glob("nst-batch-*"))


@pytest.fixture
def http_server(tmp_path):
    """``python3 -m http.server`` on a free port of 127.0.0.1, serving tmp_path/www."""
    import socket
    import subprocess
    import time

    www = tmp_path / "www"
    www.mkdir()
    (www / "name.txt").write_text("layer from http\n")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "http.server",
            str(port),
            "--bind",
            "127.0.0.1",
            "--directory",
            str(www),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


def test_gimp_plugin_reaches_server_outside_chroot(gimp_plugins, run_gimp_batch, http_server):
    name = gimp_plugins(GIMP_PROBE)
    rc, out, err = run_gimp_batch(
        GIMP_BATCH,
        env={
            "NST_PROBE_NAME": name,
            "NST_PROBE_STRENGTHS": "[1.0]",
            "NST_PROBE_URL": http_server + "/name.txt",
        },
    )
    assert rc == 0, err[-3000:]
    (run,) = _batch_result(out)["runs"]
    assert run["status"] == "success" and run["layers"] == ["layer from http", "bg"]


GIMP_GUI = textwrap.dedent("""\
    import gi
    gi.require_version("Gimp", "3.0")
    gi.require_version("Gegl", "0.4")
    from gi.repository import Gimp, Gegl

    image = Gimp.Image.new(320, 240, Gimp.ImageBaseType.RGB)
    layer = Gimp.Layer.new(image, "red", 320, 240, Gimp.ImageType.RGB_IMAGE, 100.0,
                           Gimp.LayerMode.NORMAL)
    image.insert_layer(layer, None, 0)
    buf = layer.get_buffer()
    buf.set(Gegl.Rectangle.new(0, 0, 320, 240), "R'G'B' u8", bytes([255, 0, 0]) * (320 * 240))
    buf.flush()
    layer.update(0, 0, 320, 240)
    Gimp.Display.new(image)
""")


def test_gimp_gui_screenshot(gimp_root, shots_dir):
    if not shutil.which("Xvfb") or not shutil.which("import"):
        pytest.skip("Xvfb and ImageMagick needed: run .ci/install-editors")
    shot = shots_dir / "gimp-harness.png"
    locks = editors.x_server_locks()
    editors.run_gimp_gui_screenshot(gimp_root, GIMP_GUI, shot)
    assert editors.x_server_locks() == locks
    assert editors.png_size(shot) == (1600, 1000)
    # The 320x240 red image shows at 100 % in the canvas.
    assert editors.count_color(shot, (255, 0, 0)) >= 0.95 * 320 * 240
    assert editors.processes_in_root(gimp_root) == []
    assert editors.mounts_under(gimp_root) == []
