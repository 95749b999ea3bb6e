"""Tests of the host kit's service client (nst_plugin/hostkit: client, discovery, png, errors),
the standard-library code copied beside the editor plug-ins.

The package is loaded from its folder under another name (not through nst_plugin) to prove
that it stands alone. The HTTP tests use a throwaway ``http.server`` in this file only to
check the client's wire format (multipart, headers, server-sent events, error mapping,
start-up of a detached process); the tests of the real ``nst serve`` service live elsewhere.
"""

from __future__ import annotations

import ast
import email.policy
import http.server
import importlib
import importlib.util
import io
import json
import os
import random
import socket
import struct
import subprocess
import sys
import textwrap
import threading
import time
import types
import zlib
from email.parser import BytesParser
from pathlib import Path

import pytest

HOSTKIT = Path(__file__).resolve().parent.parent / "nst_plugin" / "hostkit"


def _load_hostkit() -> types.SimpleNamespace:
    """The host kit's client-side names, from the package loaded as ``hostkit_under_test``."""
    spec = importlib.util.spec_from_file_location(
        "hostkit_under_test", HOSTKIT / "__init__.py", submodule_search_locations=[str(HOSTKIT)]
    )
    package = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = package
    spec.loader.exec_module(package)
    names = {}
    for role in ("errors", "png", "client", "discovery", "engines"):
        module = importlib.import_module(f"{spec.name}.{role}")
        names.update({k: v for k, v in vars(module).items() if not k.startswith("__")})
    return types.SimpleNamespace(**names)


nc = _load_hostkit()


def assert_one_sentence(message: str) -> None:
    assert message and "\n" not in message
    assert message.endswith("."), message
    assert ". " not in message[:-1], message


# ---------------------------------------------------------------------------
# Standalone: standard library only, Python 3.8 syntax
# ---------------------------------------------------------------------------


def test_imports_only_the_standard_library(tmp_path):
    stdlib = getattr(sys, "stdlib_module_names", None)
    if stdlib is None:
        pytest.skip("sys.stdlib_module_names needs Python 3.10+")
    copy = tmp_path / "hostkit"
    copy.mkdir()
    for path in HOSTKIT.glob("*.py"):
        (copy / path.name).write_bytes(path.read_bytes())
    roles = sorted(p.stem for p in HOSTKIT.glob("*.py") if p.stem != "__init__")
    code = (
        "import sys, importlib; sys.path.insert(0, %r); before = set(sys.modules); "
        "[importlib.import_module('hostkit.' + r) for r in %r]; "
        "print(' '.join(sorted(set(sys.modules) - before)))" % (str(tmp_path), roles)
    )
    out = subprocess.run(
        [sys.executable, "-I", "-c", code], capture_output=True, text=True, check=True
    )
    imported = out.stdout.split()
    assert "hostkit.client" in imported and "hostkit.jobs" in imported
    foreign = [
        name
        for name in imported
        if name.split(".")[0] != "hostkit"
        and name.split(".")[0] not in stdlib
        and name.split(".")[0] not in sys.builtin_module_names
    ]
    assert foreign == []


@pytest.mark.parametrize("path", sorted(HOSTKIT.glob("*.py")), ids=lambda p: p.name)
def test_source_is_python38_compatible(path):
    source = path.read_text(encoding="utf-8")
    ast.parse(source, feature_version=(3, 8))
    if path.name != "__init__.py":
        assert "from __future__ import annotations" in source
    for newer in (
        "removeprefix",
        "removesuffix",
        "functools.cache(",
        "zoneinfo",
        "graphlib",
        "bit_count",
        "strict=",
    ):
        assert newer not in source
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            assert not (node.module or "").startswith("nst_plugin")  # relative imports only


# ---------------------------------------------------------------------------
# PNG
# ---------------------------------------------------------------------------


def _noise_and_gradient(width: int, height: int, channels: int, seed: int = 0) -> bytes:
    """Left half noise, right half smooth gradients: encoders pick varied filters."""
    rng = random.Random(seed)
    out = bytearray()
    for y in range(height):
        for x in range(width):
            for c in range(channels):
                if x < width // 2:
                    out.append(rng.randrange(256))
                else:
                    out.append((x * 7 + y * 3 + c * 50) & 255)
    return bytes(out)


@pytest.mark.parametrize("mode", ["RGBA", "RGB", "L", "LA"])
@pytest.mark.parametrize("size", [(7, 5), (1, 1), (2, 9), (33, 4)])
def test_png_round_trip(mode, size):
    width, height = size
    pixels = _noise_and_gradient(width, height, len(mode), seed=width * height)
    png = nc.encode_png(width, height, pixels, mode)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert nc.decode_png(png) == (width, height, mode, pixels)


def test_bgra_is_written_as_rgba():
    bgra = bytes([10, 20, 30, 40, 1, 2, 3, 4, 200, 100, 50, 255])
    rgba = bytes([30, 20, 10, 40, 3, 2, 1, 4, 50, 100, 200, 255])
    assert nc.rgba_to_bgra(rgba) == bgra
    assert nc.rgba_to_bgra(bgra) == rgba
    assert nc.to_rgba("BGRA", bgra) == rgba
    assert nc.decode_png(nc.encode_png(3, 1, bgra, "BGRA")) == (3, 1, "RGBA", rgba)


