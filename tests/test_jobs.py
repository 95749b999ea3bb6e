"""Tests for nst_plugin.jobs: the job runner, with a fast engine plugin registered through pluggy."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from nst_plugin import Result, hookimpl
from nst_plugin.jobs import CANCELLED, DONE, FAILED, JobRunner, describe_error
from nst_plugin.plugins import get_plugin_manager
from nst_plugin.request import RequestError, Settings


class FastEngine:
    """An engine plugin named "fast": returns the content image, after `delay` seconds.

    It reports progress, hands over a snapshot (so checkpoints work) and honours cancel like
    a real engine. Content images `slow_width` pixels wide take `slow_seconds` instead (a job
    that is still running when a test wants one). `resumed` lists the checkpoint states it
    was started from.
    """

    def __init__(self, delay: float = 0.0, slow_width: int | None = None, slow_seconds: float = 60.0):
        self.delay = delay
        self.slow_width = slow_width
        self.slow_seconds = slow_seconds
        self.calls: list[tuple[float, float, Settings]] = []  # (start, end, settings)
        self.resumed: list[dict] = []
        self.lock = threading.Lock()

    @hookimpl
    def nst_stylize(self, request, reporter):
        if request.engine != "fast":
            return None
        start = time.monotonic()
        delay = self.slow_seconds if request.content.width == self.slow_width else self.delay
        if request.resume is not None:
            self.resumed.append(request.resume)
            delay = self.delay
        reporter.stage("optimizing", 2)
        width, height = request.content.size
        reporter.snapshot(1, {"image": np.zeros((1, height, width, 3), np.float32), "scale": 0,
                              "tile_step": 1})
        while True:
            reporter.check_cancel()
            if time.monotonic() - start >= delay:
                break
            time.sleep(min(0.01, delay))
        reporter.progress(2, 2, 0.5)
        with self.lock:
            self.calls.append((start, time.monotonic(), request.settings))
        return Result(image=request.content, iterations=1, seconds=0.0, losses=[1.0, 0.5],
                      engine="fast", backend="none", device="CPU")

    @hookimpl
    def nst_engines(self):
        return [{"name": "fast", "description": "test stand-in: returns the content image"}]


class EventLog:
    """A plugin that keeps every nst_progress event."""

    def __init__(self):
        self.events = []

    @hookimpl
    def nst_progress(self, event):
        self.events.append(event)


@pytest.fixture
def plugin():
    """Register plugin objects for one test."""
    pm = get_plugin_manager()
    registered = []

    def register(obj):
        pm.register(obj)
        registered.append(obj)
        return obj

    yield register
    for obj in registered:
        pm.unregister(obj)


@pytest.fixture
def fast(plugin):
    return plugin(FastEngine())


@pytest.fixture
def images(tmp_path) -> tuple[Path, Path]:
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.new("RGB", (24, 16), (200, 30, 30)).save(content)
    Image.new("RGB", (16, 16), (30, 30, 200)).save(style)
    return content, style


def test_runs_jobs_in_order_one_at_a_time(plugin, images, tmp_path):
    fast = plugin(FastEngine(delay=0.05))
    content, style = images
    with JobRunner() as runner:
        jobs = [runner.submit(content, style, str(tmp_path / f"out{i}.png"), engine="fast")
                for i in range(4)]
        assert all(job.wait(10) for job in jobs)
    assert [job.state for job in jobs] == [DONE] * 4
    starts = [c[0] for c in fast.calls]
    assert starts == sorted(starts)
    for (_, end, _), (start, _, _) in zip(fast.calls, fast.calls[1:]):
        assert start >= end  # never two at once
    assert all(Path(job.result.output).is_file() for job in jobs)
    assert jobs[0].seconds >= 0.05


def test_progress_goes_to_the_hook_and_the_listeners(plugin, fast, images):
    log = plugin(EventLog())
    heard = []
    with JobRunner() as runner:
        job = runner.submit(*images, engine="fast", listeners=[heard.append])
        job.wait(10)
    mine = [e for e in log.events if e.job_id == job.id]
    assert [e.stage for e in mine] == [e.stage for e in heard]
    assert [e.stage for e in mine][0] == "loading" and mine[-1].stage == "done"
    assert any(e.stage == "optimizing" and e.step == 2 for e in mine)


def test_hook_false_keeps_events_from_plugins(plugin, fast, images):
    log = plugin(EventLog())
    with JobRunner() as runner:
        job = runner.submit(*images, engine="fast", hook=False)
        job.wait(10)
    assert job.state == DONE and not [e for e in log.events if e.job_id == job.id]


def test_cancel_running_and_queued_jobs(plugin, images):
    plugin(FastEngine(delay=30))
    finished = []
    with JobRunner(on_finished=finished.append) as runner:
        running = runner.submit(*images, engine="fast")
        queued = runner.submit(*images, engine="fast")
        assert runner.jobs() == [running, queued]
        while running.state != "running":
            time.sleep(0.005)
        queued.cancel()
        running.cancel()
        assert running.wait(5) and queued.wait(5)
    assert running.state == queued.state == CANCELLED
    assert queued.started is None  # never ran
    assert running.message == "the job was cancelled."
    assert finished == [running, queued]
    assert runner.jobs() == []


def test_failures_are_reported_with_one_sentence(plugin, fast, tmp_path, images):
    class Broken:
        @hookimpl
        def nst_stylize(self, request, reporter):
            if request.engine == "broken":
                raise MemoryError("out of\nmemory")

    plugin(Broken())
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    finished = []
    with JobRunner(on_finished=finished.append) as runner:
        unreadable = runner.submit(bad, images[1], engine="fast")
        engine_failed = runner.submit(*images, engine="broken")
        no_engine = runner.submit(*images, engine="nonesuch")
        for job in (unreadable, engine_failed, no_engine):
            job.wait(10)
    assert [j.state for j in finished] == [FAILED] * 3
    assert unreadable.bad_input and str(bad) in unreadable.message
    assert unreadable.message.count(". ") == 0 and unreadable.message.endswith(".")
    assert not engine_failed.bad_input
    assert engine_failed.message == "the engine failed (MemoryError: out of memory)."
    assert no_engine.bad_input and "nonesuch" in no_engine.message


def test_a_broken_callback_does_not_stop_the_runner(fast, images, capsys):
    def broken(job):
        raise RuntimeError("callback bug")

    with JobRunner(on_finished=broken) as runner:
        first = runner.submit(*images, engine="fast")
        second = runner.submit(*images, engine="fast")
        assert second.wait(10)
    assert first.state == second.state == DONE
    assert "callback bug" in capsys.readouterr().err


def test_submit_options_and_errors(fast, images):
    runner = JobRunner()
    job = runner.submit(*images, engine="fast", size=32, iterations=3)
    assert (job.settings.size, job.settings.iterations) == (32, 3)
    with pytest.raises(RequestError, match="unknown option"):
        runner.submit(*images, engine="fast", sharpness=0.5)
    with pytest.raises(RequestError, match="size"):
        runner.submit(*images, engine="fast", size=1)
    job.wait(10)
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.submit(*images, engine="fast")


def test_warm_up_loads_the_engine_or_raises(fast):
    with JobRunner() as runner:
        runner.warm_up("fast")
        assert len(fast.calls) == 1 and fast.calls[0][2].size == 16
        with pytest.raises(RequestError, match="no engine named 'nonesuch'"):
            runner.warm_up("nonesuch")


def test_resume_a_checkpointed_job(plugin, images, tmp_path):
    fast = plugin(FastEngine(slow_width=24))  # the content image is 24 px wide: slow
    out = tmp_path / "out.png"
    with JobRunner() as runner:
        first = runner.submit(*images, str(out), engine="fast", checkpoint_every=1)
        saved = tmp_path / "out.png.nst-checkpoint.npz"
        while not saved.exists():
            time.sleep(0.01)
        first.cancel()
        first.wait(10)
        second = runner.resume(str(saved))  # writes to the run's own output
        assert second.wait(10)
    assert (first.state, second.state) == (CANCELLED, DONE)
    assert fast.resumed and fast.resumed[0]["tile_step"] == 1
    assert second.result.output == str(out) and out.exists() and not saved.exists()


def test_describe_error_is_one_sentence():
    assert describe_error(RequestError("size must be positive")) == "size must be positive."
    assert describe_error(ValueError("")) == "the engine failed (ValueError: no details)."
