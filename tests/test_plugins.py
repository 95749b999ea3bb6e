"""The pluggy core: hooks, replacement engines, entry points, allowlist, tracing, import cost."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

import nst_plugin
from nst_plugin import engines, hookspecs, plugins


def test_every_hook_is_documented():
    specs = [name for name in dir(hookspecs) if name.startswith("nst_")]
    assert set(specs) == {"nst_register_engines", "nst_register_commands", "nst_progress"}
    for name in specs:
        doc = getattr(hookspecs, name).__doc__ or ""
        assert "call" in doc.lower(), f"{name} must say who calls it"


def test_nst_register_engines_adds_an_engine(images, fake, tmp_path):
    events = []
    out = tmp_path / "out.png"
    r = nst_plugin.stylize(
        images["content"], images["style"], out, engine="fake", on_progress=events.append
    )
    assert len(fake.calls) == 1 and r.engine == "fake" and out.exists()
    assert [e.stage for e in events][-2:] == ["saving", "done"]


def test_plugin_can_replace_the_builtin_engine(images, fake_engine):
    engine = fake_engine(name="vgg19")
    r = nst_plugin.stylize(images["content"], images["style"], weights="random")
    assert len(engine.calls) == 1 and r.backend == "none"


def test_unknown_engine_is_one_sentence_listing_the_installed(images, fake):
    with pytest.raises(nst_plugin.RequestError, match="no engine named 'nope'") as err:
        nst_plugin.stylize(images["content"], images["style"], engine="nope")
    assert str(err.value).endswith("the installed engines are: fake, fast, vgg19.")


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
    def nst_register_engines(register):
        register(nst_plugin.Engine("good", "from an entry point", print, ("size",)))
"""


@pytest.fixture
def dists(tmp_path, monkeypatch):
    _install_dist(tmp_path, "nst_good_plugin", GOOD, "good")
    _install_dist(
        tmp_path, "nst_broken_plugin", "raise ImportError('missing dependency xyz')", "broken"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_points_load_and_broken_only_warns(dists, monkeypatch):
    monkeypatch.delenv("NST_PLUGINS")
    with pytest.warns(RuntimeWarning, match="plugin 'broken'.*missing dependency xyz"):
        pm = plugins.make_plugin_manager()
    names = [p["name"] for p in plugins.plugin_listing(pm)]
    assert "good" in names and "broken" not in names and "nst_plugin.vgg19" in names
    good = next(p for p in plugins.plugin_listing(pm) if p["name"] == "good")
    assert good["distribution"] == "nst_good_plugin" and good["hooks"] == ["nst_register_engines"]
    assert set(engines.installed(pm)) == {"vgg19", "fast", "good"}


@pytest.mark.parametrize("allow, expected", [("", set()), ("good", {"good"})])
def test_allowlist(dists, monkeypatch, recwarn, allow, expected):
    monkeypatch.setenv("NST_PLUGINS", allow)
    pm = plugins.make_plugin_manager()
    external = {p["name"] for p in plugins.plugin_listing(pm)} - set(plugins.DEFAULT_PLUGINS)
    assert external == expected
    assert not [w for w in recwarn if "broken" in str(w.message)]  # not even tried


def test_tracing_goes_to_stderr(monkeypatch, capsys):
    monkeypatch.setenv("NST_TRACE_PLUGINS", "1")
    pm = plugins.make_plugin_manager(load_entry_points=False)
    engines.installed(pm)
    assert "nst_register_engines" in capsys.readouterr().err


def test_import_is_cheap():
    """No TensorFlow, numpy or Pillow behind `import nst_plugin` (its time is in bench/)."""
    code = (
        "import sys, nst_plugin; print(sorted(m for m in "
        "('numpy', 'tensorflow', 'keras', 'PIL', 'scipy', 'rich') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_nst_plugins_prints_json():
    out = subprocess.run(
        [sys.executable, "-m", "nst_plugin.cli", "plugins"],
        capture_output=True,
        text=True,
        check=True,
    )
    data = json.loads(out.stdout)
    builtin = next(p for p in data["plugins"] if p["name"] == "nst_plugin.vgg19")
    assert builtin["hooks"] == ["nst_register_engines"]
    vgg19 = next(e for e in data["engines"] if e["name"] == "vgg19")
    assert set(vgg19["options"]["properties"]) >= {"size", "strength", "preserve_colors"}
    assert "weights" not in vgg19["options"]["properties"]  # a file on the engine's machine


class _EventLog:
    def __init__(self):
        self.events = []

    @nst_plugin.hookimpl
    def nst_progress(self, event):
        self.events.append(event)


def test_nst_progress_hears_every_job_started_through_stylize(images, fake, register):
    log = register(_EventLog())
    nst_plugin.stylize(images["content"], images["style"], engine="fake")
    stages = [e.stage for e in log.events]
    assert stages[0] == "loading" and stages[-1] == "done" and "optimizing" in stages
    assert any(e.preview is not None for e in log.events)  # the fake engine sends one


def test_nst_register_commands_adds_a_command(register, capsys):
    from nst_plugin import cli

    class Hello:
        @nst_plugin.hookimpl
        def nst_register_commands(self, subparsers):
            p = subparsers.add_parser("hello", help="say hello")
            p.add_argument("name")
            p.set_defaults(run=lambda args: print(f"hello {args.name}") or 3)

    register(Hello())
    assert cli.main(["hello", "world"]) == 3
    assert capsys.readouterr().out == "hello world\n"
    assert "hello" in cli.build_parser().format_help()


def test_a_command_raising_user_error_exits_with_its_code(register, capsys):
    from nst_plugin import cli

    class Picky:
        @nst_plugin.hookimpl
        def nst_register_commands(self, subparsers):
            def run(args):
                raise nst_plugin.UserError("the answer must be 42; run it again with 42.")

            subparsers.add_parser("picky").set_defaults(run=run)

    register(Picky())
    assert cli.main(["picky"]) == 2
    assert capsys.readouterr().err == "nst: error: the answer must be 42; run it again with 42.\n"
