"""The hooks section of docs/plugins.md, generated from the hook specs' docstrings.

    python -m nst_plugin.hookdocs            # rewrite the section in docs/plugins.md
    python -m nst_plugin.hookdocs --check    # exit 1 when the section differs from the specs
    python -m nst_plugin.hookdocs --print    # print the section

The section lies between the `BEGIN` and `END` marker comments; everything outside them is
left as it is. tests/test_docs.py fails when the section and the docstrings differ.
"""

from __future__ import annotations

import argparse
import inspect
import sys
from collections.abc import Callable
from pathlib import Path

from . import hookspecs

COMMAND = "python -m nst_plugin.hookdocs"
BEGIN = f"<!-- hooks: generated from nst_plugin/hookspecs.py by {COMMAND}; do not edit -->"
END = "<!-- end hooks -->"
DOCUMENT = Path(__file__).resolve().parent.parent / "docs" / "plugins.md"


def hooks() -> list[Callable]:
    """The hook specs in the order hookspecs.py defines them."""
    marker = f"{hookspecs.hookspec.project_name}_spec"
    return [f for f in vars(hookspecs).values() if callable(f) and hasattr(f, marker)]


def section() -> str:
    """The generated Markdown, markers included: one `###` heading per hook and its docstring."""
    parts = [BEGIN]
    for hook in hooks():
        params = ", ".join(inspect.signature(hook).parameters)
        parts += [f"### `{hook.__name__}({params})`", inspect.getdoc(hook) or ""]
    parts.append(END)
    return "\n\n".join(parts)


def current(text: str) -> str | None:
    """The section as it is in `text`, markers included; None when a marker is missing."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        return None
    return text[start : end + len(END)]


def updated(text: str) -> str:
    """`text` with its section replaced by the generated one."""
    found = current(text)
    if found is None:
        raise ValueError(f"the document lacks the markers {BEGIN!r} ... {END!r}")
    return text.replace(found, section(), 1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=__doc__.splitlines()[0])
    parser.add_argument("document", nargs="?", type=Path, default=DOCUMENT)
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--check", action="store_true", help="exit 1 when it is out of date")
    mode.add_argument("--print", action="store_true", help="print the section, write nothing")
    args = parser.parse_args(argv)
    if args.print:
        print(section())
        return 0
    try:
        text = args.document.read_text(encoding="utf-8")
        new = updated(text)
    except (OSError, ValueError) as exc:
        print(f"{COMMAND}: {exc}", file=sys.stderr)
        return 2
    if new == text:
        return 0
    if args.check:
        print(f"{COMMAND}: {args.document}'s hooks section is out of date; run {COMMAND}.")
        return 1
    args.document.write_text(new, encoding="utf-8")
    print(f"{COMMAND}: rewrote the hooks section of {args.document}.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
