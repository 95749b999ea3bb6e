"""`nst video` and `nst_plugin.video`: the optical flow on a known pan, less flicker with the
temporal link on both engines, folders and video files in and out (audio copied), a resume
after SIGKILL that redoes nothing, and bad input in one sentence."""

from __future__ import annotations

import itertools
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

from nst_plugin import RequestError, cli  # noqa: E402
from nst_plugin.cli.stylize import DEMO_CONTENT, DEMO_STYLE  # noqa: E402
from nst_plugin.video import chain, flow, stylize_video  # noqa: E402

PAN = 4
VGG = dict(engine="vgg19", weights="random", iterations=20, scales=1, seed=1)


def pan(folder: Path, count: int, width: int = 64, height: int = 48) -> Path:
    """Frames of the bundled Wave panning PAN px a frame to the right."""
    folder.mkdir(parents=True, exist_ok=True)
    photo = Image.open(DEMO_CONTENT).convert("RGB")
    photo = photo.resize((round(photo.width * height / photo.height), height))
    for t in range(count):
        photo.crop((PAN * t, 0, PAN * t + width, height)).save(folder / f"f{t:03d}.png")
    return folder


def warping_error(folder: Path) -> float:
    outs = [np.asarray(Image.open(p), np.float32) for p in sorted(folder.glob("*.png"))]
    pairs = itertools.pairwise(outs)
    return float(np.mean([np.abs(b[:, :-PAN] - a[:, PAN:]).mean() for a, b in pairs]))


def test_the_flow_of_a_pan_is_the_pan_and_pixels_from_outside_are_not_trusted(tmp_path):
    frames = pan(tmp_path / "f", 2, 96, 72)
    a, b = (np.asarray(Image.open(p).convert("RGB")) for p in sorted(frames.iterdir()))
    backward, forward = flow.flow(b, a), flow.flow(a, b)
    inner = (slice(8, -8), slice(8, -16))
    assert np.median(backward[inner][..., 0]) == pytest.approx(PAN, abs=0.5)
    assert np.median(forward[inner][..., 0]) == pytest.approx(-PAN, abs=0.5)
    mask = flow.reliable(backward, forward)
    assert mask[:, -2:].max() == 0  # these came from beyond the previous frame's edge
    assert mask[inner].mean() > 0.7
    warped = flow.warp(a, backward)  # the previous frame moved onto this one
    assert np.abs(warped[inner].astype(float) - b[inner]).mean() < 6


@pytest.mark.parametrize(
    "engine, options", [("fast", dict(engine="fast")), ("vgg19", VGG)], ids=["fast", "vgg19"]
)
def test_the_temporal_link_cuts_the_flicker_along_a_pan(tmp_path, engine, options):
    if engine == "fast":
        pytest.importorskip("onnxruntime", reason="the fast engine needs onnxruntime")
    frames = pan(tmp_path / "frames", 5)
    errors = {}
    for weight in (0.0, 1.0):
        out = tmp_path / f"out-{weight}"
        stylize_video(frames, [DEMO_STYLE], out, size=64, temporal_weight=weight, **options)
        assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in frames.iterdir())
        errors[weight] = warping_error(out)
    assert errors[1.0] <= 0.6 * errors[0.0], errors


