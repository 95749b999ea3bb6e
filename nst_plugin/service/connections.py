"""Connections that cannot lock the service out: uvicorn's H11 protocol with a deadline for
every request head and a cap on idle connections.

uvicorn waits forever for a request head that never completes, and its `limit_concurrency`
counts idle sockets, so a few dozen connections that stay silent (or send half a request)
would make every request answer 503, health included. Here a connection is *idle* while no
request of it runs in the app: before its first request head is complete, and between
keep-alive requests. An idle connection gets `head_timeout` seconds to complete its next
request head, however slowly its bytes trickle in; and when more than `max_idle` connections
are idle, the oldest are closed as new ones arrive. A real client sends its request at once,
so it is never the oldest; requests that run (an authorised job's event stream) are never
closed here.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from typing import Any

from uvicorn.protocols.http.h11_impl import H11Protocol

log = logging.getLogger("nst_plugin.service")
HEAD_TIMEOUT = 10.0  # seconds to send a complete request head
MAX_IDLE = 32  # idle connections kept; the oldest go first
LOG_EVERY = 60.0  # seconds between two log lines about closed connections


class GuardedH11Protocol(H11Protocol):
    """uvicorn's H11 protocol with the head deadline and the idle cap (module docstring)."""

    head_timeout = HEAD_TIMEOUT
    max_idle = MAX_IDLE
    closed_count = 0  # connections closed for idling, since the last log line
    logged_at = 0.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # asyncio leaves Nagle on for TLS connections: a response's head and body would then
        # wait for the client's delayed ACK (40 ms a request).
        sock = transport.get_extra_info("socket")
        if sock is not None and sock.family in (socket.AF_INET, socket.AF_INET6):
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._head_timer: asyncio.TimerHandle | None = None
        self._wait_for_head()
        self._evict_idle()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_head_timer()
        super().connection_lost(exc)

    def handle_events(self) -> None:
        before = self.cycle
        super().handle_events()
        if self.cycle is not before:  # a request head arrived: the app has it now
            self._stop_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._wait_for_head()

    # -- idle connections -------------------------------------------------------------

    @property
    def idle(self) -> bool:
        """No request of this connection runs in the app."""
        return self.cycle is None or self.cycle.response_complete

    def _wait_for_head(self) -> None:
        self._stop_head_timer()
        self.idle_since = time.monotonic()
        self._head_timer = self.loop.call_later(self.head_timeout, self._head_expired)

    def _stop_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_expired(self) -> None:
        self._head_timer = None
        if self.idle:
            self._drop()

    def _evict_idle(self) -> None:
        idle = [c for c in self.connections if getattr(c, "idle", False)]
        excess = len(idle) - self.max_idle
        if excess > 0:
            for conn in sorted(idle, key=lambda c: c.idle_since)[:excess]:
                conn._drop()

    def _drop(self) -> None:
        """Close this idle connection (a request head it began is dropped with it)."""
        if self.transport.is_closing():
            return
        self.transport.close()
        cls = GuardedH11Protocol
        cls.closed_count += 1
        now = time.monotonic()
        if now - cls.logged_at >= LOG_EVERY:
            log.warning(
                "closed %d connection(s) that sent no complete request within %g s or "
                "idled beyond the %d kept",
                cls.closed_count,
                self.head_timeout,
                self.max_idle,
            )
            cls.closed_count, cls.logged_at = 0, now


def protocol_class(head_timeout: float = HEAD_TIMEOUT, max_idle: int = MAX_IDLE) -> Any:
    """The protocol class for `uvicorn.Config(http=...)` with these limits."""
    return type(
        "GuardedH11Protocol",
        (GuardedH11Protocol,),
        {"head_timeout": float(head_timeout), "max_idle": int(max_idle)},
    )
