"""The engine on a GPU, in one call: whole renders, the iteration against the bare network,
the time to the first iteration and peak device memory (issue 21's table).

    KERAS_BACKEND=jax python bench/bench_gpu.py [--out DIR] [--small]

Made for a lent GPU machine, which has JAX but no TensorFlow (../shared/recipes/gpu.md):
TensorFlow is kept out of this process, so a run here proves the path needs none. Renders,
each in the product's settings with random weights (they time the same as ImageNet's):
- 512 px, 500 iterations, float32 and `--precision auto` (target: under 5 s);
- 2048 px and 4096 px, the Good preset (target at 2048: under 30 s); the engine picks whole
  scales or tiles from the device's free memory.
For each: wall seconds, seconds to the first iteration (compilation included), and the
device's peak memory so far. Then, single scale at 512 and 2048 px: seconds per iteration
(the first left out) against the bare network (VGG19 to block5_conv1, forward and input
gradient, read back to the host; target: within 1.1x). --small runs every part at 64 and
128 px with 10 iterations: the check that the script works, on the CPU here. The table is
printed last; --out DIR also gets it as results.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.modules.setdefault("tensorflow", None)  # the GPU machine has none: prove it is not needed

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import keras  # noqa: E402
from bench_engine import bare, engine, square, timed  # noqa: E402

import nst_plugin  # noqa: E402
from nst_plugin.options import PRESETS  # noqa: E402

EXAMPLES = ROOT / "nst_plugin" / "examples"


def peak_memory() -> float | None:
    """The default device's peak memory in use so far, in GiB (None where JAX does not say)."""
    import jax

    stats = jax.devices()[0].memory_stats() or {}
    peak = stats.get("peak_bytes_in_use")
    return None if peak is None else peak / 2**30


def render(paths: list[Path], size: int, iterations: int, **options) -> dict:
    """One whole render: wall seconds, seconds to the first iteration, peak memory."""
    started = time.perf_counter()
    first: list[float] = []

    def on_event(event) -> None:
        if event.stage == "optimizing" and event.step >= 1 and not first:
            first.append(time.perf_counter() - started)

    result = nst_plugin.stylize(
        paths[0],
        paths[1],
        size=size,
        iterations=iterations,
        weights="random",
        seed=0,
        preview_every=0,
        on_progress=on_event,
        **options,
    )
    return {
        "seconds": time.perf_counter() - started,
        "first_iteration_s": first[0] if first else None,
        "precision": result.precision,
        "device": result.device,
        "peak_gib": peak_memory(),
    }


def per_iteration(paths: list[Path], size: int, iterations: int, precision: str) -> dict:
    """Single scale: the engine's seconds per iteration against the bare network's."""
    from nst_plugin.vgg19 import network, weights

    wall, _, evals = engine(
        paths, size, iterations, weights="random", precision=precision, preview_every=0
    )
    arrays = weights.load("random", network.conv_layers_up_to(["block5_conv1"]))
    model = network.build(["block5_conv1"], arrays, precision=precision)
    floor, _ = timed(bare(model, square("wave.jpg", size)), 5)
    return {"iteration_s": wall, "bare_s": floor, "ratio": wall / floor, "evaluations": evals}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=None)
    parser.add_argument("--small", action="store_true", help="the CPU check: 64 and 128 px")
    args = parser.parse_args()
    small = args.small
    good = 10 if small else PRESETS["good"]["iterations"]
    renders = [
        ("512 px, 500 iterations, float32", 64 if small else 512, 10 if small else 500,
         {"precision": "float32"}),
        ("512 px, 500 iterations, auto", 64 if small else 512, 10 if small else 500, {}),
        ("2048 px, Good", 128 if small else 2048, good, {}),
        ("4096 px, Good", 128 if small else 4096, good, {}),
    ]  # fmt: skip
    singles = [(64, "float32"), (128, "float32")] if small else [(512, "float32"), (2048, "mixed")]
    rows: dict[str, dict] = {}
    print(f"Keras {keras.__version__} on {keras.backend.backend()}", flush=True)
    paths = [EXAMPLES / "wave.jpg", EXAMPLES / "starry_night.jpg"]
    for label, size, iterations, options in renders:
        rows[label] = render(paths, size, iterations, **options)
        print(label, rows[label], flush=True)
    for size, precision in singles:
        label = f"iteration at {size} px, single scale, {precision}"
        rows[label] = per_iteration(paths, size, 6 if small else 30, precision)
        print(label, rows[label], flush=True)
    print("\n| run | seconds | first iteration | peak GiB | iteration / bare |")
    print("|---|---|---|---|---|")
    for label, row in rows.items():
        if "ratio" in row:
            print(
                f"| {label} | {row['iteration_s']:.4f} per iteration | | | "
                f"{row['ratio']:.2f}x (bare {row['bare_s']:.4f} s) |"
            )
        else:
            peak = "n/a" if row["peak_gib"] is None else f"{row['peak_gib']:.1f}"
            first = row["first_iteration_s"]
            print(
                f"| {label} ({row['precision']}, {row['device']}) | {row['seconds']:.2f} | "
                f"{'n/a' if first is None else f'{first:.2f} s'} | {peak} | |"
            )
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
