"""`nst weights status|download|import FILE`: the VGG19 ImageNet weights in Keras's cache.

`add_model_files_command` makes such a command for any engine's files (`nst models` too).
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any

from ..hookspecs import hookimpl


def add_model_files_command(
    subparsers: Any, name: str, what: str, module: str, noun: str, *, download: str | None = None
) -> None:
    """`nst NAME status|[download|]import FILE` for an engine's files (`what`).

    `module` (relative to this package, imported when the command runs) has `status()`,
    `import_file(path)` and, with `download`, `download(progress=...)`; `noun` names what
    was saved or imported in the closing message.
    """
    p = subparsers.add_parser(name, help=f"show{', download' if download else ''} or import {what}")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("status", help=f"where {what} are and whether they check out")
    if download:
        actions.add_parser("download", help=download)
    actions.add_parser(
        "import", help="copy a file fetched elsewhere into the cache (offline machines)"
    ).add_argument("file")
    p.set_defaults(
        run=lambda args: run_model_files(importlib.import_module(module, __package__), noun, args)
    )


def run_model_files(files: Any, noun: str, args: argparse.Namespace) -> int:
    """Run `status`, `download` or `import` on the module `files`."""
    if args.action == "status":
        print(json.dumps(files.status(), indent=2))
    elif args.action == "download":
        from ..progressbar import download_bar

        with download_bar() as progress:
            path = files.download(progress=progress)
        print(f"nst: {noun} saved to {path}", file=sys.stderr)
    else:
        print(f"nst: {noun} imported to {files.import_file(args.file)}", file=sys.stderr)
    return 0


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    add_model_files_command(
        subparsers,
        "weights",
        "the VGG19 ImageNet weights",
        "..vgg19.weights",
        "weights",
        download="download Keras's VGG19 file into the Keras cache",
    )
