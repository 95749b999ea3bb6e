"""Tests of `nst serve`: a real service process on loopback, real HTTP through the client
(nst_plugin.hostkit) and raw http.client / sockets for what a client never sends.

The service is started once for the module (TensorFlow loads on the first job) with random
weights and tiny images; the test that kills it runs last. `nst install-host` is tested on
a plug-in folder the test makes.
"""

from __future__ import annotations

import base64
import http.client
import io
import itertools
import json
import os
import random
import signal
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from PIL import Image

from nst_plugin.hostkit import client, discovery
from nst_plugin.hostkit.choices import Choices
from nst_plugin.hostkit.errors import Cancelled, ServiceError
from nst_plugin.hostkit.jobs import ServiceJob
from nst_plugin.hostkit.png import decode_png
from nst_plugin.options import PRESETS

NST = [sys.executable, "-m", "nst_plugin.cli"]
ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "nst_plugin" / "examples"


def one_sentence(text: str) -> None:
    assert text and "\n" not in text and "Traceback" not in text, text
    assert text.endswith("."), text


def png(size=(40, 30), mode="RGBA", seed=0) -> bytes:
    """A small photo-like PNG; RGBA ones have an alpha gradient."""
    img = Image.open(EXAMPLES / ("wave.jpg" if seed == 0 else "starry_night.jpg")).convert("RGB")
    img = img.resize(size)
    if mode == "RGBA":
        alpha = Image.linear_gradient("L").resize(size)
        img.putalpha(alpha)
    out = io.BytesIO()
    img.save(out, format="PNG")
    return out.getvalue()


STYLE = png((32, 32), "RGB", seed=1)


class Service:
    """One `nst serve --weights random [args]` process and how to reach it; what it prints
    goes to `out` and its log to `log`."""

    def __init__(self, root: Path, *args: str):
        self.root = root
        self.args = args
        self.file = root / "run" / "service.json"
        self.out = root / "serve.out"
        self.log = root / "state" / "nst-plugin" / "serve.log"
        self.env = {
            **os.environ,
            "NST_SERVICE_FILE": str(self.file),
            "NST_PLUGINS": "",
            "XDG_STATE_HOME": str(root / "state"),
            "XDG_DATA_HOME": str(root / "data"),
            "XDG_CONFIG_HOME": str(root / "config"),
            "KERAS_HOME": str(root / "keras"),
            "TF_CPP_MIN_LOG_LEVEL": "3",
            "PYTHONPATH": str(ROOT),
        }
        self.env.pop("NST_WEIGHTS", None)
        self.proc = None
        self.info = None

    def nst(self, *args, timeout=60) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*NST, *args], env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.out, "wb") as out:  # the child keeps its own handle
            self.proc = subprocess.Popen(
                [*NST, "serve", "--weights", "random", *self.args],
                env=self.env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            info = discovery.read_service_file(str(self.file))
            if info and info.get("pid") == self.proc.pid:
                self.info = info
                self.client = client.Client(info["url"], info["token"])
                return
            assert self.proc.poll() is None, "nst serve exited at start: " + self.output()
            time.sleep(0.05)
        raise AssertionError("nst serve did not write its discovery file in time")

    def output(self) -> str:
        """What the process printed so far."""
        return self.out.read_text(encoding="utf-8", errors="replace")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def address(self) -> tuple[str, int]:
        host, port = self.info["url"].rsplit("/", 1)[1].rsplit(":", 1)
        return host, int(port)

    def request(self, method, path, body=None, headers=None, token=True, host=None):
        """(status, content type, body) of one raw request."""
        conn = http.client.HTTPConnection(*self.address, timeout=30)
        headers = dict(headers or {})
        if token is True:
            headers["Authorization"] = "Bearer " + self.info["token"]
        elif token:
            headers["Authorization"] = token
        if host is not None:
            headers["Host"] = host
        try:
            conn.request(method, path, body=body, headers=headers)
            resp = conn.getresponse()
            return resp.status, resp.getheader("Content-Type", ""), resp.read()
        finally:
            conn.close()

    def error(self, *args, **kw) -> tuple[int, str]:
        status, ctype, body = self.request(*args, **kw)
        assert ctype == "application/json" and status >= 400, (args[:2], status, body)
        message = json.loads(body)["error"]
        one_sentence(message)
        return status, message

    def jobs(self) -> list[dict]:
        status, _, body = self.request("GET", "/v1/jobs")
        assert status == 200
        return json.loads(body)["jobs"]


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("service"))
    svc.start()
    yield svc
    svc.stop()


