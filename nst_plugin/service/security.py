"""The checks every request passes before it reaches a route, and the API's error answers.

The service listens on loopback, where every local program and every web page in a browser
can reach it. `RequestChecks` (pure ASGI, outside the routes) therefore refuses, in this order:

* a Host header that is not the service's own address (400): DNS rebinding;
* any request with an Origin header (403): browsers send one from web pages;
* a missing or wrong `Authorization: Bearer <token>` (401), except for /v1/health; after
  `Throttle.limit` wrong tokens from one address within a minute, 429 until the minute has
  passed (the right token is still served: on loopback every local program shares one
  address);
* a body over the limit (413): at once for a Content-Length over it, and while reading for
  chunked bodies, which are cut at the limit.

Errors are JSON `{"error": "One sentence."}`; an unexpected exception is logged with its
traceback and answered with a one-sentence 500, never a traceback.
"""

from __future__ import annotations

import hmac
import json
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import Awaitable, Callable
from typing import Any

from ..errors import quote

log = logging.getLogger("nst_plugin.service")

PUBLIC_PATHS = frozenset({"/v1/health"})

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class ApiError(Exception):
    """An answer with an HTTP error status and one sentence."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class BodyTooLarge(Exception):
    """The request body went over the limit while it was read."""


def sentence(text: str) -> str:
    """`text` on one line, starting with a capital and ending with a full stop."""
    text = " ".join(str(text).split()) or "The request failed"
    text = text[0].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."


def error_json(message: str) -> bytes:
    return json.dumps({"error": sentence(message)}).encode("utf-8")


def too_large(limit: int) -> str:
    return (
        f"the request body is over the service's limit of {limit // (1024 * 1024)} MB; "
        "send a smaller image or start the service with a larger --max-body-mb"
    )


async def send_error(
    send: Send,
    status: int,
    message: str,
    *,
    close: bool = False,
    headers: tuple[tuple[bytes, bytes], ...] = (),
) -> None:
    """Send a complete JSON error answer (Connection: close when `close`)."""
    body = error_json(message)
    head = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
        *headers,
    ]
    if close:
        head.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": head})
    await send({"type": "http.response.body", "body": body})


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of a request header (names are lower case in ASGI)."""
    for key, value in scope.get("headers") or ():
        if key == name:
            return value
    return None


def token_matches(scope: Scope, token: str) -> bool:
    """Whether the request carries `Authorization: Bearer <token>` (constant-time compare)."""
    given = header(scope, b"authorization") or b""
    scheme, _, value = given.partition(b" ")
    if scheme.lower() != b"bearer":
        return False
    return hmac.compare_digest(value.strip(), token.encode("utf-8"))


class Throttle:
    """Wrong tokens per client address: more than `limit` within `window` seconds are
    answered 429 until the window has passed. Remembers at most `addresses` addresses."""

    def __init__(self, limit: int = 10, window: float = 60.0, addresses: int = 1024) -> None:
        self.limit, self.window, self.addresses = limit, window, addresses
        self._failures: OrderedDict[str, deque[float]] = OrderedDict()

    def _recent(self, address: str, now: float) -> deque[float] | None:
        times = self._failures.get(address)
        while times and now - times[0] > self.window:
            times.popleft()
        return times

    def wait(self, address: str, now: float | None = None) -> float:
        """Seconds until `address` may try a token again (0: now)."""
        now = time.monotonic() if now is None else now
        times = self._recent(address, now)
        if not times or len(times) < self.limit:
            return 0.0
        return max(0.0, self.window - (now - times[0]))

    def failed(self, address: str, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        times = self._recent(address, now)
        if times is None:
            times = self._failures[address] = deque(maxlen=self.limit)
            while len(self._failures) > self.addresses:
                self._failures.popitem(last=False)
        self._failures.move_to_end(address)
        times.append(now)


WRONG_TOKEN = (
    "the access token is missing or wrong; restart the plug-in so it reads "
    "the current token, or copy it again into the plug-in's settings"
)


def refusal(
    scope: Scope, token: str, allowed_hosts: frozenset[str] | None, max_body: int
) -> tuple[int, str] | None:
    """(status, sentence) when the request must be refused before any route sees it."""
    host = (header(scope, b"host") or b"").decode("latin-1").strip().lower()
    if allowed_hosts is not None and host not in allowed_hosts:
        shown = quote(host) if host else "(none)"
        return 400, (
            f"the Host header {shown} is not this service's address; "
            "connect to the address in the discovery file"
        )
    if header(scope, b"origin") is not None:
        return 403, "requests from web pages are refused; the service is for editor plug-ins"
    if scope.get("path") not in PUBLIC_PATHS and not token_matches(scope, token):
        return 401, WRONG_TOKEN
    length = header(scope, b"content-length")
    if length is not None and length.strip().isdigit() and int(length) > max_body:
        return 413, too_large(max_body)
    return None


class RequestChecks:
    """ASGI middleware: the checks above, the body limit while reading, and the last-resort
    500 for exceptions no route handled."""

    def __init__(
        self,
        app: Callable,
        *,
        token: str,
        allowed_hosts: frozenset[str] | None,
        max_body: int,
        log_file: str = "",
        throttle: Throttle | None = None,
    ) -> None:
        self.app = app
        self.token = token
        self.allowed_hosts = allowed_hosts
        self.max_body = max_body
        self.log_file = log_file
        self.throttle = throttle or Throttle()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, send)
            return
        if scope["type"] != "http":  # websockets: not part of the API
            await receive()
            await send({"type": "websocket.close", "code": 1008})
            return
        refused = refusal(scope, self.token, self.allowed_hosts, self.max_body)
        if refused is None:
            await self._forward(scope, receive, send)
            return
        status, message = refused
        headers: tuple[tuple[bytes, bytes], ...] = ()
        if status == 401:
            address = str((scope.get("client") or ("?",))[0])
            wait = self.throttle.wait(address)
            if wait > 0:
                status, message = (
                    429,
                    (
                        "too many wrong access tokens came from this address; wait "
                        f"{math.ceil(wait)} seconds and check the token in the plug-in's settings"
                    ),
                )
                headers = ((b"retry-after", str(math.ceil(wait)).encode()),)
            else:
                self.throttle.failed(address)
                headers = ((b"www-authenticate", b"Bearer"),)
        # Connection: close, so a body nobody will read is not read either.
        await send_error(send, status, message, close=True, headers=headers)

    async def _forward(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Run the app with the body counted against the limit: 413 when it goes over, a
        one-sentence 500 for an exception no route handled (each unless an answer started)."""
        seen = 0
        started = False

        async def counted() -> dict[str, Any]:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.max_body:
                    raise BodyTooLarge()
            return message

        async def tracked(message: dict[str, Any]) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, counted, tracked)
        except BodyTooLarge:
            if not started:
                await send_error(send, 413, too_large(self.max_body), close=True)
        except Exception:  # the last resort: logged in full, answered in one sentence
            log.exception("unexpected error in %s %s", scope.get("method"), scope.get("path"))
            if not started:
                where = f"; see its log {self.log_file}" if self.log_file else ""
                await send_error(send, 500, f"the service failed unexpectedly{where}")
