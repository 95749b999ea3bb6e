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
import shlex
import shutil
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import contextlib

import editors
from gimp_scripts import (
    DIALOG_SCRIPT,
    INTERACTIVE_SCRIPT,
    PRELUDE,
    UNDO_SCRIPT,
)
from xdisplay import Xvfb, _xlib, click, press_keys, wait_for_window
from xdisplay import _kill_group as kill_group

SCREEN = (1280, 800)
DIALOG_TITLE = "Neural Style Transfer"
PREVIEW_TRACE = "preview-trace.jsonl"  # the plug-in's test hook (NST_GIMP_PREVIEW_TRACE)


def gui_missing_reason() -> str | None:
    for tool in ("Xvfb", "import", "xwininfo"):
        if not shutil.which(tool):
            return f"{tool} not installed: run .ci/install-editors"
    if not ctypes.util.find_library("Xtst"):
        return "libXtst not installed (needed to press Ctrl+Z under Xvfb)"
    return None


# ------------------------------------------------------------------------------- GIMP GUI


def chroot_argv(root: Path, env: dict, command: list[str]) -> list[str]:
    """``command`` in the chroot, in a private mount namespace with /proc, with only ``env``
    (and HOME, PATH, LANG) in its environment."""
    inner = f"mount -t proc proc {shlex.quote(str(Path(root) / 'proc'))} && exec " + shlex.join(
        [
            "chroot",
            str(root),
            "env",
            "-i",
            "HOME=/root",
            "PATH=/usr/bin:/bin",
            "LANG=C.UTF-8",
            *(f"{k}={v}" for k, v in env.items()),
            *command,
        ]
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]


def _fill_screen_session(gimp_dir: Path, root: Path) -> None:
    """Xvfb has no window manager: the image window covers the screen (sessionrc)."""
    import re

    text = (root / "etc/gimp/3.0/sessionrc").read_text(encoding="utf-8")
    text = re.sub(
        r"\(position -?\d+ -?\d+\)\n(\s*)\(size \d+ \d+\)",
        lambda m: f"(position 0 0)\n{m.group(1)}(size {SCREEN[0]} {SCREEN[1]})",
        text,
    )
    (gimp_dir / "sessionrc").write_text(text, encoding="utf-8")


class GimpGui:
    """``with GimpGui(root, gimp_dir, env, script) as gui:`` the GUI gimp runs PRELUDE +
    ``script`` (python-fu-eval); ``gui.wait_flag(name)`` / ``gui.set_flag(name)`` talk to it,
    ``gui.display`` is its Xvfb display, ``gui.wait_preview(match)`` reads the dialog's
    preview trace. Everything ends with the block."""

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
        env = {
            "DISPLAY": self.display,
            "NO_AT_BRIDGE": "1",
            "GTK_A11Y": "none",
            "NST_GUI_FLAGS": self.flags_inside,
            "NST_GIMP_PREVIEW_TRACE": f"{self.flags_inside}/{PREVIEW_TRACE}",
            **self.env,
        }
        inside = "/" + str(self.script_path.relative_to(self.root))
        batch = f'import runpy; runpy.run_path("{inside}", run_name="__main__")'
        command = [
            "gimp",
            "--no-splash",
            "-df",
            "--batch-interpreter",
            "python-fu-eval",
            "-b",
            batch,
        ]
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.proc = subprocess.Popen(
            chroot_argv(self.root, env, command),
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
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
                raise editors.EditorError(
                    f"GIMP GUI: no {name!r} flag; output tail:\n"
                    + "\n".join(self.output().splitlines()[-30:])
                )
            time.sleep(0.1)
        return json.loads(path.read_text(encoding="utf-8"))

    def preview_trace(self) -> list[dict]:
        """The lines the plug-in's preview wrote so far (one per change under it)."""
        path = self.flags / PREVIEW_TRACE
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.endswith("}")]

    def wait_preview(self, match, timeout: float = 90) -> dict:
        """The first preview trace line for which ``match(line)`` is true."""
        deadline = min(self.deadline, time.monotonic() + timeout)
        while True:
            found = next((line for line in self.preview_trace() if match(line)), None)
            if found is not None:
                return found
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise editors.EditorError(
                    f"GIMP GUI: no such preview; trace: "
                    f"{self.preview_trace()}; output tail:\n"
                    + "\n".join(self.output().splitlines()[-30:])
                )
            time.sleep(0.1)

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


