"""Fixtures and helpers of test_gimp.py: a real `nst serve` outside the GIMP chroot, the
plug-in installed with the real `nst install-host gimp` into a private GIMP folder in the chroot
(``GimpSetup``), the service's job list and the plug-in's processes.

test_gimp.py imports the fixtures (``nst_exe``, ``nst_service``, ``gimp``), so pytest finds them
there and only there.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
import urllib.request
import uuid
from pathlib import Path

import editors
import pytest
from gimp_scripts import PRELUDE  # make_image, describe, differs, stylize, report

from nst_plugin.hostkit import client as nst_client
from nst_plugin.hostkit import discovery

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLUGIN_SRC = REPO / "hosts" / "gimp" / "nst-stylize"


# ------------------------------------------------------------------ the service and the install


def _nst_command() -> Path | None:
    beside = Path(sys.executable).parent / "nst"
    found = beside if beside.is_file() else shutil.which("nst")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def nst_exe() -> Path:
    nst = _nst_command()
    if nst is None:
        pytest.skip("the nst command is not installed (pip install -e .)")
    for command in (["serve", "--help"], ["install-host", "--help"]):
        done = subprocess.run([str(nst), *command], capture_output=True, timeout=120)
        if done.returncode != 0:
            pytest.skip(f"`nst {' '.join(command)}` does not work yet")
    return nst


@pytest.fixture(scope="session")
def nst_service(nst_exe, tmp_path_factory):
    """A real `nst serve --weights random` outside the chroot, in throwaway folders."""
    base = tmp_path_factory.mktemp("nst-service")
    env = dict(
        os.environ,
        NST_SERVICE_FILE=str(base / "service.json"),
        KERAS_HOME=str(base / "keras"),
        NST_WEIGHTS="random",
    )
    for var in (
        "XDG_CACHE_HOME",
        "XDG_DATA_HOME",
        "XDG_CONFIG_HOME",
        "XDG_STATE_HOME",
        "XDG_RUNTIME_DIR",
    ):
        env[var] = str(base / var.lower())
        Path(env[var]).mkdir(mode=0o700)
    log = open(base / "serve.out", "wb")  # noqa: SIM115 - the service writes it until the end
    proc = subprocess.Popen(
        [str(nst_exe), "serve", "--weights", "random"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 180
        info = None
        while time.monotonic() < deadline and proc.poll() is None:
            info = discovery.read_service_file(env["NST_SERVICE_FILE"])
            if info:
                try:
                    nst_client.Client(info["url"], info.get("token")).health(timeout=2)
                    break
                except nst_client.ServiceError:
                    pass
            time.sleep(0.3)
        else:
            pytest.fail("nst serve did not start: " + (base / "serve.out").read_text()[-2000:])
        yield {
            "file": Path(env["NST_SERVICE_FILE"]),
            "info": info,
            "client": nst_client.Client(info["url"], info.get("token")),
        }
    finally:
        proc.terminate()
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


class GimpSetup:
    """The chroot, the private GIMP folder (host and chroot paths), the env for gimp-console."""

    def __init__(self, root: Path, name: str, service_file: Path):
        self.root = root
        self.chroot_dir = f"/tmp/{name}"
        self.dir = root / self.chroot_dir.lstrip("/")
        self.plugin_dir = self.dir / "plug-ins" / "nst-stylize"
        self.service_file = f"/tmp/{name}-service.json"
        shutil.copy(service_file, root / self.service_file.lstrip("/"))
        self.env = {"GIMP3_DIRECTORY": self.chroot_dir, "NST_SERVICE_FILE": self.service_file}
        self.completed: list[str] = []
        self.copied: list[Path] = []

    def copy_in(self, path: Path, suffix: str = "") -> str:
        """Copy a file into the chroot's /tmp; returns its path inside the chroot."""
        inside = f"/tmp/nst-in-{uuid.uuid4().hex[:8]}{suffix or path.suffix}"
        shutil.copy(path, self.root / inside.lstrip("/"))
        self.copied.append(self.root / inside.lstrip("/"))
        return inside

    def batch(self, script: str, env: dict | None = None, timeout: float = 180):
        """Run PRELUDE + script in gimp-console; returns (rc, stdout, stderr, results)."""
        rc, out, err = editors.run_gimp_batch(
            self.root,
            PRELUDE + textwrap.dedent(script),
            env={**self.env, **(env or {})},
            timeout=timeout,
        )
        results = [
            json.loads(line[len("NST-RESULT ") :])
            for line in out.splitlines()
            if line.startswith("NST-RESULT ")
        ]
        assert rc == 0, f"gimp-console failed (exit {rc}):\n{out[-2000:]}\n{err[-4000:]}"
        return rc, out, err, results


@pytest.fixture(scope="session")
def gimp(gimp_root, nst_exe, nst_service):
    name = f"nst-gimp-test-{uuid.uuid4().hex[:8]}"
    setup = GimpSetup(gimp_root, name, nst_service["file"])
    try:
        subprocess.run(
            [str(nst_exe), "install-host", "gimp", "--dest", str(setup.dir)],
            check=True,
            capture_output=True,
            timeout=120,
        )
        # install-host copies the files it knows; complete the install with any other file of
        # the plug-in's source folder (test_install_host_copies_every_file reports them).
        for src in PLUGIN_SRC.glob("*.py"):
            if not (setup.plugin_dir / src.name).exists():
                shutil.copy(src, setup.plugin_dir / src.name)
                setup.completed.append(src.name)
        yield setup
    finally:
        shutil.rmtree(setup.dir, ignore_errors=True)
        for path in [gimp_root / setup.service_file.lstrip("/"), *setup.copied]:
            path.unlink(missing_ok=True)


def plugin_pids(root: Path) -> list[int]:
    def is_plugin(pid: int) -> bool:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"nst-stylize.py" in f.read()

    return [pid for pid in editors.processes_in_root(root) if is_plugin(pid)]


def list_jobs(service: dict) -> list[dict]:
    """GET /v1/jobs (the client has no method for the list)."""
    info = service["info"]
    request = urllib.request.Request(
        info["url"] + "/v1/jobs",
        headers={"Authorization": "Bearer " + info["token"], "Accept": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.loads(answer.read())["jobs"]
