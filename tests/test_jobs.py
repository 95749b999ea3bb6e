"""Tests for nst_plugin.jobs: the job runner, with the fake engine registered through pluggy."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

from nst_plugin import hookimpl
from nst_plugin.errors import RequestError, user_message
from nst_plugin.jobs import CANCELLED, DONE, FAILED, JobRunner


class EventLog:
    """A plugin that keeps every nst_progress event."""

    def __init__(self):
        self.events = []

    @hookimpl
    def nst_progress(self, event):
        self.events.append(event)


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    content, style = tmp_path / "content.png", tmp_path / "style.png"
    Image.new("RGB", (24, 16), (200, 30, 30)).save(content)
    Image.new("RGB", (16, 16), (30, 30, 200)).save(style)
    return content, style


def test_runs_jobs_in_order_one_at_a_time(fake_engine, pair, tmp_path):
    fake = fake_engine(delay=0.05)
    content, style = pair
    with JobRunner() as runner:
        jobs = [
            runner.submit(content, style, str(tmp_path / f"out{i}.png"), engine="fake")
            for i in range(4)
        ]
        assert all(job.wait(10) for job in jobs)
    assert [job.state for job in jobs] == [DONE] * 4
    starts = [c[0] for c in fake.calls]
    assert starts == sorted(starts)
    for (_, end, _), (start, _, _) in zip(fake.calls, fake.calls[1:]):
        assert start >= end  # never two at once
    assert all(Path(job.result.output).is_file() for job in jobs)
    assert jobs[0].seconds >= 0.05


def test_progress_goes_to_the_hook_and_the_listeners(register, fake, pair):
    log = register(EventLog())
    heard = []
    with JobRunner() as runner:
        job = runner.submit(*pair, engine="fake", listeners=[heard.append])
        job.wait(10)
    mine = [e for e in log.events if e.job_id == job.id]
    assert [e.stage for e in mine] == [e.stage for e in heard]
    assert mine[0].stage == "loading" and mine[-1].stage == "done"
    assert any(e.stage == "optimizing" and e.step == 2 for e in mine)


def test_a_runner_without_broadcast_keeps_events_from_plugins(register, fake, pair):
    log = register(EventLog())
    heard = []
    with JobRunner(broadcast=False) as runner:
        job = runner.submit(*pair, engine="fake", listeners=[heard.append])
        job.wait(10)
    assert job.state == DONE and not [e for e in log.events if e.job_id == job.id]
    assert [e.stage for e in heard][-1] == "done"


def test_cancel_running_and_queued_jobs(fake_engine, pair):
    fake_engine(delay=30)
    finished = []
    with JobRunner(on_finished=finished.append) as runner:
        running = runner.submit(*pair, engine="fake")
        queued = runner.submit(*pair, engine="fake")
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


def test_failures_are_reported_with_one_sentence(fake, fake_engine, tmp_path, pair):
    fake_engine(name="broken", error=MemoryError("out of\nmemory"))
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"not an image")
    finished = []
    with JobRunner(on_finished=finished.append) as runner:
        unreadable = runner.submit(bad, pair[1], engine="fake")
        engine_failed = runner.submit(*pair, engine="broken")
        no_engine = runner.submit(*pair, engine="nonesuch")
        for job in (unreadable, engine_failed, no_engine):
            job.wait(10)
    assert [j.state for j in finished] == [FAILED] * 3
    assert unreadable.bad_input and str(bad) in unreadable.message
    assert unreadable.message.count(". ") == 0 and unreadable.message.endswith(".")
    assert not engine_failed.bad_input
    assert engine_failed.message == "the engine failed (MemoryError: out of memory)."
    assert no_engine.bad_input and "nonesuch" in no_engine.message


def test_a_broken_callback_does_not_stop_the_runner(fake, pair, capsys):
    def broken(job):
        raise RuntimeError("callback bug")

    with JobRunner(on_finished=broken) as runner:
        first = runner.submit(*pair, engine="fake")
        second = runner.submit(*pair, engine="fake")
        assert second.wait(10)
    assert first.state == second.state == DONE
    assert "callback bug" in capsys.readouterr().err


def test_submit_options_and_errors(fake, pair):
    runner = JobRunner()
    job = runner.submit(*pair, engine="fake", size=32, iterations=3)
    assert (job.settings.size, job.settings.iterations) == (32, 3)
    with pytest.raises(RequestError, match="unknown option"):
        runner.submit(*pair, engine="fake", sharpness=0.5)
    with pytest.raises(RequestError, match="size"):
        runner.submit(*pair, engine="fake", size=1)
    job.wait(10)
    runner.close()
    with pytest.raises(RuntimeError, match="closed"):
        runner.submit(*pair, engine="fake")


def test_warm_up_loads_the_engine_or_raises(fake):
    with JobRunner() as runner:
        runner.warm_up("fake")
        assert len(fake.calls) == 1 and fake.calls[0][2].size == 16
        with pytest.raises(RequestError, match="no engine named 'nonesuch'"):
            runner.warm_up("nonesuch")


def test_resume_a_checkpointed_job(fake_engine, pair, tmp_path):
    fake = fake_engine(slow_width=24)  # the content image is 24 px wide: slow
    out = tmp_path / "out.png"
    with JobRunner() as runner:
        first = runner.submit(*pair, str(out), engine="fake", checkpoint_every=1)
        saved = tmp_path / "out.png.nst-checkpoint.npz"
        while not saved.exists():
            time.sleep(0.01)
        first.cancel()
        first.wait(10)
        second = runner.resume(str(saved))  # writes to the run's own output
        assert second.wait(10)
    assert (first.state, second.state) == (CANCELLED, DONE)
    assert fake.resumed and fake.resumed[0]["tile_step"] == 1
    assert second.result.output == str(out) and out.exists() and not saved.exists()


def test_user_message_is_one_sentence():
    assert user_message(RequestError("size must be positive")) == "size must be positive."
    assert user_message(ValueError("")) == "the engine failed (ValueError: no details)."
