"""Time to quality: the default multi-scale schedule against single-scale L-BFGS.

    python bench/bench_quality.py [--size 512] [--iterations 100] [--weights random]

Both runs use the same weights, images and loss weights. After every iteration at the final
size the script measures, on the current image (measuring time excluded):
- style distance: mean over relu1_1..relu5_1 of |G(x) - G(style)|^2 / |G(style)|^2
  (Gram matrices per position);
- content distance: |F(x) - F(content)|^2 / |F(content)|^2 at relu4_2.
It prints the single-scale run's final distances and time, then the first moment the
multi-scale run has a style distance at least as low with a content distance no higher.
With --weights random the figures describe the optimisation, not how good pictures look.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from nst_plugin import Reporter  # noqa: E402
from nst_plugin.engine import load_engine  # noqa: E402
from nst_plugin import Settings, StylizeRequest  # noqa: E402

transfer = load_engine()
from nst_plugin.engine import losses  # noqa: E402

EXAMPLES = ROOT / "nst_plugin" / "examples"


def distances(net, x, content_features, style_grams) -> tuple[float, float]:
    feats = net.forward(x)
    n = len(net.content_layers)
    content = np.mean([float(losses.content_loss(f, t))
                       for f, t in zip(feats[:n], content_features)])
    style = np.mean([float(losses.style_loss(f, g)) for f, g in zip(feats[n:], style_grams)])
    return float(style), float(content)


def trace(request: StylizeRequest, final: tuple[int, int]) -> tuple[list, float]:
    """Run the engine; return [(seconds, style, content)] at the final size, and total time."""
    s = request.settings
    net = transfer.get_network(s)
    content = transfer.to_array(request.content, final)
    style = transfer.to_array(request.styles[0], transfer.style_size(request.styles[0].size,
                                                                     max(final)))
    content_features = net.forward(content)[: len(net.content_layers)]
    style_grams = [g for g in transfer.style_targets(net, [style], [1.0], s)["style"]]
    points = []
    paused = 0.0
    started = time.perf_counter()

    def measure(step: int, state: dict) -> None:
        nonlocal paused
        image = state["image"]
        if (image.shape[2], image.shape[1]) != final:
            return
        t = time.perf_counter()
        points.append((t - started - paused, *distances(net, image, content_features,
                                                         style_grams)))
        paused += time.perf_counter() - t

    reporter = Reporter(hook=False)
    reporter.on_snapshot = measure
    transfer.run(request, reporter)
    return points, time.perf_counter() - started - paused


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--content", default=str(EXAMPLES / "wave.jpg"))
    parser.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    args = parser.parse_args()

    content = Image.open(args.content).convert("RGB")
    style = Image.open(args.style).convert("RGB")
    final = transfer.output_size(content.size, args.size)
    base = Settings(size=args.size, iterations=args.iterations, weights=args.weights,
                    save_every=1, preview_every=0, seed=0)
    transfer.get_network(base)  # build and trace once, outside both timings
    warm = base.replace(size=64, iterations=2, scales=1)
    transfer.run(StylizeRequest(content, [style], warm), Reporter(hook=False))

    single_settings = base.replace(scales=1)
    multi_settings = base
    plan = transfer.schedule(final, multi_settings)
    single, t_single = trace(StylizeRequest(content, [style], single_settings), final)
    multi, t_multi = trace(StylizeRequest(content, [style], multi_settings), final)
    _, style_goal, content_goal = single[-1]

    print(f"content {Path(args.content).name} -> {final[0]}x{final[1]}, style "
          f"{Path(args.style).name}, weights {args.weights}, {args.iterations} iterations each")
    print(f"single-scale: {t_single:7.1f} s   style {style_goal:.4f}   content {content_goal:.4f}")
    print(f"multi-scale:  {t_multi:7.1f} s   style {multi[-1][1]:.4f}   content {multi[-1][2]:.4f}"
          f"   scales {[size for size, _ in plan]}")
    reached = next((p for p in multi if p[1] <= style_goal and p[2] <= content_goal), None)
    if reached is None:
        best = min(multi, key=lambda p: p[1])
        print(f"multi-scale did not reach both; best style {best[1]:.4f} "
              f"(content {best[2]:.4f}) at {best[0]:.1f} s")
    else:
        print(f"multi-scale reached them at {reached[0]:.1f} s = "
              f"{reached[0] / t_single:.0%} of the single-scale time")


if __name__ == "__main__":
    main()
