"""Benchmark the service's time estimates: learn from a few vgg19 jobs, predict others.

    .venv/bin/python bench/bench_estimates.py
    .venv/bin/python bench/bench_estimates.py --learn 96x30 160x30 224x30 --predict 288x40 128x90

The jobs run in this process on one `JobRunner` (random weights: the engine's work is the
same as with real ones), the bundled Wave scaled to each long edge, default settings
(automatic scales). Each `--learn` job is recorded as the service records a finished job
(`estimates.History`, in a temporary file); each `--predict` job is estimated from that
history first, then run, and recorded too. Printed: per predicted job, the estimate, the
measured time and their ratio, and the fitted rate and overhead. The engine is warmed up
first (not recorded), as the service's background warm-up does.
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "nst_plugin" / "examples" / "wave.jpg"
STYLE = ROOT / "nst_plugin" / "examples" / "starry_night.jpg"


def job_spec(text: str) -> tuple[int, int]:
    """`SIZExITERATIONS`, e.g. 160x30."""
    size, _, iterations = text.partition("x")
    return int(size), int(iterations)


def run(runner, size: int, iterations: int):
    job = runner.submit(
        str(CONTENT), str(STYLE), size=size, iterations=iterations, weights="random"
    )
    job.wait()
    if job.error is not None:
        raise job.error
    return job


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--learn", nargs="+", type=job_spec, default=[(96, 30), (160, 30), (224, 30)]
    )
    parser.add_argument("--predict", nargs="+", type=job_spec, default=[(288, 40), (128, 90)])
    args = parser.parse_args()

    from nst_plugin.jobs import JobRunner
    from nst_plugin.options import Settings
    from nst_plugin.service.estimates import History, Sample, fit, megapixels

    print(f"{platform.node()}: {platform.processor() or platform.machine()}")
    with tempfile.TemporaryDirectory() as folder, JobRunner(broadcast=False) as runner:
        history = History(Path(folder) / "job-times.json")
        runner.warm_up(settings=Settings(weights="random"))

        def record(job, iterations: int) -> float:
            done = megapixels(*job.result.image.size)
            history.record("vgg19", Sample(done, iterations, job.seconds))
            return job.seconds

        for size, iterations in args.learn:
            seconds = record(run(runner, size, iterations), iterations)
            print(f"learn   {size:4d} px x {iterations:3d} it: {seconds:6.2f} s")
        rate, overhead = fit(history.samples("vgg19"))
        print(f"fit: {rate:.2f} s per megapixel-iteration, {overhead:.2f} s per job")
        print("| job | estimate | measured | ratio |\n|---|---|---|---|")
        for size, iterations in args.predict:
            w, h = _size(size)
            estimate, based_on = history.estimate("vgg19", megapixels(w, h), iterations)
            seconds = record(run(runner, size, iterations), iterations)
            print(
                f"| {w}x{h}, {iterations} iterations | {estimate:.1f} s (from {based_on}) "
                f"| {seconds:.1f} s | {estimate / seconds:.2f} |"
            )


def _size(long_edge: int) -> tuple[int, int]:
    from PIL import Image

    w, h = Image.open(CONTENT).size
    return round(w * long_edge / max(w, h)), round(h * long_edge / max(w, h))


if __name__ == "__main__":
    main()