def test_to_rgba():
    assert nc.to_rgba("L", b"\x05\x06") == b"\x05\x05\x05\xff\x06\x06\x06\xff"
    assert nc.to_rgba("LA", b"\x05\x07") == b"\x05\x05\x05\x07"
    assert nc.to_rgba("RGB", b"\x01\x02\x03") == b"\x01\x02\x03\xff"
    assert nc.to_rgba("RGBA", b"\x01\x02\x03\x04") == b"\x01\x02\x03\x04"


def test_encode_rejects_wrong_sizes():
    with pytest.raises(ValueError):
        nc.encode_png(2, 2, b"\x00" * 15, "RGBA")
    with pytest.raises(ValueError):
        nc.encode_png(1, 1, b"\x00" * 4, "CMYK")


# A reference encoder with naive per-byte filters, to cover every filter type with
# every 8-bit colour type (Pillow picks its filters itself, mostly Paeth).


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    if pa <= pb and pa <= pc:
        return a
    return b if pb <= pc else c


def _reference_png(width, height, color, samples, seed=0):
    """8-bit samples, row-major; every row gets a (cycling, shuffled) filter type."""
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    stride = width * bpp
    order = [0, 1, 2, 3, 4]
    random.Random(seed).shuffle(order)
    stream = bytearray()
    prior = bytes(stride)
    for y in range(height):
        raw = bytes(samples[y * stride : (y + 1) * stride])
        ftype = order[y % 5]
        stream.append(ftype)
        for i, x in enumerate(raw):
            a = raw[i - bpp] if i >= bpp else 0
            b = prior[i]
            c = prior[i - bpp] if i >= bpp else 0
            stream.append((x - (0, a, b, (a + b) // 2, _paeth(a, b, c))[ftype]) & 255)
        prior = raw
    data = zlib.compress(bytes(stream))
    png = b"\x89PNG\r\n\x1a\n" + _chunk(
        b"IHDR", struct.pack(">IIBBBBB", width, height, 8, color, 0, 0, 0)
    )
    png += _chunk(b"IDAT", data[: len(data) // 2]) + _chunk(b"IDAT", data[len(data) // 2 :])
    png += _chunk(b"tEXt", b"Comment\x00ancillary chunks are skipped")
    return png + _chunk(b"IEND", b"")


@pytest.mark.parametrize("color", [0, 2, 4, 6])
def test_decode_every_filter_type_and_colour_type(color):
    width, height = 11, 10  # ten rows: each filter type twice
    channels = {0: 1, 2: 3, 4: 2, 6: 4}[color]
    rng = random.Random(color)
    samples = [
        rng.randrange(256) if i % 3 else (i * 37) & 255 for i in range(width * height * channels)
    ]
    w, h, mode, pixels = nc.decode_png(_reference_png(width, height, color, samples, seed=color))
    assert (w, h, mode) == (width, height, {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}[color])
    assert pixels == bytes(samples)


def _photo_like(width: int, height: int, channels: int, seed: int = 0) -> bytes:
    """Smooth gradients with mild noise and a few hard edges, like a photograph."""
    rng = random.Random(seed)
    return bytes(
        min(
            255,
            max(
                0,
                (x * 3 + y * 2 + c * 40 + (60 if (x // 50 + y // 40) % 3 == 0 else 0)) % 256
                + rng.randrange(-6, 7),
            ),
        )
        for y in range(height)
        for x in range(width)
        for c in range(channels)
    )


PIL_CASES = ["L", "LA", "RGB", "RGBA", "RGB-big", "RGBA-photo", "L-photo"]


@pytest.mark.parametrize("case", PIL_CASES)
def test_decode_matches_pillow(case):
    """Pillow chooses a filter per row (adaptive filtering): varied content makes it use several."""
    Image = pytest.importorskip("PIL.Image")
    mode = case.split("-")[0]
    width, height = {"RGB-big": (160, 90), "RGBA-photo": (120, 80), "L-photo": (97, 61)}.get(
        case, (37, 23)
    )
    if case.endswith("-photo"):
        pixels = _photo_like(width, height, len(mode), seed=7)
    else:
        pixels = _noise_and_gradient(width, height, len(mode), seed=3)
    img = Image.frombytes(mode, (width, height), pixels)
    buf = io.BytesIO()
    img.save(buf, "PNG")
    assert nc.decode_png(buf.getvalue()) == (width, height, mode, img.tobytes())


@pytest.mark.parametrize("case", ["P", "I;16", "RGB-interlaced"])
def test_unsupported_pngs_raise_one_sentence(case):
    Image = pytest.importorskip("PIL.Image")
    rgb = Image.frombytes("RGB", (20, 10), _noise_and_gradient(20, 10, 3, seed=5))
    buf = io.BytesIO()
    if case == "P":
        rgb.quantize(16).save(buf, "PNG")
    elif case == "I;16":
        img = Image.new("I;16", (20, 10))
        img.putdata([x * 3000 + y for y in range(10) for x in range(20)])
        img.save(buf, "PNG")
    else:
        rgb.save(buf, "PNG")
        data = bytearray(buf.getvalue())
        data[28] = 1  # the IHDR's interlace method: Adam7 (only the header matters here)
        data[8:33] = _chunk(b"IHDR", bytes(data[16:29]))
        buf = io.BytesIO(bytes(data))
    with pytest.raises(nc.ServiceError) as info:
        nc.decode_png(buf.getvalue())
    message = str(info.value)
    assert "is not an 8-bit PNG this plug-in can read" in message
    assert info.value.status is None
    assert_one_sentence(message)


def test_pillow_reads_what_we_write():
    Image = pytest.importorskip("PIL.Image")
    for mode in ("RGBA", "RGB", "L", "LA"):
        pixels = _noise_and_gradient(19, 6, len(mode), seed=9)
        img = Image.open(io.BytesIO(nc.encode_png(19, 6, pixels, mode)))
        assert img.mode == mode and img.size == (19, 6)
        assert img.tobytes() == pixels


def test_malformed_pngs_raise_one_sentence():
    good = nc.encode_png(7, 5, _noise_and_gradient(7, 5, 4), "RGBA")
    bad_crc = bytearray(good)
    bad_crc[45] ^= 0xFF  # inside the IDAT body
    no_ihdr = good[:8] + good[33:]
    for data, words in [
        (b"GIF89a not a png at all", "signature"),
        (b"", "signature"),
        (good[: len(good) // 2], "truncated"),
        (good[:-12], "truncated"),
        (bytes(bad_crc), "CRC"),
        (no_ihdr, "IHDR"),
    ]:
        with pytest.raises(nc.ServiceError) as info:
            nc.decode_png(data)
        message = str(info.value)
        assert "is not a PNG this plug-in can read" in message and words in message
        assert info.value.status is None
        assert_one_sentence(message)


def test_truncated_image_data_inside_valid_chunks():
    png = _reference_png(4, 4, 0, list(range(16)))
    w, h = 4, 40  # claims more rows than the data holds
    header = struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0)
    forged = png[:8] + _chunk(b"IHDR", header) + png[33:]
    with pytest.raises(nc.ServiceError, match="truncated"):
        nc.decode_png(forged)


# ---------------------------------------------------------------------------
# Discovery file and host configuration
# ---------------------------------------------------------------------------


def test_service_file_path_precedence(monkeypatch, tmp_path):
    for key in ("NST_SERVICE_FILE", "XDG_RUNTIME_DIR", "XDG_CACHE_HOME"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    default = nc.service_file_path()
    assert default.endswith(os.path.join("nst-plugin", "service.json"))
    if sys.platform.startswith("linux"):
        assert default == str(tmp_path / ".cache" / "nst-plugin" / "service.json")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    assert nc.service_file_path() == str(tmp_path / "cache" / "nst-plugin" / "service.json")
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path / "run"))
    assert nc.service_file_path() == str(tmp_path / "run" / "nst-plugin" / "service.json")
    monkeypatch.setenv("NST_SERVICE_FILE", str(tmp_path / "x.json"))
    assert nc.service_file_path() == str(tmp_path / "x.json")
    assert not (tmp_path / "run").exists() and not (tmp_path / "cache").exists()


def test_read_service_file(tmp_path):
    path = tmp_path / "service.json"
    assert nc.read_service_file(str(path)) is None
    path.write_text("{not json")
    assert nc.read_service_file(str(path)) is None
    path.write_text('["a list"]')
    assert nc.read_service_file(str(path)) is None
    info = {
        "url": "http://127.0.0.1:1",
        "token": "t",
        "pid": 1,
        "version": "0.1.0",
        "log": "/x.log",
    }
    path.write_text(json.dumps(info))
    assert nc.read_service_file(str(path)) == info


def test_load_host_config(tmp_path):
    assert nc.load_host_config(str(tmp_path)) == {}
    (tmp_path / "nst-host.json").write_text(
        '{"nst": "/opt/nst/bin/nst", "url": null, "token": null}'
    )
    assert nc.load_host_config(str(tmp_path)) == {
        "nst": "/opt/nst/bin/nst",
        "url": None,
        "token": None,
    }
    (tmp_path / "nst-host.json").write_text("{broken")
    with pytest.raises(nc.ServiceError) as info:
        nc.load_host_config(str(tmp_path))
    assert "install-host" in str(info.value)
    assert_one_sentence(str(info.value))


# ---------------------------------------------------------------------------
# A throwaway stdlib HTTP server that records requests (wire-format checks only)
# ---------------------------------------------------------------------------

TOKEN = "s3cret-token-value"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):  # keep test output quiet
        pass

    def _handle(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        self.server.requests.append(
            {"method": self.command, "path": self.path, "headers": self.headers, "body": body}
        )
        route = self.server.routes.get((self.command, self.path))
        if route is None:
            self.send_json(404, {"error": "There is no such job."})
        elif callable(route):
            route(self)
        else:
            self.send_json(*route)

    do_GET = do_POST = do_DELETE = _handle

    def send_json(self, status, payload, ctype="application/json"):
        body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def send_events(self, text: str, chunked: bool = False, hold: threading.Event | None = None):
        if chunked:
            self.protocol_version = "HTTP/1.1"
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        data = text.encode()
        if chunked:
            for i in range(0, len(data), 7):  # chunk borders fall inside lines
                piece = data[i : i + 7]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
        else:
            self.wfile.write(data)
        self.wfile.flush()
        if hold is not None:
            hold.wait(10)
        if chunked:
            self.wfile.write(b"0\r\n\r\n")
        self.close_connection = True


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True


@pytest.fixture
def service():
    server = _Server(("127.0.0.1", 0), _Handler)
    server.routes = {}
    server.requests = []
    server.release = threading.Event()
    server.url = "http://127.0.0.1:%d" % server.server_address[1]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    yield server
    server.release.set()
    server.shutdown()
    server.server_close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _parse_multipart(content_type: str, body: bytes) -> list:
    msg = BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
    )
    assert msg.is_multipart()
    return [
        (
            part.get_param("name", header="content-disposition"),
            part.get_filename(),
            part.get_content_type(),
            part.get_payload(decode=True),
        )
        for part in msg.iter_parts()
    ]


def test_health_has_no_token_and_other_calls_do(service):
    service.routes[("GET", "/v1/health")] = (200, {"ok": True, "version": "0.1.0"})
    service.routes[("GET", "/v1/engines")] = (
        200,
        {"default": "vgg19", "engines": [{"name": "vgg19"}]},
    )
    service.routes[("GET", "/v1/styles")] = (
        200,
        {"styles": [{"name": "starry_night", "source": "bundled"}]},
    )
    client = nc.Client(service.url + "/", TOKEN)
    assert client.health() == {"ok": True, "version": "0.1.0"}
    assert client.engines()["default"] == "vgg19"
    assert client.styles() == [{"name": "starry_night", "source": "bundled"}]
    health, engines, styles = service.requests
    assert health["headers"].get("Authorization") is None
    assert engines["headers"]["Authorization"] == "Bearer " + TOKEN
    assert styles["headers"]["Authorization"] == "Bearer " + TOKEN
    assert TOKEN not in repr(client)


def test_submit_multipart_wire_format(service):
    service.routes[("POST", "/v1/jobs")] = (202, {"id": "job-1", "state": "queued"})
    content = nc.encode_png(5, 3, _noise_and_gradient(5, 3, 4), "RGBA")
    styles = [
        b"\xff\xd8\xff\xe0 jpeg-ish \r\n--not-a-boundary\r\n" + bytes(range(256)),
        os.urandom(300),
    ]
    mask = nc.encode_png(5, 3, bytes(range(15)), "L")
    options = {"engine": "vgg19", "steps": 50, "note": 'naïve "quoted"'}
    client = nc.Client(service.url, TOKEN)
    job = client.submit(
        content, styles=styles, mask=mask, options=options, cancel_on_disconnect=True
    )
    assert job == "job-1"
    request = service.requests[0]
    assert request["headers"]["Authorization"] == "Bearer " + TOKEN
    parts = _parse_multipart(request["headers"]["Content-Type"], request["body"])
    by_name = {}
    for name, filename, ctype, payload in parts:
        by_name.setdefault(name, []).append((filename, ctype, payload))
    assert by_name["content"] == [("content.png", "image/png", content)]
    assert [p[2] for p in by_name["style"]] == styles
    assert by_name["style"][0][:2] == ("style0.jpg", "image/jpeg")
    assert by_name["mask"] == [("mask.png", "image/png", mask)]
    assert json.loads(by_name["options"][0][2].decode("utf-8")) == options
    assert by_name["cancel_on_disconnect"][0][2] == b"true"
    assert "style_name" not in by_name


def test_submit_by_style_name_and_add_style(service):
    service.routes[("POST", "/v1/jobs")] = (202, {"id": "j2", "state": "queued"})
    service.routes[("POST", "/v1/styles")] = (201, {"name": "my_style"})
    client = nc.Client(service.url, TOKEN)
    assert client.submit(b"\x89PNG\r\n\x1a\nxx", style_name="starry_night") == "j2"
    assert client.add_style("my style", b"\x89PNG\r\n\x1a\nyy", filename='we"ird.png') == "my_style"
    jobs, styles = service.requests
    parts = {p[0]: p for p in _parse_multipart(jobs["headers"]["Content-Type"], jobs["body"])}
    assert parts["style_name"][3] == b"starry_night"
    assert parts["cancel_on_disconnect"][3] == b"false"
    assert "style" not in parts and "mask" not in parts and "options" not in parts
    parts = {p[0]: p for p in _parse_multipart(styles["headers"]["Content-Type"], styles["body"])}
    assert parts["name"][3] == b"my style"
    assert parts["image"][1:] == ("we%22ird.png", "image/png", b"\x89PNG\r\n\x1a\nyy")
    with pytest.raises(ValueError):
        client.submit(b"x")
    with pytest.raises(ValueError):
        client.submit(b"x", styles=[b"y"], style_name="z")


def test_status_result_cancel(service):
    png = nc.encode_png(1, 1, b"\x01\x02\x03\x04")
    service.routes[("GET", "/v1/jobs/a%2Fb")] = (200, {"id": "a/b", "state": "running", "step": 3})
    service.routes[("GET", "/v1/jobs/j/result")] = (200, png, "image/png")
    service.routes[("DELETE", "/v1/jobs/j")] = (200, {"id": "j", "state": "cancelled"})
    client = nc.Client(service.url, TOKEN)
    assert client.status("a/b")["step"] == 3
    assert client.result("j") == png
    assert client.cancel("j") == {"id": "j", "state": "cancelled"}


def test_connection_refused_is_one_sentence_without_token():
    client = nc.Client("http://127.0.0.1:%d" % _free_port(), TOKEN)
    for call in (client.health, client.engines, lambda: client.submit(b"x", style_name="y")):
        with pytest.raises(nc.ServiceError) as info:
            call()
        message = str(info.value)
        assert "connection refused" in message and "nst serve" in message
        assert TOKEN not in message
        assert info.value.status is None
        assert_one_sentence(message)


def test_http_errors_carry_the_server_sentence_and_status(service):
    service.routes[("GET", "/v1/engines")] = (401, {"error": "The access token is wrong."})
    service.routes[("GET", "/v1/jobs/j/result")] = (409, {"error": "Job j is still running."})
    service.routes[("GET", "/v1/styles")] = (500, {"error": "Something broke inside"})
    service.routes[("DELETE", "/v1/jobs/j")] = (404, b"<html>not found</html>", "text/html")
    service.routes[("GET", "/v1/health")] = (200, b"this is not json", "text/plain")
    client = nc.Client(service.url, TOKEN)
    cases = [
        (client.engines, 401, "The access token is wrong."),
        (lambda: client.result("j"), 409, "Job j is still running."),
        (client.styles, 500, "Something broke inside"),
        (lambda: client.cancel("j"), 404, "HTTP 404"),
        (client.health, None, "not a JSON object"),
    ]
    for call, status, text in cases:
        with pytest.raises(nc.ServiceError) as info:
            call()
        message = str(info.value)
        assert info.value.status == status
        assert text in message
        if status == 401:
            assert message == text
        assert TOKEN not in message
        assert_one_sentence(message)


def test_timeout_is_mapped(service):
    def slow(handler):
        time.sleep(1.0)
        handler.send_json(200, {"ok": True})

    service.routes[("GET", "/v1/health")] = slow
    with pytest.raises(nc.ServiceError) as info:
        nc.Client(service.url, TOKEN, timeout=0.2).health()
    assert "did not answer within 0.2 s" in str(info.value)
    assert_one_sentence(str(info.value))


def test_bad_address_is_a_service_error():
    with pytest.raises(nc.ServiceError) as info:
        nc.Client("ftp://user:pw@example.org/", TOKEN)
    assert "pw" not in str(info.value)
    assert nc.Client("127.0.0.1:5000", None).url == "http://127.0.0.1:5000"


# ---------------------------------------------------------------------------
# Server-sent events
# ---------------------------------------------------------------------------

CANNED = (
    ": keep-alive\n\n"
    'event: progress\ndata: {"stage": "style", "step": 1, "total": 10, "loss": 5.5, "eta": 9.0}\n\n'
    ": another keep-alive comment\r\n"
    "event: progress\r\n"
    'data: {"stage": "style", "step": 2, "total": 10,\r\n'
    'data:  "loss": 4.25, "eta": 8.0, "preview": "iVBORw0KGgo="}\r\n\r\n'
    "retry: 1000\n\n"
    'event: done\ndata: {"state": "done", "error": null}\n\n'
    'event: progress\ndata: {"step": 99}\n\n'  # after the final event: never read
)

EXPECTED_EVENTS = [
    {"event": "progress", "stage": "style", "step": 1, "total": 10, "loss": 5.5, "eta": 9.0},
    {
        "event": "progress",
        "stage": "style",
        "step": 2,
        "total": 10,
        "loss": 4.25,
        "eta": 8.0,
        "preview": "iVBORw0KGgo=",
    },
    {"event": "done", "state": "done", "error": None},
]


@pytest.mark.parametrize("chunked", [False, True])
def test_events_parses_the_stream(service, chunked):
    service.routes[("GET", "/v1/jobs/j/events")] = lambda h: h.send_events(CANNED, chunked=chunked)
    client = nc.Client(service.url, TOKEN)
    with client.events("j") as stream:
        assert list(stream) == EXPECTED_EVENTS
    request = service.requests[0]
    assert request["headers"]["Authorization"] == "Bearer " + TOKEN
    assert request["headers"]["Accept"] == "text/event-stream"


def test_events_of_unknown_job_raise_at_once(service):
    with pytest.raises(nc.ServiceError) as info:
        nc.Client(service.url, TOKEN).events("nope")
    assert info.value.status == 404 and str(info.value) == "There is no such job."


def _blocked_stream(service):
    first = 'event: progress\ndata: {"step": 1}\n\n'
    service.routes[("GET", "/v1/jobs/j/events")] = lambda h: h.send_events(
        first, hold=service.release
    )


@pytest.mark.parametrize("how", ["stream.close", "client.close_streams"])
def test_close_from_another_thread_ends_a_blocked_read(service, how):
    _blocked_stream(service)
    client = nc.Client(service.url, TOKEN)
    stream = client.events("j")
    got, first_seen, finished = [], threading.Event(), threading.Event()

    def reader():
        for event in stream:
            got.append(event)
            first_seen.set()
        finished.set()

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    assert first_seen.wait(5)
    time.sleep(0.1)  # let the reader block in the next read
    started = time.monotonic()
    stream.close() if how == "stream.close" else client.close_streams()
    assert finished.wait(1.0), "a blocked read did not end within 1 s of close()"
    assert time.monotonic() - started < 1.0
    assert got == [{"event": "progress", "step": 1}]
    assert stream.closed_locally
    assert not client._streams


def test_wait_returns_result_and_reports_events(service):
    png = nc.encode_png(2, 1, b"\x00" * 8)
    service.routes[("GET", "/v1/jobs/j/events")] = lambda h: h.send_events(CANNED)
    service.routes[("GET", "/v1/jobs/j/result")] = (200, png, "image/png")
    seen = []
    assert nc.Client(service.url, TOKEN).wait("j", on_event=seen.append) == png
    assert seen == EXPECTED_EVENTS


def test_wait_failed_and_cancelled(service):
    error = "The style image could not be read."
    failed = 'event: failed\ndata: {"state": "failed", "error": "%s"}\n\n' % error
    cancelled = 'event: cancelled\ndata: {"state": "cancelled", "error": null}\n\n'
    service.routes[("GET", "/v1/jobs/f/events")] = lambda h: h.send_events(failed)
    service.routes[("GET", "/v1/jobs/c/events")] = lambda h: h.send_events(cancelled)
    client = nc.Client(service.url, TOKEN)
    with pytest.raises(nc.ServiceError) as info:
        client.wait("f")
    assert str(info.value) == "The style image could not be read."
    assert not isinstance(info.value, nc.Cancelled)
    with pytest.raises(nc.Cancelled) as info:
        client.wait("c")
    assert_one_sentence(str(info.value))


def test_wait_asks_for_the_state_when_the_stream_ends_early(service):
    service.routes[("GET", "/v1/jobs/j/events")] = lambda h: h.send_events(
        'event: progress\ndata: {"step": 1}\n\n'
    )
    service.routes[("GET", "/v1/jobs/j")] = (200, {"id": "j", "state": "done"})
    service.routes[("GET", "/v1/jobs/j/result")] = (200, b"PNG", "image/png")
    assert nc.Client(service.url, TOKEN).wait("j") == b"PNG"


def test_wait_stopped_by_close_streams_raises_cancelled(service):
    _blocked_stream(service)
    client = nc.Client(service.url, TOKEN)
    outcome = []

    def waiter():
        try:
            client.wait("j", on_event=lambda e: outcome.append(e))
        except nc.Cancelled as exc:
            outcome.append(exc)

    thread = threading.Thread(target=waiter, daemon=True)
    thread.start()
    deadline = time.monotonic() + 5
    while not outcome and time.monotonic() < deadline:
        time.sleep(0.02)
    client.close_streams()
    thread.join(1.0)
    assert not thread.is_alive()
    assert isinstance(outcome[-1], nc.Cancelled)


# ---------------------------------------------------------------------------
# connect(): discovery file, stale files, starting a detached service
# ---------------------------------------------------------------------------


def _write_info(path: Path, url: str, pid: int, token: str = TOKEN) -> dict:
    info = {
        "url": url,
        "token": token,
        "pid": pid,
        "version": "0.1.0",
        "log": str(path.parent / "service.log"),
    }
    path.write_text(json.dumps(info))
    return info


def test_connect_with_url_and_token(service):
    service.routes[("GET", "/v1/health")] = (200, {"ok": True, "version": "0.1.0"})
    client = nc.connect(url=service.url, token=TOKEN)
    assert client.url == service.url


def test_connect_reads_the_discovery_file(service, tmp_path):
    service.routes[("GET", "/v1/health")] = (200, {"ok": True, "version": "0.1.0"})
    service.routes[("GET", "/v1/engines")] = (200, {"default": "vgg19", "engines": []})
    path = tmp_path / "service.json"
    _write_info(path, service.url, os.getpid())
    client = nc.connect(service_file=str(path), start=False)
    client.engines()
    assert service.requests[-1]["headers"]["Authorization"] == "Bearer " + TOKEN


def test_connect_with_a_stale_file_says_not_running(tmp_path, monkeypatch):
    path = tmp_path / "service.json"
    monkeypatch.setenv("NST_SERVICE_FILE", str(path))
    closed = "http://127.0.0.1:%d" % _free_port()
    _write_info(path, closed, os.getpid())
    for kwargs in ({"start": False}, {"start": True, "nst_command": None}):
        with pytest.raises(nc.ServiceError) as info:
            nc.connect(**kwargs)
        message = str(info.value)
        assert "not running" in message and "nst serve" in message and "install-host" in message
        assert info.value.status is None
        assert_one_sentence(message)
    assert path.exists()  # left to `nst serve`, which replaces (or removes) a stale file


FAKE_NST = textwrap.dedent(
    '''
    """A fake `nst` for tests: `serve` writes the discovery file and answers /v1/health."""
    import http.server, json, os, sys, threading, time

    assert sys.argv[1:] == ["serve", "--idle-exit", "30"], sys.argv
    if os.environ.get("FAKE_NST_EXIT"):
        sys.exit(int(os.environ["FAKE_NST_EXIT"]))
    threading.Timer(60, os._exit, (0,)).start()  # never outlive the test run

    class Handler(http.server.BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            ok = self.path == "/v1/health"
            body = json.dumps({"ok": True, "version": "fake"} if ok else {"error": "No."}).encode()
            self.send_response(200 if ok else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    time.sleep(0.3)  # the client has to poll
    path = os.environ["NST_SERVICE_FILE"]
    os.makedirs(os.path.dirname(path), exist_ok=True)
    info = {"url": "http://127.0.0.1:%d" % server.server_address[1], "token": "fake-token",
            "pid": os.getpid(), "version": "fake", "log": path + ".log"}
    with open(path + ".tmp", "w") as fh:
        json.dump(info, fh)
    os.replace(path + ".tmp", path)
    server.serve_forever()
    '''
)


@pytest.fixture
def fake_nst(tmp_path, monkeypatch):
    script = tmp_path / "fake_nst.py"
    script.write_text(FAKE_NST)
    path = tmp_path / "run" / "service.json"
    monkeypatch.setenv("NST_SERVICE_FILE", str(path))
    monkeypatch.delenv("FAKE_NST_EXIT", raising=False)
    started_before = len(nc._STARTED)
    yield [sys.executable, str(script)], path
    for child in nc._STARTED[started_before:]:
        if child.poll() is None:
            child.kill()
        child.wait(5)


def test_connect_starts_a_detached_service_and_polls(fake_nst, tmp_path):
    command, path = fake_nst
    path.parent.mkdir()
    stale = _write_info(path, "http://127.0.0.1:%d" % _free_port(), os.getpid())
    started = time.monotonic()
    client = nc.connect(nst_command=command, wait=20)
    assert time.monotonic() - started < 15
    info = nc.read_service_file(str(path))
    assert info != stale and info["token"] == "fake-token"
    assert client.url == info["url"]
    assert client.health() == {"ok": True, "version": "fake"}
    child = nc._STARTED[-1]
    assert child.pid == info["pid"] and child.poll() is None
    if hasattr(os, "getsid"):
        assert os.getsid(child.pid) == child.pid != os.getsid(0)  # its own session: detached
    # A second connect finds the running service without starting another.
    count = len(nc._STARTED)
    assert nc.connect(nst_command=command).url == client.url
    assert len(nc._STARTED) == count


def test_connect_reports_a_service_that_exits_early(fake_nst, monkeypatch):
    command, _path = fake_nst
    monkeypatch.setenv("FAKE_NST_EXIT", "3")
    with pytest.raises(nc.ServiceError) as info:
        nc.connect(nst_command=command, wait=10)
    message = str(info.value)
    assert "exited with code 3" in message
    assert_one_sentence(message)


def test_connect_with_a_missing_command(tmp_path, monkeypatch):
    monkeypatch.setenv("NST_SERVICE_FILE", str(tmp_path / "service.json"))
    with pytest.raises(nc.ServiceError) as info:
        nc.connect(nst_command=str(tmp_path / "no-such-nst"), wait=1)
    assert "cannot be started" in str(info.value) and "install-host" in str(info.value)
    assert_one_sentence(str(info.value))


def test_equivalent_strength_maps_standard_looks_onto_each_other():
    vgg19, fast = {"standard_strength": 0.5}, {"standard_strength": 1.0}
    assert [nc.equivalent_strength(s, vgg19, fast) for s in (0, 0.2, 0.5, 0.9)] == [0, 0.4, 1, 1]
    assert [nc.equivalent_strength(s, fast, vgg19) for s in (0, 0.5, 1)] == [0, 0.25, 0.5]
    assert nc.equivalent_strength(1.7, {}, None) == 1.0  # clamped; unknown engines: as is


# ---------------------------------------------------------------------------
# A malicious service: the client caps what it reads and how long it waits
# ---------------------------------------------------------------------------


def _raw(handler, head: bytes, body_parts=(), pause: float = 0.0) -> None:
    """Write a raw answer: `head` as is, then each body part (after `pause` seconds)."""
    try:
        handler.wfile.write(head)
        handler.wfile.flush()
        for part in body_parts:
            if pause:
                time.sleep(pause)
            handler.wfile.write(part)
            handler.wfile.flush()
    except OSError:  # the client gave up: what the test wants
        pass
    handler.close_connection = True


def _endless(block: bytes, seconds: float = 20.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        yield block


def _fails_fast(call, within: float, text: str, peak_mb: float = 16.0) -> str:
    """`call()` raises ServiceError containing `text` within `within` seconds, having
    allocated at most `peak_mb` MB on the way."""
    import tracemalloc

    tracemalloc.start()
    started = time.monotonic()
    try:
        with pytest.raises(nc.ServiceError) as info:
            call()
        elapsed = time.monotonic() - started
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    message = str(info.value)
    assert text in message and elapsed < within, (message, elapsed)
    assert peak < peak_mb * 1024 * 1024, peak
    assert_one_sentence(message)
    return message


def test_a_huge_body_is_refused_at_once_or_cut(service):
    huge_head = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
    service.routes[("GET", "/v1/health")] = lambda h: _raw(
        h, huge_head % (10 * 1024**3), _endless(bytes(65536))
    )
    chunked = b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nTransfer-Encoding: chunked\r\n\r\n"
    block = bytes(65536)
    service.routes[("GET", "/v1/jobs/j/result")] = lambda h: _raw(
        h, chunked, _endless(b"%x\r\n%s\r\n" % (len(block), block))
    )
    client = nc.Client(service.url, TOKEN, timeout=5)
    _fails_fast(client.health, 2, "over this plug-in's limit of 64 MB")
    client.max_result = 2 * 1024 * 1024
    _fails_fast(lambda: client.result("j"), 5, "over this plug-in's limit of 2 MB")


def test_an_endless_progress_line_is_cut(service):
    head = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\nevent: progress\ndata: "
    service.routes[("GET", "/v1/jobs/j/events")] = lambda h: _raw(h, head, _endless(b"x" * 65536))
    client = nc.Client(service.url, TOKEN, timeout=5)
    client.max_line = 1024 * 1024
    _fails_fast(lambda: list(client.events("j")), 5, "sent a progress event over 1 MB")


def test_a_drip_feed_is_cut_at_the_deadline(service):
    drip_body = b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 999\r\n\r\n"
    service.routes[("GET", "/v1/health")] = lambda h: _raw(h, drip_body, _endless(b" "), 0.05)
    service.routes[("GET", "/v1/engines")] = lambda h: _raw(  # the head itself drips
        h, b"HTTP/1.1 200 OK\r\n", _endless(b"X-Slow: y\r\n"), 0.05
    )
    sse = b"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n\r\n"
    service.routes[("GET", "/v1/jobs/j/events")] = lambda h: _raw(h, sse, _endless(b"d"), 0.05)
    client = nc.Client(service.url, TOKEN, timeout=0.5)
    _fails_fast(client.health, 1.5, "did not answer within 0.5 s")
    _fails_fast(client.engines, 1.5, "did not answer within 0.5 s")
    client.stream_timeout = 0.5
    _fails_fast(lambda: list(client.events("j")), 1.5, "did not answer within 0.5 s")


def test_json_nested_too_deep_is_not_json(service):
    service.routes[("GET", "/v1/health")] = (200, b"[" * 200000, "application/json")
    _fails_fast(nc.Client(service.url, TOKEN).health, 2, "not a JSON object")


def _png_with(width: int, height: int, idat: bytes) -> bytes:
    header = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _chunk(b"IHDR", header)
        + _chunk(b"IDAT", idat)
        + _chunk(b"IEND", b"")
    )


def test_png_bombs_fail_before_inflating(service):
    bomb = zlib.compress(bytes(200 * 1024 * 1024), 9)  # 200 MB of zeros in 200 KB
    cases = [
        (_png_with(100, 0, bomb), "declares 100 x 0 pixels"),
        (_png_with(0, 100, bomb), "declares 0 x 100 pixels"),
        (_png_with(100000, 100000, bomb), "more than the"),
    ]
    for data, text in cases:
        _fails_fast(lambda data=data: nc.decode_png(data), 2, text)
    # A small header with a huge stream inflates only what the header declares.
    import tracemalloc

    tracemalloc.start()
    try:
        assert nc.decode_png(_png_with(4, 2, bomb))[:3] == (4, 2, "RGBA")
        assert tracemalloc.get_traced_memory()[1] < 8 * 1024 * 1024
    finally:
        tracemalloc.stop()
    service.routes[("GET", "/v1/jobs/j/result")] = (200, cases[0][0], "image/png")
    client = nc.Client(service.url, TOKEN)
    _fails_fast(lambda: nc.decode_png(client.result("j")), 2, "declares 100 x 0 pixels")


def test_a_long_error_sentence_is_cut(service):
    service.routes[("GET", "/v1/engines")] = (400, {"error": "No " + "x" * 30000})
    message = _fails_fast(nc.Client(service.url, TOKEN).engines, 2, "No xxx")
    assert len(message) < 500


def test_a_live_service_that_does_not_answer_is_busy(tmp_path, monkeypatch):
    """Its pid lives (an `nst serve`), its port takes connections but never answers: connect
    says busy and never starts a second service beside it."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)  # never accepted: requests wait forever
    holder = subprocess.Popen(
        [sys.executable, "-c", "import time; time.sleep(60)", "serve"],
        stdin=subprocess.DEVNULL,
    )
    try:
        path = tmp_path / "service.json"
        monkeypatch.setenv("NST_SERVICE_FILE", str(path))
        url = "http://127.0.0.1:%d" % silent.getsockname()[1]
        _write_info(path, url, holder.pid)
        discovery_module = sys.modules[nc.connect.__module__]
        monkeypatch.setattr(discovery_module, "BUSY_WAIT", 0.5)
        count = len(nc._STARTED)
        started = time.monotonic()
        with pytest.raises(nc.ServiceError) as info:
            nc.connect(nst_command=[sys.executable, "-c", "raise SystemExit(9)"], wait=5)
        assert "is running but did not answer" in str(info.value)
        assert "pid %d" % holder.pid in str(info.value)
        assert_one_sentence(str(info.value).replace("`nst serve --stop`.", "stop."))
        assert time.monotonic() - started < 5
        assert len(nc._STARTED) == count  # no second service
        holder.kill()
        holder.wait(5)
        with pytest.raises(nc.ServiceError) as info:  # gone now: not running
            nc.connect(start=False)
        assert "not running" in str(info.value)
    finally:
        holder.kill()
        holder.wait(5)
        silent.close()
