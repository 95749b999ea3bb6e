"""Run code inside the real Krita 5.1 under Xvfb, for the editor plug-in tests.

The full Krita (Debian 12 package) runs in a throwaway HOME, driven by a small pykrita "driver"
plug-in that runs a given ``drive(result)`` function once the main window exists, writes a JSON
outcome and ends Krita with ``os._exit(0)``. Standard library only.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import textwrap
import time
from pathlib import Path

from xdisplay import EditorError, Xvfb, _run_group, _tail

# --------------------------------------------------------------------------------------------
# Krita

KRITA_SCREEN = (1600, 1000)
DRIVER_NAME = "nst_test_driver"


def krita_available() -> bool:
    return krita_missing_reason() is None


def krita_missing_reason() -> str | None:
    if not shutil.which("krita"):
        return "Krita not installed: run .ci/install-editors"
    if not shutil.which("Xvfb"):
        return "Xvfb not installed: run .ci/install-editors"
    return None


def krita_env(home: Path | str) -> dict:
    """The environment for a Krita that keeps everything in ``home``."""
    home = Path(home)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("XDG_", "QT_", "KDE_", "PYTHON", "VIRTUAL_ENV", "DISPLAY"))
    }
    env.update(
        HOME=str(home),
        XDG_DATA_HOME=str(home / ".local/share"),
        XDG_CONFIG_HOME=str(home / ".config"),
        XDG_CACHE_HOME=str(home / ".cache"),
        XDG_RUNTIME_DIR=str(home / ".runtime"),
        QT_LOGGING_RULES="*.debug=false;*.info=false",
        LANG="C.UTF-8",
    )
    # Krita's embedded Python is Debian's 3.11: keep a virtual environment off PATH.
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def krita_pykrita_dir(home: Path | str) -> Path:
    """Where Python plug-ins go: ``nst install-host krita --dest <home>/.local/share/krita``."""
    return Path(home) / ".local/share/krita/pykrita"


def kritarc_path(home: Path | str) -> Path:
    return Path(home) / ".config/kritarc"


def kritarc_set(home: Path | str, group: str, key: str, value: str) -> None:
    """Set ``key=value`` in ``[group]`` of the home's kritarc (other lines kept verbatim)."""
    from nst_plugin import kritarc

    kritarc.put(kritarc_path(home), group, key, value)


def enable_krita_plugin(home: Path | str, name: str) -> None:
    """Enable an installed pykrita plug-in: kritarc ``[python]`` ``enable_<name>=true``."""
    kritarc_set(home, "python", f"enable_{name}", "true")


def write_krita_plugin(
    home: Path | str, name: str, init_source: str, display_name: str | None = None
) -> Path:
    """Install a pykrita plug-in ``name`` (``.desktop`` + package with ``__init__.py``)."""
    pykrita = krita_pykrita_dir(home)
    pkg = pykrita / name
    pkg.mkdir(parents=True, exist_ok=True)
    (pykrita / f"{name}.desktop").write_text(
        textwrap.dedent(f"""\
        [Desktop Entry]
        Type=Service
        ServiceTypes=Krita/PythonPlugin
        X-KDE-Library={name}
        X-Python-2-Compatible=false
        X-Krita-Manual=
        Name={display_name or name}
        Comment={display_name or name}
        """),
        encoding="utf-8",
    )
    (pkg / "__init__.py").write_text(init_source, encoding="utf-8")
    return pkg


