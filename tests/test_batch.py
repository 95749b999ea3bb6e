"""`nst batch`: one output per input, a bad input reported while the rest go on, the same
command again redoing nothing; and on a real local Ray cluster (2 CPUs) two workers, a worker
killed mid-run losing nothing. The VGG19 engine on stand-in random weights, tiny images."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from PIL import Image

from nst_plugin import cli
from nst_plugin.cli.stylize import DEMO_CONTENT, DEMO_STYLE

TINY = ["--weights", "random", "--iterations", "3", "--size", "32", "--scales", "1"]


def photos(folder: Path, count: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    wave = Image.open(DEMO_CONTENT).convert("RGB")
    for i in range(count):
        wave.crop((i * 8, 0, i * 8 + 64, 48)).save(folder / f"photo{i:02d}.jpg")
    return folder


def outputs(folder: Path) -> dict[str, int]:
    return {p.name: p.stat().st_mtime_ns for p in folder.iterdir()}


def test_a_batch_here_reports_a_bad_file_does_the_rest_and_resumes(tmp_path, capsys):
    inputs = photos(tmp_path / "in", 3)
    (inputs / "broken.png").write_bytes(b"not an image")
    out = tmp_path / "out"
    args = ["batch", str(inputs), str(DEMO_STYLE), "-o", str(out), *TINY, "--json", "-q"]
    assert cli.main(args) == 1  # a failure is reported in the exit code
    captured = capsys.readouterr()
    summary = json.loads(captured.out)
    assert summary["done"] == 3 and summary["total"] == 4 and summary["workers"] == 1
    assert [f["input"] for f in summary["failed"]] == [str(inputs / "broken.png")]
    assert "broken.png" in captured.err and captured.err.strip().endswith(".")
    first = outputs(out)
    assert sorted(first) == ["photo00.jpg", "photo01.jpg", "photo02.jpg"]
    (inputs / "broken.png").unlink()
    assert cli.main(args) == 0
    again = json.loads(capsys.readouterr().out)
    assert again["done"] == 0 and again["skipped"] == 3
    assert outputs(out) == first  # nothing rewritten


def test_two_inputs_that_would_share_an_output_are_one_sentence(tmp_path, capsys):
    a, b = photos(tmp_path / "a", 1), photos(tmp_path / "b", 1)
    out = tmp_path / "out"
    assert cli.main(["batch", str(a), str(b), str(DEMO_STYLE), "-o", str(out), *TINY]) == 2
    message = capsys.readouterr().err.strip()
    assert "would both become photo00.jpg" in message and message.endswith(".")
    assert not out.exists()


ray = pytest.importorskip("ray", reason="the Ray tests need Ray: pip install '.[ray]'")


def ray_workers() -> list[int]:
    """The pids of Ray's worker processes (their title starts with ray::Worker)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and (proc / "cmdline").read_bytes().startswith(b"ray::Worker"):
                found.append(int(proc.name))
        except OSError:  # gone meanwhile
            continue
    return found


def test_on_a_local_ray_cluster_two_workers_do_twelve_and_a_killed_worker_loses_nothing(
    tmp_path,
):
    inputs = photos(tmp_path / "in", 12)
    out = tmp_path / "out"
    command = [sys.executable, "-m", "nst_plugin.cli", "batch", str(inputs), str(DEMO_STYLE)]
    command += ["-o", str(out), *TINY, "--ray", "local", "--workers", "2", "--json", "-q"]
    run = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 240
    while run.poll() is None and time.monotonic() < deadline:
        done = len(list(out.glob("photo*.jpg"))) if out.exists() else 0
        workers = ray_workers()
        if killed is None and done >= 2 and workers:
            killed = workers[0]
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.05)
    stdout, stderr = run.communicate(timeout=240)
    assert run.returncode == 0, stderr
    assert killed is not None, "the run ended before a worker could be killed"
    summary = json.loads(stdout)  # stdout holds the summary only: Ray's notices go to stderr
    assert summary, f"no summary on stdout; stderr: {stderr[-2000:]}"
    assert summary["workers"] == 2 and not summary["failed"]
    assert summary["done"] + summary["skipped"] == 12
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"photo{i:02d}.jpg" for i in range(12)]  # all there, no temporary files
    first = outputs(out)
    again = subprocess.run(command, capture_output=True, text=True, timeout=240)
    assert again.returncode == 0, again.stderr
    assert json.loads(again.stdout)["skipped"] == 12
    assert outputs(out) == first
