"""`nst watch INBOX`: the hot folder as a command."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from .engine_flags import add_engine_options, settings_from


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    from .. import watch

    watch.add_cli(subparsers, add_engine_options, settings_from)
