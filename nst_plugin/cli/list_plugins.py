"""`nst plugins`: the loaded plugins, their hooks, and the engines with their options."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..hookspecs import hookimpl


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "plugins", help="list loaded plugins, their hooks and engines as JSON"
    )
    p.set_defaults(run=cmd_plugins)


def cmd_plugins(args: argparse.Namespace) -> int:
    from .. import engines
    from ..plugins import get_plugin_manager, plugin_listing

    pm = get_plugin_manager()
    listed = [engine.info() for engine in engines.installed(pm).values()]
    print(json.dumps({"plugins": plugin_listing(pm), "engines": listed}, indent=2))
    return 0
