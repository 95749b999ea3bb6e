"""`nst video --ray` on a real local Ray cluster (2 CPUs): 10 frames in chunks of 4 that
overlap by 2, every frame written once and the overlap frames cross-fades of the two chunks'
versions; a worker killed mid-run has its chunk retried; a stopped run continues and redoes
nothing; a video file in and out keeps its audio. The VGG19 engine on stand-in random
weights, 40x32 frames, few iterations."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("cv2", reason="video needs OpenCV: pip install '.[video]'")
av = pytest.importorskip("av", reason="video files need PyAV: pip install '.[video]'")
pytest.importorskip("ray", reason="the Ray tests need Ray: pip install '.[ray]'")

from nst_plugin import cli  # noqa: E402
from nst_plugin.cli.stylize import DEMO_CONTENT, DEMO_STYLE  # noqa: E402
from nst_plugin.video import chunks, stylize_video_on_ray  # noqa: E402

TINY = ["--weights", "random", "--scales", "1", "--seed", "1"]
SPLIT = ["--chunk", "4", "--overlap", "2"]
SEAMS = {"f002.png": 1 / 3, "f003.png": 2 / 3, "f006.png": 1 / 3, "f007.png": 2 / 3}
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}


def pan(folder: Path, count: int, width: int = 40, height: int = 32) -> Path:
    """Frames of the bundled Wave panning 4 px a frame to the right."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.open(DEMO_CONTENT).convert("RGB")
    photo = photo.resize((round(photo.width * height / photo.height), height))
    for t in range(count):
        photo.crop((4 * t, 0, 4 * t + width, height)).save(folder / f"f{t:03d}.png")
    return folder


