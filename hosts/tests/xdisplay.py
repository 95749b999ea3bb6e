"""Xvfb displays, X input, screenshots and the process checks of the real-editor tests.

Standard library only (ImageMagick's ``import``/``convert`` and libX11/libXtst through ctypes
where named). Also the common part of the harness: ``EditorError`` and process groups that end
as a whole (``_run_group``, ``_kill_group``), used by ``krita_runner`` and ``gimp_runner``.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import shutil
import signal
import subprocess
import time
from pathlib import Path

# --------------------------------------------------------------------------------------------
# Common


class EditorError(RuntimeError):
    """An editor did not run to the end (timeout, crash, no outcome)."""


def _tail(text: str, lines: int = 40) -> str:
    return "\n".join(text.splitlines()[-lines:])


def _run_group(
    argv,
    *,
    env=None,
    stdin_data: bytes | None = None,
    timeout: float,
    stdout=subprocess.PIPE,
    stderr=subprocess.PIPE,
):
    """Run argv in its own process group; on timeout end the whole group (TERM, then KILL).

    Returns (returncode, stdout, stderr, timed_out); stdout/stderr are str when captured.
    """
    proc = subprocess.Popen(
        argv,
        env=env,
        stdin=subprocess.PIPE if stdin_data is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        start_new_session=True,
    )
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

    def dec(b):
        return b.decode("utf-8", "replace") if isinstance(b, bytes) else (b or "")

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
# Xvfb and X input


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
        for _attempt in range(5):
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
            [
                "Xvfb",
                "-displayfd",
                str(w),
                "-screen",
                "0",
                f"{width}x{height}x{depth}",
                "-nolisten",
                "tcp",
            ],
            pass_fds=(w,),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
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
        subprocess.run(
            ["import", "-window", "root", f"png24:{path}"],
            env=env,
            check=True,
            timeout=30,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        return Path(path)

    def __exit__(self, *exc):
        if self.proc is not None:
            _kill_group(self.proc)
            self.proc.wait()
            self.proc = None


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
    xtst.XTestFakeKeyEvent.argtypes = [ctypes.c_void_p, ctypes.c_uint, ctypes.c_int, ctypes.c_ulong]
    xtst.XTestFakeMotionEvent.argtypes = [
        ctypes.c_void_p,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_int,
        ctypes.c_ulong,
    ]
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
    out = subprocess.run(
        ["xwininfo", "-root", "-tree", "-display", display],
        capture_output=True,
        text=True,
        timeout=20,
    ).stdout
    for line in out.splitlines():
        if f'"{title}"' in line:
            geometry = line.split(")")[-1].split()[0]  # WxH+X+Y  +absX+absY
            size, _, _rest = geometry.partition("+")
            w, h = (int(v) for v in size.split("x"))
            ax, ay = (int(v) for v in line.split()[-1].lstrip("+").split("+"))
            if w > 50 and h > 50:
                return ax, ay, w, h
    return None


def wait_for_window(
    display: str, title: str, timeout: float = 60, pause: float = 0.3
) -> tuple[int, int, int, int] | None:
    """``find_window`` every ``pause`` seconds until it finds the window or ``timeout`` ends."""
    deadline = time.monotonic() + timeout
    found = None
    while found is None and time.monotonic() < deadline:
        found = find_window(display, title)
        time.sleep(pause)
    return found


def click(display: str, x: int, y: int) -> None:
    """A left click at (x, y) through XTest."""
    x11, xtst = _xlib()
    xtst.XTestFakeButtonEvent.argtypes = [
        ctypes.c_void_p,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_ulong,
    ]
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
        [
            "convert",
            str(path),
            "-alpha",
            "off",
            "-fuzz",
            f"{fuzz_percent}%",
            "-fill",
            "black",
            "+opaque",
            color,
            "-fill",
            "white",
            "-opaque",
            color,
            "-format",
            "%[fx:round(mean*w*h)]",
            "info:",
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
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
