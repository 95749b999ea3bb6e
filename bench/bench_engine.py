"""Engine speed: time per iteration next to the bare network and the three-images-per-step way.

    python bench/bench_engine.py [--size 256] [--iterations 12] [--rounds 5] [--weights random]

For a square image of --size pixels on this machine, in alternating rounds (this VM is
noisy), at each precision (float32; mixed = bfloat16 network, float32 losses):
- bare: one forward+backward of VGG19 to block5_conv1 (gradient of the summed features with
  respect to the input): the floor for any Gatys-style iteration with the default layers;
- evaluation: one engine loss evaluation (value and image gradient, read back to the host);
- L-BFGS / Adam: the engine's own time per iteration through `nst_plugin.stylize` with
  --scales 1 and otherwise default settings, from its progress events, setup excluded;
  also its loss evaluations per iteration;
- three-per-step: the approach of the Keras neural style transfer example that many
  implementations grew from: content, style and result passed together through a VGG19
  feature extractor that outputs every layer (all 16 convolutions) at every step, loss and
  input gradient included (float32, as in the example; bfloat16 too, for comparison);
- import: wall time of `import nst_plugin` in a fresh interpreter.
Random weights time the same as ImageNet weights: the arithmetic is identical.
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

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nst_plugin  # noqa: E402
from nst_plugin.vgg19 import load_engine  # noqa: E402

transfer = load_engine()
import tensorflow as tf  # noqa: E402

from nst_plugin import Settings  # noqa: E402
from nst_plugin.vgg19 import (  # noqa: E402
    losses,
    network,
    optimize,
    precision,
    targets,
    vgg_layers,
    weights,
)

EXAMPLES = ROOT / "nst_plugin" / "examples"
PRECISIONS = ("float32", "mixed")


def square(name: str, size: int) -> np.ndarray:
    img = Image.open(EXAMPLES / name).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float32)[None]


def timed(fn, repeats: int) -> tuple[float, float]:
    """Median wall and process CPU seconds of `fn()` after one warm-up call."""
    fn()
    times, cpu = [], []
    for _ in range(repeats):
        t, c = time.perf_counter(), time.process_time()
        fn()
        times.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return statistics.median(times), statistics.median(cpu)


def bare(model, x: np.ndarray):
    """A callable: gradient of the summed output of `model` with respect to the input."""

    @tf.function
    def step(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            out = tf.reduce_sum(tf.cast(model(image, training=False), tf.float32))
        return tape.gradient(out, image)

    image = tf.constant(x)
    return lambda: step(image).numpy()


def three_per_step(model, content, style, x, s: Settings):
    """A callable: one step of the Keras example's way (see the module docstring)."""
    names = [name for name, _, _ in vgg_layers.CONV_LAYERS]
    content_at = [names.index(n) for n in s.content_layers]
    style_at = [names.index(n) for n in s.style_layers]

    @tf.function
    def step(c, st, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            feats = [
                tf.cast(f, tf.float32)
                for f in model(tf.concat([c, st, image], axis=0), training=False)
            ]
            content_term = sum(
                losses.content_loss(feats[i][2:3], feats[i][0:1]) for i in content_at
            )
            style_term = sum(
                losses.style_loss(feats[i][2:3], losses.gram(feats[i][1:2])) for i in style_at
            )
            total = s.content_weight * content_term + s.style_weight * style_term
            total += s.tv_weight * losses.variation(image)
        return total, tape.gradient(total, image)

    c, st, image = (tf.constant(a) for a in (content, style, x))
    return lambda: step(c, st, image)[1].numpy()


def evaluation(s: Settings, content, style):
    """A callable: one engine loss evaluation (value and image gradient) with settings `s`."""
    net = transfer.get_network(s)
    goal = targets.make_targets(net, content, [style], [1.0], s)
    return lambda: net.value_and_grad(content, goal)


def engine(paths: list[Path], size: int, iterations: int, **options) -> tuple[float, ...]:
    """Wall and CPU seconds per iteration, loss evaluations per iteration, of one run."""
    stamps, cpu = [], []

    def on_event(event):
        if event.stage == "optimizing":
            stamps.append(time.perf_counter())
            cpu.append(time.process_time())

    before = optimize.evaluations
    nst_plugin.stylize(
        paths[0],
        paths[1],
        size=size,
        iterations=iterations,
        scales=1,
        on_progress=on_event,
        **options,
    )
    # stamps[0] marks the stage's start and stamps[1] the first iteration's end: the
    # iterations after the first carry no setup (targets, first evaluation, tracing).
    n = len(stamps) - 2
    return (
        (stamps[-1] - stamps[1]) / n,
        (cpu[-1] - cpu[1]) / n,
        (optimize.evaluations - before - 1) / iterations,
    )


def import_time(repeats: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import nst_plugin; print(time.perf_counter() - t)"
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", code], capture_output=True, text=True, check=True
            ).stdout
        )
        for _ in range(repeats)
    ]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating rounds of each measurement (this VM is noisy)",
    )
    parser.add_argument("--weights", default="random")
    args = parser.parse_args()

    s = Settings(weights=args.weights)
    arrays = weights.load(args.weights, [name for name, _, _ in vgg_layers.CONV_LAYERS])
    content, style = square("wave.jpg", args.size), square("starry_night.jpg", args.size)
    x = content.copy()
    every_layer = [name for name, _, _ in vgg_layers.CONV_LAYERS]
    calls = {}
    for p in PRECISIONS:
        calls[f"bare {p}"] = bare(network.build(["block5_conv1"], arrays, precision=p), x)
        calls[f"evaluation {p}"] = evaluation(s.replace(precision=p), content, style)
        calls[f"three {p}"] = three_per_step(
            network.build(every_layer, arrays, precision=p), content, style, x, s
        )
    runs = {f"L-BFGS {p}": dict(precision=p) for p in PRECISIONS}
    runs["Adam mixed"] = dict(precision="mixed", optimizer="adam")
    runs["default"] = {}  # --precision auto
    transfer._CACHE_SIZE = 8  # keep every variant's network for the rounds

    rows: dict[str, list[float]] = {name: [] for name in [*calls, *runs]}
    cpus: dict[str, list[float]] = {name: [] for name in [*calls, *runs]}
    evals: dict[str, list[float]] = {name: [] for name in runs}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp, "content.png"), Path(tmp, "style.png")]
        for path, arr in zip(paths, (content, style)):
            Image.fromarray(arr[0].astype(np.uint8)).save(path)
        for options in runs.values():  # build, trace and compile outside the rounds
            engine(paths, args.size, 3, weights=args.weights, **options)
        for _ in range(args.rounds):  # alternate, so drifts in machine speed hit all alike
            for name, call in calls.items():
                wall, cpu = timed(call, 3)
                rows[name].append(wall)
                cpus[name].append(cpu)
            for name, options in runs.items():
                wall, cpu, per = engine(
                    paths, args.size, args.iterations, weights=args.weights, **options
                )
                rows[name].append(wall)
                cpus[name].append(cpu)
                evals[name].append(per)
    m = {k: statistics.median(v) for k, v in rows.items()}

    def ratio(a: str, b: str) -> str:
        """Median of the per-round wall ratios, and the ratio of median CPU times."""
        wall = statistics.median([p / q for p, q in zip(rows[a], rows[b])])
        return f"{wall:.3f}x ({statistics.median(cpus[a]) / statistics.median(cpus[b]):.3f}x CPU)"

    auto = precision.resolve("auto", transfer.backend_module())
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; "
        f"device {transfer.backend_module().device()}; weights {args.weights}; "
        f"--precision auto runs {auto}; load {os.getloadavg()[0]:.2f}"
    )
    print(
        f"size {args.size}x{args.size}; medians of {args.rounds} alternating rounds "
        f"(ratios: median of the per-round wall-clock ratios; in brackets, of the process's "
        f"CPU time, which other load disturbs less)"
    )
    for p in PRECISIONS:
        print(f"{p}:")
        print(f"  {'bare forward+backward':<28}{m[f'bare {p}'] * 1000:8.1f} ms")
        print(
            f"  {'one loss evaluation':<28}{m[f'evaluation {p}'] * 1000:8.1f} ms   "
            f"{ratio(f'evaluation {p}', f'bare {p}')} bare"
        )
        for name in (n for n in runs if n.endswith(p)):
            print(
                f"  {name + ' iteration':<28}{m[name] * 1000:8.1f} ms   "
                f"{ratio(name, f'bare {p}')} bare   "
                f"{statistics.median(evals[name]):.2f} evaluations/iteration"
            )
        print(
            f"  {'three images per step':<28}{m[f'three {p}'] * 1000:8.1f} ms   "
            f"{ratio(f'three {p}', f'bare {p}')} bare"
        )
    print(
        f"default settings ({auto}): {m['default'] * 1000:.1f} ms/iteration = "
        f"{ratio('default', f'bare {auto}')} bare {auto}; three images per step is "
        f"{ratio('three float32', 'default')} slower in float32, "
        f"{ratio('three mixed', 'default')} in bfloat16"
    )
    print(f"{'import nst_plugin':<30}{import_time() * 1000:8.0f} ms")


if __name__ == "__main__":
    main()
