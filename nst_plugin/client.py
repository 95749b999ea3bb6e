"""Client of the local ``nst serve`` HTTP service, for editor plug-ins.

This one file uses only the Python standard library and runs on Python 3.8+,
so the Krita and GIMP plug-ins carry a verbatim copy of it (their embedded
Pythons have no numpy or Pillow).  It provides:

* :func:`connect` -- find (or start) the service and return a :class:`Client`;
* :class:`Client` -- one method per endpoint of the ``/v1`` protocol, progress
  as server-sent events (:meth:`Client.events`) and :meth:`Client.wait`;
* :func:`encode_png` / :func:`decode_png` -- a pure-Python PNG codec for the
  pixels an editor hands over and the result it gets back;
* :func:`service_file_path` -- where the service writes its discovery file
  (the service imports this same function, so both sides agree).

Every failure a user can meet is a :class:`ServiceError` whose ``str()`` is
one sentence saying what happened and what to do.  The access token never
appears in messages or reprs.

    >>> client = connect(nst_command="/path/to/nst")
    >>> job = client.submit(png_bytes, style_name="starry_night")
    >>> result_png = client.wait(job, on_event=print)
"""

from __future__ import annotations

import http.client
import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time
import uuid
import zlib
from itertools import accumulate
from urllib.parse import quote, urlsplit

__all__ = [
    "Cancelled",
    "Client",
    "EventStream",
    "ServiceError",
    "connect",
    "decode_png",
    "encode_multipart",
    "encode_png",
    "load_host_config",
    "read_service_file",
    "rgba_to_bgra",
    "service_file_path",
    "to_rgba",
]

API = "/v1"
FINAL_EVENTS = ("done", "failed", "cancelled")
HOST_CONFIG = "nst-host.json"

_NOT_RUNNING = (
    "The nst service is not running; start it with `nst serve` in a terminal, "
    "or run `nst install-host <editor>` again so the plug-in can start it itself."
)


class ServiceError(Exception):
    """A failure talking to the nst service, as one sentence for the user.

    ``status`` is the HTTP status code when the service answered with an
    error, else ``None`` (unreachable, timeout, malformed answer, bad PNG).
    """

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.status = status

    def __str__(self) -> str:
        return self.message


class Cancelled(ServiceError):
    """The job was cancelled (or waiting for it was stopped from another thread)."""


# ---------------------------------------------------------------------------
# Discovery file and plug-in configuration
# ---------------------------------------------------------------------------


def service_file_path() -> str:
    """Where the service writes its discovery file (JSON: url, token, pid, version, log).

    ``$NST_SERVICE_FILE`` if set; else ``$XDG_RUNTIME_DIR/nst-plugin/service.json``
    if ``XDG_RUNTIME_DIR`` is set; else ``<cache>/nst-plugin/service.json`` where
    ``<cache>`` is ``$XDG_CACHE_HOME`` if set, else ``%LOCALAPPDATA%`` on Windows,
    ``~/Library/Caches`` on macOS and ``~/.cache`` elsewhere.  No side effects:
    nothing is created.
    """
    env = os.environ
    explicit = env.get("NST_SERVICE_FILE")
    if explicit:
        return os.path.expanduser(explicit)
    runtime = env.get("XDG_RUNTIME_DIR")
    if runtime and os.path.isabs(runtime):
        return os.path.join(runtime, "nst-plugin", "service.json")
    cache = env.get("XDG_CACHE_HOME")
    if not (cache and os.path.isabs(cache)):
        home = os.path.expanduser("~")
        if sys.platform.startswith("win"):
            cache = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        elif sys.platform == "darwin":
            cache = os.path.join(home, "Library", "Caches")
        else:
            cache = os.path.join(home, ".cache")
    return os.path.join(cache, "nst-plugin", "service.json")


