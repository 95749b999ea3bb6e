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
from nst_plugin.request import Settings  # noqa: E402

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


def bare(model, x: np.ndarray, repeats: int) -> float:
    @tf.function(reduce_retracing=True)
    def step(image):
        with tf.GradientTape() as tape:
            tape.watch(image)
            out = tf.reduce_sum(model(image, training=False))
        return tape.gradient(out, image)

    image = tf.constant(x)
    return timed(lambda: step(image).numpy(), repeats)


def three_per_step(model, content, style, x, s: Settings, repeats: int) -> float:
    names = [name for name, _, _ in weights.CONV_LAYERS]
    content_at = [names.index(n) for n in s.content_layers]
    style_at = [names.index(n) for n in s.style_layers]

    @tf.function(reduce_retracing=True)
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
    return timed(lambda: step(c, st, image)[1].numpy(), repeats)


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


def variants(content, style, w: str, repeats: int) -> list[tuple[str, float]]:
    """One loss evaluation (value and image gradient) per precision and XLA setting."""
    rows = []
    for precision in ("float32", "mixed"):
        for xla in (False, True):
            s = Settings(weights=w, precision=precision, xla=xla)
            net = transfer.get_network(s)
            targets = transfer.make_targets(net, content, [style], [1.0], s)
            rows.append((f"{precision}{' + XLA' if xla else ''}",
                         timed(lambda: net.value_and_grad(content, targets), repeats)))
    return rows


def import_time(repeats: int = 5) -> float:
    code = "import time; t = time.perf_counter(); import nst_plugin; print(time.perf_counter() - t)"
    runs = [float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                 check=True).stdout) for _ in range(repeats)]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--weights", default="random")
    args = parser.parse_args()

    s = Settings(weights=args.weights)
    arrays = weights.load(args.weights, [name for name, _, _ in weights.CONV_LAYERS])
    content, style = square("wave.jpg", args.size), square("starry_night.jpg", args.size)
    x = content.copy()

    deepest = network.build(["block5_conv1"], arrays)
    every_layer = network.build([name for name, _, _ in weights.CONV_LAYERS], arrays)
    t_bare = bare(deepest, x, args.repeats)
    t_three = three_per_step(every_layer, content, style, x, s, args.repeats)

    with tempfile.TemporaryDirectory() as tmp:
        paths = [Path(tmp, "content.png"), Path(tmp, "style.png")]
        for path, arr in zip(paths, (content, style)):
            Image.fromarray(arr[0].astype(np.uint8)).save(path)
        t_iter, t_eval = engine(paths[0], paths[1], args.size, args.iterations, args.weights)

    print(f"machine: {platform.machine()}, {platform.processor() or '?'}, "
          f"{os.cpu_count()} cores; TensorFlow {tf.__version__}; "
          f"device {transfer.backend_module().device()}; weights {args.weights}")
    print(f"size {args.size}x{args.size}, engine iterations {args.iterations}, "
          f"median of {args.repeats}")
    print(f"{'bare forward+backward':<28}{t_bare * 1000:9.0f} ms")
    print(f"{'engine per L-BFGS iteration':<28}{t_iter * 1000:9.0f} ms   "
          f"{t_iter / t_bare:.2f}x bare")
    print(f"{'engine per loss evaluation':<28}{t_eval * 1000:9.0f} ms   "
          f"{t_eval / t_bare:.2f}x bare")
    print(f"{'three images per step':<28}{t_three * 1000:9.0f} ms   "
          f"{t_three / t_iter:.2f}x the engine's iteration")
    print(f"{'import nst_plugin':<28}{import_time() * 1000:9.0f} ms")
    print("one loss evaluation by setting (--precision, --xla):")
    for name, seconds in variants(content, style, args.weights, args.repeats):
        print(f"  {name:<26}{seconds * 1000:9.0f} ms   {seconds / t_bare:.2f}x bare float32")


if __name__ == "__main__":
    main()
