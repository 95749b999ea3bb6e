"""The documentation matches the code: every hook documented and tested, every option in the
README table (generated from the schema) and in `nst stylize --help`."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

from nst_plugin import hookspecs
from nst_plugin.cli import build_parser
from nst_plugin.options import OPTIONS, markdown_table

ROOT = Path(__file__).resolve().parent.parent
HOOKS = [name for name in dir(hookspecs) if name.startswith("nst_")]


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_is_in_the_plugin_document_with_its_signature(hook):
    params = ", ".join(inspect.signature(getattr(hookspecs, hook)).parameters)
    assert f"`{hook}({params})`" in (ROOT / "docs" / "plugins.md").read_text()
    doc = getattr(hookspecs, hook).__doc__ or ""
    assert "call" in doc.lower(), f"{hook}'s docstring must say who calls it"


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_has_a_test_named_after_it(hook):
    tests = "\n".join(p.read_text() for p in (ROOT / "tests").glob("test_*.py"))
    assert re.search(rf"def test_{hook}\w*\(", tests), f"no test_{hook}... in tests/"


def test_readme_option_table_is_the_schema():
    readme = (ROOT / "README.md").read_text()
    table = re.search(r"<!-- options:.*?-->\n(.*?)\n<!-- options end -->", readme, re.S)
    assert table, "README.md lacks the generated option table"
    assert table.group(1) == markdown_table(), (
        "README's option table differs from the schema; paste the output of "
        "`python -c 'from nst_plugin.options import markdown_table; print(markdown_table())'`"
    )


def test_every_option_is_a_flag_of_stylize_and_in_its_help():
    stylize = build_parser()._subparsers._group_actions[0].choices["stylize"]
    text = stylize.format_help()
    for option in OPTIONS:
        assert option.flag in text, option.name
        assert option.help.split(";")[0][:30] in " ".join(text.split()), option.name