def read_service_file(path: str | None = None) -> dict | None:
    """The discovery file's contents, or None when missing, unreadable or invalid.

    Valid means a JSON object with a string ``url``.
    """
    path = path or service_file_path()
    try:
        with open(path, "rb") as fh:
            info = json.loads(fh.read().decode("utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(info, dict) or not isinstance(info.get("url"), str) or not info["url"]:
        return None
    return info


def load_host_config(folder: str) -> dict:
    """Read ``nst-host.json`` from a plug-in folder (written by ``nst install-host``).

    Returns e.g. ``{"nst": "/abs/path/to/nst", "url": None, "token": None}``;
    a missing file gives ``{}``.  A damaged file raises :class:`ServiceError`.
    """
    path = os.path.join(folder, HOST_CONFIG)
    try:
        with open(path, "rb") as fh:
            raw = fh.read()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ServiceError(
            "The plug-in settings file %s cannot be read (%s); run `nst install-host <editor>` again."
            % (path, exc.strerror or exc)
        ) from exc
    try:
        config = json.loads(raw.decode("utf-8"))
    except ValueError as exc:
        raise ServiceError(
            "The plug-in settings file %s is not valid JSON; run `nst install-host <editor>` again." % path
        ) from exc
    if not isinstance(config, dict):
        raise ServiceError(
            "The plug-in settings file %s does not hold a JSON object; run `nst install-host <editor>` again."
            % path
        )
    return config


# ---------------------------------------------------------------------------
# Multipart encoding
# ---------------------------------------------------------------------------


def _sniff_image(data: bytes) -> tuple:
    """(content type, file extension) guessed from an image's first bytes."""
    head = bytes(data[:12])
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png", "png"
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg", "jpg"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    if head[:4] in (b"II*\x00", b"MM\x00*"):
        return "image/tiff", "tif"
    if head[:6] in (b"GIF87a", b"GIF89a"):
        return "image/gif", "gif"
    if head[:2] == b"BM":
        return "image/bmp", "bmp"
    return "application/octet-stream", "bin"


def _quote_param(value: str) -> str:
    # What browsers do for form field names and file names: percent-escape the
    # three characters that would break the quoted header parameter.
    return value.replace("\r", "%0D").replace("\n", "%0A").replace('"', "%22")


def encode_multipart(fields=(), files=()) -> tuple:
    """Encode a multipart/form-data body.

    ``fields``: (name, text) pairs; ``files``: (name, filename, content_type or
    None, bytes) tuples.  Returns ``(body_bytes, content_type_header)``.
    """
    boundary = "nst-" + uuid.uuid4().hex
    dash = ("--" + boundary).encode("ascii")
    parts = []
    for name, value in fields:
        if not isinstance(value, (bytes, bytearray)):
            value = str(value).encode("utf-8")
        parts.append(dash + b"\r\n")
        parts.append(
            ('Content-Disposition: form-data; name="%s"\r\n' % _quote_param(name)).encode("utf-8")
        )
        parts.append(b"Content-Type: text/plain; charset=utf-8\r\n\r\n")
        parts.append(bytes(value))
        parts.append(b"\r\n")
    for name, filename, ctype, data in files:
        if ctype is None:
            ctype = _sniff_image(data)[0]
        parts.append(dash + b"\r\n")
        parts.append(
            (
                'Content-Disposition: form-data; name="%s"; filename="%s"\r\n'
                % (_quote_param(name), _quote_param(filename))
            ).encode("utf-8")
        )
        parts.append(("Content-Type: %s\r\n\r\n" % ctype).encode("ascii"))
        parts.append(bytes(data))
        parts.append(b"\r\n")
    parts.append(dash + b"--\r\n")
    return b"".join(parts), "multipart/form-data; boundary=" + boundary


# ---------------------------------------------------------------------------
# HTTP client
# ---------------------------------------------------------------------------


def _is_timeout(exc: BaseException) -> bool:
    return isinstance(exc, (socket.timeout, TimeoutError))


class Client:
    """Talks to one nst service at ``url`` with its bearer ``token``.

    ``timeout`` (seconds) applies to connecting and to each read of ordinary
    calls; progress streams wait for ``stream_timeout`` (at least 60 s) between
    lines, the service sending keep-alive comments more often than that.
    Methods raise :class:`ServiceError`.  Thread-safe: each call opens its own
    connection.
    """

    def __init__(self, url: str, token: str | None, timeout: float = 30.0):
        url = (url or "").strip()
        if "://" not in url:
            url = "http://" + url
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ServiceError(
                "The service address %r is not an http:// address; enter it like "
                "http://127.0.0.1:5000 in the plug-in's settings." % _redact_url(url)
            )
        try:
            port = parts.port
        except ValueError:
            raise ServiceError(
                "The service address %r has an invalid port; enter it like "
                "http://127.0.0.1:5000 in the plug-in's settings." % _redact_url(url)
            ) from None
        self.scheme = parts.scheme
        self.host = parts.hostname
        self.port = port
        self.base_path = parts.path.rstrip("/")
        netloc = ("[%s]" % self.host) if ":" in self.host else self.host
        if port is not None:
            netloc += ":%d" % port
        #: The service address without credentials, safe to show.
        self.url = "%s://%s%s" % (self.scheme, netloc, self.base_path)
        self._token = token or None
        self.timeout = float(timeout)
        self.stream_timeout = max(self.timeout, 60.0)
        self._streams_lock = threading.Lock()
        self._streams = set()
        self._abort_count = 0

    def __repr__(self) -> str:
        return "Client(%r)" % self.url

    # -- plumbing ----------------------------------------------------------

    def _connection(self, timeout: float):
        if self.scheme == "https":
            import ssl  # lazily: some embedded Pythons lack it, and http:// needs none

            return http.client.HTTPSConnection(
                self.host, self.port, timeout=timeout, context=ssl.create_default_context()
            )
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def _headers(self, auth: bool, extra=None) -> dict:
        headers = {"Accept": "application/json", "User-Agent": "nst-plugin-client"}
        if auth and self._token:
            headers["Authorization"] = "Bearer " + self._token
        if extra:
            headers.update(extra)
        return headers

    def _network_error(self, exc: BaseException, timeout: float) -> ServiceError:
        where = "The nst service at %s" % self.url
        if isinstance(exc, ConnectionRefusedError):
            msg = (
                "%s cannot be reached (connection refused); start it with `nst serve` "
                "or check the address in the plug-in's settings." % where
            )
        elif _is_timeout(exc):
            msg = (
                "%s did not answer within %g s; check that it is running and not overloaded, "
                "or restart it with `nst serve`." % (where, timeout)
            )
        elif isinstance(exc, socket.gaierror):
            msg = (
                "%s cannot be reached (unknown host name %r); check the address in the "
                "plug-in's settings." % (where, self.host)
            )
        elif isinstance(exc, (ConnectionError, http.client.RemoteDisconnected, http.client.IncompleteRead)):
            msg = (
                "%s closed the connection unexpectedly; check its log, or restart it with "
                "`nst serve`." % where
            )
        elif isinstance(exc, http.client.HTTPException):
            msg = (
                "%s sent a malformed HTTP answer (%s); check that the address in the "
                "plug-in's settings points to an nst service." % (where, type(exc).__name__)
            )
        elif type(exc).__name__.startswith("SSL"):
            msg = (
                "%s cannot be reached over https (%s); check the address in the plug-in's "
                "settings." % (where, getattr(exc, "reason", None) or exc)
            )
        else:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            msg = (
                "%s cannot be reached (%s); start it with `nst serve` or check the address "
                "in the plug-in's settings." % (where, reason)
            )
        return ServiceError(msg)

    def _http_error(self, status: int, reason: str, body: bytes, method: str, path: str) -> ServiceError:
        text = None
        try:
            payload = json.loads(body.decode("utf-8"))
            if isinstance(payload, dict) and isinstance(payload.get("error"), str):
                text = payload["error"].strip()
        except ValueError:
            pass
        if text and status < 500:
            msg = text if text[-1] in ".!?" else text + "."
        elif text:
            msg = "The nst service at %s failed (HTTP %d): %s%s" % (
                self.url,
                status,
                text.rstrip("."),
                "" if text.rstrip(".")[-1:] in "!?" else ".",
            )
        elif status in (401, 403):
            msg = (
                "The nst service at %s refused the access token (HTTP %d); restart the plug-in, "
                "or copy the token again into the plug-in's settings." % (self.url, status)
            )
        elif status < 500:
            msg = (
                "The nst service at %s answered HTTP %d %s to %s %s; check that the address "
                "points to an nst service of the same version as the plug-in."
                % (self.url, status, reason, method, path)
            )
        else:
            msg = (
                "The nst service at %s failed with HTTP %d %s; see its log for details."
                % (self.url, status, reason)
            )
        return ServiceError(msg, status=status)

    def _request(self, method: str, path: str, body: bytes | None = None, *, content_type=None,
                 auth: bool = True, timeout: float | None = None) -> tuple:
        """Send one request; returns (status, content_type, body bytes) for 2xx."""
        timeout = self.timeout if timeout is None else timeout
        full = self.base_path + API + path
        extra = {}
        if content_type:
            extra["Content-Type"] = content_type
        conn = self._connection(timeout)
        try:
            conn.request(method, full, body=body, headers=self._headers(auth, extra))
            resp = conn.getresponse()
            data = resp.read()
            status, reason = resp.status, resp.reason
            ctype = resp.getheader("Content-Type", "")
        except (OSError, http.client.HTTPException) as exc:
            raise self._network_error(exc, timeout) from exc
        finally:
            conn.close()
        if status >= 400 or status < 200:
            raise self._http_error(status, reason, data, method, API + path)
        return status, ctype, data

    def _json(self, method: str, path: str, body: bytes | None = None, **kw) -> dict:
        _, _, data = self._request(method, path, body, **kw)
        try:
            payload = json.loads(data.decode("utf-8"))
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise ServiceError(
                "The nst service at %s sent an answer to %s %s that is not a JSON object; check "
                "that the address points to an nst service." % (self.url, method, API + path)
            )
        return payload

    @staticmethod
    def _job_path(job_id: str, tail: str = "") -> str:
        return "/jobs/" + quote(str(job_id), safe="") + tail

    # -- endpoints ---------------------------------------------------------

    def health(self, timeout: float | None = None) -> dict:
        """``GET /v1/health`` (no token): ``{"ok": true, "version": ...}``."""
        return self._json("GET", "/health", auth=False, timeout=timeout)

    def engines(self) -> dict:
        """``GET /v1/engines``: ``{"default": name, "engines": [{name, description, options}]}``."""
        return self._json("GET", "/engines")

    def styles(self) -> list:
        """``GET /v1/styles``: list of ``{"name", "source", "thumbnail" (base64 PNG)}``."""
        styles = self._json("GET", "/styles").get("styles")
        return styles if isinstance(styles, list) else []

    def add_style(self, name: str, image_bytes: bytes, filename: str = "style.png") -> str:
        """Upload a style image under ``name`` (``POST /v1/styles``); returns the stored name."""
        body, ctype = encode_multipart([("name", name)], [("image", filename, None, image_bytes)])
        answer = self._json("POST", "/styles", body, content_type=ctype)
        return str(answer.get("name", name))

    def submit(self, content: bytes, *, styles=None, style_name: str | None = None, mask: bytes | None = None,
               options: dict | None = None, cancel_on_disconnect: bool = False) -> str:
        """Start a job (``POST /v1/jobs``) and return its id.

        ``content``: image bytes (PNG or JPEG); exactly one of ``styles`` (list of
        image bytes) or ``style_name`` (a name from :meth:`styles`); ``mask``: an
        8-bit grey PNG; ``options``: engine options (may include ``"engine"``).
        With ``cancel_on_disconnect`` the service cancels the job when the
        progress stream of :meth:`events` / :meth:`wait` is dropped.
        """
        if isinstance(styles, (bytes, bytearray, memoryview)):
            styles = [styles]
        styles = list(styles or [])
        if bool(styles) == bool(style_name):
            raise ValueError("submit() takes either styles (image bytes) or style_name, not both or neither")
        fields = []
        files = [("content", "content." + _sniff_image(content)[1], None, content)]
        for i, style in enumerate(styles):
            files.append(("style", "style%d.%s" % (i, _sniff_image(style)[1]), None, style))
        if style_name:
            fields.append(("style_name", style_name))
        if mask is not None:
            files.append(("mask", "mask.png", "image/png", mask))
        if options:
            fields.append(("options", json.dumps(options)))
        fields.append(("cancel_on_disconnect", "true" if cancel_on_disconnect else "false"))
        body, ctype = encode_multipart(fields, files)
        answer = self._json("POST", "/jobs", body, content_type=ctype)
        job_id = answer.get("id")
        if not isinstance(job_id, str) or not job_id:
            raise ServiceError(
                "The nst service at %s accepted the job but sent no job id; check that it is "
                "the same version as the plug-in." % self.url
            )
        return job_id

    def status(self, job_id: str) -> dict:
        """``GET /v1/jobs/{id}``: id, state, stage, step, total, loss, eta, error."""
        return self._json("GET", self._job_path(job_id))

    def result(self, job_id: str) -> bytes:
        """The finished job's PNG bytes (``GET /v1/jobs/{id}/result``)."""
        _, _, data = self._request("GET", self._job_path(job_id, "/result"))
        return data

    def cancel(self, job_id: str) -> dict:
        """Cancel a queued/running job, or forget a finished one (``DELETE /v1/jobs/{id}``)."""
        return self._json("DELETE", self._job_path(job_id))

    def events(self, job_id: str) -> "EventStream":
        """Open the job's progress stream: an iterator of ``{"event": name, **data}``.

        Names are ``"progress"`` (stage, step, total, loss, eta, maybe
        ``preview`` as base64 PNG) and a final ``"done"``, ``"failed"`` or
        ``"cancelled"``, after which iteration stops.  Call ``.close()`` on the
        returned stream (or :meth:`close_streams`) from any thread to end a
        blocked read promptly; the iteration then just stops.
        """
        return EventStream(self, job_id)

    def close_streams(self) -> None:
        """Close every open progress stream of this client, from any thread.

        A :meth:`wait` in progress raises :class:`Cancelled` (the job itself
        keeps running unless :meth:`cancel` is called or it was submitted with
        ``cancel_on_disconnect``).
        """
        with self._streams_lock:
            self._abort_count += 1
            streams = list(self._streams)
        for stream in streams:
            stream.close()

    def wait(self, job_id: str, on_event=None) -> bytes:
        """Follow the job's events until it ends; return the result PNG bytes.

        ``on_event(event_dict)`` is called for every event.  A failed job raises
        :class:`ServiceError` with the service's sentence; a cancelled job (or
        :meth:`close_streams` from another thread) raises :class:`Cancelled`.
        """
        with self._streams_lock:
            aborts = self._abort_count
        reconnects = 0
        while True:
            final = None
            stream = self.events(job_id)
            try:
                for event in stream:
                    if on_event is not None:
                        on_event(event)
                    if event.get("event") in FINAL_EVENTS:
                        final = event
                        break
            finally:
                stream.close()
            with self._streams_lock:
                aborted = self._abort_count != aborts
            if final is None and (aborted or stream.closed_locally):
                raise Cancelled(
                    "Waiting for job %s was stopped; the job goes on in the service unless it is cancelled."
                    % job_id
                )
            if final is None:
                # The stream ended without a final event: ask for the state.
                state = self.status(job_id)
                if state.get("state") in FINAL_EVENTS:
                    final = dict(state)
                    final["event"] = state["state"]
                else:
                    reconnects += 1
                    if reconnects > 5:
                        raise ServiceError(
                            "The progress stream of job %s kept closing before the job ended; check "
                            "the service log, or restart it with `nst serve`." % job_id
                        )
                    time.sleep(0.2 * reconnects)
                    continue
            name = final.get("event")
            if name == "done":
                return self.result(job_id)
            error = final.get("error")
            if name == "cancelled":
                raise Cancelled(_sentence(error) if error else "Job %s was cancelled." % job_id)
            raise ServiceError(
                _sentence(error)
                if error
                else "Job %s failed without saying why; see the nst service log." % job_id
            )


def _sentence(text) -> str:
    text = str(text).strip()
    return text if text[-1:] in (".", "!", "?") else text + "."


def _redact_url(url: str) -> str:
    # Drop any user:password@ part before showing an address.
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid address>"
    netloc = parts.netloc.rpartition("@")[2]
    return "%s://%s%s" % (parts.scheme, netloc, parts.path)


class EventStream:
    """Iterator over one job's server-sent events; ``close()`` works from any thread.

    Yields ``{"event": name, **data}`` dicts; stops after a final event
    (``done``/``failed``/``cancelled``), when the service closes the stream, or
    after :meth:`close`.  Also a context manager.
    """

    def __init__(self, client: Client, job_id: str):
        self.client = client
        self.job_id = job_id
        self.closed_locally = False
        self._lock = threading.Lock()
        self._closed = False
        self._reading = False
        self._done = False
        self._resp = None
        timeout = client.stream_timeout
        self._timeout = timeout
        conn = client._connection(timeout)
        path = client.base_path + API + client._job_path(job_id, "/events")
        try:
            conn.connect()
            # Keep the socket itself: http.client drops conn.sock once a
            # close-delimited response is handed over, but shutdown() on this
            # socket is what wakes a read blocked in another thread.
            self._sock = conn.sock
            headers = client._headers(True, {"Accept": "text/event-stream", "Cache-Control": "no-cache"})
            conn.request("GET", path, headers=headers)
            resp = conn.getresponse()
            if resp.status != 200:
                body = resp.read()
                raise client._http_error(resp.status, resp.reason, body, "GET", path[len(client.base_path):])
        except (OSError, http.client.HTTPException) as exc:
            conn.close()
            raise client._network_error(exc, timeout) from exc
        except BaseException:
            conn.close()
            raise
        self._conn = conn
        self._resp = resp
        with client._streams_lock:
            client._streams.add(self)

    def __iter__(self) -> "EventStream":
        return self

    def __enter__(self) -> "EventStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        """End the stream; a read blocked in another thread returns promptly."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self.closed_locally = not self._done
            reading = self._reading
        try:
            self._sock.shutdown(socket.SHUT_RDWR)
        except (OSError, AttributeError, ValueError):
            pass
        if not reading:
            self._cleanup()

    def _cleanup(self) -> None:
        with self.client._streams_lock:
            self.client._streams.discard(self)
        for closer in (getattr(self._resp, "close", None), self._conn.close, self._sock.close):
            try:
                closer()
            except Exception:  # noqa: BLE001 - best effort on an already broken socket
                pass

    def _readline(self):
        with self._lock:
            if self._closed:
                return None
            self._reading = True
        error = None
        line = b""
        try:
            line = self._resp.readline()
        except Exception as exc:  # noqa: BLE001 - any failure while closing is an end of stream
            error = exc
        with self._lock:
            self._reading = False
            closed = self._closed
        if closed:
            self._cleanup()
            return None
        if error is not None:
            self.close()
            if isinstance(error, (OSError, http.client.HTTPException)):
                raise self.client._network_error(error, self._timeout) from error
            raise error
        return line

    def __next__(self) -> dict:
        if self._done:
            self.close()
            raise StopIteration
        name = ""
        data = []
        while True:
            line = self._readline()
            if line is None:  # closed with close(), from this thread or another
                raise StopIteration
            if not line:  # the service ended the stream
                self._done = True  # not a local close
                self.close()
                raise StopIteration
            text = line.decode("utf-8", "replace").rstrip("\r\n")
            if not text:
                if not data and not name:
                    continue
                return self._dispatch(name or "message", "\n".join(data))
            if text.startswith(":"):
                continue  # keep-alive comment
            field, _, value = text.partition(":")
            if value.startswith(" "):
                value = value[1:]
            if field == "event":
                name = value
            elif field == "data":
                data.append(value)

    def _dispatch(self, name: str, raw: str) -> dict:
        try:
            payload = json.loads(raw) if raw.strip() else {}
        except ValueError:
            self.close()
            raise ServiceError(
                "The nst service at %s sent a progress event for job %s that is not valid JSON; "
                "check that it is the same version as the plug-in." % (self.client.url, self.job_id)
            ) from None
        event = {"event": name}
        if isinstance(payload, dict):
            event.update(payload)
        else:
            event["data"] = payload
        event["event"] = name
        if name in FINAL_EVENTS:
            self._done = True
        return event


# ---------------------------------------------------------------------------
# Finding or starting the service
# ---------------------------------------------------------------------------

_STARTED = []  # Popen objects of services we started (kept so they are not reaped noisily)


def _answers(info: dict, timeout: float = 2.0) -> Client | None:
    try:
        client = Client(info["url"], info.get("token"))
        health = client.health(timeout=timeout)
    except ServiceError:
        return None
    return client if health.get("ok", True) else None


def _pid_alive(pid) -> bool | None:
    """True/False on POSIX; None where it cannot be told safely (Windows)."""
    if not isinstance(pid, int) or pid <= 0:
        return None
    if sys.platform.startswith("win"):
        return None  # os.kill(pid, 0) would terminate the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True  # e.g. EPERM: exists, owned by someone else
    return True


def _forget_stale(path: str, info: dict) -> None:
    """Remove a discovery file whose service is gone (never if its pid still lives)."""
    if _pid_alive(info.get("pid")) is not False:
        return
    if read_service_file(path) != info:  # rewritten meanwhile by a new service
        return
    try:
        os.remove(path)
    except OSError:
        pass


def _child_env(service_file: str | None) -> dict:
    env = dict(os.environ)
    # An editor's embedded Python sets these for itself; they would break the
    # nst executable's own interpreter.
    for key in ("PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE"):
        env.pop(key, None)
    if service_file:
        env["NST_SERVICE_FILE"] = service_file
    return env


def _start_service(argv: list, service_file: str | None):
    kwargs = {
        "stdin": subprocess.DEVNULL,
        "stdout": subprocess.DEVNULL,
        "stderr": subprocess.DEVNULL,
        "env": _child_env(service_file),
        "close_fds": True,
    }
    if sys.platform.startswith("win"):
        kwargs["creationflags"] = getattr(subprocess, "DETACHED_PROCESS", 0x00000008) | getattr(
            subprocess, "CREATE_NEW_PROCESS_GROUP", 0x00000200
        )
    else:
        kwargs["start_new_session"] = True
    try:
        child = subprocess.Popen(argv, **kwargs)
    except OSError as exc:
        raise ServiceError(
            "The nst command %s cannot be started (%s); run `nst install-host <editor>` again, "
            "or start the service yourself with `nst serve`." % (argv[0], exc.strerror or exc)
        ) from exc
    _STARTED.append(child)
    return child


def connect(*, url: str | None = None, token: str | None = None, service_file: str | None = None,
            nst_command=None, start: bool = True, wait: float = 60.0) -> Client:
    """Return a :class:`Client` for a running service, starting one if needed.

    * ``url`` (and ``token``) given -- a service entered in the editor's
      settings, perhaps remote: it must answer ``/v1/health``.
    * else the discovery file (``service_file`` or :func:`service_file_path`)
      names the local service; a file whose service does not answer is stale
      and treated as absent (and removed if its process is gone).
    * else, with ``start`` and ``nst_command`` (path of the ``nst`` executable,
      or an argv prefix list), run ``nst serve`` detached and poll the discovery
      file and health for up to ``wait`` seconds.

    Raises :class:`ServiceError` when no service can be reached.
    """
    if url:
        client = Client(url, token)
        client.health()  # raises a ServiceError naming the address
        return client

    path = service_file or service_file_path()
    stale = read_service_file(path)
    if stale is not None:
        client = _answers(stale)
        if client is not None:
            return client
        _forget_stale(path, stale)

    if not (start and nst_command):
        raise ServiceError(_NOT_RUNNING)

    if isinstance(nst_command, (str, bytes, os.PathLike)):
        argv = [os.fspath(nst_command)]
    else:
        argv = [os.fspath(part) for part in nst_command]
    child = _start_service(argv + ["serve"], service_file)
    deadline = time.monotonic() + max(0.0, float(wait))
    info = None
    while True:
        info = read_service_file(path) or info
        code = child.poll()
        # A child that exited with 0 may have found a service started meanwhile.
        if info is not None and (info != stale or code == 0):
            client = _answers(info, timeout=1.0)
            if client is not None:
                return client
        if code is not None and code != 0:
            log = (info or stale or {}).get("log")
            how = ("was killed by signal %d" % -code) if code < 0 else ("exited with code %d" % code)
            where = ("see its log %s" % log) if log else "run `nst serve` in a terminal to see why"
            raise ServiceError("The nst service %s right after starting; %s." % (how, where))
        if time.monotonic() >= deadline:
            break
        time.sleep(0.1)
    # The stale file may still name a service that came back meanwhile.
    if info is not None:
        client = _answers(info, timeout=1.0)
        if client is not None:
            return client
    log = (info or stale or {}).get("log")
    where = ("see its log %s" % log) if log else "run `nst serve` in a terminal to see why"
    if child.poll() is None:
        raise ServiceError(
            "The nst service was started but did not answer within %g s; %s." % (wait, where)
        )
    raise ServiceError(_NOT_RUNNING)


# ---------------------------------------------------------------------------
# Pure-Python PNG
# ---------------------------------------------------------------------------

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_MODE_CHANNELS = {"L": 1, "LA": 2, "RGB": 3, "RGBA": 4, "BGRA": 4}
_MODE_COLOR_TYPE = {"L": 0, "LA": 4, "RGB": 2, "RGBA": 6}
_COLOR_TYPE_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}
_COLOR_TYPE_MODE = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}
_COLOR_TYPE_DEPTHS = {0: (1, 2, 4, 8, 16), 2: (8, 16), 3: (1, 2, 4, 8), 4: (8, 16), 6: (8, 16)}
_AND255 = (255).__and__
_MASKS = {}


