"""`nst serve --ray local --workers 1`: a real service whose renders run on a real local Ray
cluster's worker, reached through the host kit as a plug-in reaches it. A job comes back with
its progress and previews, a frame sequence's frames come back one by one, keep and cancel
reach the worker while it runs, a worker killed mid-job is replaced and the job runs again,
and stopping the service stops the cluster. The VGG19 engine on stand-in random weights,
images of 24-48 px, few iterations."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="the Ray tests need Ray: pip install '.[ray]'")

from test_service import STYLE, Service, one_sentence, pan, png

from nst_plugin.hostkit.choices import Choices
from nst_plugin.hostkit.jobs import ServiceJob, keepable
from nst_plugin.hostkit.png import decode_png

LONG = 1000  # iterations no test waits for: only keep, cancel or a kill ends these jobs


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("service-ray"), "--ray", "local", "--workers", "1")
    svc.start()
    yield svc
    svc.stop()


def descendants(pid: int) -> set[int]:
    """The processes below `pid` (a local Ray cluster's, for the service)."""
    parents = {}
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                stat = (proc / "stat").read_text()
            except OSError:  # gone meanwhile
                continue
            parents[int(proc.name)] = int(stat.rsplit(")", 1)[1].split()[1])
    found, todo = set(), [pid]
    while todo:
        parent = todo.pop()
        children = {p for p, pp in parents.items() if pp == parent} - found
        found |= children
        todo.extend(children)
    return found


def worker_pids(service) -> list[int]:
    """The pids of the service's Ray workers (Ray titles them ray::ServiceWorker...)."""
    found = []
    for pid in descendants(service.proc.pid):
        try:
            title = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if title.startswith(b"ray::ServiceWorker"):
            found.append(pid)
    return found


def plugin_job(service, size=(48, 36), iterations=LONG, **extra) -> ServiceJob:
    """A job as a plug-in makes it: pixels, a style's pixels, the user's choices."""
    width, height, mode, pixels = decode_png(png(size))
    style_w, style_h, style_mode, style_pixels = decode_png(STYLE)
    return ServiceJob(
        service.client,
        (width, height, pixels, mode),
        {"pixels": (style_w, style_h, style_pixels, style_mode)},
        Choices(size=max(size), extra={"iterations": iterations, **extra}),
    )


def run_in_thread(job: ServiceJob, step: int):
    """Run `job` in a thread as a plug-in does; (thread, results, errors, the Event set once
    it iterates at `step`, the events)."""
    iterating, results, errors, events = threading.Event(), [], [], []

    def emit(event: dict) -> None:
        events.append(event)
        if keepable(event) and event.get("step", 0) >= step:
            iterating.set()

    def run() -> None:
        try:
            results.append(job.run(emit))
        except Exception as err:
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    return thread, results, errors, iterating, events


def test_a_plugin_job_runs_on_the_ray_worker_with_progress_and_previews(service):
    job = plugin_job(service, iterations=6, preview_every=2)
    events = []
    result = job.run(events.append)
    width, height, mode, _ = decode_png(result)
    assert (width, height, mode) == (48, 36, "RGBA")
    assert job.status["state"] == "done" and job.status["engine"] == "vgg19"
    assert job.iterations_run == 6 and not job.kept
    # The last step may come as the progress event that says "done" (a stream sends the
    # latest state, so one that reads late sees the two changes at once).
    steps = [e["step"] for e in events if e.get("stage") in ("optimizing", "done")]
    assert steps and steps == sorted(steps) and steps[-1] == 6
    previews = [e["preview"] for e in events if e.get("preview")]
    assert previews and decode_png(previews[-1])[:2] == (48, 36)
    # The engine ran in the worker: the service's own process never loaded TensorFlow.
    assert len(worker_pids(service)) == 1
    maps = Path(f"/proc/{service.proc.pid}/maps").read_text()
    assert "tensorflow" not in maps and "jaxlib" not in maps

    status = json.loads(service.nst("serve", "--status", "--json").stdout)
    assert status["ray"] == {"address": "local", "workers": 1}
    assert "renders run on 1 Ray worker (--ray local)" in service.nst("serve", "--status").stdout


def test_a_frame_sequence_sends_each_frame_back_from_the_worker(service):
    pytest.importorskip("cv2", reason="frame sequences need OpenCV: pip install '.[video]'")
    frames = [(w, h, pixels, mode) for w, h, mode, pixels in map(decode_png, pan(3, (32, 24)))]
    w, h, mode, pixels = decode_png(STYLE)
    job = ServiceJob(
        service.client,
        frames[0],
        {"pixels": (w, h, pixels, mode)},
        Choices(size=32, extra={"iterations": 2}),
        frames=frames,
    )
    events = []
    results = job.run(events.append)
    assert [decode_png(r)[:2] for r in results] == [(32, 24)] * 3 and len(set(results)) == 3
    assert sorted({(e["frame"], e["frames"]) for e in events if e.get("frame")}) == [
        (1, 3),
        (2, 3),
        (3, 3),
    ]
    assert job.status["state"] == "done" and job.status["frames_done"] == 3


def test_keep_and_cancel_reach_the_worker_while_it_runs(service):
    job = plugin_job(service)
    thread, results, errors, iterating, _ = run_in_thread(job, 2)
    assert iterating.wait(60), "the job never started iterating"
    job.keep()
    thread.join(30)
    assert not thread.is_alive() and not errors
    assert decode_png(results[0])[:2] == (48, 36)
    assert job.kept and 2 <= job.iterations_run < 50

    c = service.client
    running = c.submit(png((48, 36)), styles=[STYLE], options={"size": 48, "iterations": LONG})
    with c.events(running) as stream:
        for event in stream:
            if event.get("stage") == "optimizing" and event.get("step", 0) >= 2:
                break
    before = c.status(running)["step"]
    asked = time.time()
    c.cancel(running)
    # The worker is free again at once: the next job starts and ends within seconds.
    after = c.submit(png((32, 24)), styles=[STYLE], options={"size": 32, "iterations": 2})
    assert decode_png(c.wait(after))[:2] == (32, 24)
    assert time.time() - asked < 10
    status = c.status(running)
    assert status["state"] == "cancelled" and status["step"] <= before + 5
    assert c.status(after)["started"] - asked < 2.0  # the worker was let go of within 2 s


def test_a_killed_worker_is_replaced_and_the_job_runs_again(service):
    job = plugin_job(service, iterations=30)
    thread, results, errors, iterating, events = run_in_thread(job, 1)
    assert iterating.wait(60), "the job never started iterating"
    (pid,) = worker_pids(service)
    os.kill(pid, signal.SIGKILL)
    thread.join(120)
    assert not thread.is_alive() and not errors, errors
    assert decode_png(results[0])[:2] == (48, 36) and job.iterations_run == 30
    replaced = worker_pids(service)
    assert replaced and pid not in replaced  # a new worker took its place
    stages = [e.get("stage") for e in events]
    assert stages.count("loading") >= 2  # it started over


def test_stopping_the_service_stops_the_local_cluster(service):
    cluster = descendants(service.proc.pid)
    assert cluster  # Ray's own processes, started by the service
    stopped = service.nst("serve", "--stop")
    assert stopped.returncode == 0, stopped.stderr
    assert service.proc.wait(30) == 0
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        alive = {pid for pid in cluster if Path(f"/proc/{pid}").exists()}
        if not alive:
            break
        time.sleep(0.2)
    assert not alive, f"Ray processes {sorted(alive)} outlived the service"
    assert "Traceback" not in service.output()


def test_an_unreachable_cluster_and_an_odd_error_are_one_sentence():
    import socket

    from nst_plugin.errors import UserError, user_message
    from nst_plugin.service.on_ray import check_reachable
    from nst_plugin.service.ray_worker import portable

    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(UserError) as info:
        check_reachable(f"127.0.0.1:{port}")
    assert time.monotonic() - started < 6 and "--ray local" in str(info.value)
    one_sentence(str(info.value))

    class Odd(Exception):  # defined here: it cannot be pickled back from a worker
        pass

    copy = portable(Odd("the network  broke\n here"))
    assert type(copy) is RuntimeError
    assert user_message(copy) == "the engine failed (RuntimeError: Odd: the network broke here)."
    assert type(portable(UserError("Too big."))) is UserError