def pixels(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"), np.float32)


def mtimes(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def command(source: Path, out: Path, iterations: int) -> list[str]:
    return [
        *(sys.executable, "-m", "nst_plugin.cli", "video", str(source), str(DEMO_STYLE)),
        *("-o", str(out), *TINY, "--iterations", str(iterations), "--ray", "local"),
        *("--workers", "2", *SPLIT, "--json", "-q"),
    ]


def busy_workers() -> list[int]:
    """The pids of the workers running a chunk now (Ray titles them ray::ChunkWorker.run_chunk
    while they do)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            title = (proc / "cmdline").read_bytes()
        except OSError:  # gone meanwhile, or not a process
            continue
        if proc.name.isdigit() and title.startswith(b"ray::ChunkWorker.run_chunk"):
            found.append(int(proc.name))
    return found


def test_chunks_overlap_and_the_overlap_frames_are_cross_fades(tmp_path, monkeypatch):
    frames = pan(tmp_path / "in", 10)
    out = tmp_path / "out"
    monkeypatch.setattr(chunks, "remove_work", lambda folder: None)  # keep both versions
    events = []
    result = stylize_video_on_ray(
        frames,
        [DEMO_STYLE],
        out,
        ray="local",
        workers=2,
        chunk=4,
        overlap=2,
        on_progress=events.append,
        weights="random",
        iterations=3,
        scales=1,
        seed=1,
    )
    assert (result.chunks, result.workers, result.renders) == (3, 2, 14)
    assert (result.done, result.skipped, result.frames) == (14, 0, 10)
    names = sorted(p.name for p in frames.iterdir())
    assert sorted(p.name for p in out.glob("f*")) == names
    seams = out / chunks.WORK / "seams"
    assert sorted(p.name for p in seams.iterdir()) == sorted(
        f"{n}.{side}.png" for n in SEAMS for side in ("end", "start")
    )
    for name, weight in SEAMS.items():
        end = pixels(seams / f"{name}.end.png")
        start = pixels(seams / f"{name}.start.png")
        final = pixels(out / name)
        assert np.abs(end - start).mean() > 2  # two chains: the versions differ
        assert np.all(final >= np.minimum(end, start) - 0.5)
        assert np.all(final <= np.maximum(end, start) + 0.5)
        assert np.abs(final - ((1 - weight) * end + weight * start)).max() <= 0.5
    first = (pixels(out / "f002.png") - pixels(seams / "f002.png.end.png")).std()
    second = (pixels(out / "f003.png") - pixels(seams / "f003.png.end.png")).std()
    assert first < second  # the fade moves from the earlier chunk towards the later one
    last = events[-1]
    assert (last.rendered, last.renders, last.written, last.frames) == (14, 14, 10, 10)
    assert any(e.rate and e.eta is not None for e in events)
    assert [e.rendered for e in events] == sorted(e.rendered for e in events)

    before = mtimes(out)
    again = stylize_video_on_ray(frames, [DEMO_STYLE], out, ray="local", weights="random")
    assert (again.done, again.workers) == (0, 0)  # nothing to do: no cluster started
    assert mtimes(out) == before

    blended = pixels(out / "f006.png")
    for name in ("f005.png", "f006.png"):  # as if stopped before these were written
        (out / name).unlink()
    again = stylize_video_on_ray(
        frames, [DEMO_STYLE], out, ray="local", weights="random", iterations=3, scales=1, seed=1
    )
    assert (again.done, again.skipped, again.workers) == (1, 13, 1)  # f005 only; f006 blended
    after = mtimes(out)
    assert all(after[n] == t for n, t in before.items() if n not in ("f005.png", "f006.png"))
    assert np.array_equal(pixels(out / "f006.png"), blended)


def test_a_killed_worker_has_its_chunk_retried_and_every_frame_written_once(tmp_path):
    frames = pan(tmp_path / "in", 10)
    out = tmp_path / "out"
    run = subprocess.Popen(
        command(frames, out, 40), env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    killed, seen = None, {}
    deadline = time.monotonic() + 240
    while run.poll() is None and time.monotonic() < deadline:
        for path in out.glob("f*.png") if out.exists() else ():
            seen.setdefault(path.name, path.stat().st_mtime_ns)
        workers = busy_workers()
        if killed is None and seen and workers:  # mid-chunk: the chunk must be retried
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    stdout, stderr = run.communicate(timeout=240)
    assert run.returncode == 0, stderr[-3000:]
    assert killed is not None, "the run ended before a worker could be killed"
    summary = json.loads(stdout)
    assert summary["done"] == 14 and summary["workers"] == 2
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in frames.iterdir())
    assert all(mtimes(out)[name] == mtime for name, mtime in seen.items())  # never rewritten


def test_a_video_stopped_midway_continues_and_keeps_its_audio(tmp_path):
    source, target = tmp_path / "clip.mp4", tmp_path / "styled.mkv"
    pictures = [np.asarray(Image.open(p)) for p in sorted(pan(tmp_path / "f", 10).iterdir())]
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 40, 32, "yuv420p"
        audio = out.add_stream("aac", rate=22050)
        for picture in pictures:
            out.mux(video.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        out.mux(video.encode())
        tone = np.sin(np.arange(22050) / 8.0).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 22050
        out.mux(audio.encode(frame))
        out.mux(audio.encode())
    work = Path(str(target) + ".nst-frames")
    run = subprocess.Popen(command(source, target, 40), env=ENV, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while len(list(work.glob("frame-*.png"))) < 3 and time.monotonic() < deadline:
        assert run.poll() is None, "nst video ended before it could be stopped"
        time.sleep(0.05)
    run.send_signal(signal.SIGINT)  # Ctrl-C: the cluster stops, the finished frames stay
    assert run.wait(timeout=60) == 130
    assert (work / chunks.WORK / "input").is_dir()  # the frames, extracted once
    kept = mtimes(work)
    assert not target.exists() and 3 <= len([n for n in kept if n.startswith("frame-")]) < 10

    again = subprocess.run(command(source, target, 40), env=ENV, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr[-3000:]
    summary = json.loads(again.stdout)
    assert summary["skipped"] >= 3 and summary["done"] + summary["skipped"] == 14
    assert not work.exists()  # the frames went into the video
    with av.open(str(target)) as got:
        assert got.streams.audio, "the audio was not copied"
        decoded = [f.to_ndarray(format="rgb24") for f in got.decode(video=0)]
    assert len(decoded) == 10 and decoded[0].shape == (32, 40, 3)
    assert np.abs(decoded[0].astype(float) - pictures[0]).mean() > 10  # stylized, not copied


@pytest.mark.parametrize(
    "flags, says",
    [
        (["--chunk", "4"], "--chunk needs --ray"),
        (["--ray", "local", "--chunk", "4", "--overlap", "4"], "smaller than --chunk"),
        (["--ray", "local", "--chunk", "0"], "at least 1 frame"),
        (["--ray", "local", "--workers", "0"], "at least 1"),
    ],
)
def test_a_split_that_cannot_work_is_one_sentence_and_starts_nothing(tmp_path, capsys, flags, says):
    frames = pan(tmp_path / "in", 3)
    out = tmp_path / "out"
    code = cli.main(["video", str(frames), str(DEMO_STYLE), "-o", str(out), *TINY, *flags])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and says in message and message.endswith(".")
    assert not out.exists()


def test_a_rerun_with_another_split_is_one_sentence(tmp_path, capsys):
    frames = pan(tmp_path / "in", 6)
    out = tmp_path / "out"
    chunks.record_split(out, 6, 4, 2)  # an unfinished run's split
    args = ["video", str(frames), str(DEMO_STYLE), "-o", str(out), *TINY, "--chunk", "3"]
    code = cli.main([*args, "--ray", "local"])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and "--chunk 4 --overlap 2" in message and message.endswith(".")


def test_the_plan_cuts_ten_frames_into_chunks_of_four_overlapping_by_two(tmp_path):
    names = [f"f{i:03d}.png" for i in range(10)]
    plan = chunks.Plan.make([tmp_path / n for n in names], tmp_path, names, 4, 2)
    assert [(c.start, c.stop) for c in plan.chunks] == [(0, 4), (2, 8), (6, 10)]
    assert plan.renders == 14
    assert {s.final.name: s.weight for s in plan.seams} == SEAMS
    sides = [[Path(t).name for t in c.targets] for c in plan.chunks]
    assert sides[0] == ["f000.png", "f001.png", "f002.png.end.png", "f003.png.end.png"]
    assert sides[1] == [
        *("f002.png.start.png", "f003.png.start.png", "f004.png", "f005.png"),
        *("f006.png.end.png", "f007.png.end.png"),
    ]
    assert sides[2] == ["f006.png.start.png", "f007.png.start.png", "f008.png", "f009.png"]
    assert chunks.spans(10, 4, 0) == [(0, 4), (4, 8), (8, 10)]
    assert chunks.spans(3, 48, 4) == [(0, 3)]
