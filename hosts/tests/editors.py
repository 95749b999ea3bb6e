"""Run code inside the real Krita and the real GIMP 3, for the editor plug-in tests.

Standard library only. See README.md beside this file and docs of each function.

Krita: the full Krita 5.1 (Debian 12 package) under Xvfb, in a throwaway HOME, driven by a small
pykrita "driver" plug-in that runs a given ``drive(result)`` function once the main window
exists, writes a JSON outcome and ends Krita with ``os._exit(0)``.

GIMP: GIMP 3 from Debian 13 in a debootstrap chroot (made by ``.ci/install-editors``), run as
``gimp-console`` in batch mode (or the GUI ``gimp`` under Xvfb for screenshots) inside a private
mount namespace that has ``/proc`` mounted, so nothing stays mounted after it ends.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import tempfile
import textwrap
import time
import uuid
from pathlib import Path

# --------------------------------------------------------------------------------------------
# Common


class EditorError(RuntimeError):
    """An editor did not run to the end (timeout, crash, no outcome)."""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _run_group(argv, *, env=None, stdin_data: bytes | None = None, timeout: float,
               stdout=subprocess.PIPE, stderr=subprocess.PIPE):
    """Run argv in its own process group; on timeout end the whole group (TERM, then KILL).

    Returns (returncode, stdout, stderr, timed_out); stdout/stderr are str when captured.
    """
    proc = subprocess.Popen(argv, env=env, stdin=subprocess.PIPE if stdin_data is not None
                            else subprocess.DEVNULL, stdout=stdout, stderr=stderr,
                            start_new_session=True)
    timed_out = False
    try:
        out, err = proc.communicate(stdin_data, timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill_group(proc)
        out, err = proc.communicate()
    except BaseException:
        _kill_group(proc)
        proc.communicate()
        raise
    finally:
        # Children that outlive the leader (GIMP's plug-ins, helpers) go too.
        _kill_group(proc)
    dec = lambda b: b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")
    return proc.returncode, dec(out), dec(err), timed_out


def _kill_group(proc: subprocess.Popen, grace: float = 3.0) -> None:
    pgid = proc.pid  # start_new_session: the group id is the leader's pid
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 0)):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            proc.poll()  # reap the leader: a zombie still counts as a member of the group
            try:
                os.killpg(pgid, 0)
            except ProcessLookupError:
                return
            time.sleep(0.05)


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
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("XDG_", "QT_", "KDE_", "PYTHON", "VIRTUAL_ENV", "DISPLAY"))}
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / ".local/share"),
               XDG_CONFIG_HOME=str(home / ".config"), XDG_CACHE_HOME=str(home / ".cache"),
               XDG_RUNTIME_DIR=str(home / ".runtime"),
               QT_LOGGING_RULES="*.debug=false;*.info=false", LANG="C.UTF-8")
    # Krita's embedded Python is Debian's 3.11: keep a virtual environment off PATH.
    env["PATH"] = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    return env


def krita_pykrita_dir(home: Path | str) -> Path:
    """Where Python plug-ins go: ``nst install-host krita --dest <home>/.local/share/krita``."""
    return Path(home) / ".local/share/krita/pykrita"


def kritarc_path(home: Path | str) -> Path:
    return Path(home) / ".config/kritarc"


def kritarc_set(home: Path | str, group: str, key: str, value: str) -> None:
    """Set ``key=value`` in ``[group]`` of kritarc (KConfig INI; other lines kept verbatim)."""
    path = kritarc_path(home)
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
    header = f"[{group}]"
    start = next((i for i, l in enumerate(lines) if l.strip() == header), None)
    if start is None:
        if lines and lines[-1].strip():
            lines.append("")
        lines += [header, f"{key}={value}"]
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("[")),
                   len(lines))
        for i in range(start + 1, end):
            if lines[i].split("=", 1)[0].strip() == key:
                lines[i] = f"{key}={value}"
                break
        else:
            ins = end
            while ins > start + 1 and not lines[ins - 1].strip():
                ins -= 1
            lines.insert(ins, f"{key}={value}")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def enable_krita_plugin(home: Path | str, name: str) -> None:
    """Enable an installed pykrita plug-in: kritarc ``[python]`` ``enable_<name>=true``."""
    kritarc_set(home, "python", f"enable_{name}", "true")


def write_krita_plugin(home: Path | str, name: str, init_source: str,
                       display_name: str | None = None) -> Path:
    """Install a pykrita plug-in ``name`` (``.desktop`` + package with ``__init__.py``)."""
    pykrita = krita_pykrita_dir(home)
    pkg = pykrita / name
    pkg.mkdir(parents=True, exist_ok=True)
    (pykrita / f"{name}.desktop").write_text(textwrap.dedent(f"""\
        [Desktop Entry]
        Type=Service
        ServiceTypes=Krita/PythonPlugin
        X-KDE-Library={name}
        X-Python-2-Compatible=false
        X-Krita-Manual=
        Name={display_name or name}
        Comment={display_name or name}
        """), encoding="utf-8")
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


def run_krita(home: Path | str, driver_code: str, *, timeout: float = 90,
              enable: list[str] | tuple[str, ...] = (), check: bool = True,
              resize: bool = True, extra_env: dict | None = None,
              args: list[str] | tuple[str, ...] = ()) -> dict:
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
    pkg = write_krita_plugin(home, DRIVER_NAME,
                             _DRIVER_INIT.replace("__WIDTH__", str(KRITA_SCREEN[0]))
                             .replace("__HEIGHT__", str(KRITA_SCREEN[1])),
                             "NST test driver")
    (pkg / "drive_code.py").write_text(driver_code, encoding="utf-8")
    (pkg / "driver.json").write_text(json.dumps({"outcome": str(outcome_path), "resize": resize}),
                                     encoding="utf-8")
    for name in (DRIVER_NAME, *enable):
        enable_krita_plugin(home, name)
    env = krita_env(home)
    env.update(extra_env or {})
    t0 = time.monotonic()
    try:
        # Like `xvfb-run -a -s "-screen 0 1600x1000x24 -nolisten tcp" krita --nosplash`, but
        # with our own Xvfb: xvfb-run does not wait for Xvfb to end, so a killed run left
        # /tmp/.X<n>-lock and /tmp/xvfb-run.* behind.
        for attempt in range(2):
            with Xvfb(*KRITA_SCREEN) as xvfb, open(run_dir / "stderr.txt", "w+b") as errf:
                env["DISPLAY"] = display = xvfb.display
                rc, out, _, timed_out = _run_group(["krita", "--nosplash", *args], env=env,
                                                   timeout=timeout, stdout=subprocess.DEVNULL,
                                                   stderr=errf)
                errf.seek(0)
                err = errf.read().decode("utf-8", "replace")
            # Once more on a new display if this one went away under Krita (a concurrent
            # Xvfb of the same number shutting down), never after Krita got to its window.
            if outcome_path.exists() or timed_out or "could not connect to display" not in err:
                break
        seconds = round(time.monotonic() - t0, 2)
        if timed_out:
            raise EditorError(f"Krita did not finish within {timeout} s; stderr tail:\n"
                              + _tail(err))
        if not outcome_path.exists():
            raise EditorError(f"Krita ended (exit {rc}) without an outcome; stderr tail:\n"
                              + _tail(err))
        outcome = json.loads(outcome_path.read_text(encoding="utf-8"))
    finally:
        shutil.rmtree(run_dir, ignore_errors=True)
    outcome["stderr"] = err
    outcome["seconds"] = seconds
    outcome["display"] = display
    if check and not outcome["ok"]:
        raise EditorError("drive() raised inside Krita:\n" + outcome["traceback"]
                          + "\nstderr tail:\n" + _tail(err, 20))
    return outcome


def prepare_krita_home(home: Path | str, timeout: float = 120) -> Path:
    """Make ``home`` a HOME where Krita has run once (resource database built: later starts
    take ~4 s instead of ~12-15 s). Copy it with ``copy_krita_home`` for each test."""
    home = Path(home)
    run_krita(home, "def drive(result):\n    result['version'] = Krita.instance().version()\n",
              timeout=timeout, resize=False)
    return home


def copy_krita_home(template: Path | str, dest: Path | str) -> Path:
    """``cp -a`` a prepared HOME (Krita's database stores relative paths, so copies work)."""
    dest = Path(dest)
    if dest.exists():
        dest.rmdir()  # must be empty
    subprocess.run(["cp", "-a", str(template), str(dest)], check=True)
    return dest


# --------------------------------------------------------------------------------------------
# GIMP 3 (Debian trixie chroot)

GIMP_MARKER = ".nst-gimp-ready"


def default_gimp_root() -> Path:
    return Path(os.environ.get("NST_GIMP_ROOT", "/var/cache/nst-editors/gimp-trixie"))


def gimp_missing_reason(root: Path | str | None = None) -> str | None:
    root = Path(root) if root else default_gimp_root()
    if not (root / GIMP_MARKER).exists():
        return "GIMP 3 chroot missing: run .ci/install-editors"
    if os.geteuid() != 0:
        return "GIMP 3 chroot needs root (chroot, mount namespace)"
    if not shutil.which("unshare"):
        return "unshare (util-linux) not installed"
    return None


def install_gimp_plugin_dir(root: Path | str) -> Path:
    """GIMP's user folder in the chroot (``plug-ins/<name>/<name>.py`` go under it)."""
    return Path(root) / "root/.config/GIMP/3.0"


def install_gimp_plugin(root: Path | str, name: str, source: str) -> Path:
    """Write ``plug-ins/<name>/<name>.py`` (executable) into the chroot's user folder."""
    d = install_gimp_plugin_dir(root) / "plug-ins" / name
    d.mkdir(parents=True, exist_ok=True)
    path = d / f"{name}.py"
    path.write_text(source, encoding="utf-8")
    path.chmod(0o755)
    return path


def remove_gimp_plugin(root: Path | str, name: str) -> None:
    shutil.rmtree(install_gimp_plugin_dir(root) / "plug-ins" / name, ignore_errors=True)


def _chroot_argv(root: Path, env: dict | None, command: list[str],
                 binds: tuple[tuple[str, str], ...] = ()) -> list[str]:
    """unshare a private mount namespace, mount /proc (and binds) in the chroot, exec command."""
    import shlex
    env_args = ["HOME=/root", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
    env_args += [f"{k}={v}" for k, v in (env or {}).items()]
    mounts = [f"mount -t proc proc {shlex.quote(str(root / 'proc'))}"]
    for src, dst in binds:
        target = root / dst.lstrip("/")
        mounts.append(f"mkdir -p {shlex.quote(str(target))}")
        mounts.append(f"mount --bind {shlex.quote(src)} {shlex.quote(str(target))}")
    inner = " && ".join(mounts) + " && exec " + shlex.join(
        ["chroot", str(root), "env", "-i", *env_args, *command])
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]


def _stage_script(root: Path, script: str, prefix: str) -> tuple[Path, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}.py"
    host = root / "tmp" / name
    host.write_text(script, encoding="utf-8")
    return host, f"/tmp/{name}"


def run_gimp_batch(root: Path | str, script: str, env: dict | None = None,
                   timeout: float = 120) -> tuple[int, str, str]:
    """Run the Python ``script`` in GIMP 3's batch mode inside the chroot at ``root``.

    ``gimp-console -idf --batch-interpreter python-fu-eval -b - --quit``; the script runs as
    ``__main__`` via runpy (tracebacks name the real file). ``env`` adds variables (they reach
    the plug-ins GIMP starts too). Returns (returncode, stdout, stderr): 0 when the script ran
    through, 64 when it raised or called sys.exit. Raises EditorError on timeout (the whole
    process group is killed; the /proc mount lives only in the private namespace).
    """
    root = Path(root)
    host_script, chroot_script = _stage_script(root, script, "nst-batch")
    stdin = f'import runpy; runpy.run_path("{chroot_script}", run_name="__main__")\n'
    argv = _chroot_argv(root, env, ["gimp-console", "-idf", "--batch-interpreter",
                                    "python-fu-eval", "-b", "-", "--quit"])
    try:
        rc, out, err, timed_out = _run_group(argv, stdin_data=stdin.encode(), timeout=timeout)
    finally:
        host_script.unlink(missing_ok=True)
    if timed_out:
        raise EditorError(f"gimp-console did not finish within {timeout} s; stdout tail:\n"
                          f"{_tail(out)}\nstderr tail:\n{_tail(err)}")
    return rc, out, err


class Xvfb:
    """An Xvfb display for GUI screenshots: ``with Xvfb() as x: ... x.display ... x.screenshot(p)``.

    Listens on the local socket ``/tmp/.X11-unix/X<n>`` and Linux's abstract socket; no TCP.
    The abstract socket belongs to the network namespace, which the GIMP chroot shares, so
    ``DISPLAY=:<n>`` works inside the chroot without any bind mount.
    """

    def __init__(self, width: int = 1600, height: int = 1000, depth: int = 24):
        self.size = (width, height, depth)
        self.proc: subprocess.Popen | None = None
        self.display = None

    def __enter__(self):
        for attempt in range(5):
            self._start()
            for _ in range(10):  # a busy machine can take a moment to accept connections
                if self.answers():
                    return self
                time.sleep(0.3)
            self.__exit__(None, None, None)
            time.sleep(1.0)
        raise EditorError("Xvfb started but its display does not answer")

    def _start(self):
        if not shutil.which("Xvfb"):
            raise EditorError("Xvfb not installed: run .ci/install-editors")
        r, w = os.pipe()
        width, height, depth = self.size
        self.proc = subprocess.Popen(
            ["Xvfb", "-displayfd", str(w), "-screen", "0", f"{width}x{height}x{depth}",
             "-nolisten", "tcp"], pass_fds=(w,), stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL, start_new_session=True)
        os.close(w)
        data = b""
        deadline = time.monotonic() + 20
        try:
            while not data.endswith(b"\n"):
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([r], [], [], left)[0]:
                    break
                chunk = os.read(r, 64)
                if not chunk:
                    break
                data += chunk
        finally:
            os.close(r)
        if not data.strip():
            self.__exit__(None, None, None)
            raise EditorError("Xvfb did not start")
        self.display = f":{data.decode().strip()}"
        return self

    def answers(self) -> bool:
        """Both of the display's sockets (file and abstract) accept an X11 connection.

        Catches a start next to a dying server: when another Xvfb of the same number is
        still going away, its abstract socket can be the one a client reaches."""
        import socket
        n = self.display.lstrip(":")
        for address in (f"/tmp/.X11-unix/X{n}", f"\0/tmp/.X11-unix/X{n}"):
            try:
                with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
                    s.settimeout(5)
                    s.connect(address)
                    s.sendall(b"l\0\x0b\0\0\0\0\0\0\0\0\0")  # setup, protocol 11.0, no auth
                    if s.recv(1) != b"\x01":
                        return False
            except OSError:
                return False
        return True

    def screenshot(self, path: Path | str) -> Path:
        """The whole screen as PNG via ImageMagick's ``import -window root``."""
        env = dict(os.environ, DISPLAY=self.display)
        subprocess.run(["import", "-window", "root", f"png24:{path}"], env=env, check=True,
                       timeout=30, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        return Path(path)

    def __exit__(self, *exc):
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc.wait()
            self.proc = None


def _gimp_session_fill_screen(root: Path, width: int, height: int) -> None:
    """Xvfb has no window manager: give GIMP's image windows the whole screen through the
    user sessionrc (a copy of /etc/gimp/3.0/sessionrc with other positions and sizes)."""
    import re
    system = root / "etc/gimp/3.0/sessionrc"
    text = system.read_text(encoding="utf-8")
    text = re.sub(r"\(position -?\d+ -?\d+\)\n(\s*)\(size \d+ \d+\)",
                  lambda m: f"(position 0 0)\n{m.group(1)}(size {width} {height})", text)
    user = install_gimp_plugin_dir(root) / "sessionrc"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(text, encoding="utf-8")


def run_gimp_gui_screenshot(root: Path | str, script: str, out_png: Path | str,
                            env: dict | None = None, timeout: float = 90,
                            settle: float = 2.0, size: tuple[int, int] = (1600, 1000)) -> dict:
    """Start the GUI ``gimp`` in the chroot on a fresh Xvfb, run ``script`` in it, screenshot.

    ``script`` runs through python-fu-eval (like run_gimp_batch) after GIMP's window is up; it
    may open images and show them with ``Gimp.Display.new(image)``; ``Gimp.displays_flush()``
    is called after it. When it has run, the helper waits ``settle`` seconds for GIMP to paint,
    saves the whole screen to ``out_png`` and ends GIMP. Returns {"seconds", "stdout",
    "stderr", "returncode"}; raises EditorError when the script did not get to its end.
    """
    root = Path(root)
    _gimp_session_fill_screen(root, *size)
    token = uuid.uuid4().hex[:12]
    done_host = root / "tmp" / f"nst-gui-done-{token}"
    wrapped = (script + "\n\n# --- added by run_gimp_gui_screenshot ---\n"
               "import gi as _gi\n_gi.require_version('Gimp', '3.0')\n"
               "from gi.repository import Gimp as _Gimp\n_Gimp.displays_flush()\n"
               f"open('/tmp/nst-gui-done-{token}', 'w').write('done')\n")
    host_script, chroot_script = _stage_script(root, wrapped, "nst-gui")
    batch = f'import runpy; runpy.run_path("{chroot_script}", run_name="__main__")'
    t0 = time.monotonic()
    result = {}
    with Xvfb(*size) as x, tempfile.TemporaryFile() as outf, tempfile.TemporaryFile() as errf:
        genv = {"DISPLAY": x.display, "NO_AT_BRIDGE": "1", "GTK_A11Y": "none", **(env or {})}
        argv = _chroot_argv(root, genv, ["gimp", "--no-splash", "-df", "--batch-interpreter",
                                         "python-fu-eval", "-b", batch])
        proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=outf, stderr=errf,
                                start_new_session=True)
        try:
            deadline = t0 + timeout
            while not done_host.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            ready = done_host.exists()
            if ready:
                time.sleep(settle)
                x.screenshot(out_png)
        finally:
            _kill_group(proc)
            proc.wait()
            host_script.unlink(missing_ok=True)
            done_host.unlink(missing_ok=True)
        outf.seek(0)
        errf.seek(0)
        result = {"seconds": round(time.monotonic() - t0, 2),
                  "stdout": outf.read().decode("utf-8", "replace"),
                  "stderr": errf.read().decode("utf-8", "replace"),
                  "returncode": proc.returncode}
    if not ready:
        raise EditorError("GIMP GUI script did not finish (exit "
                          f"{result['returncode']}); stdout tail:\n{_tail(result['stdout'])}"
                          f"\nstderr tail:\n{_tail(result['stderr'])}")
    return result


# --------------------------------------------------------------------------------------------
# Screenshots and processes


def png_size(path: Path | str) -> tuple[int, int]:
    """(width, height) from a PNG's IHDR."""
    with open(path, "rb") as f:
        head = f.read(24)
    if head[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError(f"{path} is not a PNG")
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def count_color(path: Path | str, rgb: tuple[int, int, int], fuzz_percent: float = 3) -> int:
    """How many pixels of the image are ``rgb`` (within ``fuzz_percent``), via ImageMagick."""
    color = "rgb(%d,%d,%d)" % tuple(rgb)
    out = subprocess.run(
        ["convert", str(path), "-alpha", "off", "-fuzz", f"{fuzz_percent}%",
         "-fill", "black", "+opaque", color, "-fill", "white", "-opaque", color,
         "-format", "%[fx:round(mean*w*h)]", "info:"],
        check=True, capture_output=True, text=True, timeout=60).stdout
    return int(float(out.strip()))


def x_server_locks() -> set[str]:
    """The X servers' lock files in /tmp (a killed Xvfb leaves its own behind)."""
    return {p.name for p in Path("/tmp").glob(".X*-lock")}


def processes_where(predicate) -> list[int]:
    """Pids of live processes for which ``predicate(pid)`` is true (errors count as false)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and int(entry) != os.getpid():
            try:
                if predicate(int(entry)):
                    pids.append(int(entry))
            except OSError:
                pass
    return pids


def processes_with_home(home: Path | str) -> list[int]:
    """Processes whose environment has HOME=<home> (Krita and what it starts)."""
    needle = b"\0HOME=" + str(home).encode() + b"\0"

    def has_home(pid: int) -> bool:
        with open(f"/proc/{pid}/environ", "rb") as f:
            return needle in b"\0" + f.read() + b"\0"
    return processes_where(has_home)


def processes_in_root(root: Path | str) -> list[int]:
    """Processes whose root directory is ``root`` (GIMP and its plug-ins in the chroot)."""
    root = os.path.realpath(root)
    return processes_where(lambda pid: os.readlink(f"/proc/{pid}/root") == root)


def mounts_under(path: Path | str) -> list[str]:
    """Mount points at or below ``path`` in this (the machine's) mount namespace."""
    path = os.path.realpath(path)
    with open("/proc/self/mountinfo", encoding="utf-8") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]
