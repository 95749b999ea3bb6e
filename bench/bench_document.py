"""Document-size renders: the Good preset at 1024 and 2048 px, judged against a run with twice
the iterations, and two ways to spend less time on them.

    python bench/bench_document.py [--sizes 1024 2048] [--runs good,before,tiled,plain,ref,...]
                                   [--ratio 2] [--iterations N] [--scales N] [--tile-size N]

"good" is the engine as it is (tiles sized to the free memory, L-BFGS with its smoothing
preconditioner, Good's 90 iterations); "before" the engine before those (1024 px tiles,
plain L-BFGS, Good's 200 iterations then); "tiled" and "plain" are "good" without one of
them; "ref" is "before" with twice the iterations.
"weighted" spends the iterations towards the coarse scales, each scale taking --ratio times
the next finer one's; "fitted" cuts the tiles as short as their count allows (overlaps near
the 64 px asked, not up to a whole tile). --iterations and --scales replace the Good
preset's, --tile-size the tile size of every run. Each run's result is judged at the final
size by the float32 network (bench_quality's distances: style, mean relative Gram
difference over relu1_1..relu5_1; content, relative feature difference at relu4_2); the
times leave the judging out. With --weights random the figures describe the optimisation,
not how good pictures look.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst_plugin import Reporter, Settings, StylizeRequest  # noqa: E402
from nst_plugin.options import PRESETS  # noqa: E402
from nst_plugin.vgg19 import load_engine  # noqa: E402

transfer = load_engine()
from nst_plugin.vgg19 import solvers, tiles  # noqa: E402
from nst_plugin.vgg19.targets import style_targets  # noqa: E402

EXAMPLES = ROOT / "nst_plugin" / "examples"
NOW = (transfer.schedule, tiles.spans)
SMOOTHING = solvers.SMOOTHING


def schedule_weighted(final, s):
    """The engine's plan with each scale taking RATIO times the next finer one's iterations."""
    plan = NOW[0](final, s)
    weights = [RATIO ** (len(plan) - 1 - k) for k in range(len(plan))]
    counts = [max(1, int(s.iterations * w / sum(weights))) for w in weights]
    counts[0] += max(0, int(s.iterations) - sum(counts))
    return [(size, n) for (size, _), n in zip(plan, counts)]


RATIO = 2.0
BEFORE = 200  # the Good preset's iterations before the preconditioner


def spans_fitted(length, tile, overlap, align=1):
    """Spans as short as their count allows (one `align` more: rounding the starts may
    narrow an overlap by that much)."""
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    tile = min(tile, math.ceil((length + (n - 1) * overlap) / n / align) * align + align)
    starts = [round(i * (length - tile) / (n - 1) / align) * align for i in range(n)]
    starts[-1] = length - tile
    return [(a, a + tile) for a in starts]


def judged(image: Image.Image, request: StylizeRequest) -> tuple[float, float]:
    """(style, content) distances of a result at its own size, by the float32 network."""
    from bench_quality import distances

    judge_settings = request.settings.replace(precision="float32")
    judge = transfer.get_network(judge_settings)
    size = image.size
    x = transfer.to_array(image, size)
    content = transfer.to_array(request.content, size)
    style = transfer.to_array(
        request.styles[0], transfer.style_size(request.styles[0].size, max(size))
    )
    content_features = judge.forward(content)[: len(judge.content_layers)]
    grams = style_targets(judge, [style], [1.0], judge_settings)["style"]
    return distances(judge, x, content_features, grams)


def plan_of(name: str) -> tuple:
    """(schedule, spans) of a run's name."""
    return (
        schedule_weighted if name == "weighted" else NOW[0],
        spans_fitted if name == "fitted" else NOW[1],
    )


def use_solver(name: str, request: StylizeRequest) -> None:
    """Plain L-BFGS for "before" and "plain", else the engine's; the network is built and
    compiled again (outside the timings) when that changes."""
    smoothing = () if name in ("before", "plain") else SMOOTHING
    if smoothing != solvers.SMOOTHING:
        solvers.SMOOTHING = smoothing
        transfer._networks.clear()
        warm = request.settings.replace(size=64, iterations=2, scales=1)
        transfer.run(StylizeRequest(request.content, request.styles, warm), Reporter())


def render(request: StylizeRequest, name: str) -> tuple[Image.Image, float, list, list]:
    """(result, seconds, the plan, megapixels per iteration at each scale) of a run."""
    use_solver(name, request)
    transfer.schedule, tiles.spans = plan_of(name)
    try:
        final = transfer.output_size(request.content.size, request.settings.size)
        plan = transfer.schedule(final, request.settings)
        mp = tile_pixels(plan, request.settings)
        started = time.perf_counter()
        result = transfer.run(request, Reporter())
        return result.image, time.perf_counter() - started, plan, mp
    finally:
        transfer.schedule, tiles.spans = NOW


def tile_pixels(plan: list, s: Settings) -> list[float]:
    """Megapixels the network sees per iteration at each scale (tiles and their overlap)."""
    net = transfer.get_network(s)
    free = net.backend.free_memory()
    out = []
    for (w, h), _ in plan:
        tile = s.tile_size or tiles.size_for(w, h, free, net.precision, s.tile_overlap)
        boxes = tiles.boxes(w, h, tile, s.tile_overlap)
        out.append(sum((x1 - x0) * (y1 - y0) for x0, y0, x1, y1 in boxes) / 1e6)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1024, 2048])
    parser.add_argument("--weights", default="random")
    parser.add_argument("--runs", default="good,before")
    parser.add_argument("--ratio", type=float, default=2.0, help="for the weighted run")
    parser.add_argument("--iterations", type=int, default=None, help="instead of Good's")
    parser.add_argument("--scales", type=int, default=None)
    parser.add_argument("--tile-size", type=int, default=None, help="every run's tile size")
    parser.add_argument("--content", default=str(EXAMPLES / "wave.jpg"))
    parser.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    args = parser.parse_args()
    global RATIO
    RATIO = args.ratio
    content = Image.open(args.content).convert("RGB")
    style = Image.open(args.style).convert("RGB")
    good = args.iterations or PRESETS["good"]["iterations"]
    before = args.iterations or BEFORE
    runs = {n: good for n in ("good", "tiled", "plain")}
    runs.update(before=before, ref=2 * before)
    runs.update(weighted=good, fitted=good)
    chosen = args.runs.split(",")
    warm = Settings(size=64, iterations=2, weights=args.weights, seed=0, preview_every=0)
    transfer.run(StylizeRequest(content, [style], warm), Reporter())  # build outside timings
    for size in args.sizes:
        print(f"\n{size} px, {good} iterations, {args.weights} weights")
        print("run | seconds | style | content | plan (size, iterations) | MP per iteration")
        for name in chosen:
            s = Settings(
                size=size,
                iterations=runs[name],
                weights=args.weights,
                seed=0,
                preview_every=0,
                scales=args.scales,
            )
            if args.tile_size or name in ("tiled", "before"):
                s = s.replace(tile_size=args.tile_size or tiles.DEFAULT_TILE)
            request = StylizeRequest(content, [style], s)
            image, seconds, plan, mp = render(request, name)
            style_d, content_d = judged(image, request)
            shown = ", ".join(f"{w}x{h}:{n}" for (w, h), n in plan)
            print(
                f"{name} | {seconds:.1f} | {style_d:.5f} | {content_d:.4f} | {shown} | "
                + ", ".join(f"{m:.2f}" for m in mp),
                flush=True,
            )


if __name__ == "__main__":
    main()
