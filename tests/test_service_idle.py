"""`nst serve --idle-exit MINUTES`: a real service process over real HTTP stops by itself once
no request came, no request stayed open and no job ran for that long (exit 0, discovery file
removed), never during a job, its event stream, a slow upload or the warm-up, and never
without the flag; a service the host kit starts gets 30 minutes."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import test_service as service_tests
from PIL import Image

from nst_plugin.cli.serve import IDLE_EXIT_PLUGIN
from nst_plugin.hostkit import client, discovery
from nst_plugin.hostkit.errors import ServiceError
from nst_plugin.service.config import describe_seconds, idle_exit_seconds

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

    def wait_output(self, text: str, timeout: float = 120) -> float:
        """Wait until it has printed `text`; the time it was seen."""
        deadline = time.monotonic() + timeout
        while text not in self.output():
            assert time.monotonic() < deadline, f"no {text!r} in {self.output()!r}"
            assert self.proc.poll() is None, self.output()
            time.sleep(0.1)
        return time.monotonic()

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


def assert_idle_exit(svc: Service, code: int | None, span: str = f"{IDLE:g} s") -> None:
    out = svc.kill()
    assert code == 0, out
    assert not svc.file.exists()
    assert f"no request and no job for {span} (--idle-exit); stopping." in out, out
    assert "the service has stopped" in out, out
    assert f"no request and no job for {span} (--idle-exit): stopping" in svc.log.read_text(
        encoding="utf-8"
    )


def assert_stops_after_quiet(svc: Service, last: float) -> None:
    """It exits by itself, IDLE seconds (not sooner) after `last`, the end of all activity."""
    code = svc.wait_exit(IDLE + 8)
    assert time.monotonic() - last >= IDLE - 0.5
    assert_idle_exit(svc, code)


# --------------------------------------------------------------------------- idle exit


def test_stops_by_itself_when_idle_fractional_minutes(start):
    svc = start("--idle-exit", "0.04", "--no-warm-up")  # 0.04 minutes: 2.4 s
    status = svc.client.call("GET", "/status")
    assert status["idle_exit"] == pytest.approx(2.4) and status["state"] == "idle"
    shown = svc.nst("serve", "--status")
    assert shown.returncode == 0 and "stops by itself after 2.4 s without" in shown.stdout
    code = svc.wait_exit(2.4 + 8)
    took = time.monotonic() - svc.started
    assert_idle_exit(svc, code, "2.4 s")
    assert 2.4 - 0.5 <= took < 2.4 + 8


def test_requests_keep_it_alive_then_it_stops(start):
    svc = start("--idle-exit", f"{IDLE:g}s", "--no-warm-up")
    until = time.monotonic() + 2 * IDLE + 1
    conn = client.Client(svc.client.url, None)  # no token: /v1/health and a refused route
    while time.monotonic() < until:
        assert svc.proc.poll() is None and svc.file.exists(), "stopped though requests came"
        conn.health(timeout=5)
        with pytest.raises(ServiceError):
            conn.call("GET", "/status")  # refused (401), and still activity
        time.sleep(0.5)
    assert_stops_after_quiet(svc, time.monotonic())


def test_an_open_request_keeps_it_alive(start):
    """A request still open counts all along (an upload that takes long; an event stream is
    such a request too), however long ago it began."""
    svc = start("--idle-exit", f"{IDLE:g}s", "--no-warm-up")
    head = (
        "POST /v1/jobs HTTP/1.1\r\nHost: {}:{}\r\nAuthorization: Bearer {}\r\n"
        "Content-Type: multipart/form-data; boundary=b\r\nContent-Length: 100000\r\n\r\n"
    ).format(*svc.address, svc.info["token"])
    with socket.create_connection(svc.address, timeout=10) as sock:
        part = (
            '--b\r\nContent-Disposition: form-data; name="content"; filename="c.png"\r\n'
            "Content-Type: image/png\r\n\r\n"
        )
        sock.sendall((head + part).encode("ascii"))
        until = time.monotonic() + 2 * IDLE + 1
        while time.monotonic() < until:
            assert svc.proc.poll() is None and svc.file.exists(), "stopped with a request open"
            sock.sendall(b"x")  # far from the declared length: the request stays open
            time.sleep(0.5)
    assert_stops_after_quiet(svc, time.monotonic())


def test_jobs_and_their_event_streams_keep_it_alive(start):
    svc = start("--idle-exit", f"{IDLE:g}s", "--no-warm-up")
    c = svc.client
    options = {"engine": "vgg19", "size": 48, "iterations": JOB_ITERATIONS}
    content, style = png("wave.jpg", (48, 32)), png("starry_night.jpg", (48, 48))
    # A job left alone: no request at all for a while, only the job (loading the engine, then
    # iterating) may keep the service.
    job = c.submit(content, styles=[style], options=options)
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
    # A job followed over its event stream, the only request while it runs.
    began = time.monotonic()
    events = []
    c.wait(c.submit(content, styles=[style], options=options), on_event=events.append)
    last = time.monotonic()
    assert events[-1]["event"] == "done" and last - began > IDLE + 1, (last - began, events[-1])
    assert svc.proc.poll() is None, "stopped while an event stream was open"
    assert_stops_after_quiet(svc, last)


def test_the_warm_up_keeps_it_alive_then_it_stops(start):
    svc = start("--idle-exit", f"{IDLE:g}s")
    svc.wait_output("nst: loading the engine in the background")
    ready = svc.wait_output("nst: the engine is ready")  # asserts it still runs
    took = float(svc.output().split("nst: the engine is ready (")[1].split(" s)")[0])
    assert took > IDLE, f"a warm-up of {took} s proves nothing against {IDLE} s"
    log = svc.log.read_text(encoding="utf-8")
    assert "warm-up: the engine is loaded and compiled" in log and "stopping" not in log
    assert_stops_after_quiet(svc, ready - 0.2)  # ready: seen within a 0.1 s poll


def test_without_the_flag_or_with_0_it_stays(start):
    by_hand = start()  # as a user starts it: the engine warms up, and it stays
    never = start("--idle-exit", "0", "--no-warm-up")
    for svc in (by_hand, never):
        assert svc.client.call("GET", "/status")["idle_exit"] is None
    by_hand.wait_output("nst: the engine is ready")
    for svc in (by_hand, never):
        assert svc.wait_exit(IDLE + 2) is None, "stopped by itself without --idle-exit"
        assert svc.file.exists()
        shown = svc.nst("serve", "--status")
        assert shown.returncode == 0 and "stops by itself" not in shown.stdout


@pytest.mark.parametrize("value", ["-5", "nan", "inf", "ten", "5x", "s"])
def test_a_bad_idle_exit_is_refused(tmp_path, value):
    env = {**os.environ, "NST_SERVICE_FILE": str(tmp_path / "service.json"), "NST_PLUGINS": ""}
    done = subprocess.run(
        [*NST, "serve", "--idle-exit", value],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2, done.stderr
    assert "--idle-exit takes the minutes" in done.stderr and "0 keeps it" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert not (tmp_path / "service.json").exists()


def test_idle_exit_values():
    assert [idle_exit_seconds(v) for v in ("30", "0.5", " 90s ", "2M", "1h")] == [
        1800,
        30,
        90,
        120,
        3600,
    ]
    assert idle_exit_seconds("0") is None and idle_exit_seconds("0s") is None
    for bad in ("-1", "nan", "inf", "", "m", "1e999"):
        with pytest.raises(ValueError):
            idle_exit_seconds(bad)
    assert [describe_seconds(s) for s in (2.4, 90, 1800, 7200)] == [
        "2.4 s",
        "90 s",
        "30 minutes",
        "2 hours",
    ]


# --------------------------------------------------------------------------- started by a plug-in


def test_a_service_the_host_kit_starts_stops_after_30_minutes(tmp_path, monkeypatch):
    """The host kit starts a real `nst serve` with `--idle-exit 30` (minutes); its imagenet
    weights are not downloaded here, so it does not fetch them in advance."""
    assert discovery.IDLE_EXIT == IDLE_EXIT_PLUGIN == 30
    for name in ("XDG_STATE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    monkeypatch.setenv("TF_CPP_MIN_LOG_LEVEL", "3")
    path = tmp_path / "run" / "service.json"
    conn = discovery.connect(service_file=str(path), nst_command=NST, wait=60)
    info = discovery.read_service_file(str(path))
    try:
        status = conn.call("GET", "/status")
        assert status["idle_exit"] == 30 * 60
        log = Path(status["log"])
        deadline = time.monotonic() + 20
        while "the engine loads with the first job" not in log.read_text(encoding="utf-8"):
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")
            time.sleep(0.1)
        assert "weights are not downloaded yet" in log.read_text(encoding="utf-8")
        shown = subprocess.run(
            [*NST, "serve", "--status"],
            env={**os.environ, "NST_SERVICE_FILE": str(path)},
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert "stops by itself after 30 minutes without requests or jobs" in shown.stdout
    finally:
        os.kill(info["pid"], signal.SIGTERM)
        deadline = time.monotonic() + 20
        while path.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
    assert not path.exists()
