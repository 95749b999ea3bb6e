"""The pluggy core: hooks, replacement engines, entry points, allowlist, tracing, import cost."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import nst_plugin
from nst_plugin import hookspecs, plugins
from nst_plugin.request import Result


class FastEngine:
    """An engine plugin that answers instantly: returns the content image unchanged."""

    def __init__(self, name="fast"):
        self.name = name
        self.calls = 0

    @nst_plugin.hookimpl(tryfirst=True)
    def nst_stylize(self, request, reporter):
        if request.engine != self.name:
            return None
        self.calls += 1
        reporter.progress(1, 1, 0.5)
        return Result(image=request.content, iterations=1, seconds=0.0, losses=[1.0, 0.5],
                      engine=self.name, backend="none", device="CPU")

    @nst_plugin.hookimpl
    def nst_engines(self):
        return [{"name": self.name, "description": "test engine"}]


def test_every_hook_is_documented():
    specs = [name for name in dir(hookspecs) if name.startswith("nst_")]
    assert set(specs) == {"nst_stylize", "nst_progress", "nst_engines"}
    for name in specs:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "call" in doc.lower(), f"{name} must say who calls it"


def test_replacement_engine_answers(images, register, tmp_path):
    engine = register(FastEngine())
    events = []
    out = tmp_path / "out.png"
    r = nst_plugin.stylize(images["content"], images["style"], out, engine="fast",
                           on_progress=events.append)
    assert engine.calls == 1 and r.engine == "fast" and out.exists()
    assert [e.stage for e in events][-2:] == ["saving", "done"]


def test_plugin_can_replace_the_builtin_engine(images, register):
    engine = register(FastEngine(name="vgg19"))
    r = nst_plugin.stylize(images["content"], images["style"], weights="random")
    assert engine.calls == 1 and r.backend == "none"


def test_unknown_engine_is_a_clear_error(images):
    with pytest.raises(nst_plugin.RequestError, match="no engine named 'nope'"):
        nst_plugin.stylize(images["content"], images["style"], engine="nope")


def _install_dist(root, name, module_source, entry_name=None):
    """A real installed distribution on sys.path: a module plus its dist-info entry point."""
    (root / f"{name}.py").write_text(textwrap.dedent(module_source))
    info = root / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[nst_plugin]\n{entry_name or name} = {name}\n")


GOOD = """
    import nst_plugin

    @nst_plugin.hookimpl
    def nst_engines():
        return [{"name": "good", "description": "from an entry point"}]
"""


@pytest.fixture
def dists(tmp_path, monkeypatch):
    _install_dist(tmp_path, "nst_good_plugin", GOOD, "good")
    _install_dist(tmp_path, "nst_broken_plugin", "raise ImportError('missing dependency xyz')",
                  "broken")
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_points_load_and_broken_only_warns(dists):
    with pytest.warns(RuntimeWarning, match="plugin 'broken'.*missing dependency xyz"):
        pm = plugins.make_plugin_manager()
    names = [p["name"] for p in plugins.describe(pm)]
    assert "good" in names and "broken" not in names and "nst_plugin.engine" in names
    good = next(p for p in plugins.describe(pm) if p["name"] == "good")
    assert good["distribution"] == "nst_good_plugin" and good["hooks"] == ["nst_engines"]
    engines = [e["name"] for group in pm.hook.nst_engines() for e in group]
    assert set(engines) == {"vgg19", "good"}


@pytest.mark.parametrize("allow, expected", [("", set()), ("good", {"good"})])
def test_allowlist(dists, monkeypatch, recwarn, allow, expected):
    monkeypatch.setenv("NST_PLUGINS", allow)
    pm = plugins.make_plugin_manager()
    external = {p["name"] for p in plugins.describe(pm)} - set(plugins.DEFAULT_PLUGINS)
    assert external == expected
    assert not [w for w in recwarn if "broken" in str(w.message)]  # not even tried


def test_tracing_goes_to_stderr(monkeypatch, capsys):
    monkeypatch.setenv("NST_TRACE_PLUGINS", "1")
    pm = plugins.make_plugin_manager(load_entry_points=False)
    pm.hook.nst_engines()
    assert "nst_engines" in capsys.readouterr().err


def test_import_is_cheap():
    """No TensorFlow, numpy or Pillow behind `import nst_plugin` (its time is in bench/)."""
    code = ("import sys, nst_plugin; print(sorted(m for m in "
            "('numpy', 'tensorflow', 'keras', 'PIL', 'scipy', 'rich') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nst_plugins_prints_json():
    out = subprocess.run([sys.executable, "-m", "nst_plugin.cli", "plugins"],
                         capture_output=True, text=True, check=True)
    data = json.loads(out.stdout)
    builtin = next(p for p in data["plugins"] if p["name"] == "nst_plugin.engine")
    assert builtin["hooks"] == ["nst_engines", "nst_stylize"]
    assert data["engines"][0]["name"] == "vgg19"