def job_form(content=None, style=STYLE, options=None, **fields):
    files = [("content", "c.png", "image/png", png() if content is None else content)]
    if style is not None:
        files.append(("style", "s.png", "image/png", style))
    data = [("options", json.dumps(options or {"size": 16, "iterations": 2}))]
    data += list(fields.items())
    return client.encode_multipart(data, files)


# --------------------------------------------------------------------------- jobs


def test_full_job_with_previews_and_alpha_kept(service):
    c = service.client
    assert c.health()["ok"] is True
    engines = c.engines()
    assert engines["default"] == "vgg19"
    assert "weights" not in engines["engines"][0]["options"]["properties"]
    assert engines["presets"] == PRESETS and {e["name"] for e in engines["engines"]} >= {
        "vgg19",
        "fast",
    }
    content = png((40, 30))
    job = c.submit(
        content, styles=[STYLE], options={"size": 40, "iterations": 6, "preview_every": 2}
    )
    events = []
    result = c.wait(job, on_event=events.append)
    assert events[-1]["event"] == "done"
    previews = [e["preview"] for e in events if e.get("preview")]
    assert previews
    assert decode_png(base64.b64decode(previews[0]))[0] <= 40
    steps = [e["step"] for e in events if e["event"] == "progress"]
    assert steps == sorted(steps) and steps[-1] == 6  # a slow reader may skip steps, not the last
    width, height, mode, pixels = decode_png(result)
    assert (width, height, mode) == (40, 30, "RGBA")
    expected_alpha = Image.open(io.BytesIO(content)).getchannel("A").tobytes()
    assert max(abs(a - b) for a, b in zip(pixels[3::4], expected_alpha)) <= 1
    status = c.status(job)
    assert status["state"] == "done" and status["step"] == 6 and status["error"] is None
    # A stream opened after the end sends the last state and the final event at once.
    late = list(c.events(job))
    assert [e["event"] for e in late] == ["progress", "done"]
    assert c.result(job) == result


def test_mask_becomes_the_alpha(service):
    mask = Image.new("L", (32, 24), 0)
    mask.paste(255, (0, 0, 16, 24))
    out = io.BytesIO()
    mask.save(out, format="PNG")
    c = service.client
    job = c.submit(
        png((32, 24), "RGB"),
        styles=[STYLE],
        mask=out.getvalue(),
        options={"size": 32, "iterations": 2},
    )
    width, height, mode, pixels = decode_png(c.wait(job))
    assert (width, height, mode) == (32, 24, "RGBA")
    assert pixels[3::4] == mask.tobytes()


def test_style_library(service):
    c = service.client
    styles = {s["name"]: s for s in c.styles()}
    assert styles["starry_night"]["source"] == "bundled"
    for style in styles.values():
        width, height, _, _ = decode_png(base64.b64decode(style["thumbnail"]))
        assert max(width, height) <= 128
    assert c.add_style("My Painting!", png((48, 40), "RGB", seed=1)) == "my_painting"
    assert {"name": "my_painting", "source": "user"}.items() <= {s["name"]: s for s in c.styles()}[
        "my_painting"
    ].items()
    assert (service.root / "data" / "nst-plugin" / "styles" / "my_painting.png").is_file()
    with pytest.raises(ServiceError) as info:
        c.add_style("my_painting", png((20, 20), "RGB"))
    assert info.value.status == 409
    one_sentence(str(info.value))
    with pytest.raises(ServiceError) as info:
        c.add_style("starry night", png((20, 20), "RGB"))
    assert info.value.status == 409
    job = c.submit(
        png((24, 24), "RGB"), style_name="my_painting", options={"size": 24, "iterations": 2}
    )
    assert decode_png(c.wait(job))[:3] == (24, 24, "RGB")
    with pytest.raises(ServiceError) as info:
        c.submit(png(), style_name="no_such_style")
    assert info.value.status == 400 and "starry_night" in str(info.value)


# --------------------------------------------------------------------------- security


