"""`nst serve` under hostile load, over real HTTP against a real process: idle and half-sent
connections do not lock clients out, endless jobs and unbounded echoes are refused in one
sentence, the queue has a memory budget, cancel works in every state within a second, the
log keeps no token, and a live service that does not answer is busy, not gone."""

from __future__ import annotations

import contextlib
import http.client
import io
import json
import random
import socket
import stat
import subprocess
import sys
import time

import pytest
import test_service as service_tests
from PIL import Image

from nst_plugin.hostkit import client
from nst_plugin.hostkit.errors import ServiceError

one_sentence = service_tests.one_sentence
STYLE = service_tests.STYLE
SHORT = 600  # characters an error sentence may take, whatever the input (some list names)


def noise_png(size: tuple[int, int], seed: int = 0) -> bytes:
    """A PNG that does not compress: about 3 bytes per pixel."""
    rng = random.Random(seed)
    img = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    out = io.BytesIO()
    img.save(out, format="PNG", compress_level=1)
    return out.getvalue()


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = service_tests.Service(
        tmp_path_factory.mktemp("hostile"),
        "--header-timeout",
        "1",
        "--max-job-mb",
        "8",
        "--max-queue-mb",
        "1",
    )
    svc.start()
    yield svc
    svc.stop()


def submit_raw(service, options_text: str, content: bytes | None = None):
    body, ctype = client.encode_multipart(
        [("options", options_text)],
        [
            ("content", "c.png", None, content or service_tests.png((24, 18))),
            ("style", "s.png", None, STYLE),
        ],
    )
    return service.request("POST", "/v1/jobs", body, {"Content-Type": ctype})


