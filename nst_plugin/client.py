"""Standard-library client of the local ``nst serve`` service (Python 3.8+, one file that the Krita and GIMP plug-ins
copy); every failure is a :class:`ServiceError` whose ``str()`` is one sentence, never showing the access token."""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import time
import zlib
from contextlib import suppress
from operator import add, sub
from urllib.parse import quote, urlsplit

API = "/v1"
FINAL_EVENTS = ("done", "failed", "cancelled")
HOST_CONFIG = "nst-host.json"
_NOT_RUNNING = (
    "The nst service is not running; start it with `nst serve` in a terminal, or run "
    "`nst install-host <editor>` again so the plug-in can start it itself."
)
_STARTED = []  # Popen objects of the services we started (kept so they are not reaped noisily)


class ServiceError(Exception):
    """A failure talking to the service, as one sentence; ``status``: the HTTP status of an error answer, or None."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message, self.status = message, status


class Cancelled(ServiceError):
    """The job was cancelled (or waiting for it was stopped from another thread)."""


def _sentence(text) -> str:
    text = str(text).strip()
    return text if text[-1:] in (".", "!", "?") else text + "."


def _loads(data: bytes):  # the JSON value of UTF-8 bytes, or None
    with suppress(ValueError):
        return json.loads(data.decode("utf-8"))


def _sniff(data: bytes) -> tuple:  # (content type, file extension) of image bytes
    types = {b"\x89PN": ("image/png", "png"), b"\xff\xd8\xff": ("image/jpeg", "jpg")}
    return types.get(bytes(data[:3]), ("application/octet-stream", "bin"))


def service_file_path() -> str:
    """The discovery file: ``$NST_SERVICE_FILE``, else ``nst-plugin/service.json`` in ``$XDG_RUNTIME_DIR``,
    ``$XDG_CACHE_HOME`` or the user's cache folder (``%LOCALAPPDATA%``, ``~/Library/Caches``, ``~/.cache``)."""
    env, home = os.environ, os.path.expanduser("~")
    cache = {
        "win32": env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local"),
        "darwin": os.path.join(home, "Library", "Caches"),
    }.get(sys.platform, os.path.join(home, ".cache"))
    base = next(
        (env[k] for k in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME") if os.path.isabs(env.get(k) or "")),
        cache,
    )
    return os.path.expanduser(
        env.get("NST_SERVICE_FILE") or os.path.join(base, "nst-plugin", "service.json")
    )


def read_service_file(path: str | None = None) -> dict | None:
    """The discovery file's JSON object (url, token, pid, version, log), or None when missing or invalid."""
    with suppress(OSError), open(path or service_file_path(), "rb") as fh:
        info = _loads(fh.read())
        return (
            info
            if isinstance(info, dict) and isinstance(info.get("url"), str) and info["url"]
            else None
        )


def load_host_config(folder: str) -> dict:
    """The plug-in folder's ``nst-host.json`` (``{"nst": path, "url": ..., "token": ...}``), ``{}`` if missing."""
    path, config = os.path.join(folder, HOST_CONFIG), None
    with suppress(OSError), open(path, "rb") as fh:
        config = _loads(fh.read())
    if not isinstance(config, dict) and os.path.exists(path):
        raise ServiceError(
            "The plug-in settings file %s is damaged; run `nst install-host <editor>` again." % path
        )
    return config or {}


def encode_multipart(fields=(), files=()) -> tuple:
    """``(body, content_type)`` of a form: ``fields`` (name, text), ``files`` (name, filename, type or None, bytes)."""
    boundary, chunks = "nst-" + os.urandom(16).hex(), []
    esc = lambda s: s.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")  # noqa: E731 (as browsers do)
    for name, filename, ctype, data in [
        (n, None, "text/plain; charset=utf-8", v) for n, v in fields
    ] + list(files):
        data = (
            bytes(data)
            if isinstance(data, (bytes, bytearray, memoryview))
            else str(data).encode("utf-8")
        )
        head = 'name="%s"' % esc(name) + (
            '; filename="%s"' % esc(filename) if filename is not None else ""
        )
        head = "--%s\r\nContent-Disposition: form-data; %s\r\nContent-Type: %s\r\n\r\n" % (
            boundary,
            head,
            ctype or _sniff(data)[0],
        )
        chunks += [head.encode("utf-8"), data, b"\r\n"]
    return b"".join(
        chunks
    ) + b"--%s--\r\n" % boundary.encode(), "multipart/form-data; boundary=" + boundary


class Client:
    """The service at ``url`` with bearer ``token``; thread-safe, methods raise :class:`ServiceError`.  ``timeout``
    (s) is for connecting and each read; progress streams wait ``stream_timeout`` (at least 60 s) per line."""

    def __init__(self, url: str, token: str | None, timeout: float = 30.0):
        url = (url or "").strip()
        try:
            u = urlsplit(url if "://" in url else "http://" + url)
            if u.scheme not in ("http", "https") or not u.hostname or u.port == 0:
                raise ValueError(url)
        except ValueError:  # also from .port, when not a number
            raise ServiceError(
                "The service address is not a valid http:// address; enter it like "
                "http://127.0.0.1:5000 in the plug-in's settings."
            ) from None
        self.scheme, self.host, self.port, self.base_path = (
            u.scheme,
            u.hostname,
            u.port,
            u.path.rstrip("/"),
        )
        self.url = "%s://%s%s" % (
            self.scheme,
            u.netloc.rpartition("@")[2],
            self.base_path,
        )  # no credentials
        self._token, self.timeout, self.stream_timeout = (
            token or None,
            float(timeout),
            max(float(timeout), 60.0),
        )
        self._streams = (
            set()
        )  # open EventStreams (set.add, .discard and list(set) are atomic under the GIL)

    def _error(
        self, exc: BaseException, timeout: float
    ) -> ServiceError:  # network failure, or ValueError: not JSON
        if isinstance(exc, (socket.timeout, TimeoutError)):
            what = "did not answer within %g s" % timeout
        elif isinstance(exc, ValueError):
            what = "sent an answer that is not a JSON object"
        else:
            what = "cannot be reached (%s)" % (
                "connection refused"
                if isinstance(exc, ConnectionRefusedError)
                else getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            )
        return ServiceError(
            "The nst service at %s %s; start it with `nst serve`, or check the address in the "
            "plug-in's settings." % (self.url, what)
        )

    def _http_error(
        self, status: int, reason: str, body: bytes
    ) -> ServiceError:  # the service's 4xx sentence
        answer = _loads(body)
        text = str(answer.get("error") or "").strip() if isinstance(answer, dict) else ""
        if text and status < 500:
            return ServiceError(_sentence(text), status)
        hint = (
            "see its log"
            if status >= 500
            else "check the address and access token in the plug-in's settings"
        )
        return ServiceError(
            "The nst service at %s answered HTTP %d %s: %s"
            % (self.url, status, reason, _sentence(text or hint)),
            status,
        )

    def _call(
        self,
        method: str,
        path: str,
        body=None,
        ctype=None,
        *,
        auth=True,
        timeout=None,
        answer="json",
    ):
        """One request: the 2xx answer's JSON object, its ``"bytes"``, or its ``"stream"`` (socket, response)."""
        timeout, stream = self.timeout if timeout is None else timeout, answer == "stream"
        headers = {
            "Accept": "text/event-stream" if stream else "application/json",
            "Content-Type": ctype,
            "Authorization": "Bearer " + self._token if auth and self._token else None,
        }
        kind = http.client.HTTPSConnection if self.scheme == "https" else http.client.HTTPConnection
        conn = kind(self.host, self.port, timeout=timeout)
        try:
            conn.request(
                method, self.base_path + API + path, body, {k: v for k, v in headers.items() if v}
            )
            sock, resp = (
                conn.sock,
                conn.getresponse(),
            )  # conn drops sock when the answer ends at close
            ok = 200 <= resp.status < 300
            data = b"" if ok and stream else resp.read()
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise self._error(exc, timeout) from exc
        if not (ok and stream):
            conn.close()
        if not ok:
            raise self._http_error(resp.status, resp.reason, data)
        if answer != "json":
            return (sock, resp) if stream else data
        payload = _loads(data)
        if not isinstance(payload, dict):
            raise self._error(ValueError(), timeout)
        return payload

    def health(self, timeout: float | None = None) -> dict:
        """``GET /v1/health`` (no token): ``{"ok": true, "version": ...}``."""
        return self._call("GET", "/health", auth=False, timeout=timeout)

    def engines(self) -> dict:
        """``GET /v1/engines``: ``{"default": name, "engines": [{name, description, options}]}``."""
        return self._call("GET", "/engines")

    def styles(self) -> list:
        """``GET /v1/styles``: list of ``{"name", "source", "thumbnail" (base64 PNG)}``."""
        styles = self._call("GET", "/styles").get("styles")
        return styles if isinstance(styles, list) else []

    def add_style(self, name: str, image_bytes: bytes, filename: str = "style.png") -> str:
        """Upload a style image under ``name`` (``POST /v1/styles``); returns the stored name."""
        form = encode_multipart([("name", name)], [("image", filename, None, image_bytes)])
        return str(self._call("POST", "/styles", *form).get("name", name))

    def submit(
        self,
        content: bytes,
        *,
        styles=None,
        style_name: str | None = None,
        mask: bytes | None = None,
        options: dict | None = None,
        cancel_on_disconnect: bool = False,
    ) -> str:
        """Start a job (``POST /v1/jobs``) on image bytes with ``styles`` (image bytes, or a list) or a ``style_name``,
        an 8-bit grey PNG ``mask`` and engine ``options``; returns its id.  With ``cancel_on_disconnect`` the
        service cancels the job when its progress stream is dropped."""
        styles = (
            [styles] if isinstance(styles, (bytes, bytearray, memoryview)) else list(styles or [])
        )
        if bool(styles) == bool(style_name):
            raise ValueError(
                "submit() takes either styles (image bytes) or style_name, not both or neither"
            )
        files = [("content", "content." + _sniff(content)[1], None, content)]
        files += [
            ("style", "style%d.%s" % (i, _sniff(s)[1]), None, s) for i, s in enumerate(styles)
        ]
        files += [("mask", "mask.png", "image/png", mask)] if mask is not None else []
        fields = [("style_name", style_name)] if style_name else []
        fields += [("options", json.dumps(options))] if options else []
        fields.append(("cancel_on_disconnect", "true" if cancel_on_disconnect else "false"))
        job_id = self._call("POST", "/jobs", *encode_multipart(fields, files)).get("id")
        if not isinstance(job_id, str) or not job_id:
            raise ServiceError(
                "The nst service at %s sent no job id; update the plug-in or the service."
                % self.url
            )
        return job_id

    def status(self, job_id: str) -> dict:
        """``GET /v1/jobs/{id}``: id, state, stage, step, total, loss, eta, error."""
        return self._call("GET", "/jobs/" + quote(str(job_id), safe=""))

    def result(self, job_id: str) -> bytes:
        """The finished job's PNG bytes (``GET /v1/jobs/{id}/result``)."""
        return self._call("GET", "/jobs/%s/result" % quote(str(job_id), safe=""), answer="bytes")

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued/running job, or forget a finished one (``DELETE /v1/jobs/{id}``)."""
        return self._call("DELETE", "/jobs/" + quote(str(job_id), safe=""))

    def events(self, job_id: str) -> EventStream:
        """The job's progress as an :class:`EventStream`: ``progress`` events, then one of :data:`FINAL_EVENTS`."""
        return EventStream(self, job_id)

    def close_streams(self) -> None:
        """Close this client's progress streams from any thread; a :meth:`wait` then raises :class:`Cancelled`."""
        for stream in list(self._streams):
            stream.close()

    def wait(self, job_id: str, on_event=None) -> bytes:
        """Pass the job's events to ``on_event`` until it ends and return the result PNG; a failed job raises
        :class:`ServiceError` with the service's sentence, a cancelled one :class:`Cancelled`."""
        for attempt in range(6):  # reconnect when a stream ends without a final event
            with self.events(job_id) as stream:
                for final in stream:
                    if on_event is not None:
                        on_event(final)
                    if final["event"] in FINAL_EVENTS:
                        break
                else:
                    final = None
            if final is None and stream.closed_locally:
                raise Cancelled(
                    "Waiting for job %s was stopped; it goes on in the service unless cancelled."
                    % job_id
                )
            final = final or self.status(job_id)  # the stream ended early: ask for the job's state
            event = final.get("event", final.get("state"))
            if event == "done":
                return self.result(job_id)
            if event in ("failed", "cancelled"):
                kind = Cancelled if event == "cancelled" else ServiceError
                raise kind(
                    _sentence(
                        final.get("error") or "Job %s %s; see the service log" % (job_id, event)
                    )
                )
            time.sleep(0.2 * (attempt + 1))
        raise ServiceError(
            "The progress stream of job %s kept closing before the job ended; see the service log, "
            "or restart it with `nst serve`." % job_id
        )


class EventStream:
    """Iterator (and context manager) of a job's server-sent events as ``{"event": name, **data}``, up to a final
    event, the end of the stream or :meth:`close`; ``closed_locally`` tells whether close() cut it short."""

    def __init__(self, client: Client, job_id: str):
        self.client, self.job_id, self.closed_locally, self._closed, self._done = (
            client,
            job_id,
            False,
            False,
            False,
        )
        self._sock, self._resp = client._call(
            "GET",
            "/jobs/%s/events" % quote(str(job_id), safe=""),
            timeout=client.stream_timeout,
            answer="stream",
        )
        client._streams.add(self)

    def __iter__(self) -> EventStream:
        return self

    __enter__ = __iter__

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the stream, from any thread: shutdown() wakes a read blocked in another thread at once."""
        if self._closed:
            return
        self._closed, self.closed_locally = True, not self._done
        self.client._streams.discard(self)
        for end in (
            lambda: self._sock.shutdown(socket.SHUT_RDWR),
            self._resp.close,
            self._sock.close,
        ):
            with suppress(Exception):
                end()

    def __next__(self) -> dict:
        name, data = "", []
        try:
            while not (self._done or self._closed):
                line = self._resp.readline()
                self._done = (
                    not line
                )  # the service ended the stream (unless close() woke this read)
                field, colon, value = line.decode("utf-8", "replace").rstrip("\r\n").partition(":")
                value = value[1:] if value.startswith(" ") else value
                if field == "event":  # other lines, such as ": keep-alive" comments, are ignored
                    name = value
                elif field == "data":
                    data.append(value)
                elif (
                    line and not (field or colon) and (name or data)
                ):  # an empty line ends an event
                    payload, name = json.loads("\n".join(data).strip() or "{}"), name or "message"
                    self._done = name in FINAL_EVENTS
                    return (
                        {**payload, "event": name}
                        if isinstance(payload, dict)
                        else {"event": name, "data": payload}
                    )
        except Exception as exc:
            if not self._closed:
                self.close()
                raise self.client._error(exc, self.client.stream_timeout) from exc
        self.close()
        raise StopIteration


def _answers(
    info: dict, timeout: float = 2.0
) -> Client | None:  # a client if info's service answers
    with suppress(ServiceError):
        client = Client(info["url"], info.get("token"))
        return client if client.health(timeout=timeout).get("ok", True) else None


def connect(
    *,
    url: str | None = None,
    token: str | None = None,
    service_file: str | None = None,
    nst_command=None,
    start: bool = True,
    wait: float = 60.0,
) -> Client:
    """A :class:`Client` of the service at ``url``, else of the one the discovery file names if it answers, else
    of ``nst serve`` started with ``nst_command`` (the ``nst`` executable or an argv prefix) if ``start`` and polled
    for up to ``wait`` seconds; raises :class:`ServiceError` when no service answers."""
    if url:
        client = Client(url, token)
        client.health()
        return client
    path = service_file or service_file_path()
    stale = info = read_service_file(path)
    client = _answers(stale) if stale else None
    if client is not None:
        return client
    if not (start and nst_command):
        raise ServiceError(_NOT_RUNNING)
    argv = (
        [nst_command] if isinstance(nst_command, (str, bytes, os.PathLike)) else list(nst_command)
    )
    # Detached (Windows: DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP), silent, without the editor's Python variables.
    detach = (
        {"creationflags": 0x00000008 | 0x00000200}
        if os.name == "nt"
        else {"start_new_session": True}
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE")
    }
    env.update({"NST_SERVICE_FILE": service_file} if service_file else {})
    try:
        child = subprocess.Popen(
            [os.fspath(arg) for arg in argv] + ["serve"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            **detach,
        )
    except OSError as exc:
        raise ServiceError(
            "The nst command %s cannot be started (%s); run `nst install-host <editor>` again, or "
            "start the service with `nst serve`." % (argv[0], exc.strerror or exc)
        ) from exc
    _STARTED.append(child)
    deadline = time.monotonic() + max(0.0, float(wait))
    while True:
        info, code = read_service_file(path) or info, child.poll()
        done = (
            code is not None or time.monotonic() >= deadline
        )  # exit 0: it may have found a new service
        client = (
            _answers(info, timeout=1.0) if info is not None and (info != stale or done) else None
        )
        if client is not None:
            return client
        if done:
            log = (info or {}).get("log")
            what = (
                "exited with code %d right after starting" % code
                if code
                else "did not answer within %g s" % wait
            )
            raise ServiceError(
                _NOT_RUNNING
                if code == 0
                else "The nst service %s; %s."
                % (
                    what,
                    "see its log %s" % log if log else "run `nst serve` in a terminal to see why",
                )
            )
        time.sleep(0.1)


def equivalent_strength(strength: float, engine: dict, other: dict) -> float:
    """The strength for engine ``other`` that looks most like ``strength`` on ``engine`` (both ``GET /v1/engines``
    entries): 0 maps to 0 and standard look to standard look, linearly; beyond ``other``'s range it stays at 1."""
    a, b = (float((e or {}).get("standard_strength") or 0.5) for e in (engine, other))
    s = min(max(float(strength), 0.0), 1.0)
    return min(1.0, s * b / a if s <= a else b + (s - a) * (1 - b) / (1 - a))


_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_SOURCES = {
    "L": (0, 0, 0),
    "LA": (0, 0, 0, 1),
    "RGB": (0, 1, 2),
    "RGBA": (0, 1, 2, 3),
    "BGRA": (2, 1, 0, 3),
}
_MODES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}  # by PNG colour type
_AND255 = (255).__and__