def test_token_host_and_origin_are_checked(service):
    body, ctype = job_form()
    before = len(service.jobs())
    assert service.request("GET", "/v1/health", token=None)[0] == 200
    for token in (None, "Bearer wrong", "Basic " + service.info["token"], "Bearer"):
        assert service.error("GET", "/v1/engines", token=token)[0] == 401
        assert (
            service.error("POST", "/v1/jobs", body, {"Content-Type": ctype}, token=token)[0] == 401
        )
    assert len(service.jobs()) == before  # nothing ran
    for host in ("evil.example:80", f"evil.example:{service.address[1]}", "127.0.0.1:1", ""):
        status, message = service.error("GET", "/v1/engines", host=host)
        assert status == 400 and "Host" in message
    port = service.address[1]
    assert service.request("GET", "/v1/health", host=f"localhost:{port}")[0] == 200
    for origin in ("http://evil.example", "null", f"http://127.0.0.1:{port}"):
        assert service.error("GET", "/v1/styles", headers={"Origin": origin})[0] == 403
        assert (
            service.error("POST", "/v1/jobs", body, {"Content-Type": ctype, "Origin": origin})[0]
            == 403
        )
    assert len(service.jobs()) == before


def _raw_socket(service) -> socket.socket:
    sock = socket.create_connection(service.address, timeout=30)
    return sock


def _read_to_end(sock: socket.socket) -> bytes:
    """Everything the service sends until it closes the connection (or a reset ends it)."""
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except ConnectionResetError:
        pass
    return data


def _head(service, extra: str) -> bytes:
    host, port = service.address
    return (
        f"POST /v1/jobs HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Authorization: Bearer {service.info['token']}\r\n"
        f"Content-Type: multipart/form-data; boundary=xx\r\n{extra}\r\n"
    ).encode()


def test_oversized_bodies_get_413_before_they_are_read(service):
    start = time.monotonic()
    with _raw_socket(service) as sock:
        sock.sendall(_head(service, f"Content-Length: {300 * 1024 * 1024}\r\n") + b"--xx\r\n")
        answer = _read_to_end(sock)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:100]
    assert time.monotonic() - start < 5
    assert b"limit of 256 MB" in answer

    # A chunked body has no length: it is cut at the limit while it streams.
    got = {}
    with _raw_socket(service) as sock:

        def read():
            try:
                got["answer"] = _read_to_end(sock)
            except OSError as err:
                got["error"] = err
            got["sent"] = sent

        reader = threading.Thread(target=read)
        sent = 0
        sock.sendall(_head(service, "Transfer-Encoding: chunked\r\n"))
        part = (
            b'--xx\r\nContent-Disposition: form-data; name="content"; filename="c.png"\r\n'
            b"Content-Type: image/png\r\n\r\n"
        )
        sock.sendall(b"%x\r\n%s\r\n" % (len(part), part))
        reader.start()
        block = bytes(4 * 1024 * 1024)
        chunk = b"%x\r\n%s\r\n" % (len(block), block)
        try:
            while sent < 300 * 1024 * 1024 and "sent" not in got:
                sock.sendall(chunk)
                sent += len(block)
        except OSError:
            pass
        reader.join(30)
    assert got.get("answer", b"").startswith(b"HTTP/1.1 413"), got
    assert got["sent"] < 300 * 1024 * 1024
    assert service.client.health()["ok"]