def _masks(n: int) -> tuple:
    """Big-int masks with 0x7f / 0x80 in each of n bytes (cached; rows repeat sizes)."""
    masks = _MASKS.get(n)
    if masks is None:
        masks = (int.from_bytes(b"\x7f" * n, "big"), int.from_bytes(b"\x80" * n, "big"))
        if len(_MASKS) > 64:
            _MASKS.clear()
        _MASKS[n] = masks
    return masks


def _bytewise_add(x: bytes, y: bytes) -> bytes:
    """(x[i] + y[i]) & 255 for every byte, via carry-free big-int arithmetic."""
    n = len(x)
    low, high = _masks(n)
    a = int.from_bytes(x, "big")
    b = int.from_bytes(y, "big")
    return (((a & low) + (b & low)) ^ ((a ^ b) & high)).to_bytes(n, "big")


def _bytewise_sub(x: bytes, y: bytes) -> bytes:
    """(x[i] - y[i]) & 255 for every byte, via borrow-free big-int arithmetic."""
    n = len(x)
    low, high = _masks(n)
    a = int.from_bytes(x, "big")
    b = int.from_bytes(y, "big")
    return (((a | high) - (b & low)) ^ ((a ^ ~b) & high)).to_bytes(n, "big")


def _bad_png(reason: str) -> ServiceError:
    return ServiceError("The image is not a PNG this plug-in can read (%s)." % reason)