def test_a_video_file_in_and_out_keeps_its_frames_and_audio(tmp_path):
    pytest.importorskip("onnxruntime", reason="the fast engine needs onnxruntime")
    source = tmp_path / "clip.mp4"
    frames = [np.asarray(Image.open(p)) for p in sorted(pan(tmp_path / "f", 3).iterdir())]
    with av.open(str(source), "w") as out:
        video = out.add_stream("libx264", rate=12)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream("aac", rate=22050)
        for f in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(video.encode())
        tone = np.sin(np.arange(22050 // 4) / 8.0).astype(np.float32)[None]
        frame = av.AudioFrame.from_ndarray(tone, format="fltp", layout="mono")
        frame.sample_rate = 22050
        out.mux(audio.encode(frame))
        out.mux(audio.encode())
    target = tmp_path / "styled.mp4"
    code = cli.main(
        ["video", str(source), str(DEMO_STYLE), "-o", str(target), "--engine", "fast", "-q"]
    )
    assert code == 0 and target.is_file()
    assert not chain.output_folder(target).exists()  # the frames went into the video
    with av.open(str(target)) as got:
        assert got.streams.audio, "the audio was not copied"
        decoded = [f.to_ndarray(format="rgb24") for f in got.decode(video=0)]
    assert len(decoded) == 3 and decoded[0].shape == (48, 64, 3)
    assert np.abs(decoded[0].astype(float) - frames[0]).mean() > 10  # stylized, not copied


def test_killed_and_run_again_it_ends_with_every_frame_and_redoes_none(tmp_path):
    frames = pan(tmp_path / "frames", 6)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nst_plugin.cli", "video", str(frames), str(DEMO_STYLE)]
    command += ["-o", str(out), "--weights", "random", "--iterations", "60", "--scales", "1"]
    command += ["--size", "64", "-q"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    run = subprocess.Popen(command, env=env)
    deadline = time.monotonic() + 240
    while len(list(out.glob("f*.png"))) < 2 and time.monotonic() < deadline:
        assert run.poll() is None, "nst video ended before it could be killed"
        time.sleep(0.05)
    run.send_signal(signal.SIGKILL)
    run.wait()
    before = {p.name: p.stat().st_mtime_ns for p in out.glob("f*.png")}
    assert 2 <= len(before) < 6
    again = subprocess.run([*command, "--json"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)
    assert summary["skipped"] == len(before) and summary["done"] == 6 - len(before)
    after = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    assert sorted(after) == sorted(p.name for p in frames.iterdir())  # no temporary files left
    assert all(after[name] == mtime for name, mtime in before.items())


@pytest.mark.parametrize("case", ["sizes", "empty", "not a video", "missing"])
def test_bad_input_is_one_sentence_and_writes_nothing(tmp_path, case, capsys):
    source = tmp_path / "in"
    if case == "sizes":
        pan(source, 2)
        Image.new("RGB", (32, 32)).save(source / "f999.png")
    elif case == "empty":
        source.mkdir()
    elif case == "not a video":
        source = tmp_path / "clip.mp4"
        source.write_bytes(b"not a video at all" * 100)
    out = tmp_path / "out"
    code = cli.main(["video", str(source), str(DEMO_STYLE), "-o", str(out), "--engine", "fast"])
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert code == 2 and message.startswith("nst: error: ") and message.endswith(".")
    assert not out.exists()
    with pytest.raises(RequestError):
        stylize_video(source, [DEMO_STYLE], out, engine="fast")


@pytest.fixture
def small_disk(tmp_path):
    """A real 40 KB file system (tmpfs), so a run fills it; needs root and mount."""
    where = tmp_path / "disk"
    where.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(where)], capture_output=True
    )
    if mounted.returncode != 0:
        pytest.skip("mounting a small tmpfs needs root: " + mounted.stderr.decode().strip())
    yield where
    subprocess.run(["umount", "-l", str(where)], check=False)


def test_a_disk_that_fills_is_one_sentence_and_the_finished_frames_resume(
    tmp_path, small_disk, capsys
):
    pytest.importorskip("onnxruntime", reason="the fast engine needs onnxruntime")
    frames = pan(tmp_path / "frames", 8, 96, 72)
    out = small_disk / "out"
    args = ["video", str(frames), str(DEMO_STYLE), "-o", str(out), "--engine", "fast", "-q"]
    assert cli.main(args) == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "disk space" in message and message.endswith(".")
    finished = sorted(p.name for p in out.glob("f*.png"))
    assert 0 < len(finished) < 8
    moved = tmp_path / "out"  # the user makes room: here, the frames move to a larger disk
    moved.mkdir()
    for name in finished:
        (moved / name).write_bytes((out / name).read_bytes())
    args[4] = str(moved)
    assert cli.main([*args, "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["skipped"] == len(finished) and summary["done"] == 8 - len(finished)
