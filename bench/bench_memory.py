"""Peak memory against output size, with and without tiling.

    python bench/bench_memory.py [--sizes 512,1024,2048,4096] [--untiled-max 2048]

Each row is one fresh `nst stylize` process (single scale, one L-BFGS iteration, random
weights: memory does not depend on the weights' values) on a square image; the figure is
the process's peak resident memory (ru_maxrss). "tiled" sets --tile-size 1024; "auto" sets
none, so the engine sizes the tiles to the free memory; "untiled" sets --tile-size above
the image size.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "nst_plugin" / "examples"


def peak(size: int, tile: int | None, folder: Path) -> tuple[float, float]:
    """(peak GiB, seconds) of one run in a child process."""
    content, style = folder / "content.png", folder / "style.png"
    args = [
        sys.executable,
        "-c",
        "import resource, sys; from nst_plugin.cli import main; rc = main(sys.argv[1:]); "
        "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); "
        "sys.exit(rc)",
        "stylize",
        str(content),
        str(style),
        "-o",
        str(folder / f"out-{size}-{tile}.png"),
        "--size",
        str(size),
        "--scales",
        "1",
        "--iterations",
        "1",
        "--weights",
        "random",
        "--quiet",
        "--overwrite",
    ]
    if tile is not None:
        args += ["--tile-size", str(tile)]
    t = time.perf_counter()
    p = subprocess.run(args, capture_output=True, text=True, cwd=ROOT)
    if p.returncode != 0:
        raise SystemExit(f"size {size} failed: {p.stderr.strip().splitlines()[-1]}")
    kib = int(p.stderr.strip().splitlines()[-1])
    return kib / 2**20, time.perf_counter() - t


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="512,1024,2048,4096")
    parser.add_argument("--untiled-max", type=int, default=2048)
    args = parser.parse_args()
    sizes = [int(v) for v in args.sizes.split(",")]
    print(f"{'size':>6} {'mode':>8} {'peak GiB':>9} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        for name, out in (("wave.jpg", "content.png"), ("starry_night.jpg", "style.png")):
            img = Image.open(EXAMPLES / name).convert("RGB").resize((max(sizes),) * 2)
            img.save(folder / out)
        for size in sizes:
            modes = [("tiled", 1024), ("auto", None)]
            if size <= args.untiled_max:
                modes.append(("untiled", size + 1))
            for mode, tile in modes:
                gib, seconds = peak(size, tile, folder)
                print(f"{size:>6} {mode:>8} {gib:>9.2f} {seconds:>8.0f}", flush=True)


if __name__ == "__main__":
    main()
