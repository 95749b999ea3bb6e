"""`nst models status|import FILE`: the fast engine's model files."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("models", help="show or import the fast engine's model files")
    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser("status", help="where the model files are and whether they check out")
    imp = actions.add_parser("import", help="copy a model file into the cache (offline machines)")
    imp.add_argument("file")
    p.set_defaults(run=cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from ..fast import models

    if args.action == "status":
        print(json.dumps(models.status(), indent=2))
        return 0
    print(f"nst: model file imported to {models.import_file(args.file)}", file=sys.stderr)
    return 0
