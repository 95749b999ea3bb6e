"""The service's HTTP API: :class:`Client` and its progress :class:`EventStream`.

Every failure is a :class:`~.errors.ServiceError` whose text is one sentence and never shows
the access token. Thread-safe: a worker thread waits on a stream while the editor's main
thread may close it.

The client trusts no service: an answer's body, a progress line and the time an answer takes
are capped (a service that drips one byte a second is cut off at the deadline), and an
``https://`` service whose certificate's SHA-256 is not the pinned ``fingerprint`` is refused
before the token is sent.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import socket
import ssl
import threading
import time
from contextlib import suppress
from urllib.parse import quote, urlencode, urlsplit

from .errors import Cancelled, ServiceError, sentence
from .progress import FINAL_STATES

API = "/v1"
RECONNECTS = 6  # times wait() follows a progress stream that ended before the job did
MB = 1024 * 1024
MAX_JSON = 64 * MB  # the largest JSON answer read (the style list with its thumbnails)
MAX_RESULT = 1024 * MB  # the largest result PNG read
MAX_ERROR = 64 * 1024  # of an error answer, only the sentence matters
MAX_LINE = 8 * MB  # the longest progress event (a preview is some 100 KB)
MIN_RATE = 256 * 1024  # bytes a second a body must at least move at, beyond the timeout
MAX_SENTENCE = 400  # characters of a service's error sentence shown


def normal_fingerprint(text) -> str | None:
    """A SHA-256 fingerprint as 64 lower-case hex digits (colons, spaces and case ignored);
    None for none; ServiceError when it is not one."""
    if text is None or not str(text).strip():
        return None
    digits = "".join(ch for ch in str(text).lower() if ch not in ": \t-")
    if len(digits) != 64 or any(ch not in "0123456789abcdef" for ch in digits):
        raise ServiceError(
            "The certificate fingerprint in the plug-in's settings is not a SHA-256 "
            "fingerprint; copy it again from `nst serve --status` on the service's machine."
        )
    return digits


class _Watchdog:
    """Shuts a socket down once its deadline passes, so that no read waits beyond it however
    slowly the bytes come; ``fired`` tells that it did."""

    def __init__(self, sock, seconds: float):
        self.sock = sock
        self.deadline = time.monotonic() + seconds
        self.fired = False
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="nst-client-deadline")
        self._thread.daemon = True
        self._thread.start()

    def reset(self, seconds: float) -> None:
        """The deadline is now ``seconds`` from now."""
        self.deadline = time.monotonic() + seconds

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while True:
            left = self.deadline - time.monotonic()
            if left <= 0:
                self.fired = True
                with suppress(OSError):
                    self.sock.shutdown(socket.SHUT_RDWR)
                return
            if self._stop.wait(left):
                return


def loads(data: bytes):
    """The JSON value of UTF-8 bytes, or None when they are not JSON (or nest too deep)."""
    with suppress(ValueError, RecursionError, MemoryError):
        return json.loads(data.decode("utf-8"))
    return None


def content_type(data: bytes) -> str:
    """The media type of image bytes the service takes (PNG, JPEG), else a generic one."""
    head = bytes(data[:3])
    if head == b"\x89PN":
        return "image/png"
    return "image/jpeg" if head == b"\xff\xd8\xff" else "application/octet-stream"


def _extension(data: bytes) -> str:
    return {"image/png": "png", "image/jpeg": "jpg"}.get(content_type(data), "bin")


def _quoted(text: str) -> str:
    """A form field's name or file name as browsers quote it."""
    return text.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def encode_multipart(fields=(), files=()) -> tuple:
    """``(body, content_type)`` of a form.

    ``fields``: (name, text) pairs; ``files``: (name, filename, type or None, bytes).
    """
    boundary = "nst-" + os.urandom(16).hex()
    parts = [(name, None, "text/plain; charset=utf-8", value) for name, value in fields]
    chunks = []
    for name, filename, ctype, data in parts + list(files):
        if isinstance(data, (bytes, bytearray, memoryview)):
            data = bytes(data)
        else:
            data = str(data).encode("utf-8")
        disposition = 'form-data; name="%s"' % _quoted(name)
        if filename is not None:
            disposition += '; filename="%s"' % _quoted(filename)
        head = "--%s\r\nContent-Disposition: %s\r\nContent-Type: %s\r\n\r\n" % (
            boundary,
            disposition,
            ctype or content_type(data),
        )
        chunks += [head.encode("utf-8"), data, b"\r\n"]
    body = b"".join(chunks) + b"--%s--\r\n" % boundary.encode()
    return body, "multipart/form-data; boundary=" + boundary


