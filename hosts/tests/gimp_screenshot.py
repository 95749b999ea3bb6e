"""The GIMP 3 GUI under Xvfb, for the nst-stylize plug-in: its dialog's screenshot, Ctrl+Z.

GIMP runs in the trixie chroot (``.ci/install-editors``) with a private configuration folder
(``GIMP3_DIRECTORY``) and a python-fu-eval script that talks to this process through flag
files in the chroot's /tmp. Keys come from the XTest extension (libXtst through ctypes).

As a script, it makes docs/gimp-dialog.png: it starts ``nst serve --weights random``,
installs the plug-in with ``nst install-host gimp`` into a throwaway GIMP folder, opens an
image and the plug-in's dialog, and saves the screen:

    .venv/bin/python hosts/tests/gimp_screenshot.py [OUT.png]
"""

from __future__ import annotations

import ctypes
import ctypes.util
import json
import os
import select
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import editors  # noqa: E402

SCREEN = (1280, 800)
DIALOG_TITLE = "Neural Style Transfer"

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
                info["mask"] = {"on": len(on), "x": [min(p[0] for p in on), max(p[0] for p in on)],
                                "y": [min(p[1] for p in on), max(p[1] for p in on)]} if on else {"on": 0}
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
            config.set_property(key.replace("_", "-"), value)
        result = proc.run(config)
        message = result.index(1) if result.length() > 1 else None
        return result.index(0).value_nick, message

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


def gui_missing_reason() -> str | None:
    for tool in ("Xvfb", "import", "xwininfo"):
        if not shutil.which(tool):
            return f"{tool} not installed: run .ci/install-editors"
    if not ctypes.util.find_library("Xtst"):
        return "libXtst not installed (needed to press Ctrl+Z under Xvfb)"
    return None


# ------------------------------------------------------------------------------- X helpers


def _xlib():
    x11 = ctypes.CDLL(ctypes.util.find_library("X11"))
    xtst = ctypes.CDLL(ctypes.util.find_library("Xtst"))
    x11.XOpenDisplay.restype = ctypes.c_void_p
    x11.XOpenDisplay.argtypes = [ctypes.c_char_p]
    x11.XStringToKeysym.restype = ctypes.c_ulong
    x11.XStringToKeysym.argtypes = [ctypes.c_char_p]
    x11.XKeysymToKeycode.restype = ctypes.c_ubyte
    x11.XKeysymToKeycode.argtypes = [ctypes.c_void_p, ctypes.c_ulong]
    x11.XFlush.argtypes = x11.XCloseDisplay.argtypes = [ctypes.c_void_p]
    xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                                       ctypes.c_ulong]
    xtst.XTestFakeMotionEvent.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_int,
                                          ctypes.c_int, ctypes.c_ulong]
    return x11, xtst


def press_keys(display: str, keys: list[str], pointer: tuple[int, int]) -> None:
    """Move the pointer to ``pointer`` (no window manager: focus follows it) and press the
    keys together, e.g. ``["Control_L", "z"]``, through XTest."""
    x11, xtst = _xlib()
    dpy = x11.XOpenDisplay(display.encode())
    if not dpy:
        raise RuntimeError(f"cannot open X display {display}")
    try:
        xtst.XTestFakeMotionEvent(dpy, -1, pointer[0], pointer[1], 0)
        x11.XFlush(dpy)
        time.sleep(0.3)
        codes = [x11.XKeysymToKeycode(dpy, x11.XStringToKeysym(k.encode())) for k in keys]
        for code in codes:
            xtst.XTestFakeKeyEvent(dpy, code, 1, 0)
        for code in reversed(codes):
            xtst.XTestFakeKeyEvent(dpy, code, 0, 0)
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)


def find_window(display: str, title: str) -> tuple[int, int, int, int] | None:
    """(x, y, width, height) of a mapped window whose name is ``title`` (xwininfo)."""
    out = subprocess.run(["xwininfo", "-root", "-tree", "-display", display],
                         capture_output=True, text=True, timeout=20).stdout
    for line in out.splitlines():
        if f'"{title}"' in line:
            geometry = line.split(")")[-1].split()[0]  # WxH+X+Y  +absX+absY
            size, _, rest = geometry.partition("+")
            w, h = (int(v) for v in size.split("x"))
            ax, ay = (int(v) for v in line.split()[-1].lstrip("+").split("+"))
            if w > 50 and h > 50:
                return ax, ay, w, h
    return None


# ------------------------------------------------------------------------------- GIMP GUI


def kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    """End the process group that ``proc`` leads (start_new_session): TERM, then KILL."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            try:
                os.killpg(proc.pid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


class Xvfb:
    """``with Xvfb(w, h) as x:`` an X server for GIMP (``x.display``), ``x.screenshot(path)``.

    Its own small copy rather than editors.Xvfb, whose start-up checks are still changing:
    ``-displayfd`` reports the display number once the server accepts connections. No TCP;
    the abstract socket is shared with the chroot (same network namespace)."""

    def __init__(self, width: int, height: int):
        self.size = (width, height)
        self.proc = None
        self.display = None

    def __enter__(self):
        r, w = os.pipe()
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", "%dx%dx24" % self.size,
             "-nolisten", "tcp"], pass_fds=(w,), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(w)
        data = b""
        deadline = time.monotonic() + 30
        try:
            while not data.endswith(b"\n") and time.monotonic() < deadline:
                if select.select([r], [], [], 1)[0]:
                    chunk = os.read(r, 64)
                    if not chunk:
                        break
                    data += chunk
        finally:
            os.close(r)
        if not data.strip():
            self.__exit__()
            raise editors.EditorError("Xvfb did not start")
        self.display = ":" + data.decode().strip()
        return self

    def screenshot(self, path) -> Path:
        subprocess.run(["import", "-display", self.display, "-window", "root",
                        f"png24:{path}"], check=True, timeout=30, capture_output=True)
        return Path(path)

    def __exit__(self, *exc):
        if self.proc is not None:
            kill_group(self.proc)
            self.proc.wait()
            self.proc = None


def chroot_argv(root: Path, env: dict, command: list[str]) -> list[str]:
    """``command`` in the chroot, in a private mount namespace with /proc, with only ``env``
    (and HOME, PATH, LANG) in its environment."""
    inner = (f"mount -t proc proc {shlex.quote(str(Path(root) / 'proc'))} && exec "
             + shlex.join(["chroot", str(root), "env", "-i", "HOME=/root", "PATH=/usr/bin:/bin",
                           "LANG=C.UTF-8", *(f"{k}={v}" for k, v in env.items()), *command]))
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]


def _fill_screen_session(gimp_dir: Path, root: Path) -> None:
    """Xvfb has no window manager: the image window covers the screen (sessionrc)."""
    import re
    text = (root / "etc/gimp/3.0/sessionrc").read_text(encoding="utf-8")
    text = re.sub(r"\(position -?\d+ -?\d+\)\n(\s*)\(size \d+ \d+\)",
                  lambda m: f"(position 0 0)\n{m.group(1)}(size {SCREEN[0]} {SCREEN[1]})",
                  text)
    (gimp_dir / "sessionrc").write_text(text, encoding="utf-8")


class GimpGui:
    """``with GimpGui(root, gimp_dir, env, script) as gui:`` the GUI gimp runs PRELUDE +
    ``script`` (python-fu-eval); ``gui.wait_flag(name)`` / ``gui.set_flag(name)`` talk to it,
    ``gui.display`` is its Xvfb display. Everything ends with the block."""

    def __init__(self, root: Path, gimp_dir: str, env: dict, script: str, timeout=240):
        self.root, self.gimp_dir, self.env, self.script = Path(root), gimp_dir, env, script
        self.timeout = timeout
        token = uuid.uuid4().hex[:10]
        self.flags_inside = f"/tmp/nst-gui-{token}"
        self.flags = self.root / self.flags_inside.lstrip("/")
        self.script_path = self.root / f"tmp/nst-gui-{token}.py"

    def __enter__(self):
        self.proc = self.xvfb = self.log = None
        try:
            return self._start()
        except BaseException:
            self.__exit__()
            raise

    def _start(self):
        self.flags.mkdir()
        _fill_screen_session(self.root / self.gimp_dir.lstrip("/"), self.root)
        self.script_path.write_text(PRELUDE + textwrap.dedent(self.script), encoding="utf-8")
        self.xvfb = Xvfb(*SCREEN).__enter__()
        self.display = self.xvfb.display
        env = {"DISPLAY": self.display, "NO_AT_BRIDGE": "1", "GTK_A11Y": "none",
               "NST_GUI_FLAGS": self.flags_inside, **self.env}
        inside = "/" + str(self.script_path.relative_to(self.root))
        batch = f'import runpy; runpy.run_path("{inside}", run_name="__main__")'
        command = ["gimp", "--no-splash", "-df", "--batch-interpreter", "python-fu-eval",
                   "-b", batch]
        self.log = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(chroot_argv(self.root, env, command),
                                     stdin=subprocess.DEVNULL, stdout=self.log,
                                     stderr=subprocess.STDOUT, start_new_session=True)
        self.deadline = time.monotonic() + self.timeout
        return self

    def output(self) -> str:
        self.log.seek(0)
        return self.log.read().decode("utf-8", "replace")

    def wait_flag(self, name: str, timeout: float = 180):
        path = self.flags / name
        deadline = min(self.deadline, time.monotonic() + timeout)
        while not path.exists():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise editors.EditorError(f"GIMP GUI: no {name!r} flag; output tail:\n"
                                          + "\n".join(self.output().splitlines()[-30:]))
            time.sleep(0.1)
        return json.loads(path.read_text(encoding="utf-8"))

    def set_flag(self, name: str, value=None) -> None:
        (self.flags / (name + ".part")).write_text(json.dumps(value), encoding="utf-8")
        (self.flags / (name + ".part")).replace(self.flags / name)

    def __exit__(self, *exc):
        try:
            if self.proc is not None:
                kill_group(self.proc)  # gimp and its plug-ins (one process group)
                self.proc.wait()
        finally:
            if self.xvfb is not None:
                self.xvfb.__exit__()
            if self.log is not None:
                self.log.close()
            shutil.rmtree(self.flags, ignore_errors=True)
            self.script_path.unlink(missing_ok=True)


UNDO_SCRIPT = '''
    image, layer = make_image(320, 240)
    image.select_rectangle(Gimp.ChannelOps.REPLACE, 100, 80, 60, 40)  # the layer gets a mask
    image.undo_disable()  # frees the undo steps of making the image
    image.undo_enable()
    Gimp.Display.new(image)
    status, message = stylize(image, layer, style="wave", quality="draft",
                              options='{"iterations": 3}')
    Gimp.displays_flush()
    flag("ran", {"status": status, "message": message,
                 "layers": [l.get_name() for l in image.get_layers()], "sha": describe(image)[-1]["sha"]})
    wait_flag("undone")
    flag("result", {"layers": [l.get_name() for l in image.get_layers()],
                    "sha": describe(image)[-1]["sha"]})
'''


def undo_in_gui(root: Path, gimp_dir: str, env: dict) -> dict:
    """Run the plug-in on an image shown in GIMP's window, press Ctrl+Z once, report."""
    with GimpGui(root, gimp_dir, env, UNDO_SCRIPT) as gui:
        after_run = gui.wait_flag("ran")
        time.sleep(1.0)  # let the window show the new layer
        press_keys(gui.display, ["Control_L", "z"], (SCREEN[0] // 2, SCREEN[1] // 2))
        time.sleep(1.0)
        gui.set_flag("undone")
        after_undo = gui.wait_flag("result", 60)
    return {"after_run": after_run, "after_undo": after_undo}


def click(display: str, x: int, y: int) -> None:
    """A left click at (x, y) through XTest."""
    x11, xtst = _xlib()
    xtst.XTestFakeButtonEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                                          ctypes.c_ulong]
    dpy = x11.XOpenDisplay(display.encode())
    try:
        xtst.XTestFakeMotionEvent(dpy, -1, x, y, 0)
        x11.XFlush(dpy)
        time.sleep(0.3)
        xtst.XTestFakeButtonEvent(dpy, 1, 1, 0)
        x11.XFlush(dpy)
        time.sleep(0.1)
        xtst.XTestFakeButtonEvent(dpy, 1, 0, 0)
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)