def wait_state(c, job, states=("done", "failed", "cancelled"), timeout=60.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = c.status(job)
        if status["state"] in states:
            return status
        time.sleep(0.02)
    raise AssertionError(f"job {job} still {status['state']}")


def test_idle_and_half_sent_connections_do_not_lock_clients_out(service):
    host, port = service.address
    sockets = []
    try:
        for i in range(100):
            sock = socket.create_connection(service.address, timeout=10)
            if i % 2:  # half a request head, never finished
                sock.sendall(f"GET /v1/health HTTP/1.1\r\nHost: {host}:{port}\r\nX-a: ".encode())
            sockets.append(sock)
        started = time.monotonic()
        c = service.client
        assert c.health(timeout=3)["ok"] is True
        assert c.call("GET", "/status", timeout=3)["pid"] == service.proc.pid
        job = c.submit(service_tests.png((24, 18)), styles=[STYLE], options={"size": 24})
        assert time.monotonic() - started < 3  # answered while 100 sockets hang on
        assert c.wait(job)[:8] == b"\x89PNG\r\n\x1a\n"
        # A connection that trickles its head is closed at the deadline (here 1 s).
        trickle = socket.create_connection(service.address, timeout=10)
        trickle.sendall(b"GET /v1/health HTTP/1.1\r\n")
        began = time.monotonic()
        closed = False
        while time.monotonic() - began < 5:
            try:
                trickle.sendall(b"X")
                time.sleep(0.1)
            except OSError:
                closed = True
                break
            trickle.settimeout(0.01)
            with contextlib.suppress(TimeoutError):
                closed = trickle.recv(1) == b""
            if closed:
                break
        assert closed and time.monotonic() - began < 3
        trickle.close()
    finally:
        for sock in sockets:
            sock.close()


def test_endless_jobs_are_refused_in_one_sentence(service):
    cases = {
        '{"time_budget": Infinity}': "Infinity",
        '{"time_budget": NaN}': "NaN",
        '{"time_budget": 1e308}': "time-budget must be above 0 and at most 86400",
        '{"iterations": 1000000000}': "iterations must be between 1 and 100000",
        '{"size": 1e400}': "size must be a whole number",
        '{"tile_size": 99999999}': "tile-size must be between 32 and 16384",
    }
    before = len(service.jobs())
    for text, expected in cases.items():
        status, _, body = submit_raw(service, text)
        message = json.loads(body)["error"]
        assert status == 400 and expected.lower() in message.lower(), (text, message)
        one_sentence(message)
    assert len(service.jobs()) == before


def test_error_sentences_quote_input_short(service):
    long = "x" * 500_000
    for options in ({"style_loss": long}, {long[:10_000]: 1}, {"engine": long}):
        status, _, body = submit_raw(service, json.dumps(options))
        message = json.loads(body)["error"]
        assert status == 400 and "xxxx…" in message and len(message) < SHORT, message[:400]
        assert "x" * 61 not in message  # the input is quoted cut to 60 characters
        assert "{" not in message  # no Python repr of the input
    for method, path in (("GET", "/v1/jobs/" + "a" * 5000), ("GET", "/v1/" + "b" * 5000)):
        status, message = service.error(method, path)
        assert status == 404 and len(message) < SHORT, message[:400]
    status, message = service.error("GET", "/v1/styles", host="h" * 5000)
    assert status == 400 and len(message) < SHORT
    with pytest.raises(ServiceError) as info:
        service.client.submit(service_tests.png(), style_name="s" * 5000)
    assert info.value.status == 400 and len(str(info.value)) < 1000  # it lists the styles


def test_a_folder_named_like_an_image_in_the_style_library_is_no_500(service):
    folder = service.root / "data" / "nst-plugin" / "styles" / "folder.png"
    folder.mkdir(parents=True)
    (folder / "inside.png").write_bytes(STYLE)
    names = {s["name"] for s in service.client.styles()}
    assert "folder" not in names and "starry_night" in names
    with pytest.raises(ServiceError) as info:
        service.client.submit(service_tests.png(), style_name="folder")
    assert info.value.status == 400
    one_sentence(str(info.value))


def test_memory_budgets_and_cancel_in_every_state(service):
    c = service.client
    big = Image.new("RGB", (2000, 1500), (200, 100, 50))  # 12 MB decoded, a few KB as PNG
    out = io.BytesIO()
    big.save(out, format="PNG")
    with pytest.raises(ServiceError) as info:
        c.submit(out.getvalue(), styles=[STYLE], options={"size": 16})
    assert info.value.status == 413 and "--max-job-mb" in str(info.value)
    one_sentence(str(info.value))

    long = {"size": 24, "iterations": 100000}
    running = c.submit(service_tests.png((24, 18)), styles=[STYLE], options=long)
    wait_state(c, running, ("running",))
    queued = []
    with pytest.raises(ServiceError) as info:
        for i in range(8):  # about 300 KB each, held compressed while they wait
            queued.append(c.submit(noise_png((300, 330), i), styles=[STYLE], options=long))
    assert info.value.status == 503 and "try again" in str(info.value)
    assert 2 <= len(queued) <= 4, len(queued)
    status, _, body = submit_raw(service, json.dumps(long), noise_png((300, 330), 99))
    assert status == 503
    one_sentence(json.loads(body)["error"])

    for job in [queued[-1], running]:  # queued: at once; running: within a second
        started = time.monotonic()
        c.cancel(job)
        assert wait_state(c, job, timeout=5)["state"] == "cancelled"
        assert time.monotonic() - started < 1.0
    # The next job is cancelled as it starts (loading, preparing) and within a second too.
    nxt = queued[0]
    stage = wait_state(c, nxt, ("running",), timeout=30)["stage"]
    started = time.monotonic()
    c.cancel(nxt)
    assert wait_state(c, nxt, timeout=5)["state"] == "cancelled", stage
    assert time.monotonic() - started < 1.0
    for job in queued[1:-1]:
        c.cancel(job)
        wait_state(c, job, timeout=5)


def test_the_log_keeps_no_token_and_is_private(service):
    token = service.info["token"]
    assert service.request("GET", f"/v1/health?token={token}&x=1", token=None)[0] == 200
    assert service.request("GET", f"/v1/styles?access_token={token}")[0] == 200
    time.sleep(0.2)
    log = service.log.read_text(encoding="utf-8")
    assert "/v1/health?…" in log and token not in log
    assert stat.S_IMODE(service.log.stat().st_mode) == 0o600


def test_a_live_service_that_does_not_answer_is_busy_not_gone(tmp_path):
    """`nst serve --status` says busy, and a second `nst serve` does not start beside it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accepted
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "serve"], stdin=subprocess.DEVNULL
    )
    try:
        svc = service_tests.Service(tmp_path)
        svc.file.parent.mkdir(parents=True)
        info = {
            "url": "http://127.0.0.1:%d" % silent.getsockname()[1],
            "token": "t",
            "pid": holder.pid,
            "version": "0.1.0",
            "log": str(tmp_path / "serve.log"),
        }
        svc.file.write_text(json.dumps(info))
        out = svc.nst("serve", "--status")
        assert out.returncode == 0 and "busy" in out.stdout, out
        second = svc.nst("serve", "--weights", "random")
        assert second.returncode == 0 and "busy" in second.stdout, second
        assert json.loads(svc.file.read_text())["pid"] == holder.pid  # not taken over
    finally:
        holder.kill()
        holder.wait(5)
        silent.close()


def test_repeated_wrong_tokens_are_slowed_down(service):
    for _ in range(10):
        assert service.error("GET", "/v1/engines", token="Bearer wrong")[0] == 401
    status, _ctype, body = service.request("GET", "/v1/engines", token="Bearer wrong")
    assert status == 429, body
    one_sentence(json.loads(body)["error"])
    conn_answer = http.client.HTTPConnection(*service.address, timeout=10)
    conn_answer.request("GET", "/v1/engines", headers={"Authorization": "Bearer nope"})
    resp = conn_answer.getresponse()
    assert resp.status == 429 and 0 < int(resp.getheader("Retry-After")) <= 60
    conn_answer.close()
    assert service.client.engines()["default"]  # the right token is still served
