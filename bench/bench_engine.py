"""Engine speed: time per iteration next to the bare network and the three-images-per-step way.

    python bench/bench_engine.py [--backend tensorflow|jax|both] [--size 256]
        [--iterations 12] [--rounds 5] [--precision float32|mixed|both] [--weights random]

For a square image of --size pixels on this machine, in alternating rounds (this VM is
noisy), at each precision (float32; mixed = bfloat16 network, float32 losses):
- bare: one forward+backward of VGG19 to block5_conv1 (gradient of the summed features with
  respect to the input, read back to the host): the floor for any Gatys-style iteration
  with the default layers;
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

--backend picks the Keras backend (default: KERAS_BACKEND's, else TensorFlow). Keras picks
its backend once per process, so `--backend both` measures each in a subprocess of its own,
one after the other, and ends with the two side by side.

--quality N times nothing: it runs L-BFGS (float32, the engine's loss and targets) for N
iterations from six starts (the photo, and the photo with five seeds of Gaussian noise,
sigma 40 grey levels) and reports each final loss, their geometric mean and the loss
evaluations per iteration: the check that a faster solver did not get worse.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

EXAMPLES = ROOT / "nst_plugin" / "examples"
BACKENDS = ("tensorflow", "jax")
PRECISIONS = ("float32", "mixed")
MARK = "BENCH-RESULT "  # the line a subprocess of `--backend both` reports on


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


def input_gradient(model, fn, *arrays: np.ndarray):
    """A callable: the gradient of `fn(run, *inputs)` (a scalar, where run(batch) gives the
    model's outputs) with respect to the last input, compiled by the active backend and
    read back to the host. Kept apart from the engine's own compiled code on purpose."""
    import keras

    if keras.backend.backend() == "jax":
        import jax

        weights = (
            [v.value for v in model.trainable_variables],
            [v.value for v in model.non_trainable_variables],
        )

        def value(last, rest, trainable, non_trainable):
            def run(batch):
                return model.stateless_call(trainable, non_trainable, batch, training=False)[0]

            return fn(run, *rest, last)

        step = jax.jit(jax.grad(value))
        *rest, last = (jax.device_put(a) for a in arrays)
        return lambda: np.asarray(step(last, rest, *weights))

    import tensorflow as tf

    @tf.function
    def tf_step(*inputs):
        with tf.GradientTape() as tape:
            tape.watch(inputs[-1])
            out = fn(lambda batch: model(batch, training=False), *inputs)
        return tape.gradient(out, inputs[-1])

    tensors = [tf.constant(a) for a in arrays]
    return lambda: tf_step(*tensors).numpy()


def bare(model, x: np.ndarray):
    """A callable: gradient of the summed output of `model` with respect to the input."""
    from keras import ops

    return input_gradient(model, lambda run, image: ops.sum(ops.cast(run(image), "float32")), x)


def three_per_step(model, content, style, x, s):
    """A callable: one step of the Keras example's way (see the module docstring)."""
    from keras import ops

    from nst_plugin.vgg19 import losses, vgg_layers

    names = [name for name, _, _ in vgg_layers.CONV_LAYERS]
    content_at = [names.index(n) for n in s.content_layers]
    style_at = [names.index(n) for n in s.style_layers]

    def total(run, c, st, image):
        feats = [ops.cast(f, "float32") for f in run(ops.concatenate([c, st, image], axis=0))]
        content_term = sum(losses.content_loss(feats[i][2:3], feats[i][0:1]) for i in content_at)
        style_term = sum(
            losses.style_loss(feats[i][2:3], losses.gram(feats[i][1:2])) for i in style_at
        )
        out = s.content_weight * content_term + s.style_weight * style_term
        return out + s.tv_weight * losses.variation(image)

    return input_gradient(model, total, content, style, x)


def evaluation(s, content, style):
    """A callable: one engine loss evaluation (value and image gradient) with settings `s`."""
    from nst_plugin.vgg19 import load_engine, targets

    net = load_engine().get_network(s)
    goal = targets.make_targets(net, content, [style], [1.0], s)
    return lambda: net.value_and_grad(content, goal)


def engine(paths: list[Path], size: int, iterations: int, **options) -> tuple[float, ...]:
    """Wall and CPU seconds per iteration, loss evaluations per iteration, of one run."""
    import nst_plugin
    from nst_plugin.vgg19 import optimize

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


def quality(args: argparse.Namespace) -> dict:
    """Final L-BFGS losses after --quality iterations from six starts (see the docstring)."""
    from nst_plugin import Settings
    from nst_plugin.vgg19 import load_engine, optimize, targets

    transfer = load_engine()
    s = Settings(weights=args.weights, precision="float32")
    net = transfer.get_network(s)
    content, style = square("wave.jpg", args.size), square("starry_night.jpg", args.size)
    goal = targets.make_targets(net, content, [style], [1.0], s)
    starts = [content] + [
        np.clip(content + np.random.default_rng(seed).normal(0, 40, content.shape), 0, 255)
        for seed in range(5)
    ]
    finals, before = [], optimize.evaluations
    for x0 in starts:
        _, losses = optimize.run(
            net, s, goal, x0.astype(np.float32), args.quality, lambda *a: False
        )
        finals.append(losses[-1])
    per = (optimize.evaluations - before - len(starts)) / (len(starts) * args.quality)
    backend = transfer.backend_module()
    return {"backend": backend.NAME, "finals": finals, "evals": per}


def report_quality(q: dict, args: argparse.Namespace) -> None:
    geomean = float(np.exp(np.mean(np.log(q["finals"]))))
    print(
        f"{q['backend']}: L-BFGS float32, {args.size}x{args.size}, loss after {args.quality} "
        f"iterations from 6 starts: {' '.join(f'{v:.5f}' for v in q['finals'])}; "
        f"geometric mean {geomean:.5f}; {q['evals']:.2f} evaluations/iteration"
    )


def measure(args: argparse.Namespace, precisions: tuple[str, ...]) -> dict:
    """Every measurement in this process's Keras backend, in alternating rounds."""
    from nst_plugin import Settings
    from nst_plugin.vgg19 import load_engine, network, precision, vgg_layers, weights

    transfer = load_engine()
    s = Settings(weights=args.weights)
    every_layer = [name for name, _, _ in vgg_layers.CONV_LAYERS]
    arrays = weights.load(args.weights, every_layer)
    content, style = square("wave.jpg", args.size), square("starry_night.jpg", args.size)
    x = content.copy()
    calls = {}
    for p in precisions:
        calls[f"bare {p}"] = bare(network.build(["block5_conv1"], arrays, precision=p), x)
        calls[f"evaluation {p}"] = evaluation(s.replace(precision=p), content, style)
        calls[f"three {p}"] = three_per_step(
            network.build(every_layer, arrays, precision=p), content, style, x, s
        )
    runs = {}
    for p in precisions:
        runs[f"L-BFGS {p}"] = dict(precision=p)
        runs[f"Adam {p}"] = dict(precision=p, optimizer="adam")
    auto = precision.resolve("auto", transfer.backend_module())
    if auto not in precisions:
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
    if "default" not in runs:  # auto runs a precision measured above
        for table in (rows, cpus, evals):
            table["default"] = table[f"L-BFGS {auto}"]
    backend = transfer.backend_module()
    return {
        "backend": backend.NAME,
        "version": metadata.version(backend.NAME),
        "device": backend.device(),
        "auto": auto,
        "precisions": list(precisions),
        "rows": rows,
        "cpus": cpus,
        "evals": evals,
        "load": os.getloadavg()[0],
    }


def ratio(r: dict, a: str, b: str) -> str:
    """Median of the per-round wall ratios, and the ratio of median CPU times."""
    rows, cpus = r["rows"], r["cpus"]
    wall = statistics.median([p / q for p, q in zip(rows[a], rows[b])])
    return f"{wall:.3f}x ({statistics.median(cpus[a]) / statistics.median(cpus[b]):.3f}x CPU)"


def report(r: dict, args: argparse.Namespace) -> None:
    """One backend's table."""
    m = {k: statistics.median(v) for k, v in r["rows"].items()}
    auto = r["auto"]
    print(
        f"machine: {platform.machine()}, {os.cpu_count()} cores; Keras backend {r['backend']} "
        f"{r['version']}; device {r['device']}; weights {args.weights}; "
        f"--precision auto runs {auto}; load {r['load']:.2f}"
    )
    print(
        f"size {args.size}x{args.size}; medians of {args.rounds} alternating rounds "
        f"(ratios: median of the per-round wall-clock ratios; in brackets, of the process's "
        f"CPU time, which other load disturbs less)"
    )
    for p in r["precisions"]:
        print(f"{p}:")
        print(f"  {'bare forward+backward':<28}{m[f'bare {p}'] * 1000:8.1f} ms")
        print(
            f"  {'one loss evaluation':<28}{m[f'evaluation {p}'] * 1000:8.1f} ms   "
            f"{ratio(r, f'evaluation {p}', f'bare {p}')} bare"
        )
        for name in (n for n in r["evals"] if n.endswith(f" {p}")):
            print(
                f"  {name + ' iteration':<28}{m[name] * 1000:8.1f} ms   "
                f"{ratio(r, name, f'bare {p}')} bare   "
                f"{statistics.median(r['evals'][name]):.2f} evaluations/iteration"
            )
        print(
            f"  {'three images per step':<28}{m[f'three {p}'] * 1000:8.1f} ms   "
            f"{ratio(r, f'three {p}', f'bare {p}')} bare"
        )
    if f"bare {auto}" in m:
        line = f"{ratio(r, 'default', f'bare {auto}')} bare {auto}"
    else:
        line = f"(bare {auto} not measured)"
    print(f"default settings ({auto}): {m['default'] * 1000:.1f} ms/iteration = {line}", end="")
    print(
        "".join(
            f"; three images per step {p}: {ratio(r, f'three {p}', 'default')} slower"
            for p in r["precisions"]
        )
    )


def compare(results: list[dict]) -> None:
    """The backends side by side: per iteration, and against each one's bare network."""
    print("\nside by side (ms per iteration; x bare: median of per-round wall ratios):")
    for r in results:
        m = {k: statistics.median(v) for k, v in r["rows"].items()}
        for p in r["precisions"]:
            cells = [f"bare {m[f'bare {p}'] * 1000:.0f}"]
            for name in (f"L-BFGS {p}", f"Adam {p}"):
                wall = statistics.median(
                    [a / b for a, b in zip(r["rows"][name], r["rows"][f"bare {p}"])]
                )
                cells.append(
                    f"{name.split()[0]} {m[name] * 1000:.0f} ({wall:.2f}x, "
                    f"{statistics.median(r['evals'][name]):.2f} ev/it)"
                )
            print(f"  {r['backend']:<11}{p:<8}" + "   ".join(cells))


def run_each(argv: list[str], quality_only: bool) -> None:
    """`--backend both`: this script once per backend, each in its own process."""
    results = []
    for backend in BACKENDS:
        print(f"=== {backend}", flush=True)
        proc = subprocess.run(
            [sys.executable, __file__, *argv, "--backend", backend, "--json"],
            env=dict(os.environ, KERAS_BACKEND=backend),
            stdout=subprocess.PIPE,
            text=True,
            check=True,
        )
        for line in proc.stdout.splitlines():
            if line.startswith(MARK):
                results.append(json.loads(line[len(MARK) :]))
            else:
                print(line, flush=True)
    if not quality_only:
        compare(results)


def _without_backend(argv: list[str]) -> list[str]:
    """The command line less its --backend choice."""
    out, skip = [], False
    for arg in argv:
        if not skip and not arg.startswith("--backend"):
            out.append(arg)
        skip = arg == "--backend"
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backend",
        choices=[*BACKENDS, "both"],
        default=os.environ.get("KERAS_BACKEND", "tensorflow"),
    )
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--iterations", type=int, default=12)
    parser.add_argument(
        "--rounds",
        type=int,
        default=5,
        help="alternating rounds of each measurement (this VM is noisy)",
    )
    parser.add_argument("--precision", choices=[*PRECISIONS, "both"], default="both")
    parser.add_argument("--weights", default="random")
    parser.add_argument(
        "--quality",
        type=int,
        default=0,
        metavar="N",
        help="time nothing: the L-BFGS loss after N iterations from six starts",
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)
    argv = sys.argv[1:]
    args = parser.parse_args(argv)
    if args.backend == "both":
        run_each(_without_backend(argv), quality_only=bool(args.quality))
        return
    os.environ["KERAS_BACKEND"] = args.backend  # before anything imports Keras
    if args.quality:
        report_quality(quality(args), args)
        return
    precisions = PRECISIONS if args.precision == "both" else (args.precision,)
    result = measure(args, precisions)
    report(result, args)
    print(f"{'import nst_plugin':<30}{import_time() * 1000:8.0f} ms")
    if args.json:
        print(MARK + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
