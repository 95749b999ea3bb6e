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

import ctypes.util
import json
import os
import shutil
import shlex
import subprocess
import sys
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import editors  # noqa: E402
from gimp_scripts import (  # noqa: E402,F401  (PRELUDE: also for test_gimp.py)
    DIALOG_SCRIPT, INTERACTIVE_SCRIPT, PRELUDE, UNDO_SCRIPT)
from xdisplay import Xvfb, click, press_keys, wait_for_window  # noqa: E402
from xdisplay import _kill_group as kill_group  # noqa: E402

SCREEN = (1280, 800)
DIALOG_TITLE = "Neural Style Transfer"


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
        found = wait_for_window(gui.display, DIALOG_TITLE, 60)
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
        found = wait_for_window(gui.display, DIALOG_TITLE, 60, 0.5)
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