def to_rgba(mode: str, pixels: bytes) -> bytes:
    """Convert 8-bit ``L``, ``LA``, ``RGB``, ``RGBA`` or ``BGRA`` pixels to RGBA."""
    if mode not in _SOURCES:
        raise ValueError("unknown pixel mode %r" % mode)
    out = bytearray(b"\xff" * (len(pixels) // len(mode) * 4))
    for c, source in enumerate(_SOURCES[mode]):  # where R, G, B (and A) come from
        out[c::4] = pixels[source :: len(mode)]
    return bytes(out)


def rgba_to_bgra(pixels: bytes) -> bytes:
    """Swap red and blue of RGBA pixels (Krita's 8-bit order is BGRA), or of BGRA pixels."""
    return to_rgba("BGRA", pixels)


def encode_png(width: int, height: int, data: bytes, mode: str = "RGBA") -> bytes:
    """Encode 8-bit ``RGBA``, ``BGRA`` (written as RGBA), ``RGB``, ``L`` or ``LA`` pixels as a PNG (Up filter)."""
    if mode not in _SOURCES or width <= 0 or height <= 0 or len(data) != width * height * len(mode):
        raise ValueError(
            "encode_png: %d bytes are not a %dx%d image in mode %r"
            % (len(data), width, height, mode)
        )
    data, stride = to_rgba(mode, data) if mode == "BGRA" else bytes(data), int(width) * len(mode)
    above = bytes(stride) + data
    rows = b"".join(
        b"\x02" + bytes(map(_AND255, map(sub, data[y : y + stride], above[y : y + stride])))
        for y in range(0, len(data), stride)
    )
    header = struct.pack(
        ">IIBBBBB", int(width), int(height), 8, {"L": 0, "RGB": 2, "LA": 4}.get(mode, 6), 0, 0, 0
    )
    chunks = [(b"IHDR", header), (b"IDAT", zlib.compress(rows, 6)), (b"IEND", b"")]
    return _PNG_SIGNATURE + b"".join(
        struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        for kind, body in chunks
    )


def _bad_png(reason: str) -> ServiceError:
    return ServiceError("The image is not a PNG this plug-in can read (%s)." % reason)


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    """Undo a row's filter: 0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth (channel by channel)."""
    if kind in (0, 2):
        return line if kind == 0 else bytes(map(_AND255, map(add, line, prior)))
    if kind > 4:
        raise _bad_png("a row has the unknown filter type %d" % kind)
    out = bytearray(len(line))
    for c in range(bpp):
        lane, a, ul = [], 0, 0  # a: the decoded byte on the left, ul: the prior row's byte above it
        for x, b in zip(line[c::bpp], prior[c::bpp]):
            if kind == 1:
                a = (x + a) & 255
            elif kind == 3:
                a = (x + ((a + b) >> 1)) & 255
            else:  # Paeth: of a, b and ul, the nearest to a + b - ul
                pa, pb, pc = abs(b - ul), abs(a - ul), abs(a + b - 2 * ul)
                a = (x + (a if pa <= pb and pa <= pc else b if pb <= pc else ul)) & 255
                ul = b
            lane.append(a)
        out[c::bpp] = bytes(lane)
    return bytes(out)


def decode_png(data: bytes) -> tuple:
    """``(width, height, mode, pixels)`` of a non-interlaced 8-bit ``L``, ``RGB``, ``LA`` or ``RGBA`` PNG; other
    PNGs (palette, 16-bit, ...) and damaged files raise :class:`ServiceError`."""
    data, pos, header, idat, kind = bytes(data), 8, None, [], b""
    if data[:8] != _PNG_SIGNATURE:
        raise _bad_png("it does not start with the PNG signature")
    while kind != b"IEND":
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind, body, crc = (
            data[pos + 4 : pos + 8],
            data[pos + 8 : pos + 8 + size],
            data[pos + 8 + size : pos + 12 + size],
        )
        if len(crc) < 4:
            raise _bad_png("the file is truncated")
        if zlib.crc32(kind + body) != int.from_bytes(crc, "big"):
            raise _bad_png(
                "its %s chunk fails the CRC check, so the file is damaged" % kind.decode("latin-1")
            )
        if header is None and (kind != b"IHDR" or size != 13):
            raise _bad_png("it does not begin with an IHDR chunk")
        header = header or struct.unpack(">IIBBBBB", body)
        idat += [body] if kind == b"IDAT" else []
        pos += 12 + size
    width, height, depth, color, compression, filtering, interlace = header
    if depth != 8 or color not in _MODES or compression or filtering or interlace:
        raise ServiceError(
            "The image is not an 8-bit PNG this plug-in can read (colour type %d, bit depth %d%s); "
            "save it as 8-bit grey, RGB or RGBA."
            % (color, depth, ", interlaced" if interlace else "")
        )
    bpp = len(_MODES[color])
    stride, size = width * bpp, (width * bpp + 1) * height
    try:
        raw = zlib.decompressobj().decompress(b"".join(idat), size)
    except zlib.error:
        raise _bad_png("its image data cannot be decompressed") from None
    if len(raw) < size:
        raise _bad_png("its image data is truncated")
    pixels, prior = bytearray(), bytes(stride)
    for start in range(0, size, stride + 1):
        prior = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], prior, bpp)
        pixels += prior
    return width, height, _MODES[color], bytes(pixels)
