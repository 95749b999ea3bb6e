"""Benchmark `nst serve`: what the service adds to a small job, and how soon progress arrives.

    .venv/bin/python bench/bench_service.py
    .venv/bin/python bench/bench_service.py --size 64 --iterations 20 --runs 5
    .venv/bin/python bench/bench_service.py --engine fast --size 384 --runs 10  # a quick preview
    .venv/bin/python bench/bench_service.py --first-iteration --runs 3        # the first step
    .venv/bin/python bench/bench_service.py --ray --runs 10   # the plain service against --ray

Both sides run with a warm engine (one job first, not counted) and the same settings
(random weights: the engine's work is the same as with real ones):

- Python API: `nst_plugin.stylize(content, style, size=..., iterations=...)` in this process;
- service: `nst serve --preload` in a child process, a job through the host kit's client
  (upload the same two JPEG files, follow the event stream, download the PNG result).

Runs alternate between the two, so both meet the same load on the machine.

Printed: the median wall time of each, the service's overhead, and the time from submit to
the first progress event and to the first optimizing step.

`--ray` compares instead the plain service with `nst serve --ray local --workers 1` (its
renders on a local Ray cluster's worker), both started with `--preload` at the same time: the
seconds from the start to listening with the engine loaded, then tiny jobs alternating
between the two (each warm, one job first not counted), their submit -> result, submit ->
first step and the difference (what Ray adds per job), and after each job one cancelled at
its third iteration: the time from the cancel to the start of the job queued behind it.

`--first-iteration` measures instead how soon a job's first iteration arrives when nothing is
warm yet (random weights, the bundled Wave scaled to each `--sizes` long edge, "good"
quality: 200 iterations, cancelled after the first): `nst serve` started the way a plug-in
starts it (`--idle-exit 30`), the job sent as soon as it listens, without the warm-up
(`--no-warm-up`, as before it existed) and with it (the default); a warm service (its warm-up
done, this size never run); and `nst stylize` from its start. Each run is a new process.
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
SERVE = [sys.executable, "-m", "nst_plugin.cli", "serve", "--weights", "random"]


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


def start_service(folder: Path, *flags: str):
    """`nst serve --weights random FLAGS` (default `--preload`) in `folder`, once it listens:
    (process, client); what it prints goes to folder/stdout.txt."""
    from nst_plugin.hostkit import client, discovery

    folder.mkdir(parents=True, exist_ok=True)
    env = {
        **os.environ,
        "NST_SERVICE_FILE": str(folder / "service.json"),
        "XDG_STATE_HOME": str(folder / "state"),
        "XDG_DATA_HOME": str(folder / "data"),
        "NST_PLUGINS": "",
        "TF_CPP_MIN_LOG_LEVEL": "3",
    }
    errors = open(folder / "stderr.txt", "wb")  # noqa: SIM115 - read back on failure
    printed = open(folder / "stdout.txt", "wb")  # noqa: SIM115 - read back for the warm-up
    proc = subprocess.Popen(
        [*SERVE, *(flags or ["--preload"])],
        env=env,
        stdout=printed,
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
    parser.add_argument(
        "--first-iteration", action="store_true", help="time to the first iteration instead"
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[512, 2048])
    parser.add_argument(
        "--jax", action="store_true", help="with --first-iteration: nst stylize on JAX too"
    )
    parser.add_argument(
        "--ray",
        action="store_true",
        help="compare the plain service with `nst serve --ray local --workers 1` instead",
    )
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    os.environ["NST_PLUGINS"] = ""
    if args.first_iteration:
        return first_iteration(args)
    if args.ray:
        return on_ray(args)

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


# --------------------------------------------------------------------------- --ray

RAY = ("--preload", "--ray", "local", "--workers", "1")


def on_ray(args) -> int:
    """The plain service and one on a local Ray cluster: start, then jobs alternating."""
    runs: dict[str, list[tuple[float, ...]]] = {"plain": [], "ray": []}
    started, services = {}, {}
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for name, flags in (("plain", ("--preload",)), ("ray", RAY)):
                began = time.perf_counter()
                services[name] = start_service(Path(tmp) / name, *flags)
                started[name] = time.perf_counter() - began
            for name in services:  # warm: not counted
                service_job(args, services[name][1])
            for _ in range(args.runs):  # interleaved, so both meet the same machine load
                for name, (_, conn) in services.items():
                    runs[name].append((*service_job(args, conn), cancel_to_free(conn)))
        finally:
            for proc, _ in services.values():
                proc.terminate()
                proc.wait(60)
    med = statistics.median
    plain, ray = ([med(col) for col in zip(*runs[name])] for name in ("plain", "ray"))
    work = "one pass" if args.engine == "fast" else f"{args.iterations} iterations, random weights"
    print(
        f"nst serve against nst serve --ray local --workers 1: {args.engine} engine, "
        f"{args.size} px, {work}, median of {args.runs} (warm engine); {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}"
    )
    print(f"  {'':<34} {'plain':>9} {'--ray':>9} {'difference':>11}")
    rows = [("start -> listening, engine loaded", started["plain"], started["ray"])]
    rows += [
        ("submit -> result", plain[0], ray[0]),
        ("submit -> first event", plain[1], ray[1]),
        ("submit -> first step", plain[2], ray[2]),
        ("cancel -> the next job starts", plain[4], ray[4]),
    ]
    for label, a, b in rows:
        print(f"  {label:<34} {a * 1000:7.0f} ms {b * 1000:7.0f} ms {(b - a) * 1000:+8.0f} ms")
    return 0


def cancel_to_free(conn) -> float:
    """Seconds from cancelling a running job to the start of the job queued behind it."""
    job = conn.submit(
        CONTENT.read_bytes(), styles=[STYLE.read_bytes()], options={"size": 48, "iterations": 1000}
    )
    with conn.events(job) as stream:
        for event in stream:
            if event.get("step", 0) >= 3:
                break
    asked = time.time()
    conn.cancel(job)
    after = conn.submit(
        CONTENT.read_bytes(), styles=[STYLE.read_bytes()], options={"size": 32, "iterations": 2}
    )
    conn.wait(after)
    return conn.status(after)["started"] - asked


# --------------------------------------------------------------------------- --first-iteration

FIRST_OPTIONS = {"iterations": 200}  # the editors' "good" quality; cancelled after step 1
CLI_FIRST_STEP = """
import os, sys, time
from nst_plugin import hookimpl
from nst_plugin.cli import main
from nst_plugin.plugins import get_plugin_manager

