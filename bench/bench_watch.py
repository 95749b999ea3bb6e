"""Benchmark the hot folder: the watcher's own cost per file, and the delay from settle to start.

    .venv/bin/python bench/bench_watch.py                  # 1,000 files, inotify and polling
    .venv/bin/python bench/bench_watch.py --files 200 --real 0

Each observer gets two runs with an engine plugin that does nothing (so what is measured is
the watcher: claiming, loading, saving, moving, logging):

- burst: N files dropped at once; wall and CPU time per file from the first job to the last;
- trickle: N files dropped one at a time, further apart than a job takes; for each file the
  delay from "settled" to its job starting, counted two ways: from the file's last write plus
  --settle (what a user sees, event delivery included) and from the moment the watcher's
  own settle timer ran out (the watcher's scheduling alone).

Then the real VGG19 engine (--weights random) on a few small images in one watcher: how many
times the network is built, and each job's time.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

from PIL import Image

from nst_plugin import Engine, Result, hookimpl
from nst_plugin.hotfolder import WatchConfig, Watcher
from nst_plugin.plugins import get_plugin_manager

EXAMPLES = Path(__file__).resolve().parents[1] / "nst_plugin" / "examples"


class StampEngine:
    """Engine "fast": returns the content at once and notes when each file's job started.

    A file's index is coded in its first pixel, so a start time maps back to its file.
    """

    def __init__(self) -> None:
        self.starts: dict[int, float] = {}
        self.engine_seconds = 0.0

    @hookimpl
    def nst_register_engines(self, register):
        register(Engine("fast", "benchmark stand-in: returns the content at once", self.stylize))

    def stylize(self, request, reporter):
        t0 = time.time()
        r, g, b = request.content.getpixel((0, 0))
        if b == 7:
            self.starts[r + 256 * g] = t0
        self.engine_seconds += time.time() - t0
        return Result(
            image=request.content,
            iterations=1,
            seconds=0.0,
            losses=[1.0, 0.5],
            engine="fast",
            backend="none",
            device="CPU",
        )


def image_bytes(index: int) -> bytes:
    img = Image.new("RGB", (32, 32), (index % 256, index // 256, 7))
    buf = io.BytesIO()
    img.save(buf, "PNG")
    return buf.getvalue()


@contextlib.contextmanager
def running_watcher(inbox: Path, style: Path, observer: str, settle: float) -> Iterator[Watcher]:
    """A watcher running in a thread until the block ends."""
    config = WatchConfig(
        inbox=inbox,
        style=str(style),
        engine="fast",
        settle=settle,
        polling=observer == "polling",
        rescan=3600,
    )
    with open(os.devnull, "w") as out:
        watcher = Watcher(config, out=out, err=io.StringIO())
        thread = threading.Thread(target=watcher.run, daemon=True)
        thread.start()
        watcher.ready.wait(60)
        try:
            yield watcher
        finally:
            watcher.stop()
            thread.join()


def timed_claims(watcher: Watcher, settle: float) -> dict[str, float]:
    """Record, per file, how long after its settle timer ran out the watcher claimed it."""
    delays: dict[str, float] = {}
    claim = watcher.inbox.claim

    def measured(rel: str, folder: Path) -> bool:
        seen = watcher.inbox.pending.get(rel)
        if seen is not None:
            delays[rel] = time.monotonic() - (seen[1] + settle)
        return claim(rel, folder)

    watcher.inbox.claim = measured
    return delays


def wait_done(watcher: Watcher, n: int, timeout: float = 600) -> float:
    deadline = time.monotonic() + timeout
    while watcher.done + watcher.failed < n:
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out: {watcher.done} of {n} files done")
        time.sleep(0.002)
    return time.time()


def burst(
    root: Path, style: Path, engine: StampEngine, observer: str, n: int, settle: float
) -> dict:
    inbox = root / f"burst-{observer}"
    inbox.mkdir()
    with running_watcher(inbox, style, observer, settle) as watcher:
        engine.starts.clear()
        engine.engine_seconds = 0.0
        blobs = [image_bytes(i) for i in range(n)]
        t_drop = time.monotonic()
        for i, blob in enumerate(blobs):
            (inbox / f"b{i:04d}.png").write_bytes(blob)
        drop_seconds = time.monotonic() - t_drop
        if drop_seconds > settle * 0.8:
            print(f"warning: dropping took {drop_seconds:.2f}s, close to --settle", file=sys.stderr)
        cpu0 = time.process_time()
        end = wait_done(watcher, n)
        cpu = time.process_time() - cpu0
    first = min(engine.starts.values())
    wall = (end - first) / n
    return {
        "wall_ms": wall * 1000,
        "cpu_ms": cpu / n * 1000,
        "engine_ms": engine.engine_seconds / n * 1000,
        "done": watcher.done,
    }


def trickle(
    root: Path, style: Path, engine: StampEngine, observer: str, n: int, settle: float, gap: float
) -> dict:
    inbox = root / f"trickle-{observer}"
    inbox.mkdir()
    with running_watcher(inbox, style, observer, settle) as watcher:
        internal = timed_claims(watcher, settle)
        engine.starts.clear()
        written: dict[int, float] = {}
        for i in range(n):
            path = inbox / f"t{i:04d}.png"
            path.write_bytes(image_bytes(i))
            written[i] = path.stat().st_mtime
            time.sleep(gap)
        wait_done(watcher, n)
    seen = [(engine.starts[i] - (written[i] + settle)) * 1000 for i in range(n)]
    own = [d * 1000 for d in internal.values()]
    return {"seen": summary(seen), "own": summary(own)}


def summary(values: list[float]) -> str:
    values = sorted(values)
    p95 = values[int(0.95 * (len(values) - 1))]
    return f"median {statistics.median(values):.1f} ms, p95 {p95:.1f} ms, max {values[-1]:.1f} ms"


def real_engine(root: Path, files: int) -> dict:
    """The VGG19 engine in one watcher: network builds and per-job seconds."""
    from nst_plugin.vgg19 import network

    builds = []
    real_build = network.build
    network.build = lambda *a, **k: builds.append(1) or real_build(*a, **k)
    inbox = root / "real"
    inbox.mkdir()
    for i in range(files):
        source = EXAMPLES / ("wave.jpg" if i % 2 else "starry_night.jpg")
        (inbox / f"r{i}.jpg").write_bytes(source.read_bytes())
    log = io.StringIO()
    from nst_plugin import Settings

    config = WatchConfig(
        inbox=inbox,
        style=str(EXAMPLES / "starry_night.jpg"),
        once=True,
        settle=0.1,
        settings=Settings(weights="random", size=64, iterations=5),
    )
    t0 = time.monotonic()
    code = Watcher(config, out=log, err=io.StringIO()).run()
    total = time.monotonic() - t0
    network.build = real_build
    for line in log.getvalue().splitlines():
        if " done " not in line:
            print(line, file=sys.stderr)
    seconds = [
        float(word[:-1])
        for line in log.getvalue().splitlines()
        for word in line.split()
        if word.endswith("s") and word[:-1].replace(".", "").isdigit()
    ]
    return {
        "code": code,
        "builds": len(builds),
        "jobs": seconds,
        "total": total,
        "outputs": len(list((inbox / "out").iterdir())),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--gap", type=float, default=0.02, help="seconds between trickled files")
    parser.add_argument("--observers", default="inotify,polling")
    parser.add_argument("--real", type=int, default=6, help="files for the real engine (0: skip)")
    args = parser.parse_args()

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    engine = StampEngine()
    get_plugin_manager().register(engine)
    print(
        f"# nst watch benchmark, {time.strftime('%Y-%m-%d')}, {platform.machine()} "
        f"{os.cpu_count()} CPUs, Python {platform.python_version()}, {args.files} files, "
        f"--settle {args.settle}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        style = root / "style.png"
        Image.new("RGB", (32, 32), (20, 40, 200)).save(style)
        for observer in filter(None, args.observers.split(",")):
            b = burst(root, style, engine, observer, args.files, args.settle)
            print(
                f"{observer:8} burst:   {b['wall_ms']:.1f} ms wall, "
                f"{b['cpu_ms']:.1f} ms CPU per file "
                f"(engine stub {b['engine_ms']:.3f} ms), {b['done']} done"
            )
            t = trickle(root, style, engine, observer, args.files, args.settle, args.gap)
            print(f"{observer:8} trickle: last write + settle -> job start: {t['seen']}")
            print(f"{observer:8} trickle: watcher's settle timer -> claim:  {t['own']}")
        if args.real:
            r = real_engine(root, args.real)
            jobs = ", ".join(f"{s:.1f}" for s in r["jobs"])
            print(
                f"vgg19 (random weights, 64 px, 5 iterations): {r['outputs']} outputs from "
                f"{args.real} files, network built {r['builds']} time(s), job seconds [{jobs}], "
                f"{r['total']:.1f} s in all (engine load included), exit {r['code']}"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
