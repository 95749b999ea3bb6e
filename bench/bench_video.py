"""Flicker in video: the warping error along a known pan, temporal against independent frames.

    python bench/bench_video.py [--engine fast|vgg19|both] [--frames 12] [--size 128]
    python bench/bench_video.py --ray --frames 16 --size 96 [--chunk 8] [--overlap 2]
    python bench/bench_video.py --picture docs/video-fast.jpg

A held-out photo (../shared/images/tubingen.jpg) is cut into frames that pan 4 px a frame to
the right, so frame t's pixel (x, y) is frame t-1's (x + 4, y) and the true flow is known.
Each engine stylizes the frames with `--temporal-weight 0` (independent frames) and with the
default; the warping error is the mean absolute difference (0..255) between each result and
the previous one moved along the pan, over the pixels both frames show. vgg19 runs on the
stand-in random weights (mechanics and flicker only; the pictures mean nothing), 60
iterations, --scales 1; the fast engine on its real weights. Cost: seconds per frame.

`--ray` measures `nst video --ray` instead: frames per minute here, and on a local Ray
cluster with 1 and 2 workers (chunks of `--chunk` frames overlapping by `--overlap`, start-up
included, as a user sees it), and the warping error of the frame pairs across the seams
against all pairs, with the overlap, with a hard cut (`--overlap 0`) and with twice the
overlap. vgg19 on the
stand-in weights, `--iterations` (20), `--scales 1`; the photo as above.

`--picture` draws the README's picture instead: four frames of a pan over Hokusai's *Great
Wave* (a public-domain painting, so the picture may ship), by the fast engine, independent
frames above and temporal below.
"""

from __future__ import annotations

import argparse
import itertools
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

from nst_plugin.options import BY_NAME  # noqa: E402
from nst_plugin.video import stylize_video, stylize_video_on_ray  # noqa: E402

PHOTO = ROOT.parent / "shared" / "images" / "tubingen.jpg"
PAINTING = ROOT.parent / "shared" / "images" / "wave.jpg"
STYLE = ROOT / "nst_plugin" / "examples" / "starry_night.jpg"
PAN = 4
ENGINES = {
    "fast": dict(engine="fast"),
    "vgg19": dict(engine="vgg19", weights="random", iterations=60, scales=1, seed=1),
}


def pan_frames(folder: Path, count: int, width: int, height: int, source: Path = PHOTO) -> None:
    """`count` frames panning PAN px a frame over `source`, scaled so that every frame lies
    inside the photo."""
    photo = Image.open(source).convert("RGB")
    scale = max(height / photo.height, (width + PAN * (count - 1)) / photo.width)
    photo = photo.resize((round(photo.width * scale), max(height, round(photo.height * scale))))
    for t in range(count):
        photo.crop((PAN * t, 0, PAN * t + width, height)).save(folder / f"f{t:03d}.png")


def pair_errors(folder: Path) -> list[float]:
    """The warping error of each pair of neighbouring frames: entry t is frames t and t+1."""
    outs = [np.asarray(Image.open(p), np.float32) for p in sorted(folder.glob("*.png"))]
    return [float(np.abs(b[:, :-PAN] - a[:, PAN:]).mean()) for a, b in itertools.pairwise(outs)]


def warping_error(folder: Path) -> float:
    return float(np.mean(pair_errors(folder)))


def seam_pairs(frames: int, chunk: int, overlap: int) -> list[int]:
    """The pairs that cross a seam: from the last frame before each overlap to the first
    frame after it (a hard cut without overlap: the one pair across the cut)."""
    return [t for k in range(chunk, frames, chunk) for t in range(k - overlap - 1, k)]


def ray_figures(args: argparse.Namespace) -> None:
    """Frames per minute here and on a local Ray cluster; the flicker across the seams."""
    width, height = args.size, args.size * 3 // 4
    options = dict(ENGINES["vgg19"], iterations=args.iterations, size=width, preview_every=0)
    print(
        f"{args.frames} frames of {width}x{height}, vgg19 random weights, {args.iterations} "
        f"iterations; chunks of {args.chunk}; {platform.machine()}, {os.cpu_count()} cores"
    )
    print(
        "| run | workers | overlap | frames stylized | seconds | frames per minute "
        "| warping error, all pairs | inside the chunks | across the seams |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    runs = [("here", None, None), ("--ray local", 1, args.overlap)]
    runs += [("--ray local", 2, args.overlap), ("--ray local", 2, 0)]
    runs += [("--ray local", 2, 2 * args.overlap)] if 2 * args.overlap < args.chunk else []
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp, "frames")
        frames.mkdir()
        pan_frames(frames, args.frames, width, height)
        for i, (name, workers, overlap) in enumerate(runs):
            out = Path(tmp, f"out-{i}")
            started = time.perf_counter()
            if workers is None:
                result = stylize_video(frames, [STYLE], out, **options)
            else:
                split = dict(ray="local", workers=workers, chunk=args.chunk, overlap=overlap)
                result = stylize_video_on_ray(frames, [STYLE], out, **split, **options)
            seconds = time.perf_counter() - started
            print(ray_row(name, result, seconds, out, args.chunk, overlap))


