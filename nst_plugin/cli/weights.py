"""`nst weights status|download|import FILE`: the VGG19 ImageNet weights in Keras's cache."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("weights", help="show, download or import the VGG19 ImageNet weights")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("status", help="where the weights are and whether they check out")
    actions.add_parser("download", help="download Keras's VGG19 file into the Keras cache")
    imp = actions.add_parser("import", help="copy a downloaded file into the Keras cache")
    imp.add_argument("file")
    p.set_defaults(run=cmd_weights)


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
