"""Run scripts in the real GIMP 3 (Debian 13 chroot), for the editor plug-in tests.

GIMP 3 from Debian 13 in a debootstrap chroot (made by ``.ci/install-editors``), run as
``gimp-console`` in batch mode (or the GUI ``gimp`` under Xvfb for screenshots) inside a private
mount namespace that has ``/proc`` mounted, so nothing stays mounted after it ends. Standard
library only.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

from xdisplay import EditorError, Xvfb, _kill_group, _run_group, _tail

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


def _chroot_argv(
    root: Path, env: dict | None, command: list[str], binds: tuple[tuple[str, str], ...] = ()
) -> list[str]:
    """unshare a private mount namespace, mount /proc (and binds) in the chroot, exec command."""
    import shlex

    env_args = ["HOME=/root", "PATH=/usr/bin:/bin", "LANG=C.UTF-8"]
    env_args += [f"{k}={v}" for k, v in (env or {}).items()]
    mounts = [f"mount -t proc proc {shlex.quote(str(root / 'proc'))}"]
    for src, dst in binds:
        target = root / dst.lstrip("/")
        mounts.append(f"mkdir -p {shlex.quote(str(target))}")
        mounts.append(f"mount --bind {shlex.quote(src)} {shlex.quote(str(target))}")
    inner = (
        " && ".join(mounts)
        + " && exec "
        + shlex.join(["chroot", str(root), "env", "-i", *env_args, *command])
    )
    return ["unshare", "--mount", "--propagation", "private", "sh", "-c", inner]


def _stage_script(root: Path, script: str, prefix: str) -> tuple[Path, str]:
    name = f"{prefix}-{uuid.uuid4().hex[:12]}.py"
    host = root / "tmp" / name
    host.write_text(script, encoding="utf-8")
    return host, f"/tmp/{name}"


def run_gimp_batch(
    root: Path | str, script: str, env: dict | None = None, timeout: float = 120
) -> tuple[int, str, str]:
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
    argv = _chroot_argv(
        root,
        env,
        ["gimp-console", "-idf", "--batch-interpreter", "python-fu-eval", "-b", "-", "--quit"],
    )
    try:
        rc, out, err, timed_out = _run_group(argv, stdin_data=stdin.encode(), timeout=timeout)
    finally:
        host_script.unlink(missing_ok=True)
    if timed_out:
        raise EditorError(
            f"gimp-console did not finish within {timeout} s; stdout tail:\n"
            f"{_tail(out)}\nstderr tail:\n{_tail(err)}"
        )
    return rc, out, err


def _gimp_session_fill_screen(root: Path, width: int, height: int) -> None:
    """Xvfb has no window manager: give GIMP's image windows the whole screen through the
    user sessionrc (a copy of /etc/gimp/3.0/sessionrc with other positions and sizes)."""
    import re

    system = root / "etc/gimp/3.0/sessionrc"
    text = system.read_text(encoding="utf-8")
    text = re.sub(
        r"\(position -?\d+ -?\d+\)\n(\s*)\(size \d+ \d+\)",
        lambda m: f"(position 0 0)\n{m.group(1)}(size {width} {height})",
        text,
    )
    user = install_gimp_plugin_dir(root) / "sessionrc"
    user.parent.mkdir(parents=True, exist_ok=True)
    user.write_text(text, encoding="utf-8")


def run_gimp_gui_screenshot(
    root: Path | str,
    script: str,
    out_png: Path | str,
    env: dict | None = None,
    timeout: float = 90,
    settle: float = 2.0,
    size: tuple[int, int] = (1600, 1000),
) -> dict:
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
    wrapped = (
        script + "\n\n# --- added by run_gimp_gui_screenshot ---\n"
        "import gi as _gi\n_gi.require_version('Gimp', '3.0')\n"
        "from gi.repository import Gimp as _Gimp\n_Gimp.displays_flush()\n"
        f"open('/tmp/nst-gui-done-{token}', 'w').write('done')\n"
    )
    host_script, chroot_script = _stage_script(root, wrapped, "nst-gui")
    batch = f'import runpy; runpy.run_path("{chroot_script}", run_name="__main__")'
    t0 = time.monotonic()
    result = {}
    with Xvfb(*size) as x, tempfile.TemporaryFile() as outf, tempfile.TemporaryFile() as errf:
        genv = {"DISPLAY": x.display, "NO_AT_BRIDGE": "1", "GTK_A11Y": "none", **(env or {})}
        argv = _chroot_argv(
            root,
            genv,
            ["gimp", "--no-splash", "-df", "--batch-interpreter", "python-fu-eval", "-b", batch],
        )
        proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=outf, stderr=errf, start_new_session=True
        )
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
        result = {
            "seconds": round(time.monotonic() - t0, 2),
            "stdout": outf.read().decode("utf-8", "replace"),
            "stderr": errf.read().decode("utf-8", "replace"),
            "returncode": proc.returncode,
        }
    if not ready:
        raise EditorError(
            "GIMP GUI script did not finish (exit "
            f"{result['returncode']}); stdout tail:\n{_tail(result['stdout'])}"
            f"\nstderr tail:\n{_tail(result['stderr'])}"
        )
    return result
