"""Benchmark `nst serve`: what the service adds to a small job, and how soon progress arrives.

    .venv/bin/python bench/bench_service.py
    .venv/bin/python bench/bench_service.py --size 64 --iterations 20 --runs 5
    .venv/bin/python bench/bench_service.py --engine fast --size 384 --runs 10  # a quick preview

Both sides run with a warm engine (one job first, not counted) and the same settings
(random weights: the engine's work is the same as with real ones):

- Python API: `nst_plugin.stylize(content, style, size=..., iterations=...)` in this process;
- service: `nst serve --preload` in a child process, a job through the host kit's client
  (upload the same two JPEG files, follow the event stream, download the PNG result).

Runs alternate between the two, so both meet the same load on the machine.

Printed: the median wall time of each, the service's overhead, and the time from submit to
the first progress event and to the first optimizing step.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CONTENT = ROOT / "nst_plugin" / "examples" / "wave.jpg"
STYLE = ROOT / "nst_plugin" / "examples" / "starry_night.jpg"


def api_job(args) -> float:
    import nst_plugin

    start = time.perf_counter()
    nst_plugin.stylize(str(CONTENT), str(STYLE), **options(args))
    return time.perf_counter() - start


def options(args) -> dict:
    """The job's options: the fast engine takes no iterations or weights."""
    if args.engine == "fast":
        return {"engine": "fast", "size": args.size}
    return {
        "engine": args.engine,
        "size": args.size,
        "iterations": args.iterations,
        "weights": "random",
    }


def start_service(folder: Path):
    from nst_plugin.hostkit import client, discovery

    env = {
        **os.environ,
        "NST_SERVICE_FILE": str(folder / "service.json"),
        "XDG_STATE_HOME": str(folder / "state"),
        "XDG_DATA_HOME": str(folder / "data"),
        "NST_PLUGINS": "",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    errors = open(folder / "stderr.txt", "wb")  # noqa: SIM115 - read back on failure
    proc = subprocess.Popen(
        [sys.executable, "-m", "nst_plugin.cli", "serve", "--weights", "random", "--preload"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=errors,
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        info = discovery.read_service_file(str(folder / "service.json"))
        if info and info.get("pid") == proc.pid:
            return proc, client.Client(info["url"], info["token"])
        if proc.poll() is not None:
            raise SystemExit(
                "nst serve exited at start:\n"
                + (folder / "stderr.txt").read_text(errors="replace")[-2000:]
            )
        time.sleep(0.05)
    proc.kill()
    raise SystemExit("nst serve did not start within 120 s")


def service_job(args, conn) -> tuple[float, float, float, float]:
    """Seconds: submit -> result, submit -> first event, submit -> first iteration, and the
    part of the first outside the job's own run (upload, decode, queue, PNG, download)."""
    marks = {}

    def note(event):
        now = time.perf_counter()
        marks.setdefault("event", now)
        if event.get("step", 0) >= 1:
            marks.setdefault("step", now)

    start = time.perf_counter()
    job = conn.submit(
        CONTENT.read_bytes(),
        styles=[STYLE.read_bytes()],
        options={k: v for k, v in options(args).items() if k != "weights"},
    )
    conn.wait(job, on_event=note)
    total = time.perf_counter() - start
    status = conn.status(job)
    outside = total - (status["finished"] - status["started"])
    return total, marks["event"] - start, marks["step"] - start, outside


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--iterations", type=int, default=20)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--engine", default="vgg19", choices=("vgg19", "fast"))
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["NST_PLUGINS"] = ""

    api, service = [], []
    with tempfile.TemporaryDirectory() as tmp:
        proc, conn = start_service(Path(tmp))
        try:
            api_job(args), service_job(args, conn)  # warm both: not counted
            for _ in range(args.runs):  # interleaved, so both meet the same machine load
                api.append(api_job(args))
                service.append(service_job(args, conn))
        finally:
            proc.terminate()
            proc.wait(30)
    totals, first_event, first_step, outside = zip(*service)

    med = statistics.median
    work = "one pass" if args.engine == "fast" else f"{args.iterations} iterations, random weights"
    print(
        f"nst serve overhead: {args.engine} engine, {args.size} px, {work}, "
        f"median of {args.runs} (warm engine); {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"  Python API, in process      {med(api) * 1000:8.1f} ms")
    print(f"  service, submit -> result   {med(totals) * 1000:8.1f} ms")
    print(
        f"  service overhead            {(med(totals) - med(api)) * 1000:8.1f} ms "
        f"({(med(totals) / med(api) - 1) * 100:+.0f} %)"
    )
    print(
        f"  outside the job's own run   {med(outside) * 1000:8.1f} ms "
        "(upload, decode, queue, result PNG, download)"
    )
    print(f"  submit -> first event       {med(first_event) * 1000:8.1f} ms")
    print(f"  submit -> first step        {med(first_step) * 1000:8.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
