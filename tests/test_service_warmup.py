"""The service's warm-up: the engine loaded and compiled in the background once `nst serve`
listens (a real service over real HTTP), jobs queued behind it meanwhile; and
`JobRunner.warm_up` itself on the fake engine."""

from __future__ import annotations

import threading
import time
from datetime import datetime

from test_service_idle import png, start  # noqa: F401 - `start` is a fixture

from nst_plugin.errors import Cancelled
from nst_plugin.jobs import JobRunner

WARM = "warm-up: the engine is loaded and compiled"


def logged_at(log: str, text: str) -> float:
    """The Unix time of the first log line holding `text`."""
    line = next(line for line in log.splitlines() if text in line)
    return datetime.strptime(line[:23], "%Y-%m-%d %H:%M:%S,%f").timestamp()


def test_a_job_sent_during_the_warm_up_waits_for_it_then_runs(start):
    svc = start()
    c = svc.client
    job = c.submit(
        png("wave.jpg", (48, 32)),
        styles=[png("starry_night.jpg", (48, 48))],
        options={"engine": "vgg19", "size": 32, "iterations": 3},
    )
    assert c.status(job)["state"] == "queued"
    events = []
    c.wait(job, on_event=events.append)
    assert events[-1]["event"] == "done"
    status = c.status(job)
    svc.wait_output("nst: the engine is ready")
    warm = logged_at(svc.log.read_text(encoding="utf-8"), WARM)
    assert status["submitted"] < warm - 1, "sent after the warm-up: this proves nothing"
    assert status["started"] >= warm - 0.5, (status, warm)  # it waited for the warm-up


def test_no_warm_up_loads_nothing_in_advance(start):
    svc = start("--no-warm-up")
    time.sleep(1.5)
    assert "loading the engine" not in svc.output()
    assert "warm-up" not in svc.log.read_text(encoding="utf-8")


def test_a_warm_up_cut_short_by_close_raises_cancelled(fake_engine):
    fake_engine(slow_width=16, slow_seconds=30)  # the warm-up's 16 px image then takes 30 s
    runner = JobRunner()
    raised = []

    def warm():
        try:
            runner.warm_up("fake")
        except Cancelled as err:
            raised.append(err)

    thread = threading.Thread(target=warm)
    thread.start()
    time.sleep(0.3)
    runner.close(cancel=True, timeout=5)
    thread.join(5)
    assert not thread.is_alive() and len(raised) == 1
