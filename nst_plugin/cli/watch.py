"""`nst watch INBOX`: the hot folder (nst_plugin.hotfolder) as a command.

`python -m nst_plugin.cli.watch INBOX ...` is the same as `nst watch INBOX ...`.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from ..errors import RequestError
from ..hookspecs import hookimpl
from ..hotfolder import DEFAULT_NAME, WatchConfig, Watcher
from .engine_flags import add_engine_options, settings_from

DESCRIPTION = "Stylize every image dropped into INBOX, exactly once."


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    parser = subparsers.add_parser(
        "watch",
        help="a hot folder: stylize every image dropped into INBOX",
        description=DESCRIPTION,
    )
    add_arguments(parser)
    parser.set_defaults(run=command)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `nst watch`."""
    parser.add_argument("inbox", metavar="INBOX", help="the folder to watch")
    parser.add_argument(
        "--style",
        help="style image for files without a sidecar style or "
        "style subfolder: a path, or a name in --styles-dir",
    )
    parser.add_argument(
        "--styles-dir",
        type=Path,
        metavar="DIR",
        help='folder of style images; INBOX/<name>/ and sidecars\' "style" pick them by name',
    )
    parser.add_argument(
        "--out", type=Path, metavar="DIR", help="where results go (default INBOX/out)"
    )
    parser.add_argument(
        "--output-name",
        dest="name",
        default=DEFAULT_NAME,
        metavar="TEMPLATE",
        help="result file name, {stem} and {style} filled in (default %(default)s)",
    )
    parser.add_argument(
        "--settle",
        type=float,
        default=2.0,
        metavar="SECONDS",
        help="take a file once its size and time "
        "have not changed for this many seconds (default %(default)s)",
    )
    parser.add_argument(
        "--polling",
        action="store_true",
        help="poll instead of OS events (network shares where inotify sees nothing)",
    )
    parser.add_argument(
        "--poll-interval",
        type=float,
        default=1.0,
        metavar="SECONDS",
        help="seconds between polls (default %(default)s)",
    )
    parser.add_argument(
        "--once",
        action="store_true",
        help="process what is in INBOX now, then exit (0 only if nothing failed)",
    )
    add_engine_options(parser)


def command(args: argparse.Namespace) -> int:
    """Run `nst watch` for parsed arguments; return the exit code."""
    try:
        settings = settings_from(args)
    except RequestError as err:
        print(f"nst: error: {err}", file=sys.stderr)
        return 2
    config = WatchConfig(
        inbox=Path(args.inbox),
        style=args.style,
        styles_dir=args.styles_dir,
        out=args.out,
        settle=args.settle,
        polling=args.polling,
        poll_interval=args.poll_interval,
        once=args.once,
        name=args.name,
        engine=args.engine,
        settings=settings,
    )
    watcher = Watcher(config)
    with stop_on_signals(watcher.stop):
        return watcher.run()


@contextlib.contextmanager
def stop_on_signals(stop: Callable[[], None]) -> Iterator[None]:
    """SIGINT/SIGTERM stop cleanly; a second one exits at once (the claimed file is resumed
    later)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []
    tty = os.isatty(2)
    clear = b"\r\x1b[K" if tty else b""  # over the status line
    cursor = b"\x1b[?25h" if tty else b""  # shown again: the status line hides it

    def handle(signum: int, frame: Any) -> None:
        received.append(signum)  # (os.write: print is not safe inside a signal handler)
        if len(received) == 1:
            os.write(
                2,
                clear + b"nst: stopping; the running job is put back or checkpointed "
                b"(once more to stop at once).\n",
            )
            stop()
        else:
            os.write(
                2,
                clear + cursor + b"nst: stopped at once; the claimed file is resumed "
                b"at the next start.\n",
            )
            os._exit(130)

    previous = {s: signal.signal(s, handle) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in previous.items():
            signal.signal(s, h)


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m nst_plugin.cli.watch INBOX ...`, the same as `nst watch INBOX ...`."""
    parser = argparse.ArgumentParser(prog="nst watch", description=DESCRIPTION)
    add_arguments(parser)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    return command(parser.parse_args(argv))


if __name__ == "__main__":
    sys.exit(main())
