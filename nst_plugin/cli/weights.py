"""`nst weights status|download|import FILE`: the VGG19 ImageNet weights in Keras's cache."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..hookspecs import hookimpl


def add_model_files_command(subparsers: Any, name: str, what: str, run, *,
                            download: str | None = None) -> None:
    """`nst NAME status|[download|]import FILE` for an engine's model files (`what`)."""
    p = subparsers.add_parser(name, help=f"show{', download' if download else ''} or import {what}")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("status", help=f"where {what} are and whether they check out")
    if download:
        actions.add_parser("download", help=download)
    actions.add_parser("import", help="copy a file fetched elsewhere into the cache "
                                      "(offline machines)").add_argument("file")
    p.set_defaults(run=run)


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    add_model_files_command(subparsers, "weights", "the VGG19 ImageNet weights", cmd_weights,
                            download="download Keras's VGG19 file into the Keras cache")


def cmd_weights(args: argparse.Namespace) -> int:
    from ..engine import weights

    if args.action == "status":
        print(json.dumps(weights.status(), indent=2))
    elif args.action == "download":
        from ..progressbar import download_bar

        with download_bar() as progress:
            path = weights.download(progress=progress)
        print(f"nst: weights saved to {path}", file=sys.stderr)
    else:
        path = weights.import_file(args.file)
        print(f"nst: weights imported to {path}", file=sys.stderr)
    return 0
