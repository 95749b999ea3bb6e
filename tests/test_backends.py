"""The engine on every Keras backend it supports (TensorFlow and JAX).

Keras picks its backend once per process, at import (KERAS_BACKEND), so each backend runs in
a subprocess of its own: the same interpreter, the repository root as working directory.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 1200  # seconds; the engine tests take well under a minute on a 2-core CPU
MARK = "NST-RESULT "

# Starting losses compared across backends besides the default run's: (options, rel).
# Mixed precision runs the convolutions in bfloat16, whose kernels differ per backend.
START_CASES = {
    "float32": (dict(precision="float32"), 1e-3),
    "noise": (dict(init="noise", seed=3, precision="float32"), 1e-3),
    "meancov": (dict(style_loss="meancov", precision="float32"), 1e-3),
    "mixed": (dict(precision="mixed"), 1e-2),
}

# The controls that run through the optimizers' compiled steps, run on JAX too.
JAX_CONTROLS = [
    f"tests/test_controls.py::{name}"
    for name in (
        "test_checkpoint_and_resume",
        "test_time_budget_stops_the_run",
        "test_previews_and_intermediates",
        "test_adam_iterate_averaging",
        "test_mixed_precision_stays_finite",
        "test_content_targets_stop_at_the_content_layers",
    )
]

# Stylizes in the backend KERAS_BACKEND names; prints one JSON line after MARK.
# argv: content, style, block_tensorflow ("1": make `import tensorflow` fail, as on a
# machine that has JAX and no TensorFlow).
STYLIZE = r"""
import json, sys
if sys.argv[3] == "1":
    sys.modules["tensorflow"] = None  # any `import tensorflow` now raises ImportError
import nst_plugin

content, style = sys.argv[1], sys.argv[2]
fast = dict(weights="random", size=48)
default = nst_plugin.stylize(content, style, iterations=5, **fast)
starts = {name: nst_plugin.stylize(content, style, iterations=1, **fast, **options).losses[0]
          for name, options in START_CASES.items()}
print(MARK + json.dumps({
    "backend": default.backend,
    "device": default.device,
    "precision": default.precision,
    "losses": default.losses,
    "starts": starts,
    "tensorflow_loaded": "tensorflow" in sys.modules and sys.modules["tensorflow"] is not None,
}))
""".replace("MARK", repr(MARK)).replace(
    "START_CASES", repr({name: options for name, (options, _) in START_CASES.items()})
)


def _env(backend: str, keras_home: Path) -> dict[str, str]:
    env = dict(os.environ, KERAS_BACKEND=backend, KERAS_HOME=str(keras_home))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    for name in ("NST_WEIGHTS", "NST_PLUGINS", "NST_TRACE_PLUGINS"):
        env.pop(name, None)
    return env


def _run(args: list[str], backend: str, keras_home: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=_env(backend, keras_home),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )


def _tail(proc: subprocess.CompletedProcess, chars: int = 6000) -> str:
    return (
        f"exit {proc.returncode}\n--- stdout ---\n{proc.stdout[-chars:]}"
        f"\n--- stderr ---\n{proc.stderr[-chars:]}"
    )


def _stylize(backend: str, images: dict, keras_home: Path, block_tensorflow: bool) -> dict:
    proc = _run(
        [
            "-c",
            STYLIZE,
            str(images["content"]),
            str(images["style"]),
            "1" if block_tensorflow else "0",
        ],
        backend,
        keras_home,
    )
    assert proc.returncode == 0, _tail(proc)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARK)]
    assert lines, _tail(proc)
    return json.loads(lines[-1][len(MARK) :])


@pytest.fixture(scope="module")
def jax_run(images, tmp_path_factory) -> dict:
    """One JAX stylize run in a process where TensorFlow cannot be imported."""
    pytest.importorskip("jax", reason="JAX is not installed (pip install jax)")
    return _stylize("jax", images, tmp_path_factory.mktemp("keras_home"), block_tensorflow=True)


def test_engine_loss_and_solver_tests_pass_on_jax(tmp_path):
    """The engine's numerics on JAX, in one process: the losses, the engine, the solvers (all
    of tests/test_solvers.py: none may skip there) and the controls that reach the backend.
    (The tiles' seams are the same numpy on both backends and run on TensorFlow only.)"""
    pytest.importorskip("jax", reason="JAX is not installed (pip install jax)")
    proc = _run(
        [
            "-m",
            "pytest",
            "-q",
            "-rs",
            "-p",
            "no:cacheprovider",
            "tests/test_losses.py",
            "tests/test_engine.py",
            "tests/test_solvers.py",
            *JAX_CONTROLS,
            "tests/test_regions.py::test_swapping_the_masks_swaps_the_regions_styles",
        ],
        "jax",
        tmp_path,
    )
    assert proc.returncode == 0, _tail(proc)
    skipped = [line for line in proc.stdout.splitlines() if line.startswith("SKIPPED")]
    assert not [line for line in skipped if "test_solvers.py" in line], _tail(proc)


def test_stylize_on_jax_without_tensorflow(jax_run):
    assert jax_run["backend"] == "jax"
    assert jax_run["device"]
    assert not jax_run["tensorflow_loaded"]
    losses = jax_run["losses"]
    assert len(losses) == 6
    assert losses[-1] < losses[0]


def test_jax_and_tensorflow_start_from_the_same_loss(jax_run, images, tmp_path):
    """The starting loss is a pure function of the network, the images and the targets."""
    if importlib.util.find_spec("tensorflow") is None:
        pytest.skip("TensorFlow is not installed: nothing to compare JAX with")
    tf_run = _stylize("tensorflow", images, tmp_path, block_tensorflow=False)
    assert tf_run["backend"] == "tensorflow"
    # --precision auto may pick bfloat16 on one backend and float32 on the other
    same = jax_run["precision"] == tf_run["precision"]
    assert jax_run["losses"][0] == pytest.approx(tf_run["losses"][0], rel=1e-3 if same else 1e-2)
    for name, (_, rel) in START_CASES.items():
        assert jax_run["starts"][name] == pytest.approx(tf_run["starts"][name], rel=rel), name