INTERACTIVE_SCRIPT = '''
    image, layer = make_image(64, 48)
    Gimp.Display.new(image)
    Gimp.displays_flush()
    flag("shown")
    status, message = stylize(image, layer, run_mode=Gimp.RunMode.INTERACTIVE)
    flag("ran", {"status": status, "message": message,
                 "layers": [l.get_name() for l in image.get_layers()]})
'''


def last_values_file(root: Path, gimp_dir: str) -> Path:
    """Where GIMP 3.0 keeps the values of the procedure's last interactive run."""
    return (Path(root) / gimp_dir.lstrip("/") / "plug-in-settings"
            / "GimpProcedureConfigRun-plug-in-nst-stylize.last")


def interactive_run(root: Path, gimp_dir: str, env: dict, last: dict,
                    while_running=None) -> dict:
    """An interactive run as from the menu: GIMP opens the dialog with the last values
    (written first from ``last``, as a previous run leaves them), this clicks OK, GIMP shows
    the progress in its status bar. ``while_running(press_cancel)`` is called after OK; it
    may call ``press_cancel()`` to click the progress's Cancel button. Returns the outcome
    and the last values GIMP saved afterwards (``last``: the file's text or None)."""
    path = last_values_file(root, gimp_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"({key} {json.dumps(value) if isinstance(value, str) else value})"
             for key, value in last.items()]
    path.write_text("# settings\n\n" + "\n".join(lines) + "\n\n# end of settings\n",
                    encoding="utf-8")
    with GimpGui(root, gimp_dir, env, INTERACTIVE_SCRIPT) as gui:
        gui.wait_flag("shown")
        deadline = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < deadline:
            found = find_window(gui.display, DIALOG_TITLE)
            time.sleep(0.3)
        if found is None:
            raise editors.EditorError("the plug-in's dialog did not open:\n" + gui.output())
        time.sleep(1.0)
        x, y, w, h = found
        click(gui.display, x + w - 68, y + h - 42)  # OK, bottom right of the dialog
        time.sleep(1.0)
        if while_running is not None:
            # The progress's Cancel button sits at the right of GIMP's status bar.
            while_running(lambda: click(gui.display, SCREEN[0] - 285, SCREEN[1] - 18))
        outcome = gui.wait_flag("ran", 180)
    outcome["last"] = path.read_text(encoding="utf-8") if path.exists() else None
    return outcome