def to_rgba(mode: str, pixels: bytes) -> bytes:
    """Convert 8-bit ``L``, ``LA``, ``RGB``, ``RGBA`` or ``BGRA`` pixels to RGBA."""
    if mode == "RGBA":
        return bytes(pixels)
    channels = _MODE_CHANNELS.get(mode)
    if channels is None:
        raise ValueError("unknown pixel mode %r" % mode)
    count = len(pixels) // channels
    out = bytearray(count * 4)
    if mode == "BGRA":
        out[0::4] = pixels[2::4]
        out[1::4] = pixels[1::4]
        out[2::4] = pixels[0::4]
        out[3::4] = pixels[3::4]
        return bytes(out)
    if mode in ("L", "LA"):
        grey = pixels[0::channels]
        out[0::4] = grey
        out[1::4] = grey
        out[2::4] = grey
    else:
        out[0::4] = pixels[0::3]
        out[1::4] = pixels[1::3]
        out[2::4] = pixels[2::3]
    out[3::4] = pixels[1::2] if mode == "LA" else b"\xff" * count
    return bytes(out)


def rgba_to_bgra(pixels: bytes) -> bytes:
    """Swap red and blue of RGBA pixels (Krita's 8-bit order is BGRA); also BGRA to RGBA."""
    out = bytearray(pixels)
    out[0::4] = pixels[2::4]
    out[2::4] = pixels[0::4]
    return bytes(out)


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)