def test_malformed_requests_get_400_with_one_sentence(service):
    def post(body, ctype="multipart/form-data; boundary=xx", path="/v1/jobs"):
        return service.error("POST", path, body, {"Content-Type": ctype})

    cases = {
        "options JSON": client.encode_multipart(
            [("options", "{size: 3")],
            [("content", "c.png", None, png()), ("style", "s.png", None, STYLE)],
        ),
        "options list": client.encode_multipart(
            [("options", "[1, 2]")],
            [("content", "c.png", None, png()), ("style", "s.png", None, STYLE)],
        ),
        "unknown option": job_form(options={"sise": 3}),
        "bad value": job_form(options={"size": "big"}),
        "weights": job_form(options={"weights": "/etc/passwd"}),
        "save_every": job_form(options={"save_every": 1}),
        "unknown engine": job_form(options={"engine": "nope"}),
        "not an image": job_form(content=b"this is not an image at all"),
        "truncated png": job_form(content=png()[:60]),
        "style not an image": job_form(style=b"GIF89a garbage"),
        "empty content": job_form(content=b"", style=STYLE),
        "no style": job_form(style=None),
        "style and style_name": job_form(style_name="starry_night"),
        "bad mask size": client.encode_multipart(
            [],
            [
                ("content", "c.png", None, png()),
                ("style", "s.png", None, STYLE),
                ("mask", "m.png", None, png((8, 8), "RGB")),
            ],
        ),
    }
    for name, (body, ctype) in cases.items():
        status, message = post(body, ctype)
        assert status == 400, (name, message)
    assert "weights" in post(*cases["weights"])[1]
    assert "sise" in post(*cases["unknown option"])[1]
    for body, ctype in (
        (b"--xx\r\ngarbage without headers", None),
        (b"not multipart at all", None),
        (b"", None),
        (b"--xx\r\nContent-Disposition: form-data\r\n\r\nx\r\n--xx--\r\n", None),
        (b'{"content": 1}', "application/json"),
        (b"a=1", "application/x-www-form-urlencoded"),
        (b"--yy\r\n", "multipart/form-data"),  # no boundary parameter
    ):
        assert post(body, ctype or "multipart/form-data; boundary=xx")[0] == 400
    assert post(b"--xx--\r\n", path="/v1/styles")[0] == 400
    body, ctype = client.encode_multipart([("name", "x")], [("image", "i.png", None, b"nope")])
    assert post(body, ctype, path="/v1/styles")[0] == 400
    assert service.error("GET", "/v1/jobs/nope/result")[0] == 404
    assert service.error("GET", "/v1/nothing")[0] == 404
    assert service.error("PUT", "/v1/jobs")[0] == 405


def test_a_pixel_bomb_is_refused_before_decoding(service):
    big = Image.new("L", (12000, 8000))
    out = io.BytesIO()
    big.save(out, format="PNG", compress_level=9)  # 96 Mpx in a small file
    body, ctype = job_form(content=out.getvalue())
    status, message = service.error("POST", "/v1/jobs", body, {"Content-Type": ctype})
    assert status == 400 and "too large" in message


def test_an_unexpected_error_is_a_one_sentence_500_and_logged(caplog):
    """In-process: the request checks' last resort, which a working service never shows."""
    import asyncio

    from nst_plugin.service.security import RequestChecks

    async def broken(scope, receive, send):
        raise RuntimeError("secret internals")

    sent = []

    async def send(message):
        sent.append(message)

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    checks = RequestChecks(
        broken,
        token="t",
        allowed_hosts=frozenset({"127.0.0.1:9"}),
        max_body=10,
        log_file="/x/serve.log",
    )
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/v1/engines",
        "headers": [(b"host", b"127.0.0.1:9"), (b"authorization", b"Bearer t")],
    }
    asyncio.run(checks(scope, receive, send))
    assert sent[0]["status"] == 500
    message = json.loads(sent[1]["body"])["error"]
    one_sentence(message)
    assert "secret" not in message and "/x/serve.log" in message
    assert "RuntimeError: secret internals" in caplog.text