DIALOG_SCRIPT = '''
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
    stylize(image, layer, run_mode=Gimp.RunMode.INTERACTIVE, **given)
'''


def dialog_screenshot(root: Path, gimp_dir: str, env: dict, out: Path,
                      image: str | None = None, style: str | None = None,
                      settle: float = 4.0) -> dict:
    """Open the plug-in's dialog over an image in GIMP's window and save the screen.

    ``image``: a file inside the chroot to show (else a made-up one); ``style``: the style
    (strength 0.7) the dialog opens with."""
    extra = {"NST_SHOT_IMAGE": image, "NST_SHOT_STYLE": style}
    with GimpGui(root, gimp_dir, {**env, **{k: v for k, v in extra.items() if v}},
                 DIALOG_SCRIPT) as gui:
        gui.wait_flag("shown")
        deadline = time.monotonic() + 60
        found = None
        while found is None and time.monotonic() < deadline:
            found = find_window(gui.display, DIALOG_TITLE)
            time.sleep(0.5)
        time.sleep(settle)  # the style library fills in; GIMP paints
        out.parent.mkdir(parents=True, exist_ok=True)
        gui.xvfb.screenshot(out)
        _shrink(out)
    return {"dialog": found}


def _shrink(path: Path, limit: int = 500_000) -> None:
    """Keep a screenshot under ``limit`` bytes (fewer colours when needed)."""
    for colours in (None, 256, 64):
        args = ["convert", str(path)] + (["-colors", str(colours)] if colours else []) + \
               ["-strip", "-define", "png:compression-level=9", f"png:{path}.tmp"]
        subprocess.run(args, check=True, timeout=60)
        os.replace(f"{path}.tmp", path)
        if path.stat().st_size < limit:
            return


# ------------------------------------------------------------------------------- as a script


def main(argv: list[str]) -> int:
    repo = Path(__file__).resolve().parents[2]
    out = Path(argv[0]) if argv else repo / "docs" / "gimp-dialog.png"
    root = editors.default_gimp_root()
    reason = editors.gimp_missing_reason(root) or gui_missing_reason()
    if reason:
        print(f"gimp_screenshot: {reason}", file=sys.stderr)
        return 1
    nst = Path(sys.executable).parent / "nst"
    base = Path(tempfile.mkdtemp(prefix="nst-shot-"))
    env = dict(os.environ, NST_SERVICE_FILE=str(base / "service.json"),
               KERAS_HOME=str(base / "keras"))
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        env[var] = str(base / var.lower())
    service = subprocess.Popen([str(nst), "serve", "--weights", "random"], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               start_new_session=True)
    name = f"nst-gimp-shot-{uuid.uuid4().hex[:8]}"
    gimp_dir = root / "tmp" / name
    try:
        for _ in range(600):
            if (base / "service.json").exists():
                break
            time.sleep(0.2)
        subprocess.run([str(nst), "install-host", "gimp", "--dest", str(gimp_dir)], check=True)
        plugin_dir = gimp_dir / "plug-ins" / "nst-stylize"
        for src in (repo / "hosts" / "gimp" / "nst-stylize").glob("*.py"):
            if not (plugin_dir / src.name).exists():
                shutil.copy(src, plugin_dir / src.name)
        shutil.copy(base / "service.json", root / "tmp" / f"{name}.json")
        photo = root / "tmp" / f"{name}.jpg"
        shutil.copy(repo / "nst_plugin" / "examples" / "wave.jpg", photo)
        genv = {"GIMP3_DIRECTORY": f"/tmp/{name}", "NST_SERVICE_FILE": f"/tmp/{name}.json"}
        editors.run_gimp_batch(root, "print('ready')", env=genv)  # GIMP's first start
        found = dialog_screenshot(root, f"/tmp/{name}", {**genv, "GIMP3_DIRECTORY":
                                  f"/tmp/{name}"}, out, image=f"/tmp/{name}.jpg",
                                   style="starry_night")
        print(f"gimp_screenshot: {out} ({out.stat().st_size} bytes), dialog at {found}")
        return 0 if found["dialog"] else 1
    finally:
        service.terminate()
        service.wait(30)
        shutil.rmtree(gimp_dir, ignore_errors=True)
        for suffix in (".json", ".jpg"):
            (root / "tmp" / f"{name}{suffix}").unlink(missing_ok=True)
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