def encode_png(width: int, height: int, data: bytes, mode: str = "RGBA") -> bytes:
    """Encode 8-bit pixels as a PNG (``mode``: RGBA, BGRA, RGB, L or LA).

    Rows use the Up filter (computed for many rows at once with big-int
    arithmetic) and zlib level 6: fast in pure Python, and far smaller than
    unfiltered rows for photographs.  BGRA input is written as RGBA.
    """
    channels = _MODE_CHANNELS.get(mode)
    if channels is None:
        raise ValueError("encode_png: mode must be one of RGBA, BGRA, RGB, L, LA, not %r" % (mode,))
    width, height = int(width), int(height)
    if width <= 0 or height <= 0:
        raise ValueError("encode_png: width and height must be positive")
    stride = width * channels
    if len(data) != stride * height:
        raise ValueError(
            "encode_png: %d bytes given, %dx%d %s needs %d" % (len(data), width, height, mode, stride * height)
        )
    if mode == "BGRA":
        data = rgba_to_bgra(data)
        mode = "RGBA"
    else:
        data = bytes(data)
    ihdr = struct.pack(">IIBBBBB", width, height, 8, _MODE_COLOR_TYPE[mode], 0, 0, 0)
    compressor = zlib.compressobj(6)
    compressed = []
    rows_per_block = max(1, (1 << 18) // stride)
    previous = bytes(stride)
    line = stride + 1
    for first in range(0, height, rows_per_block):
        last = min(height, first + rows_per_block)
        block = data[first * stride:last * stride]
        above = previous + data[first * stride:(last - 1) * stride]
        filtered = _bytewise_sub(block, above)
        raw = bytearray(line * (last - first))
        raw[0::line] = b"\x02" * (last - first)
        for i in range(last - first):
            raw[i * line + 1:(i + 1) * line] = filtered[i * stride:(i + 1) * stride]
        compressed.append(compressor.compress(bytes(raw)))
        previous = block[-stride:]
    compressed.append(compressor.flush())
    idat = b"".join(compressed)
    chunks = [_PNG_SIGNATURE, _chunk(b"IHDR", ihdr)]
    step = 1 << 20
    for start in range(0, max(len(idat), 1), step):
        chunks.append(_chunk(b"IDAT", idat[start:start + step]))
    chunks.append(_chunk(b"IEND", b""))
    return b"".join(chunks)


def _unfilter_sub(line: bytes, bpp: int) -> bytes:
    if bpp == 1:
        return bytes(map(_AND255, accumulate(line)))
    out = bytearray(len(line))
    for c in range(bpp):
        out[c::bpp] = bytes(map(_AND255, accumulate(line[c::bpp])))
    return bytes(out)


def _unfilter_average(line: bytes, prior: bytes, bpp: int) -> bytes:
    out = bytearray(len(line))
    for c in range(bpp):
        lane = []
        append = lane.append
        a = 0
        for x, b in zip(line[c::bpp], prior[c::bpp]):
            a = (x + ((a + b) >> 1)) & 255
            append(a)
        out[c::bpp] = bytes(lane)
    return bytes(out)


def _unfilter_paeth(line: bytes, prior: bytes, bpp: int) -> bytes:
    out = bytearray(len(line))
    for c in range(bpp):
        lane = []
        append = lane.append
        a = 0  # reconstructed byte to the left
        ul = 0  # prior byte to the upper left
        for x, b in zip(line[c::bpp], prior[c::bpp]):
            # p = a + b - ul; distances |p-a| = |b-ul|, |p-b| = |a-ul|, |p-ul| = |a+b-2ul|
            pa = b - ul
            pb = a - ul
            pc = pa + pb
            if pa < 0:
                pa = -pa
            if pb < 0:
                pb = -pb
            if pc < 0:
                pc = -pc
            if pa <= pb and pa <= pc:
                a = (x + a) & 255
            elif pb <= pc:
                a = (x + b) & 255
            else:
                a = (x + ul) & 255
            append(a)
            ul = b
        out[c::bpp] = bytes(lane)
    return bytes(out)


def _unpack_table(depth: int) -> list:
    """For 1/2/4-bit rows: byte value -> bytes of the samples it packs (MSB first)."""
    per = 8 // depth
    mask = (1 << depth) - 1
    return [bytes((v >> (8 - depth * (i + 1))) & mask for i in range(per)) for v in range(256)]


def decode_png(data: bytes) -> tuple:
    """Decode a PNG into ``(width, height, mode, pixels)`` with 8-bit samples.

    Reads non-interlaced PNGs of colour types 0 (``L``), 2 (``RGB``), 4
    (``LA``), 6 (``RGBA``) at 8 or 16 bits (16-bit keeps the high byte), 1/2/4
    bit grey (scaled to 0-255), and palette images (``RGB``, or ``RGBA`` when a
    tRNS chunk is present).  A tRNS chunk of grey or RGB images is ignored, as
    Pillow does for pixel data.  Anything else raises :class:`ServiceError`.
    """
    data = bytes(data)
    if data[:8] != _PNG_SIGNATURE:
        raise _bad_png("it does not start with the PNG signature")
    pos = 8
    size = len(data)
    header = palette = transparency = None
    idat = []
    ended = False
    while pos < size:
        if pos + 8 > size:
            raise _bad_png("the file is truncated")
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        name = kind.decode("latin-1")
        end = pos + 8 + length
        if length > 0x7FFFFFFF or end + 4 > size:
            raise _bad_png("the file is truncated")
        body = data[pos + 8:end]
        (crc,) = struct.unpack(">I", data[end:end + 4])
        if zlib.crc32(kind + body) & 0xFFFFFFFF != crc:
            raise _bad_png("its %s chunk fails the CRC check, so the file is damaged" % name)
        pos = end + 4
        if header is None and kind != b"IHDR":
            raise _bad_png("it does not begin with an IHDR chunk")
        if kind == b"IHDR":
            if len(body) != 13:
                raise _bad_png("its IHDR chunk has the wrong size")
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat.append(body)
        elif kind == b"PLTE":
            palette = body
        elif kind == b"tRNS":
            transparency = body
        elif kind == b"IEND":
            ended = True
            break
        elif not (kind[0] & 0x20):
            raise _bad_png("it has an unknown critical chunk %r" % name)
    if not ended:
        raise _bad_png("the file is truncated")
    width, height, depth, color, compression, filtering, interlace = header
    if width == 0 or height == 0:
        raise _bad_png("it is empty")
    if color not in _COLOR_TYPE_CHANNELS or depth not in _COLOR_TYPE_DEPTHS[color]:
        raise _bad_png("colour type %d at %d bits is not supported" % (color, depth))
    if compression != 0 or filtering != 0:
        raise _bad_png("it uses an unknown compression or filter method")
    if interlace != 0:
        raise _bad_png("it is interlaced; save it without interlacing")
    channels = _COLOR_TYPE_CHANNELS[color]
    bits = channels * depth
    stride = (width * bits + 7) // 8
    bpp = max(1, bits // 8)
    line = stride + 1
    expected = line * height
    decompressor = zlib.decompressobj()
    try:
        raw = decompressor.decompress(b"".join(idat), expected)
    except zlib.error:
        raise _bad_png("its image data cannot be decompressed") from None
    if len(raw) < expected:
        raise _bad_png("its image data is truncated")

    rows = bytearray(stride * height)
    prior = bytes(stride)
    for y in range(height):
        start = y * line
        kind = raw[start]
        cur = raw[start + 1:start + line]
        if kind == 0:
            pass
        elif kind == 2:
            cur = _bytewise_add(cur, prior)
        elif kind == 1:
            cur = _unfilter_sub(cur, bpp)
        elif kind == 4:
            cur = _unfilter_paeth(cur, prior, bpp)
        elif kind == 3:
            cur = _unfilter_average(cur, prior, bpp)
        else:
            raise _bad_png("row %d uses unknown filter type %d" % (y, kind))
        rows[y * stride:(y + 1) * stride] = cur
        prior = cur

    if depth == 16:
        samples = bytes(rows[0::2])
    elif depth == 8:
        samples = bytes(rows)
    else:
        table = _unpack_table(depth)
        samples = b"".join(
            b"".join(map(table.__getitem__, rows[y * stride:(y + 1) * stride]))[:width] for y in range(height)
        )
        if color == 0:
            top = (1 << depth) - 1
            scale = bytes((v * 255 // top) if v <= top else 0 for v in range(256))
            samples = samples.translate(scale)

    if color != 3:
        return width, height, _COLOR_TYPE_MODE[color], samples

    if not palette or len(palette) % 3:
        raise _bad_png("its palette is missing or damaged")
    entries = palette[:768] + bytes(768 - min(len(palette), 768))
    alpha = None
    if transparency is not None:
        alpha = transparency[:256] + b"\xff" * (256 - min(len(transparency), 256))
    out_channels = 4 if alpha is not None else 3
    out = bytearray(len(samples) * out_channels)
    out[0::out_channels] = samples.translate(entries[0::3])
    out[1::out_channels] = samples.translate(entries[1::3])
    out[2::out_channels] = samples.translate(entries[2::3])
    if alpha is not None:
        out[3::out_channels] = samples.translate(alpha)
        return width, height, "RGBA", bytes(out)
    return width, height, "RGB", bytes(out)
