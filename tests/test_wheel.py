"""The wheel as users get it: built from a copy of the working tree, installed (not editable)
into a fresh virtual environment, and run from there: `nst demo` on the fast engine and
`nst install-host krita|gimp` from the packaged plug-in sources.

Installing TensorFlow and the rest again would take minutes, so the fresh environment gets
only the wheel (`--no-deps`) and a `.pth` line that appends this environment's site-packages
to its path. A path appended that way is not a site directory, so its `.pth` files (the
editable install's finder among them) do not run, and `nst_plugin` comes from the wheel.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest
from PIL import Image

from nst_plugin import engines, hostinstall

ROOT = Path(__file__).resolve().parent.parent
# What a build reads: the project's metadata, the package, and hosts/ (hosts_data links there).
SOURCES = ("pyproject.toml", "README.md", "nst_plugin", "hosts")
# What would make the fresh environment run anything but the wheel's own code and plug-ins.
UNSET = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV", "NST_HOSTS_DIR")
# Bytecode is copied: the wheel must leave it out (pyproject's exclude-package-data).
SKIP = shutil.ignore_patterns(".ruff_cache", ".pytest_cache", "*.egg-info", "build", "dist")
# Bytecode as Python or an editor leaves it beside the plug-ins, put into the copy for sure.
BYTECODE = ("hosts/krita/nst_krita/__pycache__", "hosts/gimp/nst-stylize/__pycache__")


def run(*args: str | Path, env: dict[str, str], cwd: Path, timeout: float = 120):
    done = subprocess.run(
        [str(a) for a in args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
    assert done.returncode == 0, (
        f"{' '.join(map(str, args))} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    )
    return done


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of a copy of the tree (a build writes build/ and *.egg-info into its source,
    which other work in the tree must not see)."""
    root = tmp_path_factory.mktemp("wheel")
    source = root / "source"
    source.mkdir()
    for name in SOURCES:
        path = ROOT / name
        if path.is_dir():
            shutil.copytree(path, source / name, symlinks=True, ignore=SKIP)
        else:
            shutil.copy2(path, source / name)
    for folder in BYTECODE:
        (source / folder).mkdir(parents=True, exist_ok=True)
        (source / folder / "planted.cpython-311.pyc").write_bytes(b"not for the wheel")
    env = {**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    run(
        sys.executable,
        "-m",
        "pip",
        "wheel",
        "--no-deps",
        "--no-build-isolation",
        "--no-index",
        "-w",
        root / "dist",
        source,
        env=env,
        cwd=root,
    )
    (built,) = (root / "dist").glob("nst_plugin-*.whl")
    return built


@pytest.fixture(scope="module")
def venv(wheel, tmp_path_factory) -> dict:
    """A fresh environment with the wheel installed, this one's packages behind it on the path;
    `env` runs its programs with a private home, no PYTHONPATH and no NST_HOSTS_DIR."""
    root = tmp_path_factory.mktemp("venv")
    prefix = root / "venv"
    home = root / "home"
    env = {k: v for k, v in os.environ.items() if k not in UNSET}
    env.update(
        HOME=str(home),
        XDG_CACHE_HOME=str(home / "cache"),
        XDG_CONFIG_HOME=str(home / "config"),
        XDG_DATA_HOME=str(home / "data"),
        XDG_STATE_HOME=str(home / "state"),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        PYTHONDONTWRITEBYTECODE="1",
    )
    run(sys.executable, "-m", "venv", "--without-pip", prefix, env=env, cwd=root)
    bindir = "Scripts" if sys.platform.startswith("win") else "bin"
    python = prefix / bindir / Path(sys.executable).name
    if not python.exists():
        python = next((prefix / bindir).glob("python*"))
    run(
        sys.executable,
        "-m",
        "pip",
        "--python",
        python,
        "install",
        "--no-deps",
        "--no-index",
        wheel,
        env=env,
        cwd=root,
    )
    site = Path(
        run(
            python,
            "-c",
            "import sysconfig; print(sysconfig.get_paths()['purelib'])",
            env=env,
            cwd=root,
        ).stdout.strip()
    )
    ours = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (site / "_nst_test_dependencies.pth").write_text("".join(f"{p}\n" for p in ours))
    nst = prefix / bindir / ("nst.exe" if sys.platform.startswith("win") else "nst")
    return {"prefix": prefix, "python": python, "nst": nst, "env": env, "cwd": root}


def test_wheel_ships_the_plugins_without_editor_tests_or_bytecode(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert "nst_plugin/hosts_data/krita/nst_krita/__init__.py" in names
    assert "nst_plugin/hosts_data/gimp/nst-stylize/nst-stylize.py" in names
    assert "nst_plugin/examples/wave.jpg" in names
    assert not [n for n in names if n.startswith("nst_plugin/hosts_data/tests")]
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]


def test_wheel_install_is_the_package_users_run(venv):
    found = run(
        venv["python"],
        "-c",
        "import nst_plugin, nst_plugin.engines; print(nst_plugin.__file__)",
        env=venv["env"],
        cwd=venv["cwd"],
    ).stdout.strip()
    assert Path(found).resolve().is_relative_to(venv["prefix"].resolve()), found
    assert not Path(found).resolve().is_relative_to(ROOT), found
    assert venv["nst"].is_file()


def test_wheel_demo_on_the_fast_engine_writes_a_1024_px_png(venv):
    problem = engines.get("fast").problem()
    if problem is not None:
        pytest.skip(f"the fast engine cannot run here: {problem}")
    out = venv["cwd"] / "demo.png"
    done = run(venv["nst"], "demo", "--engine", "fast", "-o", out, env=venv["env"], cwd=venv["cwd"])
    assert "fast" in done.stderr
    with Image.open(out) as image:
        assert image.format == "PNG"
        assert max(image.size) == 1024, image.size


@pytest.mark.parametrize(
    ("editor", "required"),
    [
        ("krita", ["pykrita/nst_krita/__init__.py", "pykrita/nst_krita.desktop"]),
        ("gimp", ["plug-ins/nst-stylize/nst-stylize.py"]),
    ],
)
def test_wheel_install_host_copies_the_plugin(venv, editor, required):
    dest = venv["cwd"] / f"{editor}-user"
    done = run(
        venv["nst"], "install-host", editor, "--dest", dest, env=venv["env"], cwd=venv["cwd"]
    )
    for rel in required:
        assert (dest / rel).is_file(), rel
    plugin = dest / hostinstall.HOSTS[editor].plugin_dir
    # The installer's own list of what it wrote (uninstall-host removes exactly these).
    written = json.loads((plugin / hostinstall.MANIFEST).read_text(encoding="utf-8"))
    assert set(required) <= set(written)
    missing = [rel for rel in written if not (dest / rel).is_file()]
    assert not missing, f"the installer lists files it did not write: {missing}"
    count = re.search(r"\((\d+) files\)", done.stdout)
    if count:
        assert int(count.group(1)) == len(written), done.stdout
    config = json.loads((plugin / hostinstall.HOST_CONFIG).read_text(encoding="utf-8"))
    assert os.path.samefile(config["nst"], venv["nst"]), config
    if hostinstall.HOSTS[editor].executable:
        assert os.access(dest / hostinstall.HOSTS[editor].executable, os.X_OK)
