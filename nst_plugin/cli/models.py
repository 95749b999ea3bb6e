"""`nst models status|import FILE`: the fast engine's model files."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..hookspecs import hookimpl
from .weights import add_model_files_command


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    add_model_files_command(subparsers, "models", "the fast engine's model files", cmd_models)


def cmd_models(args: argparse.Namespace) -> int:
    from ..fast import models

    if args.action == "status":
        print(json.dumps(models.status(), indent=2))
        return 0
    print(f"nst: model file imported to {models.import_file(args.file)}", file=sys.stderr)
    return 0