def last_values_file(root: Path, gimp_dir: str) -> Path:
    """Where GIMP 3.0 keeps the values of the procedure's last interactive run."""
    return (
        Path(root)
        / gimp_dir.lstrip("/")
        / "plug-in-settings"
        / "GimpProcedureConfigRun-plug-in-nst-stylize.last"
    )


def focus_window(display: str, title: str) -> None:
    """Give the keyboard to the window named ``title``: without a window manager GIMP's
    main window keeps the X input focus when a plug-in's dialog opens."""
    out = subprocess.run(
        ["xwininfo", "-root", "-tree", "-display", display],
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    window = next(int(line.split()[0], 16) for line in out.splitlines() if f'"{title}"' in line)
    x11, _ = _xlib()
    x11.XSetInputFocus.argtypes = [ctypes.c_void_p, ctypes.c_ulong, ctypes.c_int, ctypes.c_ulong]
    dpy = x11.XOpenDisplay(display.encode())
    try:
        x11.XSetInputFocus(dpy, window, 2, 0)  # RevertToParent, CurrentTime
        x11.XFlush(dpy)
    finally:
        x11.XCloseDisplay(dpy)


def type_in_field(display: str, dialog: tuple, mnemonic: str, text: str) -> None:
    """Alt+``mnemonic`` in the plug-in's dialog (its field gets the focus, text selected),
    type ``text`` over it, then Tab (the value is taken)."""
    x, y, w, _h = dialog
    focus_window(display, DIALOG_TITLE)
    press_keys(display, ["Alt_L", mnemonic], (x + w // 2, y + 10))
    x11, xtst = _xlib()
    dpy = x11.XOpenDisplay(display.encode())
    try:
        for key in [{".": "period"}.get(c, c) for c in text] + ["Tab"]:
            code = x11.XKeysymToKeycode(dpy, x11.XStringToKeysym(key.encode()))
            xtst.XTestFakeKeyEvent(dpy, code, 1, 0)
            xtst.XTestFakeKeyEvent(dpy, code, 0, 0)
            x11.XFlush(dpy)
            time.sleep(0.05)
    finally:
        x11.XCloseDisplay(dpy)


def region_stats(shot: Path, box: tuple, other: Path | None = None) -> float:
    """The standard deviation (0..1) of ``box`` (x, y, w, h) of a screenshot, or with
    ``other`` the mean absolute difference (0..1) between the two shots there."""
    x, y, w, h = box
    crop = ["-crop", f"{w}x{h}+{x}+{y}", "+repage"]
    if other is None:
        args = [
            "convert",
            str(shot),
            *crop,
            "-colorspace",
            "gray",
            "-format",
            "%[fx:standard_deviation]",
            "info:",
        ]
    else:
        args = [
            "convert",
            "(",
            str(shot),
            *crop,
            ")",
            "(",
            str(other),
            *crop,
            ")",
            "-compose",
            "difference",
            "-composite",
            "-colorspace",
            "gray",
            "-format",
            "%[fx:mean]",
            "info:",
        ]
    out = subprocess.run(args, check=True, capture_output=True, text=True, timeout=60).stdout
    return float(out.strip())


def _config_value(value) -> str:
    """A value as GIMP's config files write it."""
    if isinstance(value, bool):
        return "yes" if value else "no"
    return json.dumps(value) if isinstance(value, str) else str(value)


def interactive_run(
    root: Path, gimp_dir: str, env: dict, last: dict, while_running=None, in_dialog=None
) -> dict:
    """An interactive run as from the menu: GIMP opens the dialog with the last values
    (written first from ``last``, as a previous run leaves them), ``in_dialog(gui, (x, y, w,
    h))`` may work in it, this clicks OK, GIMP shows the progress in its status bar.
    ``while_running(press_cancel)`` is called after OK; it may call ``press_cancel()`` to
    click the progress's Cancel button. Returns the outcome and the last values GIMP saved
    afterwards (``last``: the file's text or None)."""
    path = last_values_file(root, gimp_dir)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [f"({key} {_config_value(value)})" for key, value in last.items()]
    path.write_text(
        "# settings\n\n" + "\n".join(lines) + "\n\n# end of settings\n", encoding="utf-8"
    )
    with GimpGui(root, gimp_dir, env, INTERACTIVE_SCRIPT) as gui:
        gui.wait_flag("shown")
        found = wait_for_window(gui.display, DIALOG_TITLE, 60)
        if found is None:
            raise editors.EditorError("the plug-in's dialog did not open:\n" + gui.output())
        time.sleep(1.0)
        if in_dialog is not None:
            in_dialog(gui, found)
        x, y, w, h = found
        click(gui.display, x + w - 68, y + h - 42)  # OK, bottom right of the dialog
        time.sleep(1.0)
        if while_running is not None:
            # The progress's Cancel button sits at the right of GIMP's status bar.
            while_running(lambda: click(gui.display, SCREEN[0] - 285, SCREEN[1] - 18))
        outcome = gui.wait_flag("ran", 180)
    outcome["last"] = path.read_text(encoding="utf-8") if path.exists() else None
    return outcome


def dialog_screenshot(
    root: Path,
    gimp_dir: str,
    env: dict,
    out: Path,
    image: str | None = None,
    style: str | None = None,
    settle: float = 4.0,
    regions: str | None = None,
) -> dict:
    """Open the plug-in's dialog over an image in GIMP's window and save the screen once
    the quick preview shows (or ``settle`` seconds after the dialog opened when it does not).

    ``image``: a file inside the chroot to show (else a made-up one); ``style``: the style
    (strength 0.7) the dialog opens with; ``regions``: style names, comma-separated, each
    given a channel over its share of the image, side by side, with the regions on."""
    extra = {"NST_SHOT_IMAGE": image, "NST_SHOT_STYLE": style, "NST_SHOT_REGIONS": regions}
    with GimpGui(
        root, gimp_dir, {**env, **{k: v for k, v in extra.items() if v}}, DIALOG_SCRIPT
    ) as gui:
        gui.wait_flag("shown")
        found = wait_for_window(gui.display, DIALOG_TITLE, 60, 0.5)
        preview = None
        with contextlib.suppress(editors.EditorError):
            preview = gui.wait_preview(lambda line: line["sha1"] or line["message"], 60)
        press_keys(gui.display, [], (SCREEN[0] - 300, SCREEN[1] - 100))  # pointer off it
        time.sleep(1.0 if preview else settle)  # GIMP paints
        out.parent.mkdir(parents=True, exist_ok=True)
        gui.xvfb.screenshot(out)
        _shrink(out)
    return {"dialog": found, "preview": preview}


def _shrink(path: Path, limit: int = 500_000) -> None:
    """Keep a screenshot under ``limit`` bytes (fewer colours when needed)."""
    for colours in (None, 256, 64):
        args = (
            ["convert", str(path)]
            + (["-colors", str(colours)] if colours else [])
            + ["-strip", "-define", "png:compression-level=9", f"png:{path}.tmp"]
        )
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
    env = dict(
        os.environ, NST_SERVICE_FILE=str(base / "service.json"), KERAS_HOME=str(base / "keras")
    )
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        env[var] = str(base / var.lower())
    service = subprocess.Popen(
        [str(nst), "serve", "--weights", "random"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
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
        found = dialog_screenshot(
            root,
            f"/tmp/{name}",
            {**genv, "GIMP3_DIRECTORY": f"/tmp/{name}"},
            out,
            image=f"/tmp/{name}.jpg",
            style="starry_night",
            regions="starry_night,wave",
        )
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
