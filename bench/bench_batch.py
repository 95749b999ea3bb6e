"""Batch throughput: images per minute here (`nst batch`), and on a local Ray cluster with 1
and 2 workers; Ray's overhead per image against the run here.

    python bench/bench_batch.py [--images 24] [--size 128] [--iterations 20]

The VGG19 engine on the stand-in random weights (the arithmetic of the real network), `--scales
1`, crops of the bundled Wave. Each run starts from an empty output folder and includes its
start-up (a local cluster's start and each worker loading the engine), as a user sees it.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from nst_plugin.batch import run_batch  # noqa: E402

EXAMPLES = ROOT / "nst_plugin" / "examples"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--iterations", type=int, default=20)
    args = parser.parse_args()
    options = dict(weights="random", iterations=args.iterations, scales=1, size=args.size)
    print(
        f"{args.images} images at {args.size} px, {args.iterations} iterations, random weights; "
        f"{platform.machine()}, {os.cpu_count()} cores"
    )
    print("| run | workers | seconds | images per minute | seconds per image |")
    print("|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        inputs = Path(tmp, "in")
        inputs.mkdir()
        wave = Image.open(EXAMPLES / "wave.jpg").convert("RGB")
        for i in range(args.images):
            wave.crop((i * 4, 0, i * 4 + 160, 120)).save(inputs / f"p{i:03d}.png")
        here = None
        for name, ray, workers in (
            ("here", None, None),
            ("ray local", "local", 1),
            ("ray local", "local", 2),
        ):
            started = time.perf_counter()
            summary = run_batch(
                [inputs],
                [EXAMPLES / "starry_night.jpg"],
                Path(tmp, f"out-{name}-{workers}"),
                engine="vgg19",
                options=options,
                ray=ray,
                workers=workers,
            )
            seconds = time.perf_counter() - started
            assert summary.done == args.images, summary
            per = seconds / args.images
            here = here or per
            extra = "" if ray is None else f" ({(per - here) * 1000:+.0f} ms vs here)"
            print(
                f"| {name} | {summary.workers} | {seconds:.1f} | {60 / per:.1f} "
                f"| {per:.2f}{extra} |"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
