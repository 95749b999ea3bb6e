"""Engine speed: time per iteration next to the bare network and the three-images-per-step way.

    python bench/bench_engine.py [--size 256] [--iterations 10] [--weights random]

Prints, for a square image of --size pixels on this machine:
- bare: one forward+backward of VGG19 to block5_conv1 (gradient of the summed features with
  respect to the input): the floor for any Gatys-style iteration with the default layers;
- engine: the engine's own time per L-BFGS iteration (and per loss evaluation), measured from
  its progress events, setup excluded;
- three-per-step: the approach of the Keras neural style transfer example that many
  implementations grew from: content, style and result passed together through a VGG19
  feature extractor that outputs every layer (so all 16 convolutions run) at every step,
  loss and input gradient included;
- import: wall time of `import nst_plugin` in a fresh interpreter;
- one loss evaluation with each --precision and --xla setting.
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
from nst_plugin.engine import load_engine  # noqa: E402

transfer = load_engine()
import tensorflow as tf  # noqa: E402

from nst_plugin.engine import losses, network, weights  # noqa: E402
from nst_plugin import Settings  # noqa: E402

EXAMPLES = ROOT / "nst_plugin" / "examples"


def square(name: str, size: int) -> np.ndarray:
    img = Image.open(EXAMPLES / name).convert("RGB").resize((size, size), Image.Resampling.LANCZOS)
    return np.asarray(img, dtype=np.float32)[None]


def timed(fn, repeats: int) -> float:
    """Median seconds of `fn()` after one warm-up call."""
    fn()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def bare(model, x: np.ndarray):
    """A callable: gradient of the summed output of `model` with respect to the input."""
    @tf.function
    def step(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            out = tf.reduce_sum(model(image, training=False))
        return tape.gradient(out, image)

    image = tf.constant(x)
    return lambda: step(image).numpy()


def three_per_step(model, content, style, x, s: Settings):
    """A callable: one step of the Keras example's way (see the module docstring)."""
    names = [name for name, _, _ in weights.CONV_LAYERS]
    content_at = [names.index(n) for n in s.content_layers]
    style_at = [names.index(n) for n in s.style_layers]

    @tf.function
    def step(c, st, image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            feats = model(tf.concat([c, st, image], axis=0), training=False)
            content_term = sum(losses.content_loss(feats[i][2:3], feats[i][0:1])
                               for i in content_at)
            style_term = sum(losses.style_loss(feats[i][2:3], losses.gram(feats[i][1:2]))
                             for i in style_at)
            total = s.content_weight * content_term + s.style_weight * style_term
            total += s.tv_weight * losses.variation(image)
        return total, tape.gradient(total, image)

    c, st, image = (tf.constant(a) for a in (content, style, x))
    return lambda: step(c, st, image)[1].numpy()


def evaluation(s: Settings, content, style):
    """A callable: one engine loss evaluation (value and image gradient) with settings `s`."""
    net = transfer.get_network(s)
    targets = transfer.make_targets(net, content, [style], [1.0], s)
    return lambda: net.value_and_grad(content, targets)


def engine(content_path: Path, style_path: Path, size: int, iterations: int, w: str):
    stamps = []
    evaluations = 0
    net = transfer.get_network(Settings(weights=w))
    inner = net.value_and_grad

    def counting(*args):
        nonlocal evaluations
        evaluations += 1
        return inner(*args)

    net.value_and_grad = counting
    try:
        def on_event(event):
            if event.stage == "optimizing":
                stamps.append(time.perf_counter())

        nst_plugin.stylize(content_path, style_path, size=size, iterations=iterations,
                           weights=w, scales=1, on_progress=on_event)
    finally:
        net.value_and_grad = inner
    # stamps[0] marks the stage's start and stamps[1] the first iteration's end: the
    # iterations after the first carry no setup (bounds, first evaluation, tracing).
    span = stamps[-1] - stamps[1]
    return span / (len(stamps) - 2), span / max(evaluations - 2, 1)


def import_time(repeats: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import nst_plugin; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(repeats)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--rounds", type=int, default=5,
                        help="alternating rounds of each measurement (this VM is noisy)")
    parser.add_argument("--weights", default="random")
    args = parser.parse_args()

    s = Settings(weights=args.weights)
    arrays = weights.load(args.weights, [name for name, _, _ in weights.CONV_LAYERS])
    content, style = square("wave.jpg", args.size), square("starry_night.jpg", args.size)
    x = content.copy()
    every_layer = network.build([name for name, _, _ in weights.CONV_LAYERS], arrays)
    calls = {
        "bare": bare(network.build(["block5_conv1"], arrays), x),
        "three": three_per_step(every_layer, content, style, x, s),
    }
    for precision in ("float32", "mixed"):
        for xla in (False, True):
            name = f"{precision}{' + XLA' if xla else ''}"
            calls[name] = evaluation(s.replace(precision=precision, xla=xla), content, style)
    transfer._CACHE_SIZE = len(calls)  # keep every variant's network for the rounds

    rows: dict[str, list[float]] = {name: [] for name in [*calls, "iteration"]}
    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp, "content.png"), Path(tmp, "style.png")]
        for path, arr in zip(paths, (content, style)):
            Image.fromarray(arr[0].astype(np.uint8)).save(path)
        for _ in range(args.rounds):  # alternate, so drifts in machine speed hit all alike
            for name, call in calls.items():
                rows[name].append(timed(call, 3))
            rows["iteration"].append(
                engine(paths[0], paths[1], args.size, args.iterations, args.weights)[0])
    m = {k: statistics.median(v) for k, v in rows.items()}

    def ratio(a: str, b: str) -> float:
        return statistics.median([p / q for p, q in zip(rows[a], rows[b])])

    print(f"machine: {platform.machine()}, {os.cpu_count()} cores; TensorFlow {tf.__version__}; "
          f"device {transfer.backend_module().device()}; weights {args.weights}")
    print(f"size {args.size}x{args.size}; medians of {args.rounds} alternating rounds "
          f"(ratios: median of the per-round ratios)")
    print(f"{'bare forward+backward':<30}{m['bare'] * 1000:8.0f} ms")
    print(f"{'engine, one loss evaluation':<30}{m['float32'] * 1000:8.0f} ms   "
          f"{ratio('float32', 'bare'):.2f}x bare")
    print(f"{'engine, one L-BFGS iteration':<30}{m['iteration'] * 1000:8.0f} ms   "
          f"{ratio('iteration', 'bare'):.2f}x bare")
    print(f"{'three images per step':<30}{m['three'] * 1000:8.0f} ms   "
          f"{ratio('three', 'iteration'):.2f}x the engine's iteration")
    print(f"{'import nst_plugin':<30}{import_time() * 1000:8.0f} ms")
    print("one loss evaluation by setting (--precision, --xla):")
    for name in ("float32", "float32 + XLA", "mixed", "mixed + XLA"):
        print(f"  {name:<28}{m[name] * 1000:8.0f} ms   {ratio(name, 'bare'):.2f}x bare float32")


if __name__ == "__main__":
    main()