def _job_path(job_id: str, tail: str = "") -> str:
    return "/jobs/" + quote(str(job_id), safe="") + tail


class Client:
    """The service at ``url`` with bearer ``token``; methods raise :class:`ServiceError`.

    ``timeout`` (s) is for connecting and for a whole answer (longer for a large body, at
    ``MIN_RATE``); progress streams wait ``stream_timeout`` (at least 60 s) for each line.
    ``fingerprint``: the SHA-256 of an ``https://`` service's certificate (``nst serve
    --status`` prints it); with it the certificate is pinned, without it it must be one the
    system trusts.
    """

    def __init__(self, url: str, token: str | None, timeout: float = 30.0, fingerprint=None):
        address = (url or "").strip()
        try:
            parts = urlsplit(address if "://" in address else "http://" + address)
            if parts.scheme not in ("http", "https") or not parts.hostname or parts.port == 0:
                raise ValueError(address)
        except ValueError:  # also from .port, when it is not a number
            raise ServiceError(
                "The service address is not a valid http:// address; enter it like "
                "http://127.0.0.1:5000 in the plug-in's settings."
            ) from None
        self.scheme, self.host, self.port = parts.scheme, parts.hostname, parts.port
        self.base_path = parts.path.rstrip("/")
        netloc = parts.netloc.rpartition("@")[2]  # never show credentials
        self.url = "%s://%s%s" % (self.scheme, netloc, self.base_path)
        self._token = token or None
        self.fingerprint = normal_fingerprint(fingerprint)
        self.timeout = float(timeout)
        self.stream_timeout = max(self.timeout, 60.0)
        self.max_json, self.max_result, self.max_line = MAX_JSON, MAX_RESULT, MAX_LINE
        self._streams = set()  # open EventStreams (add, discard and list() are atomic)
        self.version = None  # the service's version, once health() was asked

    # -- errors --------------------------------------------------------------------------

    def network_error(self, exc: BaseException, timeout: float) -> ServiceError:
        """The sentence for a network failure (or a ValueError: an answer that is not JSON)."""
        if isinstance(exc, (socket.timeout, TimeoutError)):
            what = "did not answer within %g s" % timeout
        elif isinstance(exc, MemoryError):
            what = "sent an answer too large for this editor's memory"
        elif isinstance(exc, ssl.SSLError):
            what = "cannot be reached over HTTPS (%s)" % (
                getattr(exc, "reason", None) or "the TLS handshake failed"
            )
        elif isinstance(exc, (ValueError, RecursionError)):
            what = "sent an answer that is not a JSON object"
        elif isinstance(exc, ConnectionRefusedError):
            what = "cannot be reached (connection refused)"
        else:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            what = "cannot be reached (%s)" % reason
        return ServiceError(
            "The nst service at %s %s; start it with `nst serve`, or check the address in the "
            "plug-in's settings." % (self.url, what)
        )

    def _http_error(self, status: int, reason: str, body: bytes) -> ServiceError:
        """The service's own sentence for a 4xx answer; a hint for anything else."""
        answer = loads(body)
        text = str(answer.get("error") or "").strip() if isinstance(answer, dict) else ""
        if len(text) > MAX_SENTENCE:
            text = text[: MAX_SENTENCE - 1].rstrip() + "…"
        if text and status < 500:
            return ServiceError(sentence(text), status)
        if status >= 500:
            hint = "see its log"
        else:
            hint = "check the address and access token in the plug-in's settings"
        return ServiceError(
            "The nst service at %s answered HTTP %d %s: %s"
            % (self.url, status, reason, sentence(text or hint)),
            status,
        )

    # -- requests ------------------------------------------------------------------------

    def _headers(self, accept: str, ctype: str | None, auth: bool) -> dict:
        headers = {"Accept": accept}
        if ctype:
            headers["Content-Type"] = ctype
        if auth and self._token:
            headers["Authorization"] = "Bearer " + self._token
        return headers

    def _connection(self, timeout: float):
        """An open connection; an ``https://`` one only after its certificate passed."""
        if self.scheme != "https":
            conn = http.client.HTTPConnection(self.host, self.port, timeout=timeout)
            conn.connect()
            return conn
        if self.fingerprint:  # pinned: the fingerprint, not a CA, says who it is
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        else:
            context = ssl.create_default_context()
        conn = http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=context)
        conn.connect()
        if self.fingerprint:
            der = conn.sock.getpeercert(binary_form=True) or b""
            if hashlib.sha256(der).hexdigest() != self.fingerprint:
                conn.close()
                raise ServiceError(
                    "The service at %s showed a certificate whose fingerprint is not the one in "
                    "the plug-in's settings, so nothing was sent; compare it with `nst serve "
                    "--status` on the service's machine." % self.url
                )
        return conn

    def _send(self, method, path, body, headers, timeout, keep_open, limit=None):
        """``(connection, response, body, watchdog)``; the body is empty (and the watchdog
        running) when the stream stays open."""
        conn = dog = None
        try:
            conn = self._connection(timeout)
            sock = conn.sock  # the connection drops it when the answer ends at close
            dog = _Watchdog(sock, timeout + len(body or b"") / MIN_RATE)
            conn.request(method, self.base_path + API + path, body, headers)
            response = conn.getresponse()
            ok = 200 <= response.status < 300
            if ok and keep_open:
                return sock, response, b"", dog
            data = self._read_body(response, limit if ok else MAX_ERROR, ok, dog, timeout)
        except ServiceError:
            self._end(conn, dog)
            raise
        except Exception as exc:  # OSError, HTTPException, MemoryError, ...: never raw
            self._end(conn, dog)
            cause = TimeoutError() if dog is not None and dog.fired else exc
            raise self.network_error(cause, timeout) from exc
        self._end(conn, dog)
        if not ok:
            raise self._http_error(response.status, response.reason, data)
        return sock, response, data, None

    @staticmethod
    def _end(conn, dog) -> None:
        if dog is not None:
            dog.stop()
        if conn is not None:
            with suppress(Exception):
                conn.close()

    def _read_body(self, response, limit: int, whole: bool, dog: _Watchdog, timeout: float):
        """The answer's body, at most ``limit`` bytes (more is an error when ``whole``, else
        cut), read before the watchdog's deadline."""
        length = response.getheader("Content-Length")
        length = int(length) if length and length.strip().isdigit() else None
        if whole and length is not None and length > limit:
            raise self._too_large(length, limit)
        dog.reset(timeout + (length or 0) / MIN_RATE)
        chunks, size = [], 0
        while size <= limit:
            chunk = response.read(min(1 << 16, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if dog.fired:
            raise TimeoutError()
        if size > limit and whole:
            raise self._too_large(None, limit)
        return b"".join(chunks)[:limit]

    def _too_large(self, length, limit: int) -> ServiceError:
        told = "%d MB" % (length // MB) if length else "more"
        return ServiceError(
            "The nst service at %s sent an answer of %s, over this plug-in's limit of %d MB; "
            "check the address in the plug-in's settings." % (self.url, told, limit // MB)
        )

    def call(self, method: str, path: str, body=None, ctype=None, *, auth=True, timeout=None):
        """One request below ``/v1``; returns the 2xx answer's JSON object."""
        timeout = self.timeout if timeout is None else timeout
        headers = self._headers("application/json", ctype, auth)
        data = self._send(method, path, body, headers, timeout, False, self.max_json)[2]
        payload = loads(data)
        if not isinstance(payload, dict):
            raise self.network_error(ValueError(), timeout)
        return payload

    def call_for_bytes(self, path: str) -> bytes:
        """``GET`` below ``/v1``; returns the 2xx answer's bytes."""
        headers = self._headers("application/json", None, True)
        return self._send("GET", path, None, headers, self.timeout, False, self.max_result)[2]

    def open_stream(self, path: str) -> tuple:
        """``GET`` an event stream below ``/v1``; returns the open ``(socket, response,
        watchdog)``."""
        headers = self._headers("text/event-stream", None, True)
        sock, response, _, dog = self._send("GET", path, None, headers, self.stream_timeout, True)
        return sock, response, dog

    # -- the API -------------------------------------------------------------------------

    def health(self, timeout: float | None = None) -> dict:
        """``GET /v1/health`` (no token): ``{"ok": true, "version": ...}``; keeps the version."""
        answer = self.call("GET", "/health", auth=False, timeout=timeout)
        if isinstance(answer, dict) and answer.get("version"):
            self.version = str(answer["version"])
        return answer

    def engines(self) -> dict:
        """``GET /v1/engines``: the default engine, the engines, the quality presets."""
        return self.call("GET", "/engines")

    def styles(self) -> list:
        """``GET /v1/styles``: a list of ``{"name", "source", "thumbnail" (base64 PNG)}``."""
        styles = self.call("GET", "/styles").get("styles")
        return styles if isinstance(styles, list) else []

    def add_style(self, name: str, image_bytes: bytes, filename: str = "style.png") -> str:
        """Upload a style image under ``name`` (``POST /v1/styles``); returns the stored name."""
        form = encode_multipart([("name", name)], [("image", filename, None, image_bytes)])
        return str(self.call("POST", "/styles", *form).get("name", name))

    def submit(
        self,
        content: bytes | None,
        *,
        styles=None,
        style_name: str | None = None,
        mask: bytes | None = None,
        style_masks=None,
        strength_map: bytes | None = None,
        options: dict | None = None,
        cancel_on_disconnect: bool = False,
        frames=None,
    ) -> str:
        """Start a job (``POST /v1/jobs``); returns its id.

        ``styles``: image bytes, or a list whose items are image bytes or library names (in
        order); or else ``style_name`` from the library. ``mask``: an 8-bit grey PNG, the area
        to stylize; ``style_masks``: one grey PNG per style (regions); ``strength_map``: a grey
        PNG; ``options``: engine options. With ``cancel_on_disconnect`` the service cancels
        the job when its progress stream drops. ``frames`` (with ``content`` None): a frame
        sequence's images (bytes, in playing order) as one job; fetch them with :meth:`frame`.
        """
        if isinstance(styles, (bytes, bytearray, memoryview)):
            styles = [styles]
        styles = list(styles or [])
        if bool(styles) == bool(style_name):
            raise ValueError("submit() takes either styles (image bytes or names) or style_name")
        if (content is None) == (not frames):
            raise ValueError("submit() takes either content or frames")
        if content is not None:
            files = [("content", "content." + _extension(content), None, content)]
        else:
            files = [
                ("frame", "frame%d.%s" % (i, _extension(data)), None, data)
                for i, data in enumerate(frames, 1)
            ]
        for i, style in enumerate(styles):
            if isinstance(style, str):
                files.append(("style", None, "text/plain; charset=utf-8", style))  # a name
            else:
                files.append(("style", "style%d.%s" % (i, _extension(style)), None, style))
        if mask is not None:
            files.append(("mask", "mask.png", "image/png", mask))
        for i, data in enumerate(style_masks or ()):
            files.append(("style_mask", "style_mask%d.png" % i, "image/png", data))
        if strength_map is not None:
            files.append(("strength_map", "strength_map.png", "image/png", strength_map))
        fields = [("style_name", style_name)] if style_name else []
        if options:
            fields.append(("options", json.dumps(options)))
        fields.append(("cancel_on_disconnect", "true" if cancel_on_disconnect else "false"))
        job_id = self.call("POST", "/jobs", *encode_multipart(fields, files)).get("id")
        if not isinstance(job_id, str) or not job_id:
            raise ServiceError(
                "The nst service at %s sent no job id; update the plug-in or the service."
                % self.url
            )
        return job_id

    def status(self, job_id: str) -> dict:
        """``GET /v1/jobs/{id}``: id, state, stage, step, total, loss, eta, error; once done,
        iterations_run and kept."""
        return self.call("GET", _job_path(job_id))

    def keep(self, job_id: str) -> dict:
        """End a running job now with its current image as the result (``POST
        /v1/jobs/{id}/keep``); returns its status. The job then ends done (``kept`` true in
        its final status). A :class:`ServiceError` with status 409 when it has finished or
        still waits in the queue."""
        return self.call("POST", _job_path(job_id, "/keep"))

    def estimate(self, width: int, height: int, options: dict | None = None) -> dict:
        """About how long a job with ``options`` (as :meth:`submit` sends them) on a ``width`` x
        ``height`` picture takes on the service's machine (``GET /v1/estimate``), from its own
        recent jobs: ``{"seconds": float or None (no jobs of that engine yet), "based_on": the
        jobs it rests on, ...}``."""
        query = urlencode(
            {"width": int(width), "height": int(height), "options": json.dumps(options or {})}
        )
        return self.call("GET", "/estimate?" + query)

    def result(self, job_id: str) -> bytes:
        """The finished job's PNG bytes (``GET /v1/jobs/{id}/result``)."""
        return self.call_for_bytes(_job_path(job_id, "/result"))

    def frame(self, job_id: str, number: int) -> bytes:
        """Frame ``number`` (from 1) of a finished or partly finished frame sequence, as PNG
        (``GET /v1/jobs/{id}/frames/{n}``)."""
        return self.call_for_bytes(_job_path(job_id, "/frames/%d" % int(number)))

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued or running job, or forget a finished one (``DELETE /v1/jobs/{id}``)."""
        return self.call("DELETE", _job_path(job_id))

    def events(self, job_id: str) -> EventStream:
        """The job's progress: ``progress`` events, then one of :data:`FINAL_STATES`."""
        return EventStream(self, job_id)

    def close_streams(self) -> None:
        """Close this client's progress streams from any thread; :meth:`wait` then raises
        :class:`Cancelled`."""
        for stream in list(self._streams):
            stream.close()

    def wait(self, job_id: str, on_event=None) -> bytes:
        """Pass the job's events to ``on_event`` until it ends; return the result PNG.

        A failed job raises :class:`ServiceError` with the service's sentence, a cancelled one
        :class:`Cancelled`.
        """
        self.wait_done(job_id, on_event)
        return self.result(job_id)

    def wait_done(self, job_id: str, on_event=None) -> None:
        """:meth:`wait` without fetching the result (a frame sequence's come by :meth:`frame`)."""
        for attempt in range(RECONNECTS):
            final = self._follow(job_id, on_event)
            final = final or self.status(job_id)  # the stream ended early: ask for the state
            state = final.get("event", final.get("state"))
            if state == "done":
                return
            if state in ("failed", "cancelled"):
                error = Cancelled if state == "cancelled" else ServiceError
                said = final.get("error") or "Job %s %s; see the service log" % (job_id, state)
                raise error(sentence(said))
            time.sleep(0.2 * (attempt + 1))
        raise ServiceError(
            "The progress stream of job %s kept closing before the job ended; see the service "
            "log, or restart it with `nst serve`." % job_id
        )

    def _follow(self, job_id: str, on_event) -> dict | None:
        """The job's final event from one progress stream, or None when the stream ended first."""
        with self.events(job_id) as stream:
            for event in stream:
                if on_event is not None:
                    on_event(event)
                if event["event"] in FINAL_STATES:
                    return event
        if stream.closed_locally:
            raise Cancelled(
                "Waiting for job %s was stopped; it goes on in the service unless cancelled."
                % job_id
            )
        return None


class EventStream:
    """A job's server-sent events as ``{"event": name, **data}``, up to a final event.

    An iterator and a context manager; it ends at a final event, at the end of the stream or
    at :meth:`close`. ``closed_locally`` tells whether close() cut it short.
    """

    def __init__(self, client: Client, job_id: str):
        self.client = client
        self.job_id = job_id
        self.closed_locally = False
        self._closed = False
        self._done = False
        self._sock, self._resp, self._dog = client.open_stream(_job_path(job_id, "/events"))
        client._streams.add(self)

    def __iter__(self) -> EventStream:
        return self

    def __enter__(self) -> EventStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the stream from any thread: shutdown() wakes a read blocked in another one."""
        if self._closed:
            return
        self._closed = True
        self.closed_locally = not self._done
        self.client._streams.discard(self)
        self._dog.stop()
        for end in (lambda: self._sock.shutdown(socket.SHUT_RDWR), self._resp.close):
            with suppress(Exception):
                end()
        with suppress(Exception):
            self._sock.close()

    def __next__(self) -> dict:
        try:
            event = self._read_event()
        except ServiceError:
            self.close()
            raise
        except Exception as exc:
            if not self._closed:  # after close() any failure just ends the stream
                self.close()
                cause = TimeoutError() if self._dog.fired else exc
                raise self.client.network_error(cause, self.client.stream_timeout) from exc
            event = None
        if event is None:
            self.close()
            raise StopIteration
        return event

    def _read_event(self) -> dict | None:
        """The next event, or None when the stream ended or was closed. Each line must come
        within ``stream_timeout`` and an event be at most ``max_line`` bytes."""
        name, data, size, limit = "", [], 0, self.client.max_line
        while not (self._done or self._closed):
            self._dog.reset(self.client.stream_timeout)
            line = self._resp.readline(limit + 1)
            if self._dog.fired:
                raise TimeoutError()
            size += len(line)
            if size > limit:
                raise ServiceError(
                    "The nst service at %s sent a progress event over %d MB; check the address "
                    "in the plug-in's settings." % (self.client.url, limit // MB)
                )
            self._done = not line  # the service ended the stream (unless close() woke us)
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            field, colon, value = text.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if field == "event":  # other lines, such as ": keep-alive" comments, are ignored
                name = value
            elif field == "data":
                data.append(value)
            elif line and not (field or colon) and (name or data):  # a blank line ends it
                payload = json.loads("\n".join(data).strip() or "{}")
                name = name or "message"
                self._done = name in FINAL_STATES
                if isinstance(payload, dict):
                    return {**payload, "event": name}
                return {"event": name, "data": payload}
            elif not (name or data):
                size = 0  # comments between events do not add up
        return None