def _mutate(rng: random.Random, data: bytes) -> bytes:
    data = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        how = rng.random()
        at = rng.randrange(len(data) + 1)
        if how < 0.4 and data:
            data[min(at, len(data) - 1)] = rng.randrange(256)
        elif how < 0.6:
            data[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
        elif how < 0.8:
            del data[at : at + rng.randint(1, 64)]
        else:
            data = data[:at]
    return bytes(data)


def test_random_and_mutated_requests_never_get_a_500(service):
    rng = random.Random(20240601)
    small = png((16, 12))
    seeds = [
        job_form(content=small, options={"size": 16, "iterations": 1}),
        job_form(
            content=small,
            style=None,
            style_name="starry_night",
            options={"size": 16, "iterations": 1, "engine": "vgg19"},
        ),
        client.encode_multipart([("name", "fuzz")], [("image", "i.png", None, small)]),
        client.encode_multipart(
            [
                ("options", '{"size": 16, "iterations": 1, "strength": 0.5}'),
                ("cancel_on_disconnect", "true"),
            ],
            [
                ("content", "c.png", None, small),
                ("style", "s.png", None, small),
                ("mask", "m.png", None, png((16, 12), "RGB")),
            ],
        ),
    ]
    paths = [
        "/v1/jobs",
        "/v1/styles",
        "/v1/health",
        "/v1/engines",
        "/v1/jobs/abc",
        "/v1/jobs/abc/events",
        "/v1/jobs/%00/result",
        "/v1/../v1/health",
        "/v1/jobs//",
        "/v1/status",
        "/" + "a" * 3000,
        "/v1/jobs/" + "%ff" * 10,
    ]
    methods = ["GET", "POST", "DELETE", "PUT", "PATCH", "OPTIONS", "HEAD"]
    statuses = {}
    for i in range(300):
        body, ctype = seeds[i % len(seeds)]
        if rng.random() < 0.8:
            body = _mutate(rng, body)
        if rng.random() < 0.2:
            ctype = _mutate(rng, ctype.encode()).decode("latin-1")
        method = "POST" if rng.random() < 0.7 else rng.choice(methods)
        path = rng.choice(paths[:2]) if method == "POST" else rng.choice(paths)
        headers = {"Content-Type": ctype.replace("\r", "").replace("\n", "")}
        token = True if rng.random() < 0.9 else "Bearer " + "x" * rng.randint(0, 50)
        try:
            status, _, answer = service.request(method, path, body, headers, token=token)
        except http.client.HTTPException:
            continue
        statuses[status] = statuses.get(status, 0) + 1
        assert status < 500 or status == 503, (status, answer[:300])
        assert b"Traceback" not in answer
    # Garbage that is not HTTP at all.
    for _ in range(20):
        with _raw_socket(service) as sock:
            sock.sendall(
                bytes(rng.randrange(256) for _ in range(rng.randint(1, 300))) + b"\r\n\r\n"
            )
            try:
                answer = sock.recv(4096)
            except OSError:
                answer = b""
            assert b" 500 " not in answer[:20] and b"Traceback" not in answer
    assert statuses.get(400, 0) > 50, statuses
    assert service.client.health()["ok"]
    log = (service.root / "state" / "nst-plugin" / "serve.log").read_text()
    assert "Traceback" not in log and "unexpected error" not in log
    for job in service.jobs():
        if job["state"] in ("queued", "running"):
            service.client.cancel(job["id"])


# --------------------------------------------------------------------------- concurrency, cancel


def _wait_state(c, job, states=("done", "failed", "cancelled"), timeout=30.0) -> dict:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = c.status(job)
        if status["state"] in states:
            return status
        time.sleep(0.05)
    raise AssertionError(f"job {job} still {status['state']}")


def test_five_clients_at_once_run_one_at_a_time(service):
    for job in service.jobs():
        if job["state"] in ("queued", "running"):
            _wait_state(service.client, job["id"])
    results, errors = {}, []

    def one(i):
        try:
            c = client.Client(service.info["url"], service.info["token"])
            job = c.submit(
                png((24 + 2 * i, 20)), styles=[STYLE], options={"size": 24 + 2 * i, "iterations": 3}
            )
            results[job] = (i, c.wait(job))
        except Exception as err:
            errors.append(err)

    threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not errors and len(results) == 5
    for i, result in results.values():
        assert decode_png(result)[0] == 24 + 2 * i
    spans = sorted((s["started"], s["finished"]) for s in map(service.client.status, results))
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end  # never two at once


def test_cancel_stops_a_running_job_within_an_iteration(service):
    c = service.client
    job = c.submit(png((48, 36)), styles=[STYLE], options={"size": 48, "iterations": 1000})
    with c.events(job) as stream:
        for event in stream:
            if event.get("stage") == "optimizing" and event.get("step", 0) >= 3:
                break
    before = c.status(job)["step"]
    start = time.monotonic()
    c.cancel(job)
    status = _wait_state(c, job, timeout=10)
    assert status["state"] == "cancelled"
    assert time.monotonic() - start < 5
    assert status["step"] <= before + 2
    with pytest.raises(ServiceError) as info:
        c.result(job)
    assert info.value.status == 409
    assert c.cancel(job)["forgotten"] is True  # a finished job is forgotten
    with pytest.raises(ServiceError) as info:
        c.status(job)
    assert info.value.status == 404


def test_a_dropped_event_stream_cancels_its_job(service):
    c = service.client
    job = c.submit(
        png((48, 36)),
        styles=[STYLE],
        options={"size": 48, "iterations": 1000},
        cancel_on_disconnect=True,
    )
    queued = c.submit(
        png((48, 36)),
        styles=[STYLE],
        options={"size": 48, "iterations": 1000},
        cancel_on_disconnect=True,
    )
    stream = c.events(job)
    for event in stream:
        if event.get("step", 0) >= 1:
            break
    # A queued job whose stream drops is cancelled at once, before it ever runs.
    waiting = c.events(queued)
    assert next(waiting)["stage"] == "queued"
    waiting.close()
    status = _wait_state(c, queued, timeout=5)
    stream.close()
    # Cancelled at the engine's next check; generous, since one step can take seconds when
    # the engine compiles (a restart) on a busy machine.
    assert _wait_state(c, job, timeout=60)["state"] == "cancelled"
    assert status["state"] == "cancelled" and status["started"] is None


# --------------------------------------------------------------------------- frame sequences


def pan(count: int, size=(40, 30), step=3) -> list[bytes]:
    """An animation's frames as PNGs: the Great Wave panned `step` px a frame."""
    wide = Image.open(EXAMPLES / "wave.jpg").convert("RGB").resize((size[0] * 2, size[1]))
    out = []
    for i in range(count):
        buf = io.BytesIO()
        wide.crop((i * step, 0, i * step + size[0], size[1])).save(buf, format="PNG")
        out.append(buf.getvalue())
    return out


def test_a_frame_sequence_is_one_job_and_its_frames_come_back(service):
    c = service.client
    frames = [decode_png(data) for data in pan(3)]
    frames = [(w, h, pixels, mode) for w, h, mode, pixels in frames]
    w, h, mode, pixels = decode_png(STYLE)
    job = ServiceJob(
        c,
        frames[0],
        {"pixels": (w, h, pixels, mode)},
        Choices(size=40, extra={"iterations": 3}),
        frames=frames,
    )
    events = []
    results = job.run(events.append)
    assert [decode_png(r)[:3] for r in results] == [(40, 30, "RGB")] * 3
    assert len({r for r in results}) == 3  # three frames, not one three times
    seen = sorted({(e["frame"], e["frames"]) for e in events if e.get("frame")})
    assert seen == [(1, 3), (2, 3), (3, 3)]
    status = c.status(job.job_id)
    assert status["state"] == "done" and (status["frames"], status["frames_done"]) == (3, 3)
    assert c.frame(job.job_id, 2) == results[1]
    code, message = service.error("GET", f"/v1/jobs/{job.job_id}/result")
    assert code == 409 and "/frames/1" in message
    code, message = service.error("GET", f"/v1/jobs/{job.job_id}/frames/4")
    assert code == 404 and "frames 1 to 3" in message


def test_a_cancelled_sequence_keeps_its_finished_frames(service):
    c = service.client
    job = c.submit(
        None, frames=pan(3, (32, 24)), styles=[STYLE], options={"size": 32, "iterations": 60}
    )
    deadline = time.monotonic() + 120
    while (status := c.status(job))["frames_done"] < 1 and time.monotonic() < deadline:
        assert status["state"] in ("queued", "running"), status
        time.sleep(0.05)
    code, message = service.error("POST", f"/v1/jobs/{job}/keep")
    assert code == 409 and "frame sequence" in message
    c.cancel(job)
    assert _wait_state(c, job, timeout=30)["state"] == "cancelled"
    assert decode_png(c.frame(job, 1))[:2] == (32, 24)  # finished before the cancel: kept
    code, message = service.error("GET", f"/v1/jobs/{job}/frames/3")
    assert code == 409 and "not finished" in message


def test_frames_of_different_sizes_or_with_a_content_are_refused(service):
    files = [("frame", "a.png", "image/png", data) for data in [*pan(1), png((30, 30), "RGB")]]
    files.append(("style", "s.png", "image/png", STYLE))
    body, ctype = client.encode_multipart([], files)
    code, message = service.error("POST", "/v1/jobs", body, {"Content-Type": ctype})
    assert code == 400 and "rame #2 is 30 x 30" in message
    body, ctype = client.encode_multipart([], [*files[:1], ("content", "c.png", None, png())])
    code, message = service.error("POST", "/v1/jobs", body, {"Content-Type": ctype})
    assert code == 400 and "not both" in message


# --------------------------------------------------------------------------- commands


def test_serve_status_and_a_second_start(service):
    out = service.nst("serve", "--status", "--json")
    assert out.returncode == 0, out.stderr
    state = json.loads(out.stdout)
    assert {k: state[k] for k in ("url", "token", "pid", "version")} == {
        k: service.info[k] for k in ("url", "token", "pid", "version")
    }
    assert state["state"] in ("idle", "busy")
    out = service.nst("serve", "--status")
    assert out.returncode == 0 and service.info["url"] in out.stdout
    again = service.nst("serve", "--weights", "random")
    assert again.returncode == 0 and "already running" in again.stdout
    remote = service.nst("serve", "--host", "0.0.0.0")
    assert remote.returncode == 2 and "--allow-remote" in remote.stderr
    mode = stat.S_IMODE(service.file.stat().st_mode)
    assert mode == 0o600
    log = service.root / "state" / "nst-plugin" / "serve.log"
    assert "listening at" in log.read_text()
    assert service.info["token"] not in log.read_text()


def test_sigkill_mid_job_then_restart_and_stop(service):
    c = service.client
    job = c.submit(png((48, 36)), styles=[STYLE], options={"size": 48, "iterations": 1000})
    seen, failure = threading.Event(), []

    def follow():
        try:
            c.wait(job, on_event=lambda e: e.get("step", 0) >= 1 and seen.set())
        except ServiceError as err:
            failure.append(err)

    follower = threading.Thread(target=follow)
    follower.start()
    assert seen.wait(120)  # the first step compiles the engine: slow on a busy machine
    service.proc.kill()
    service.proc.wait()
    follower.join(30)
    assert len(failure) == 1 and not isinstance(failure[0], Cancelled)
    one_sentence(str(failure[0]))
    assert service.file.exists()  # stale: nobody removed it
    with pytest.raises(ServiceError) as info:
        discovery.connect(service_file=str(service.file), start=False)
    assert "not running" in str(info.value)

    service.start()  # the next start works
    c = service.client
    job = c.submit(png((48, 36)), styles=[STYLE], options={"size": 48, "iterations": 1000})
    seen.clear()
    failure.clear()
    follower = threading.Thread(target=follow)
    follower.start()
    assert seen.wait(120)
    stopped = service.nst("serve", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert service.proc.wait(5) == 0
    follower.join(10)
    assert len(failure) == 1 and "stopped before the job finished" in str(failure[0])
    assert not service.file.exists()
    out = service.nst("serve", "--status")
    assert out.returncode == 1
    one_sentence(out.stderr.strip().removeprefix("nst: "))
    assert service.nst("serve", "--stop").returncode == 1


# --------------------------------------------------------------------------- install-host


@pytest.fixture
def hosts_source(tmp_path, monkeypatch):
    src = tmp_path / "hosts"
    (src / "krita" / "nst_krita" / "ui").mkdir(parents=True)
    (src / "krita" / "nst_krita.desktop").write_text("[Desktop Entry]\n")
    (src / "krita" / "nst_krita.action").write_text("<ActionCollection/>\n")
    (src / "krita" / "nst_krita" / "__init__.py").write_text("x = 1\n")
    (src / "krita" / "nst_krita" / "ui" / "dialog.py").write_text("y = 2\n")
    (src / "gimp" / "nst-stylize").mkdir(parents=True)
    (src / "gimp" / "nst-stylize" / "nst-stylize.py").write_text("#!/usr/bin/env python3\n")
    (src / "gimp" / "nst-stylize" / "nst_gimp_preview.py").write_text("z = 3\n")
    (src / "gimp" / "nst-stylize" / "__pycache__").mkdir()
    (src / "gimp" / "nst-stylize" / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"")
    monkeypatch.setenv("NST_HOSTS_DIR", str(src))
    return src


def test_install_and_uninstall_krita(hosts_source, tmp_path, capsys):
    from nst_plugin.cli import main

    dest = tmp_path / "krita"
    (dest / "pykrita").mkdir(parents=True)
    (dest / "pykrita" / "other_plugin.desktop").write_text("not ours")
    assert main(["install-host", "krita", "--dest", str(dest)]) == 0
    assert "Python Plugin Manager and restart Krita" in capsys.readouterr().out
    plugin = dest / "pykrita" / "nst_krita"
    assert (dest / "pykrita" / "nst_krita.desktop").read_text() == "[Desktop Entry]\n"
    assert (dest / "actions" / "nst_krita.action").is_file()
    assert (plugin / "ui" / "dialog.py").read_text() == "y = 2\n"
    kit = ROOT / "nst_plugin" / "hostkit" / "client.py"
    assert (plugin / "hostkit" / "client.py").read_bytes() == kit.read_bytes()
    config = json.loads((plugin / "nst-host.json").read_text())
    assert config["url"] is None and config["token"] is None
    assert Path(config["nst"]).is_absolute() and Path(config["nst"]).name == "nst"
    (plugin / "__pycache__").mkdir()
    (plugin / "__pycache__" / "__init__.cpython-312.pyc").write_bytes(b"")
    (plugin / "hostkit" / "__pycache__").mkdir()
    (plugin / "hostkit" / "__pycache__" / "client.cpython-312.pyc").write_bytes(b"")
    (plugin / "my_notes.txt").write_text("the user's")
    assert main(["uninstall-host", "krita", "--dest", str(dest)]) == 0
    assert not (dest / "pykrita" / "nst_krita.desktop").exists()
    assert not (dest / "actions" / "nst_krita.action").exists()
    assert sorted(p.name for p in plugin.iterdir()) == ["my_notes.txt"]
    assert (dest / "pykrita" / "other_plugin.desktop").read_text() == "not ours"


def test_install_and_uninstall_gimp(hosts_source, tmp_path, capsys):
    from nst_plugin.cli import main

    dest = tmp_path / "gimp"
    (dest / "plug-ins" / "someone-elses").mkdir(parents=True)
    assert main(["install-host", "gimp", "--dest", str(dest)]) == 0
    assert "Filters > Artistic > Neural Style Transfer" in capsys.readouterr().out
    folder = dest / "plug-ins" / "nst-stylize"
    script = folder / "nst-stylize.py"
    assert stat.S_IMODE(script.stat().st_mode) == 0o755
    assert (folder / "nst_gimp_preview.py").read_text() == "z = 3\n"
    assert not (folder / "__pycache__").exists()
    kit = ROOT / "nst_plugin" / "hostkit" / "png.py"
    assert (folder / "hostkit" / "png.py").read_bytes() == kit.read_bytes()
    (folder / "nst-host.json").write_text(
        '{"nst": "old", "url": "http://10.0.0.2:5000", "token": "t"}'
    )
    assert main(["install-host", "gimp", "--dest", str(dest)]) == 0  # again: an update
    config = json.loads((folder / "nst-host.json").read_text())
    assert config["url"] == "http://10.0.0.2:5000" and config["nst"] != "old"
    assert main(["uninstall-host", "gimp", "--dest", str(dest)]) == 0
    assert not folder.exists()
    assert (dest / "plug-ins" / "someone-elses").is_dir()
    assert main(["uninstall-host", "gimp", "--dest", str(dest)]) == 0  # nothing left: fine


def test_the_repository_plugins_install_from_an_editable_checkout(monkeypatch, tmp_path):
    from nst_plugin import hostinstall

    monkeypatch.delenv("NST_HOSTS_DIR", raising=False)
    assert hostinstall.sources_dir().resolve() == (ROOT / "hosts").resolve()
    for editor, main_file in (
        ("krita", "pykrita/nst_krita/__init__.py"),
        ("gimp", "plug-ins/nst-stylize/nst-stylize.py"),
    ):
        if not (ROOT / "hosts" / editor).is_dir():
            continue  # that plug-in is not written yet
        written = hostinstall.install(editor, tmp_path / editor)
        assert tmp_path / editor / main_file in written
        kit = {p.name for p in written if p.parent.name == "hostkit"}
        assert kit == {p.name for p in (ROOT / "nst_plugin" / "hostkit").glob("*.py")}
        assert hostinstall.uninstall(editor, tmp_path / editor)
        assert not any(p.is_file() for p in (tmp_path / editor).rglob("*"))