_DRIVER_INIT = r'''
"""Test driver: runs drive(result) from drive_code.py once the first window exists."""
import json, os, sys, time, traceback

from krita import Krita, Extension
from PyQt5.QtCore import QTimer, QEventLoop
from PyQt5.QtWidgets import QApplication

_HERE = os.path.dirname(os.path.abspath(__file__))
_CONF = json.load(open(os.path.join(_HERE, "driver.json"), encoding="utf-8"))
_T0 = time.monotonic()
_uncaught = []


def _excepthook(kind, value, tb):
    # Krita's own hook opens a modal dialog that waits forever: record instead.
    text = "".join(traceback.format_exception(kind, value, tb))
    _uncaught.append(text)
    sys.stderr.write("UNCAUGHT " + text)


def _finish(outcome):
    outcome["uncaught"] = _uncaught
    outcome["seconds_to_window"] = _CONF.get("seconds_to_window")
    outcome["seconds_in_drive"] = round(time.monotonic() - _T0, 3)
    path = _CONF["outcome"]
    with open(path + ".part", "w", encoding="utf-8") as f:
        json.dump(outcome, f, default=repr)
    os.replace(path + ".part", path)
    sys.stdout.flush(); sys.stderr.flush()
    os._exit(0)


def process_events(seconds=0.5):
    """Let Krita run its event loop for a while (repaints, queued signals, dockers)."""
    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()


def main_window():
    return Krita.instance().activeWindow() or (Krita.instance().windows() or [None])[0]


def resize_window(width=__WIDTH__, height=__HEIGHT__):
    """Xvfb has no window manager: place the main window over the whole screen."""
    w = main_window()
    if w is not None:
        w.qwindow().setGeometry(0, 0, width, height)
        process_events(0.3)


def screenshot(path):
    """Save the whole Xvfb screen as PNG; returns the path."""
    process_events(0.3)
    ok = QApplication.primaryScreen().grabWindow(0).save(str(path))
    if not ok:
        raise RuntimeError("could not save screenshot " + str(path))
    return str(path)


def _run():
    global _T0
    _CONF["seconds_to_window"] = round(time.monotonic() - _T0, 3)
    _T0 = time.monotonic()
    result = {}
    ns = {"__name__": "nst_drive", "Krita": Krita, "result": result,
          "process_events": process_events, "main_window": main_window,
          "resize_window": resize_window, "screenshot": screenshot}
    try:
        if _CONF.get("resize", True):
            resize_window()
        code = open(os.path.join(_HERE, "drive_code.py"), encoding="utf-8").read()
        exec(compile(code, _CONF.get("code_name", "drive_code.py"), "exec"), ns)
        ns["drive"](result)
        _finish({"ok": True, "traceback": None, "result": result})
    except BaseException:
        _finish({"ok": False, "traceback": traceback.format_exc(), "result": result})


class _Driver(Extension):
    def __init__(self, parent):
        super().__init__(parent)
        self._started = False

    def setup(self):
        sys.excepthook = _excepthook
        Krita.instance().notifier().windowCreated.connect(self._window_created)

    def _window_created(self):
        if not self._started:
            self._started = True
            QTimer.singleShot(0, _run)

    def createActions(self, window):
        pass


Krita.instance().addExtension(_Driver(Krita.instance()))
'''


