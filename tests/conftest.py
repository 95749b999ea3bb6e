"""Shared fixtures: an isolated Keras cache, small example images, plugin registration, the fake
engine. The suite runs with no third-party plugins: only nst-plugin's own are loaded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from fake_engine import FakeEngine
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "nst_plugin" / "examples"
SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["NST_PLUGINS"] = ""  # no third-party plugin takes part in a test


@pytest.fixture(autouse=True)
def _isolated_weights(tmp_path_factory, monkeypatch):
    """No test reads or writes the real ~/.keras or model cache, and none depends on NST_WEIGHTS."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.setenv("NST_MODELS_DIR", str(tmp_path_factory.mktemp("models")))
    for name in ("NST_FAST_SOURCE", "NST_FAST_HUB_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("NST_WEIGHTS", raising=False)
    monkeypatch.setenv("NST_PLUGINS", "")
    monkeypatch.delenv("NST_TRACE_PLUGINS", raising=False)


@pytest.fixture(scope="session")
def images(tmp_path_factory) -> dict[str, Path]:
    """Small copies of the bundled paintings: content (wave, 3:2-ish) and style."""
    root = tmp_path_factory.mktemp("images")
    out = {}
    for key, name in (("content", "wave.jpg"), ("style", "starry_night.jpg")):
        img = Image.open(EXAMPLES / name).convert("RGB")
        img.thumbnail((96, 96))
        out[key] = root / f"{key}.png"
        img.save(out[key])
    return out


@pytest.fixture
def register():
    """Register plugin objects for one test; all are unregistered afterwards."""
    from nst_plugin.plugins import get_plugin_manager

    pm = get_plugin_manager()
    added = []

    def add(plugin, name=None):
        pm.register(plugin, name=name)
        added.append(plugin)
        return plugin

    yield add
    for plugin in added:
        pm.unregister(plugin)


@pytest.fixture
def fake_engine(register):
    """Register a FakeEngine (keyword arguments as FakeEngine's) for one test; return it."""
    return lambda **kw: register(FakeEngine(**kw))


@pytest.fixture
def fake(fake_engine):
    """The engine "fake", registered for one test, answering at once."""
    return fake_engine()
