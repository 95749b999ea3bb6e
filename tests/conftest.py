"""Shared fixtures: an isolated Keras cache, small example images, plugin registration."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from PIL import Image

EXAMPLES = Path(__file__).resolve().parent.parent / "nst_plugin" / "examples"
SHARED_IMAGES = Path(__file__).resolve().parents[2] / "shared" / "images"

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(autouse=True)
def _isolated_weights(tmp_path_factory, monkeypatch):
    """No test reads or writes the real ~/.keras, and none depends on NST_WEIGHTS."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path_factory.mktemp("keras_home")))
    monkeypatch.delenv("NST_WEIGHTS", raising=False)
    monkeypatch.delenv("NST_PLUGINS", raising=False)
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
