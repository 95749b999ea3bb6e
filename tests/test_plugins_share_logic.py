"""The editor plug-ins hold only what their editor's API makes different: everything they have
in common is the host kit's (nst_plugin/hostkit), which `nst install-host` copies beside each.

Checked on the sources, without Krita or GIMP: what each plug-in file imports, and that no run
of four lines stands in both plug-ins. The plug-ins themselves run in the real editors in
hosts/tests.
"""

from __future__ import annotations

import ast
import re
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
KRITA = REPO / "hosts" / "krita" / "nst_krita"
GIMP = REPO / "hosts" / "gimp" / "nst-stylize"
PLUGIN_FILES = sorted(KRITA.glob("*.py")) + sorted(GIMP.glob("*.py"))
EDITOR_MODULES = {
    "gi",
    "krita",
    "PyQt5",
    "hostkit",
    "nst_gimp_preview",
    "nst_gimp_dialog",
    "nst_gimp_frames",
    "nst_gimp_guides",
    "nst_gimp_recipes",
}


def _code_lines(path: Path) -> list:
    """The file's lines that say something: no blanks, comments, imports, lone brackets or
    docstring text, white space folded."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set()
    for node in ast.walk(tree):
        body = getattr(node, "body", None)
        first = body[0] if isinstance(body, list) and body else None
        if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
            skip.update(range(first.lineno, first.end_lineno + 1))  # a docstring
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            skip.update(range(node.lineno, node.end_lineno + 1))
    lines = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        text = " ".join(line.split("#")[0].split())
        if number not in skip and re.search(r"\w", text):
            lines.append(text)
    return lines


def _runs(paths, length: int) -> dict:
    runs = {}
    for path in paths:
        lines = _code_lines(path)
        for start in range(len(lines) - length + 1):
            runs.setdefault(tuple(lines[start : start + length]), path.name)
    return runs


def test_no_run_of_four_lines_stands_in_both_plugins():
    krita = _runs(sorted(KRITA.glob("*.py")), 4)
    gimp = _runs(sorted(GIMP.glob("*.py")), 4)
    shared = [("\n".join(run), krita[run], gimp[run]) for run in set(krita) & set(gimp)]
    assert not shared, "move this logic into nst_plugin/hostkit: %s" % shared[:3]


def test_the_check_sees_a_shared_run(tmp_path):
    body = "a = 1\nb = a + 1\nif b:\n    print(b)\nc = 2\n"
    (tmp_path / "one.py").write_text(body)
    (tmp_path / "two.py").write_text('"""Doc."""\nimport os\n\n' + body)
    assert set(_runs([tmp_path / "one.py"], 4)) & set(_runs([tmp_path / "two.py"], 4))


@pytest.mark.parametrize("path", PLUGIN_FILES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_plugin_files_import_the_standard_library_the_editor_and_the_host_kit(path):
    tree = ast.parse(path.read_text(encoding="utf-8"), feature_version=(3, 8))
    imported = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add((node.module or "").split(".")[0])
    foreign = imported - set(sys.stdlib_module_names) - EDITOR_MODULES - {"__future__"}
    assert not foreign, foreign


def test_gimp_offers_the_services_quality_presets():
    from nst_plugin.hostkit import engines
    from nst_plugin.options import PRESETS

    assert [name for name, _label in engines.QUALITIES] == list(PRESETS)
