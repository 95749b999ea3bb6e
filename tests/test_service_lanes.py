"""A quick preview never waits behind a render: the fast engine's jobs have their own lane in
a real `nst serve`, so one comes back while a vgg19 job runs, and the render still ends."""

from __future__ import annotations

import time

import pytest
from test_service import STYLE, png, service  # noqa: F401 - the fixture: a real service

pytest.importorskip(
    "onnxruntime", reason="the fast engine needs onnxruntime: pip install '.[fast]'"
)


def test_a_quick_preview_comes_back_while_a_render_runs_and_the_render_ends(service):
    c = service.client
    render = c.submit(png((48, 36)), styles=[STYLE], options={"size": 48, "iterations": 250})
    deadline = time.monotonic() + 120
    while c.status(render)["state"] != "running" and time.monotonic() < deadline:
        time.sleep(0.1)
    assert c.status(render)["state"] == "running"
    preview = c.submit(png((48, 36)), styles=[STYLE], options={"engine": "fast", "size": 48})
    assert c.wait(preview).startswith(b"\x89PNG")
    assert c.status(render)["state"] == "running", "the preview waited for the render"
    assert c.wait(render).startswith(b"\x89PNG")
    assert c.status(render)["state"] == "done" and c.status(render)["step"] == 250
