"""Krita's settings file: one key set or removed with every other line kept, and `nst
install-host krita` enabling the plug-in there and putting the old value back on uninstall."""

from __future__ import annotations

from pathlib import Path

from nst_plugin import kritarc
from nst_plugin.cli import main

KRITARC = "top=1\n\n[python]\nenable_a=false\n\n[krita]\nx=y\n"


def test_put_keeps_every_other_line(tmp_path):
    rc = tmp_path / "kritarc"
    rc.write_text(KRITARC)
    kritarc.put(rc, "python", "enable_a", "true")
    kritarc.put(rc, "python", "enable_b", "true")
    kritarc.put(rc, "new", "k", "v")
    assert rc.read_text() == (
        "top=1\n\n[python]\nenable_a=true\nenable_b=true\n\n[krita]\nx=y\n\n[new]\nk=v\n"
    )
    assert kritarc.get(rc, "python", "enable_b") == "true" and kritarc.get(rc, "krita", "k") is None
    kritarc.put(rc, "python", "enable_b", None)
    kritarc.put(rc, "python", "missing", None)  # nothing to remove: fine
    assert kritarc.get(rc, "python", "enable_b") is None and "x=y" in rc.read_text()


def test_install_enables_the_plugin_and_uninstall_puts_back_what_was_there(tmp_path, capsys):
    dest, rc = tmp_path / "krita", tmp_path / "config" / "kritarc"
    rc.parent.mkdir()
    rc.write_text(KRITARC.replace("enable_a=false", "enable_nst_krita=false"))
    assert main(["install-host", "krita", "--dest", str(dest), "--kritarc", str(rc)]) == 0
    assert f"restart Krita (the plug-in is enabled in {rc})" in capsys.readouterr().out
    assert kritarc.get(rc, "python", "enable_nst_krita") == "true"
    assert main(["install-host", "krita", "--dest", str(dest), "--kritarc", str(rc)]) == 0  # update
    assert main(["uninstall-host", "krita", "--dest", str(dest)]) == 0
    assert rc.read_text() == KRITARC.replace("enable_a=false", "enable_nst_krita=false")
    assert not any(p.is_file() for p in dest.rglob("*"))


def test_without_a_settings_file_named_a_dest_install_leaves_krita_settings_alone(
    tmp_path, capsys, monkeypatch
):
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    assert main(["install-host", "krita", "--dest", str(tmp_path / "krita")]) == 0
    assert "Python Plugin Manager" in capsys.readouterr().out
    assert not kritarc.default_path().exists()
    assert (
        main(
            [
                "install-host",
                "krita",
                "--dest",
                str(tmp_path / "k2"),
                "--no-enable",
                "--kritarc",
                str(tmp_path / "rc"),
            ]
        )
        == 0
    )
    assert not (tmp_path / "rc").exists()
    assert kritarc.default_path() == Path(tmp_path / "config" / "kritarc")