class FirstStep:
    @hookimpl
    def nst_progress(self, event):
        if event.step >= 1:
            print("FIRST-STEP", time.time(), file=sys.stderr, flush=True)
            os._exit(0)

get_plugin_manager().register(FirstStep())
sys.exit(main(sys.argv[1:]))
"""


def photo(folder: Path, edge: int) -> Path:
    """The Wave as a JPEG with a long edge of `edge` px (what an editor would send)."""
    from PIL import Image

    img = Image.open(CONTENT).convert("RGB")
    w, h = img.size
    out = folder / f"wave-{edge}.jpg"
    img.resize((edge, round(h * edge / w)), Image.Resampling.LANCZOS).save(out, quality=92)
    return out


def to_first_step(conn, content: Path, size: int) -> float:
    """Submit a job and follow it to its first iteration; its time (perf_counter) then. The job
    is cancelled there."""
    job = conn.submit(
        content.read_bytes(), styles=[STYLE.read_bytes()], options={**FIRST_OPTIONS, "size": size}
    )
    with conn.events(job) as stream:
        for event in stream:
            if event.get("step", 0) >= 1:
                seen = time.perf_counter()
                break
            if event["event"] != "progress":
                raise SystemExit(f"the job ended before its first step: {event}")
    conn.cancel(job)
    return seen


def stop(proc) -> None:
    proc.terminate()
    proc.wait(60)


def plugin_start(folder: Path, content: Path, size: int, *flags: str) -> tuple[float, float]:
    """A service started as a plug-in starts it, the job sent once it listens: seconds from
    the start and from the submit to the first iteration."""
    began = time.perf_counter()
    proc, conn = start_service(folder, "--idle-exit", "30", *flags)
    try:
        sent = time.perf_counter()
        seen = to_first_step(conn, content, size)
    finally:
        stop(proc)
    return seen - began, seen - sent


def warm_service(folder: Path, content: Path, size: int) -> float:
    """Seconds from submit to the first iteration on a service whose warm-up is done."""
    proc, conn = start_service(folder, "--idle-exit", "30")
    try:
        deadline = time.monotonic() + 300
        while b"the engine is ready" not in (folder / "stdout.txt").read_bytes():
            if time.monotonic() > deadline or proc.poll() is not None:
                raise SystemExit("the service's warm-up did not end: " + str(folder))
            time.sleep(0.05)
        sent = time.perf_counter()
        return to_first_step(conn, content, size) - sent
    finally:
        stop(proc)


def cli_start(folder: Path, content: Path, size: int, **env_vars: str) -> float:
    """Seconds from starting `nst stylize` (with `env_vars`) to its first iteration."""
    folder.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "NST_PLUGINS": "", "TF_CPP_MIN_LOG_LEVEL": "3", **env_vars}
    argv = [str(content), str(STYLE), "-o", str(folder / "out.png"), "--size", str(size)]
    argv += ["--iterations", str(FIRST_OPTIONS["iterations"]), "--weights", "random"]
    began = time.time()
    done = subprocess.run(
        [sys.executable, "-c", CLI_FIRST_STEP, "stylize", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    marks = [line for line in done.stderr.splitlines() if line.startswith("FIRST-STEP")]
    if not marks:
        raise SystemExit("nst stylize gave no first step:\n" + done.stderr[-2000:])
    return float(marks[0].split()[1]) - began


def first_iteration(args) -> int:
    """Run every case `args.runs` times, interleaved; print the medians."""
    times: dict[str, list[float]] = {}

    def add(case: str, seconds: float) -> None:
        times.setdefault(case, []).append(seconds)
        print(f"  {case:<58} {seconds:6.2f} s", flush=True)

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        photos = {size: photo(root, size) for size in args.sizes}
        n = 0
        for _ in range(args.runs):
            for size in args.sizes:
                for flags, how in (((), "warm-up"), (("--no-warm-up",), "no warm-up")):
                    n += 1
                    start, submit = plugin_start(root / f"s{n}", photos[size], size, *flags)
                    add(f"{size} px, plug-in starts it ({how}): start -> step 1", start)
                    add(f"{size} px, plug-in starts it ({how}): submit -> step 1", submit)
                n += 1
                add(
                    f"{size} px, warm service: submit -> step 1",
                    warm_service(root / f"s{n}", photos[size], size),
                )
            n += 1
            small = photos.get(512) or photo(root, 512)
            add("512 px, nst stylize: start -> step 1", cli_start(root / f"c{n}", small, 512))
            if args.jax:  # JAX's persistent compilation cache: empty, then filled by that run
                cache = {"KERAS_BACKEND": "jax", "XDG_CACHE_HOME": str(root / f"cache{n}")}
                for how in ("empty", "filled"):
                    seconds = cli_start(root / f"c{n}", small, 512, **cache)
                    add(f"512 px, nst stylize on JAX, {how} cache: start -> step 1", seconds)
    print(
        f"\nfirst iteration, median of {args.runs} (random weights, {platform.machine()}, "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"KERAS_BACKEND={os.environ.get('KERAS_BACKEND', 'default')})"
    )
    for case, values in times.items():
        print(f"  {case:<58} {statistics.median(values):6.2f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
