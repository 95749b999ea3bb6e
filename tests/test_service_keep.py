"""Keep current: a real `nst serve` ends a running vgg19 job with its current image when asked
(`POST /v1/jobs/{id}/keep`), as a done job whose status says it was kept and how many
iterations ran; the host kit asks from another thread and reads that status after run()."""

from __future__ import annotations

import threading

import pytest
from test_service import STYLE, Service, one_sentence, png

from nst_plugin.hostkit.choices import Choices
from nst_plugin.hostkit.errors import ServiceError
from nst_plugin.hostkit.jobs import ServiceJob, keepable
from nst_plugin.hostkit.png import decode_png

LONG = 1000  # iterations no test waits for: only keep (or cancel) ends these jobs


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("service-keep"))
    svc.start()
    yield svc
    svc.stop()


def wait_for_step(c, job: str, step: int) -> None:
    with c.events(job) as stream:
        for event in stream:
            if event.get("stage") == "optimizing" and event.get("step", 0) >= step:
                return
    raise AssertionError(f"job {job} ended before step {step}")


def test_keep_during_the_coarse_scale_gives_a_done_result_at_the_size_asked(service):
    c = service.client
    options = {"size": 64, "iterations": LONG, "scales": 2}  # 32 px, then 64 px
    job = c.submit(png((64, 48)), styles=[STYLE], options=options)
    wait_for_step(c, job, 3)
    answer = c.keep(job)
    assert answer["id"] == job and answer["state"] == "running"
    width, height, mode, _ = decode_png(c.wait(job))
    assert (width, height, mode) == (64, 48, "RGBA")  # the size asked, the alpha kept
    status = c.status(job)
    assert status["state"] == "done" and status["kept"] is True and status["error"] is None
    assert 3 <= status["iterations_run"] < LONG // 2  # ended within the first scale
    assert status["iterations_run"] == status["step"]  # the last step the client saw

    with pytest.raises(ServiceError) as info:  # finished: nothing left to keep
        c.keep(job)
    assert info.value.status == 409 and "already finished" in str(info.value)
    one_sentence(str(info.value))


def test_a_finished_job_is_not_kept_and_unknown_or_queued_jobs_are_refused(service):
    c = service.client
    job = c.submit(png((32, 24)), styles=[STYLE], options={"size": 32, "iterations": 3})
    c.wait(job)
    status = c.status(job)
    assert status["kept"] is False and status["iterations_run"] == 3
    status, message = service.error("POST", f"/v1/jobs/{job}/keep")
    assert status == 409 and job in message

    status, message = service.error("POST", "/v1/jobs/nosuchjob/keep")
    assert status == 404

    running = c.submit(png((48, 36)), styles=[STYLE], options={"size": 48, "iterations": LONG})
    queued = c.submit(png((48, 36)), styles=[STYLE], options={"size": 48, "iterations": LONG})
    try:
        status, message = service.error("POST", f"/v1/jobs/{queued}/keep")
        assert status == 409 and "queue" in message
    finally:
        c.cancel(queued)
        c.cancel(running)


def test_the_host_kit_keeps_from_another_thread_and_reads_the_final_status(service):
    c = service.client
    width, height, mode, pixels = decode_png(png((48, 36)))
    style_w, style_h, style_mode, style_pixels = decode_png(STYLE)
    job = ServiceJob(
        c,
        (width, height, pixels, mode),
        {"pixels": (style_w, style_h, style_pixels, style_mode)},
        Choices(size=48, extra={"iterations": LONG}),
    )
    iterating, results, refused = threading.Event(), [], []

    def emit(event: dict) -> None:
        if keepable(event) and event.get("step", 0) >= 2:
            iterating.set()

    worker = threading.Thread(target=lambda: results.append(job.run(emit)))
    worker.start()
    assert iterating.wait(120), "the job never started iterating"
    job.keep(on_refused=refused.append)  # returns at once; the service is asked in a thread
    worker.join(120)
    assert not worker.is_alive() and not refused
    assert decode_png(results[0])[:2] == (48, 36)
    assert job.kept and 2 <= job.iterations_run < LONG
    assert job.status["state"] == "done" and job.status["engine"] == "vgg19"

    assert job.keep_in_service(on_refused=refused.append) is False  # finished: refused
    assert len(refused) == 1 and "already finished" in refused[0]
    one_sentence(refused[0])
