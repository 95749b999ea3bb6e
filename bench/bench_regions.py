"""What style regions cost: an engine with style masks or a strength map against one style at
the same size.

    python bench/bench_regions.py [--size 256] [--iterations 10] [--rounds 3]
    python bench/bench_regions.py --engine fast [--size 1024] [--rounds 3]

Random weights (the arithmetic of the ImageNet network; the pictures mean nothing), --scales 1,
otherwise default settings, wave.jpg made square as the photo. Cases, alternated in rounds
(this VM is noisy) and reported as medians:
- one style: starry_night.jpg, no guides (the plain Gram loss);
- strength map: the same style with a left-to-right gradient map (one guided region and the
  pull towards the photo);
- two styles blended: starry_night and wave as styles, no masks (the plain loss, mixed targets);
- two regions: the same two styles with complementary half masks;
- four regions: four styles (the two, each also mirrored) with quarter masks.
Per iteration: the mean interval between the run's progress events (setup and the first
evaluation excluded); wall: the whole `nst_plugin.stylize` call, including loading the
images and the style statistics. The fast engine (real weights, one pass per style and one
more for the strength map) has no iterations: its column is the wall time.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

from PIL import Image, ImageOps

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import nst_plugin  # noqa: E402
from nst_plugin.vgg19 import load_engine  # noqa: E402

EXAMPLES = ROOT / "nst_plugin" / "examples"


def cases(size: int) -> dict[str, dict]:
    photo = ImageOps.fit(Image.open(EXAMPLES / "wave.jpg").convert("RGB"), (size, size))
    starry = Image.open(EXAMPLES / "starry_night.jpg").convert("RGB")
    wave = Image.open(EXAMPLES / "wave.jpg").convert("RGB")

    def box(x0, y0, x1, y1) -> Image.Image:
        mask = Image.new("L", (size, size), 0)
        mask.paste(255, (round(x0 * size), round(y0 * size), round(x1 * size), round(y1 * size)))
        return mask

    gradient = Image.linear_gradient("L").rotate(90).resize((size, size))
    halves = [box(0, 0, 0.5, 1), box(0.5, 0, 1, 1)]
    quarters = [box(0, 0, 0.5, 0.5), box(0.5, 0, 1, 0.5), box(0, 0.5, 0.5, 1), box(0.5, 0.5, 1, 1)]
    four = [starry, wave, ImageOps.mirror(starry), ImageOps.mirror(wave)]
    return {
        "one style": dict(content=photo, styles=[starry]),
        "one style + strength map": dict(content=photo, styles=[starry], strength_map=gradient),
        "two styles blended": dict(content=photo, styles=[starry, wave]),
        "two regions": dict(content=photo, styles=[starry, wave], style_masks=halves),
        "four regions": dict(content=photo, styles=four, style_masks=quarters),
    }


def measure(case: dict, size: int, iterations: int, engine: str) -> tuple[float, float, str]:
    """(wall seconds, seconds per iteration, precision) of one run."""
    stamps: list[float] = []
    if engine == "fast":
        started = time.perf_counter()
        nst_plugin.stylize(
            case["content"],
            case["styles"],
            engine="fast",
            size=size,
            preview_every=0,
            style_masks=case.get("style_masks"),
            strength_map=case.get("strength_map"),
        )
        wall = time.perf_counter() - started
        return wall, wall, "float32"

    def on_progress(event) -> None:
        if event.stage == "optimizing" and event.step:
            stamps.append(time.perf_counter())

    started = time.perf_counter()
    result = nst_plugin.stylize(
        case["content"],
        case["styles"],
        size=size,
        iterations=iterations,
        scales=1,
        weights="random",
        preview_every=0,
        style_masks=case.get("style_masks"),
        strength_map=case.get("strength_map"),
        on_progress=on_progress,
    )
    wall = time.perf_counter() - started
    per = (stamps[-1] - stamps[0]) / (len(stamps) - 1)
    return wall, per, result.precision


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--engine", choices=("vgg19", "fast"), default="vgg19")
    parser.add_argument("--size", type=int, default=None, help="256 for vgg19, 1024 for fast")
    parser.add_argument("--iterations", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    args.size = args.size or (1024 if args.engine == "fast" else 256)
    if args.engine == "vgg19":
        load_engine()
    runs = cases(args.size)
    for case in runs.values():  # warm up: every graph (or session) made once before timing
        measure(case, args.size, 2, args.engine)
    walls: dict[str, list[float]] = {name: [] for name in runs}
    pers: dict[str, list[float]] = {name: [] for name in runs}
    precision = ""
    for _ in range(args.rounds):
        for name, case in runs.items():
            wall, per, precision = measure(case, args.size, args.iterations, args.engine)
            walls[name].append(wall)
            pers[name].append(per)
    base = statistics.median(pers["one style"])
    what = (
        "the fast engine, real weights"
        if args.engine == "fast"
        else f"{args.iterations} iterations, --scales 1, random weights, precision {precision}"
    )
    print(
        f"{args.size} x {args.size}, {what}, medians of {args.rounds} rounds; "
        f"{platform.machine()}, {os.cpu_count()} cores"
    )
    print("| case | wall | per iteration | vs one style |")
    print("|---|---|---|---|")
    for name in runs:
        per = statistics.median(pers[name])
        print(
            f"| {name} | {statistics.median(walls[name]):.2f} s | {per * 1000:.0f} ms "
            f"| {per / base:.2f}x |"
        )


if __name__ == "__main__":
    main()
