"""Time to quality: the engine's optimizers and precisions against scipy's L-BFGS-B in float32.

    python bench/bench_quality.py [--size 512] [--iterations 100] [--more 1] [--scales N]

Every run uses the same weights, images, loss weights and schedule (multi-scale unless
--scales 1). After every iteration at the final size the script measures, on the current
image and always with the float32 network (so no run judges itself; measuring excluded
from the times):
- style distance: mean over relu1_1..relu5_1 of |G(x) - G(style)|^2 / |G(style)|^2
  (Gram matrices per position);
- content distance: |F(x) - F(content)|^2 / |F(content)|^2 at relu4_2.
The reference is the engine as it was before its optimizers moved onto the device: scipy's
L-BFGS-B on float64 host arrays, float32 network (ported below, with its stall fallback
to Adam). For every other run the script prints its final distances and time, and the
first moment it has a style distance at least as low as the reference's final one with a
content distance no higher. --more F gives the device runs F times the iterations (the
reference keeps --iterations), to see when they get there. With --weights random the figures
describe the optimisation, not how good pictures look.
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

from nst_plugin import (  # noqa: E402
    Reporter,
    Settings,
    StylizeRequest,
)
from nst_plugin.vgg19 import load_engine  # noqa: E402

transfer = load_engine()
from nst_plugin.vgg19 import losses, optimize  # noqa: E402
from nst_plugin.vgg19.targets import style_targets  # noqa: E402

EXAMPLES = ROOT / "nst_plugin" / "examples"
DEVICE_RUN = optimize.run


def scipy_run(net, settings, targets, x0, iterations, on_iteration, check=lambda: None):
    """The engine's optimizer before this benchmark's change: scipy's L-BFGS-B, pixels in
    0..255, variables scaled by sqrt(n), restarts on a stall, then Adam."""
    from scipy.optimize import Bounds, minimize

    def fun(image):
        total, _, grad = net.value_and_grad(image, targets)
        return total, grad

    shape, losses_seen = x0.shape, []
    scale = float(np.sqrt(x0.size))
    x = x0.ravel().astype(np.float64) / scale
    stopped = False

    def value(flat):
        check()
        loss, grad = fun((flat * scale).reshape(shape).astype(np.float32))
        if not losses_seen:
            losses_seen.append(loss)
        return loss, grad.ravel().astype(np.float64) * scale

    def callback(intermediate_result):
        nonlocal stopped
        losses_seen.append(float(intermediate_result.fun))
        image = (intermediate_result.x * scale).reshape(shape).astype(np.float32)
        if on_iteration(len(losses_seen) - 1, losses_seen[-1], lambda: image):
            stopped = True
            raise StopIteration

    stalls = 0
    while len(losses_seen) <= iterations and not stopped:
        start = losses_seen[-1] if losses_seen else None
        result = minimize(
            value,
            x,
            jac=True,
            method="L-BFGS-B",
            bounds=Bounds(0.0, 255.0 / scale),
            callback=callback,
            options={
                "maxiter": iterations - max(0, len(losses_seen) - 1),
                "maxfun": iterations * 20,
                "ftol": 0.0,
                "gtol": 0.0,
            },
        )
        x = result.x
        improved = losses_seen[-1] < (losses_seen[0] if start is None else start)
        stalls = 0 if improved else stalls + 1
        if stalls >= 2 and not stopped and len(losses_seen) <= iterations:
            done = max(0, len(losses_seen) - 1)
            start_x = (x * scale).reshape(shape).astype(np.float32)
            rest, more = DEVICE_RUN(
                net,
                settings.replace(optimizer="adam"),
                targets,
                start_x,
                iterations - done,
                lambda k, loss, im, done=done: on_iteration(done + k, loss, im),
                check,
            )
            return rest, losses_seen + more[1:]
    return (x * scale).astype(np.float32).reshape(shape), losses_seen


def distances(judge, x, content_features, style_grams) -> tuple[float, float]:
    feats = judge.forward(x)
    n = len(judge.content_layers)
    content = np.mean(
        [float(losses.content_loss(f, t)) for f, t in zip(feats[:n], content_features)]
    )
    style = np.mean([float(losses.style_loss(f, g)) for f, g in zip(feats[n:], style_grams)])
    return float(style), float(content)


def trace(request: StylizeRequest, final: tuple[int, int], scipy: bool = False):
    """Run the engine; return [(seconds, style, content)] at the final size, and total time."""
    judge_settings = request.settings.replace(precision="float32")
    judge = transfer.get_network(judge_settings)
    content = transfer.to_array(request.content, final)
    style = transfer.to_array(
        request.styles[0], transfer.style_size(request.styles[0].size, max(final))
    )
    content_features = judge.forward(content)[: len(judge.content_layers)]
    style_grams = style_targets(judge, [style], [1.0], judge_settings)["style"]
    points = []
    paused = 0.0

    def measure(step: int, state: dict) -> None:
        nonlocal paused
        image = state["image"]
        if (image.shape[2], image.shape[1]) != final:
            return
        t = time.perf_counter()
        points.append(
            (t - started - paused, *distances(judge, image, content_features, style_grams))
        )
        paused += time.perf_counter() - t

    reporter = Reporter()
    reporter.on_snapshot = measure
    if scipy:
        optimize.run = scipy_run
    try:
        started = time.perf_counter()
        transfer.run(request, reporter)
        return points, time.perf_counter() - started - paused
    finally:
        optimize.run = DEVICE_RUN


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument(
        "--more",
        type=float,
        default=1.0,
        help="iterations of the device runs, as a multiple of --iterations",
    )
    parser.add_argument("--scales", type=int, default=None)
    parser.add_argument("--weights", default="random")
    parser.add_argument("--content", default=str(EXAMPLES / "wave.jpg"))
    parser.add_argument("--style", default=str(EXAMPLES / "starry_night.jpg"))
    args = parser.parse_args()

    content = Image.open(args.content).convert("RGB")
    style = Image.open(args.style).convert("RGB")
    final = transfer.output_size(content.size, args.size)
    base = Settings(
        size=args.size,
        iterations=args.iterations,
        weights=args.weights,
        save_every=1,
        preview_every=0,
        seed=0,
        scales=args.scales,
    )
    device = base.replace(iterations=round(args.iterations * args.more))
    runs = {  # name: (settings, scipy)
        "scipy L-BFGS-B, float32": (base.replace(precision="float32"), True),
        "device L-BFGS, float32": (device.replace(precision="float32"), False),
        "default (device L-BFGS, --precision auto)": (device, False),
        "device Adam, --precision auto": (device.replace(optimizer="adam"), False),
    }
    transfer._CACHE_SIZE = 4
    for settings, scipy in runs.values():  # build, trace and compile outside the timings
        warm = settings.replace(iterations=2)
        trace(StylizeRequest(content, [style], warm), final, scipy)
    results = {
        name: trace(StylizeRequest(content, [style], settings), final, scipy)
        for name, (settings, scipy) in runs.items()
    }

    plan = transfer.schedule(final, base)
    print(
        f"content {Path(args.content).name} -> {final[0]}x{final[1]}, style "
        f"{Path(args.style).name}, weights {args.weights}, {args.iterations} iterations "
        f"({device.iterations} for the device runs), "
        f"scales {[size for size, _ in plan]}, auto = "
        f"{transfer.get_network(base).precision}"
    )
    (ref_points, ref_time), *_ = results.values()
    _, style_goal, content_goal = ref_points[-1]
    for name, (points, seconds) in results.items():
        line = (
            f"{name:<44}{seconds:7.1f} s   style {points[-1][1]:.5f}   content {points[-1][2]:.4f}"
        )
        if points is not ref_points:
            reached = next((p for p in points if p[1] <= style_goal and p[2] <= content_goal), None)
            line += (
                "   never reached the reference"
                if reached is None
                else f"   reached the reference at {reached[0]:.1f} s = "
                f"{reached[0] / ref_time:.0%} of its time"
            )
        print(line)


if __name__ == "__main__":
    main()
