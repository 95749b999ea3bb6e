"""The `nst` command. Its subcommands are plugins (`nst_register_commands`), one module each.

Exit codes: 0 done, 1 engine failure, 2 bad usage or bad input, 130 interrupted. An engine
failure is one line on stderr; NST_DEBUG=1 shows its traceback.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from .. import __version__, compile_cache
from ..errors import EXIT_INTERRUPTED, Cancelled, UserError, user_message
from ..plugins import get_plugin_manager


def build_parser() -> argparse.ArgumentParser:
    """The parser with every command the loaded plugins register."""
    parser = argparse.ArgumentParser(
        prog="nst", description="Neural style transfer for image editors, folders and scripts."
    )
    parser.add_argument("--version", action="version", version=f"nst-plugin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    get_plugin_manager().hook.nst_register_commands(subparsers=sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run `nst` with `argv` (default: the process's arguments); return the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    compile_cache.enable()  # JAX: compiled programs kept on disk between runs
    try:
        return args.run(args)
    except (KeyboardInterrupt, Cancelled):
        print("nst: interrupted; no output was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    except UserError as err:
        print(f"nst: error: {err}", file=sys.stderr)
        return err.exit_code
    except Exception as err:  # an engine failure: one line, the details only on request
        if os.environ.get("NST_DEBUG") == "1":
            raise
        print(
            f"nst: {user_message(err)[:-1]} (set NST_DEBUG=1 for the traceback).", file=sys.stderr
        )
        return 1