def run_krita(
    home: Path | str,
    driver_code: str,
    *,
    timeout: float = 90,
    enable: list[str] | tuple[str, ...] = (),
    check: bool = True,
    resize: bool = True,
    extra_env: dict | None = None,
    args: list[str] | tuple[str, ...] = (),
) -> dict:
    """Run the full Krita in ``home`` and call ``drive(result)`` from ``driver_code`` in it.

    ``driver_code`` is Python source defining ``def drive(result: dict) -> None``; it runs on
    Krita's GUI thread once the first main window exists (the window already covers the
    1600x1000 Xvfb screen unless ``resize=False``). Its namespace has ``Krita``,
    ``process_events(seconds)``, ``main_window()``, ``resize_window(w, h)`` and
    ``screenshot(path)``; whatever it puts in ``result`` (JSON-able) comes back.

    ``enable``: more pykrita plug-ins to enable in kritarc (installed already, e.g. by
    ``nst install-host krita --dest <home>/.local/share/krita``).

    Returns the outcome ``{"ok", "traceback", "result", "uncaught", "seconds_to_window",
    "seconds_in_drive", "stderr", "seconds"}``. Raises EditorError on a timeout or when Krita
    ended without an outcome, and (``check=True``) when ``drive`` raised.
    """
    reason = krita_missing_reason()
    if reason:
        raise EditorError(reason)
    home = Path(home)
    for d in (".local/share", ".config", ".cache", ".runtime"):
        (home / d).mkdir(parents=True, exist_ok=True)
    (home / ".runtime").chmod(0o700)
    run_dir = Path(tempfile.mkdtemp(prefix="krita-run-"))
    outcome_path = run_dir / "outcome.json"
    pkg = write_krita_plugin(
        home,
        DRIVER_NAME,
        _DRIVER_INIT.replace("__WIDTH__", str(KRITA_SCREEN[0])).replace(
            "__HEIGHT__", str(KRITA_SCREEN[1])
        ),
        "NST test driver",
    )
    (pkg / "drive_code.py").write_text(driver_code, encoding="utf-8")
    (pkg / "driver.json").write_text(
        json.dumps({"outcome": str(outcome_path), "resize": resize}), encoding="utf-8"
    )
    for name in (DRIVER_NAME, *enable):
        enable_krita_plugin(home, name)
    env = krita_env(home)
    env.update(extra_env or {})
    t0 = time.monotonic()
    try:
        # Like `xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" krita --nosplash`, but
        # with our own Xvfb: xvfb-run does not wait for Xvfb to end, so a killed run left
        # /tmp/.X<n>-lock and /tmp/xvfb-run.* behind.
        for attempt in range(3):
            time.sleep(attempt)  # a display number that was just freed settles first
            with Xvfb(*KRITA_SCREEN) as xvfb, open(run_dir / "stderr.txt", "w+b") as errf:
                env["DISPLAY"] = display = xvfb.display
                rc, _out, _, timed_out = _run_group(
                    ["krita", "--nosplash", *args],
                    env=env,
                    timeout=timeout,
                    stdout=subprocess.DEVNULL,
                    stderr=errf,
                )
                errf.seek(0)
                err = errf.read().decode("utf-8", "replace")
            # Again on a new display if this one went away under Krita (a concurrent Xvfb
            # of the same number shutting down), never after Krita got to its window.
            if outcome_path.exists() or timed_out or "could not connect to display" not in err:
                break
        seconds = round(time.monotonic() - t0, 2)
        if timed_out:
            raise EditorError(
                f"Krita did not finish within {timeout} s; stderr tail:\n" + _tail(err)
            )
        if not outcome_path.exists():
            raise EditorError(
                f"Krita ended (exit {rc}) without an outcome; stderr tail:\n" + _tail(err)
            )
        outcome = json.loads(outcome_path.read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    outcome["stderr"] = err
    outcome["seconds"] = seconds
    outcome["display"] = display
    if check and not outcome["ok"]:
        raise EditorError(
            "drive() raised inside Krita:\n"
            + outcome["traceback"]
            + "\nstderr tail:\n"
            + _tail(err, 20)
        )
    return outcome


def prepare_krita_home(home: Path | str, timeout: float = 120) -> Path:
    """Make ``home`` a HOME where Krita has run once (resource database built: later starts
    take ~4 s instead of ~12-15 s). Copy it with ``copy_krita_home`` for each test."""
    home = Path(home)
    run_krita(
        home,
        "def drive(result):\n    result['version'] = Krita.instance().version()\n",
        timeout=timeout,
        resize=False,
    )
    return home


def copy_krita_home(template: Path | str, dest: Path | str) -> Path:
    """``cp -a`` a prepared HOME (Krita's database stores relative paths, so copies work)."""
    dest = Path(dest)
    if dest.exists():
        dest.rmdir()  # must be empty
    subprocess.run(["cp", "-a", str(template), str(dest)], check=True)
    return dest
