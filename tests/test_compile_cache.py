"""JAX's persistent compilation cache under the user's cache folder: what `compile_cache.enable`
sets, and two real `nst stylize` runs on JAX, the second of which compiles nothing new."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from nst_plugin import compile_cache

NST = [sys.executable, "-m", "nst_plugin.cli"]
EXAMPLES = Path(__file__).resolve().parent.parent / "nst_plugin" / "examples"
JAX_VARIABLES = (
    "JAX_COMPILATION_CACHE_DIR",
    "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS",
    "JAX_COMPILATION_CACHE_MAX_SIZE",
)


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    """No JAX cache variables, no NST_COMPILE_CACHE, the cache folder under tmp_path."""
    for name in (*JAX_VARIABLES, "NST_COMPILE_CACHE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return monkeypatch


def test_enable_points_jax_at_the_user_cache(clean_env, tmp_path):
    folder = compile_cache.enable()
    assert folder == tmp_path / "cache" / "nst-plugin" / "jax"
    assert os.environ["JAX_COMPILATION_CACHE_DIR"] == str(folder)
    assert float(os.environ["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"]) > 0
    assert int(os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"]) == compile_cache.MAX_BYTES
    assert not folder.exists()  # JAX makes it when it first writes; nothing else touches it


def test_enable_keeps_the_users_choice_or_stays_off(clean_env, tmp_path):
    clean_env.setenv("JAX_COMPILATION_CACHE_DIR", str(tmp_path / "mine"))
    clean_env.setenv("JAX_COMPILATION_CACHE_MAX_SIZE", "123")
    assert compile_cache.enable() == tmp_path / "mine"
    assert os.environ["JAX_COMPILATION_CACHE_MAX_SIZE"] == "123"
    clean_env.delenv("JAX_COMPILATION_CACHE_DIR")
    clean_env.setenv("NST_COMPILE_CACHE", "0")
    assert compile_cache.enable() is None
    assert "JAX_COMPILATION_CACHE_DIR" not in os.environ


def test_a_second_jax_run_loads_what_the_first_compiled(tmp_path):
    pytest.importorskip("jax", reason="JAX is not installed (pip install jax)")
    env = {k: v for k, v in os.environ.items() if k not in JAX_VARIABLES}
    env.update(
        KERAS_BACKEND="jax",
        XDG_CACHE_HOME=str(tmp_path / "cache"),
        NST_PLUGINS="",
        TF_CPP_MIN_LOG_LEVEL="3",
    )
    folder = tmp_path / "cache" / "nst-plugin" / "jax"
    found = []
    images = [str(EXAMPLES / "wave.jpg"), str(EXAMPLES / "starry_night.jpg")]
    small = ["--size", "32", "--iterations", "2", "--weights", "random"]
    for run in range(2):
        out = tmp_path / f"out{run}.png"
        done = subprocess.run(
            [*NST, "stylize", *images, "-o", str(out), *small],
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0 and out.exists(), done.stderr[-2000:]
        found.append(sorted(p.name for p in folder.iterdir()))
    assert len(found[0]) >= 2, found[0]  # at least the network's forward pass and the step
    assert found[1] == found[0]  # the second run compiled nothing it had to keep
