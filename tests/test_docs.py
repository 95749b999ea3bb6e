"""The documentation matches the code: the hooks section of docs/plugins.md generated from the
hook specs, every hook tested, every option in the README table (generated from the schema) and
in `nst stylize --help`, every route of the service in docs/SERVICE.md."""

from __future__ import annotations

import dataclasses
import inspect
import re
from pathlib import Path

import pytest

from nst_plugin import hookdocs, hookspecs
from nst_plugin.cli import build_parser
from nst_plugin.engines import Engine
from nst_plugin.options import OPTIONS, markdown_table
from nst_plugin.progress import ProgressEvent

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


def test_plugin_document_hooks_section_is_generated_from_the_hookspecs():
    text = (ROOT / "docs" / "plugins.md").read_text(encoding="utf-8")
    found = hookdocs.current(text)
    assert found is not None, (
        f"docs/plugins.md lacks the hooks section's markers {hookdocs.BEGIN!r} ... {hookdocs.END!r}"
    )
    assert found == hookdocs.section(), (
        "docs/plugins.md's hooks section differs from the docstrings in nst_plugin/hookspecs.py; "
        f"run `{hookdocs.COMMAND}` and commit the result"
    )


def test_hookdocs_check_finds_a_stale_section(tmp_path):
    document = tmp_path / "plugins.md"
    document.write_text(f"# Plugins\n\n{hookdocs.BEGIN}\nold\n{hookdocs.END}\n\nafter\n")
    assert hookdocs.main([str(document), "--check"]) == 1
    assert hookdocs.main([str(document)]) == 0
    assert hookdocs.main([str(document), "--check"]) == 0
    text = document.read_text()
    assert text.startswith("# Plugins\n\n") and text.endswith(f"{hookdocs.END}\n\nafter\n")
    assert "old" not in text


@pytest.mark.parametrize("hook", HOOKS)
def test_every_hook_docstring_names_its_arguments(hook):
    doc = inspect.getdoc(getattr(hookspecs, hook)) or ""
    for param in inspect.signature(getattr(hookspecs, hook)).parameters:
        assert re.search(rf"\b{param}\b", doc), f"{hook}'s docstring never names {param!r}"


def test_nst_register_engines_docstring_names_every_engine_argument():
    """What an implementation may pass to `Engine`: the positional arguments in the call the
    docstring shows, every other field as `name=`."""
    doc = inspect.getdoc(hookspecs.nst_register_engines) or ""
    call = re.search(r"Engine\(([^)]*)\)", doc)
    assert call, "nst_register_engines' docstring shows no Engine(...) call"
    shown = [name.strip() for name in call.group(1).split(",")]
    for field in dataclasses.fields(Engine):
        if field.name not in shown:
            assert f"`{field.name}=`" in doc, (
                f"nst_register_engines' docstring does not document Engine's {field.name}="
            )


def test_nst_progress_docstring_names_every_event_field():
    doc = inspect.getdoc(hookspecs.nst_progress) or ""
    for field in dataclasses.fields(ProgressEvent):
        assert f"`{field.name}`" in doc, f"nst_progress' docstring lacks ProgressEvent.{field.name}"


def _route_key(method: str, path: str) -> str:
    """`GET /v1/jobs/{}`: path parameters compared by position, not by name."""
    return f"{method} {re.sub(r'{[^}]*}', '{}', path)}"


def test_every_service_route_is_in_the_service_document(tmp_path):
    from nst_plugin.service.app import create_app
    from nst_plugin.service.config import ServiceConfig

    app = create_app(ServiceConfig(styles_dir=tmp_path / "styles", log_file=tmp_path / "log"))
    builtin = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    routes = set()
    for route in app.routes:
        path = getattr(route, "path", None)
        if path is None or path in builtin:
            continue
        for method in getattr(route, "methods", None) or {"WEBSOCKET"}:
            if method != "HEAD":  # answered with GET's headers; not a route of its own
                routes.add(_route_key(method, path))
    assert routes, "the service's app has no routes"
    text = (ROOT / "docs" / "SERVICE.md").read_text(encoding="utf-8")
    documented = {
        _route_key(method, path)
        for method, path in re.findall(r"^#+ `([A-Z]+) (/\S*)`", text, flags=re.M)
    }
    assert not routes - documented, (
        f"docs/SERVICE.md has no `### \\`METHOD /path\\`` section for {sorted(routes - documented)}"
    )
    assert not documented - routes, (
        f"docs/SERVICE.md documents routes the service does not have: {sorted(documented - routes)}"
    )