def ray_row(name: str, result, seconds: float, out: Path, chunk: int, overlap: int | None) -> str:
    """One row of the --ray table; `overlap` None: the run here, without chunks."""
    pairs = pair_errors(out)
    crossing = set() if overlap is None else set(seam_pairs(result.frames, chunk, overlap))
    inside = np.mean([e for t, e in enumerate(pairs) if t not in crossing])
    seams = f"{np.mean([pairs[t] for t in crossing]):.2f}" if crossing else "-"
    workers, renders = getattr(result, "workers", "-"), getattr(result, "renders", result.done)
    return (
        f"| {name} | {workers} | {'-' if overlap is None else overlap} | {renders} "
        f"| {seconds:.1f} | {60 * result.frames / seconds:.1f} | {np.mean(pairs):.2f} "
        f"| {inside:.2f} | {seams} |"
    )


def run(engine: str, frames: Path, out: Path, size: int, weight: float) -> tuple[float, float]:
    started = time.perf_counter()
    result = stylize_video(
        frames, [STYLE], out, size=size, temporal_weight=weight, preview_every=0, **ENGINES[engine]
    )
    return warping_error(out), (time.perf_counter() - started) / result.frames


def picture(path: Path, edge: int = 320) -> None:
    """Two frames of a pan and their flicker, independent (top) and temporal (bottom): a
    detail of frame t-1, of frame t, and 4 x the difference between frame t and frame t-1
    moved along the pan (black: the strokes stayed where they moved to)."""
    with tempfile.TemporaryDirectory() as tmp:
        frames = Path(tmp, "frames")
        frames.mkdir()
        pan_frames(frames, 4, edge, edge * 3 // 4, PAINTING)
        rows = []
        for weight in (0.0, BY_NAME["temporal_weight"].default):
            out = Path(tmp, f"out-{weight}")
            stylize_video(frames, [STYLE], out, engine="fast", temporal_weight=weight)
            a, b = (np.asarray(Image.open(p).convert("RGB")) for p in sorted(out.glob("*.png"))[2:])
            diff = np.abs(b[:, :-PAN].astype(np.float32) - a[:, PAN:]) * 4
            detail = (slice(60, 180), slice(100, 260))  # 160 x 120 px, shown at twice the size
            tiles = [a[:, PAN:][detail], b[:, :-PAN][detail], np.clip(diff, 0, 255)[detail]]
            rows.append([Image.fromarray(t.astype(np.uint8)).resize((320, 240)) for t in tiles])
    gap = 6
    sheet = Image.new("RGB", (3 * 320 + 2 * gap, 2 * 240 + gap), "white")
    for r, row in enumerate(rows):
        for c, tile in enumerate(row):
            sheet.paste(tile, (c * (320 + gap), r * (240 + gap)))
    sheet.save(path, quality=85)
    print(f"wrote {path} ({sheet.width} x {sheet.height})")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--engine", choices=("fast", "vgg19", "both"), default="both")
    parser.add_argument("--frames", type=int, default=12)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--picture", type=Path, help="draw the README's picture to this file")
    parser.add_argument("--ray", action="store_true", help="nst video --ray against here")
    parser.add_argument("--chunk", type=int, default=8, help="with --ray: frames per chunk")
    parser.add_argument("--overlap", type=int, default=2, help="with --ray: overlap frames")
    parser.add_argument("--iterations", type=int, default=20, help="with --ray: vgg19's")
    args = parser.parse_args()
    if args.picture:
        picture(args.picture)
        return 0
    if not PHOTO.is_file():
        print(f"{PHOTO} is missing: this benchmark needs ../shared/images beside the repository.")
        return 1
    if args.ray:
        ray_figures(args)
        return 0
    default = BY_NAME["temporal_weight"].default
    width, height = args.size, args.size * 3 // 4
    print(
        f"{args.frames} frames of {width}x{height}, panning {PAN} px a frame; "
        f"{platform.machine()}, {os.cpu_count()} cores"
    )
    print(
        "| engine | warping error, independent | temporal (default) | ratio | s/frame, "
        "independent | s/frame, temporal |"
    )
    print("|---|---|---|---|---|---|")
    for engine in ("fast", "vgg19") if args.engine == "both" else (args.engine,):
        with tempfile.TemporaryDirectory() as tmp:
            frames = Path(tmp, "frames")
            frames.mkdir()
            pan_frames(frames, args.frames, width, height)
            e0, c0 = run(engine, frames, Path(tmp, "independent"), width, 0.0)
            e1, c1 = run(engine, frames, Path(tmp, "temporal"), width, default)
        print(f"| {engine} | {e0:.2f} | {e1:.2f} | {e1 / e0:.2f}x | {c0:.2f} | {c1:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
