"""Fixtures for the real-editor tests (Krita 5.1 under Xvfb, GIMP 3 in a trixie chroot).

Run with ``.ci/editor-tests`` (installs the editors first). Without an editor, its tests skip
with the reason. Helpers live in ``editors.py`` beside this file (``import editors``).
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

import editors

# ------------------------------------------------------------------------------------ Krita


@pytest.fixture(scope="session")
def krita_template(tmp_path_factory) -> Path:
    """A HOME where the full Krita has run once (resource database built), made once."""
    reason = editors.krita_missing_reason()
    if reason:
        pytest.skip(reason)
    home = tmp_path_factory.mktemp("krita-template") / "home"
    home.mkdir()
    return editors.prepare_krita_home(home)


@pytest.fixture
def krita_home(krita_template, tmp_path) -> Path:
    """A throwaway HOME for one test: a ``cp -a`` of the session's prepared HOME.

    Install plug-ins under ``editors.krita_pykrita_dir(krita_home)`` (or
    ``nst install-host krita --dest <krita_home>/.local/share/krita``), then
    ``editors.run_krita(krita_home, code, enable=[name])``.
    """
    return editors.copy_krita_home(krita_template, tmp_path / "home")


@pytest.fixture
def run_krita():
    """``editors.run_krita`` (for tests that prefer fixtures to imports)."""
    return editors.run_krita


# ------------------------------------------------------------------------------------- GIMP


@pytest.fixture(scope="session")
def gimp_root() -> Path:
    """The GIMP 3 chroot made by .ci/install-editors (skips when it is missing)."""
    root = editors.default_gimp_root()
    reason = editors.gimp_missing_reason(root)
    if reason:
        pytest.skip(reason)
    return root


@pytest.fixture
def gimp_plugins(gimp_root):
    """Install throwaway plug-ins in the chroot: ``name = gimp_plugins(source, prefix)``.

    ``source`` may contain ``{name}`` (replaced with the unique plug-in name). The plug-ins
    are removed after the test, since the chroot is shared by all runs.
    """
    names: list[str] = []

    def install(source: str, prefix: str = "nst-harness-probe") -> str:
        name = f"{prefix}-{uuid.uuid4().hex[:8]}"
        editors.install_gimp_plugin(gimp_root, name, source.replace("{name}", name))
        names.append(name)
        return name

    yield install
    for name in names:
        editors.remove_gimp_plugin(gimp_root, name)


@pytest.fixture
def run_gimp_batch(gimp_root):
    """``run_gimp_batch(script, env=None, timeout=...)`` bound to the chroot."""

    def run(script: str, env: dict | None = None, timeout: float = 120):
        return editors.run_gimp_batch(gimp_root, script, env=env, timeout=timeout)

    return run
