"""`nst models status|download|import FILE`: the fast engine's model."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..hookspecs import hookimpl
from .weights import add_model_files_command


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    add_model_files_command(subparsers, "models", "the fast engine's model", cmd_models,
                            download="download the TensorFlow Hub model into the cache")


def cmd_models(args: argparse.Namespace) -> int:
    from ..fast import models

    if args.action == "status":
        print(json.dumps(models.status(), indent=2))
    elif args.action == "download":
        from ..progressbar import download_bar

        with download_bar() as progress:
            path = models.download(progress=progress)
        print(f"nst: model saved to {path}", file=sys.stderr)
    else:
        print(f"nst: model imported to {models.import_file(args.file)}", file=sys.stderr)
    return 0
