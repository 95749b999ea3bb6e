"""`nst serve --idle-exit`: a real service process over real HTTP stops by itself once no
request came and no job ran for that long (exit 0, discovery file removed), never during a
job, and never without the flag."""

from __future__ import annotations

import io
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import test_service as service_tests
from PIL import Image

from nst_plugin.hostkit import client
from nst_plugin.hostkit.errors import ServiceError

NST = [sys.executable, "-m", "nst_plugin.cli"]
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "nst_plugin" / "examples"
IDLE = 2.0  # the --idle-exit of these tests, in seconds
JOB_ITERATIONS = 150  # a job of several seconds with random weights on a CPU


def png(name: str, size: tuple[int, int]) -> bytes:
    img = Image.open(EXAMPLES / name).convert("RGB").resize(size)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


class Service(service_tests.Service):
    """test_service's real service, started at once, with its exit and its output."""

    def __init__(self, root: Path, *args: str) -> None:
        super().__init__(root, *args)
        self.start()
        self.started = time.monotonic()

    def wait_exit(self, timeout: float) -> int | None:
        """Its exit code once it exits within `timeout` seconds, else None."""
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def kill(self) -> str:
        """End it if it still runs; what it printed."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(20)
        return self.output()


@pytest.fixture
def start(tmp_path):
    started = []

    def run(*args: str) -> Service:
        svc = Service(tmp_path / f"service{len(started)}", *args)
        started.append(svc)
        return svc

    yield run
    for svc in started:
        svc.kill()


def assert_idle_exit(svc: Service, code: int | None) -> None:
    out = svc.kill()
    assert code == 0, out
    assert not svc.file.exists()
    assert "(--idle-exit); stopping." in out and "the service has stopped" in out, out
    assert "(--idle-exit): stopping" in svc.log.read_text(encoding="utf-8")


def test_stops_by_itself_when_idle(start):
    svc = start("--idle-exit", f"{IDLE:g}")
    status = svc.client.call("GET", "/status")
    assert status["idle_exit"] == IDLE and status["state"] == "idle"
    code = svc.wait_exit(IDLE + 8)
    took = time.monotonic() - svc.started
    assert_idle_exit(svc, code)
    assert IDLE - 0.5 <= took < IDLE + 8


def test_requests_keep_it_alive_then_it_stops(start):
    svc = start("--idle-exit", f"{IDLE:g}")
    until = time.monotonic() + 2 * IDLE + 1
    conn = client.Client(svc.client.url, None)  # no token: /v1/health and a refused route
    shown = svc.nst("serve", "--status")
    assert shown.returncode == 0 and f"after {IDLE:g} s without requests" in shown.stdout
    while time.monotonic() < until:
        assert svc.proc.poll() is None, "stopped although requests kept coming"
        conn.health(timeout=5)
        with pytest.raises(ServiceError):
            conn.call("GET", "/status")  # refused (401), and still activity
        time.sleep(0.5)
    last = time.monotonic()
    code = svc.wait_exit(IDLE + 8)
    assert time.monotonic() - last >= IDLE - 0.5
    assert_idle_exit(svc, code)


def test_a_long_job_keeps_it_alive_until_it_ends(start):
    svc = start("--idle-exit", f"{IDLE:g}")
    c = svc.client
    job = c.submit(
        png("wave.jpg", (48, 32)),
        styles=[png("starry_night.jpg", (48, 48))],
        options={"engine": "vgg19", "size": 48, "iterations": JOB_ITERATIONS},
    )
    # No request at all for a while: only the job (loading the engine, then iterating) may
    # keep the service.
    quiet = 2 * IDLE + 1
    time.sleep(quiet)
    assert svc.proc.poll() is None, "stopped while its job ran"
    state = c.status(job)
    assert state["state"] in ("queued", "running"), f"the job ended within {quiet} s: {state}"
    deadline = time.monotonic() + 240
    while state["state"] in ("queued", "running") and time.monotonic() < deadline:
        time.sleep(0.5)
        state = c.status(job)
    assert state["state"] == "done", state
    last = time.monotonic()
    code = svc.wait_exit(IDLE + 8)
    assert time.monotonic() - last >= IDLE - 0.5
    assert_idle_exit(svc, code)


def test_without_the_flag_it_stays(start):
    svc = start()
    assert svc.client.call("GET", "/status")["idle_exit"] is None
    assert svc.wait_exit(IDLE + 2) is None, "stopped by itself without --idle-exit"
    assert svc.file.exists()
    shown = svc.nst("serve", "--status")
    assert shown.returncode == 0 and "idle-exit" not in shown.stdout


@pytest.mark.parametrize("value", ["0", "-5", "nan"])
def test_a_bad_idle_exit_is_refused(tmp_path, value):
    env = {**os.environ, "NST_SERVICE_FILE": str(tmp_path / "service.json"), "NST_PLUGINS": ""}
    done = subprocess.run(
        [*NST, "serve", "--idle-exit", value],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode != 0 and "--idle-exit must be a positive" in done.stderr
    assert not (tmp_path / "service.json").exists()
