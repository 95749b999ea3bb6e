"""A job's progress as server-sent events, with cancel when the client goes away.

    event: progress
    data: {"stage": "optimizing", "step": 3, "total": 10, "loss": 1.5, "eta": 2.1,
           "preview": "<base64 PNG>"}

    event: done            (or failed / cancelled)
    data: {"state": "done", "error": null}

The stream starts with the job's current state, sends a progress event whenever the job
changes (a preview only when there is a new one), a `: keep-alive` comment when nothing
happened for a while, and the final event, after which it ends. A stream opened after the
job finished sends the last progress state and the final event at once.

The client's disconnect is watched all along, not only when something is sent: when the
last stream of a job submitted with `cancel_on_disconnect` drops before the job finished,
the job is cancelled (GIMP kills its plug-in process when the user cancels).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from typing import Any

from starlette.responses import Response

from .jobtable import JobTable, ServiceJob

HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-store"),
    (b"x-accel-buffering", b"no"),
]


def frame(event: str, data: dict[str, Any]) -> bytes:
    return f"event: {event}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


class EventStream(Response):
    """A response that follows one job until it ends, the client leaves or the service
    stops."""

    def __init__(
        self, table: JobTable, entry: ServiceJob, on_dropped: Callable[[ServiceJob], None]
    ) -> None:
        super().__init__(status_code=200, media_type="text/event-stream")
        self.table = table
        self.entry = entry
        self.on_dropped = on_dropped
        self.final_sent = False

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        entry = self.entry
        await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
        entry.streams += 1
        pump = asyncio.ensure_future(self._pump(send))
        watch = asyncio.ensure_future(self._watch(receive))
        closing = asyncio.ensure_future(self.table.closing.wait())
        try:
            await asyncio.wait({pump, watch, closing}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (pump, watch, closing):
                task.cancel()
            await asyncio.gather(pump, watch, closing, return_exceptions=True)
            entry.streams -= 1
            dropped = not self.final_sent and (
                (watch.done() and not watch.cancelled())
                or (pump.done() and not pump.cancelled() and pump.exception() is not None)
            )
            if dropped and entry.streams == 0 and not entry.finished:
                self.on_dropped(entry)
        if self.final_sent or (closing.done() and not closing.cancelled()):
            with contextlib.suppress(OSError):
                await send({"type": "http.response.body", "body": b"", "more_body": False})

    @staticmethod
    async def _watch(receive: Any) -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    async def _pump(self, send: Any) -> None:
        entry = self.entry
        seen = seen_preview = -1
        while True:
            changed = entry.changed
            if entry.version != seen:
                seen = entry.version
                data = dict(entry.progress)
                if entry.preview is not None and entry.preview_version != seen_preview:
                    seen_preview = entry.preview_version
                    data["preview"] = entry.preview
                await self._send(send, frame("progress", data))
            if entry.finished:
                await self._send(
                    send, frame(entry.state, {"state": entry.state, "error": entry.error})
                )
                self.final_sent = True
                return
            try:
                await asyncio.wait_for(changed.wait(), self.table.config.keepalive)
            except asyncio.TimeoutError:
                await self._send(send, b": keep-alive\n\n")

    @staticmethod
    async def _send(send: Any, body: bytes) -> None:
        await send({"type": "http.response.body", "body": body, "more_body": True})
