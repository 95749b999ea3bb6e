"""The one fake engine of the test suite: a plugin that registers the engine "fake".

It returns the content image after `delay` seconds, reports progress, hands over a snapshot
(so checkpoints work) and honours cancel like a real engine. Content images `slow_width`
pixels wide take `slow_seconds` instead (a job that is still running when a test wants
one). `calls` lists (start, end, settings); `resumed` the checkpoint states it started from.
A stand-in for mechanics only: the real engine has its own tests.
"""

from __future__ import annotations

import threading
import time

import numpy as np

from nst_plugin import Engine, Result, hookimpl


class FakeEngine:
    def __init__(
        self,
        name: str = "fake",
        delay: float = 0.0,
        slow_width: int | None = None,
        slow_seconds: float = 60.0,
        error: BaseException | None = None,
    ):
        self.name = name
        self.delay = delay
        self.slow_width = slow_width
        self.slow_seconds = slow_seconds
        self.error = error
        self.calls: list[tuple] = []
        self.resumed: list[dict] = []
        self.lock = threading.Lock()

    @hookimpl
    def nst_register_engines(self, register):
        register(
            Engine(
                self.name,
                "test stand-in: returns the content image",
                self.stylize,
                ("size", "iterations"),
            )
        )

    def stylize(self, request, reporter):
        if self.error is not None:
            raise self.error
        start = time.monotonic()
        delay = self.slow_seconds if request.content.width == self.slow_width else self.delay
        if request.resume is not None:
            self.resumed.append(request.resume)
            delay = self.delay
        reporter.stage("optimizing", 2)
        width, height = request.content.size
        reporter.progress(1, 2, 0.75, preview=request.content)
        reporter.snapshot(
            1, {"image": np.zeros((1, height, width, 3), np.float32), "scale": 0, "tile_step": 1}
        )
        while True:
            reporter.check_cancel()
            if time.monotonic() - start >= delay:
                break
            time.sleep(min(0.01, delay))
        reporter.progress(2, 2, 0.5)
        with self.lock:
            self.calls.append((start, time.monotonic(), request.settings))
        return Result(
            image=request.content,
            iterations=2,
            seconds=time.monotonic() - start,
            losses=[1.0, 0.5],
            engine=self.name,
            backend="none",
            device="CPU",
        )
