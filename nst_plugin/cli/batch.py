"""`nst batch`: one style over many images, here or on a Ray cluster."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from ..errors import UserError
from ..hookspecs import hookimpl
from .engine_flags import add_engine_options, settings_from


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "batch",
        help="stylize many images (files or folders) with one style, here or on a Ray cluster",
        usage="nst batch INPUT [INPUT ...] STYLE -o OUTDIR [--ray local|auto|ADDRESS] [options]",
        description="Stylize every INPUT (image files, or folders of images) with STYLE (the "
        "last argument) into OUTDIR, one output per input with the same stem. An input whose "
        "output exists is skipped, so the same command again continues where it stopped. "
        "A bad input is reported and the rest go on.",
    )
    p.add_argument("paths", nargs="+", metavar="INPUT ... STYLE")
    p.add_argument("-o", "--output", required=True, metavar="OUTDIR", help="the output folder")
    p.add_argument("--format", help="the outputs' extension (default: the input's, else png)")
    p.add_argument(
        "--ray",
        metavar="local|auto|ADDRESS",
        help="run on Ray: local starts a cluster for the run, auto or ADDRESS joins one",
    )
    p.add_argument(
        "--workers", type=int, metavar="N", help="Ray workers (default: one per GPU, or per CPU)"
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    add_engine_options(p)
    p.set_defaults(run=cmd_batch)


def cmd_batch(args: argparse.Namespace) -> int:
    from ..batch import run_batch

    if len(args.paths) < 2:
        raise UserError(
            "give the inputs and then the style, e.g. nst batch photos/ wave.jpg -o out/."
        )
    if args.workers is not None and args.workers < 1:
        raise UserError("--workers must be at least 1.")
    options = settings_from(args).to_dict()
    bar = None if args.quiet else BatchBar()
    ray_prints = contextlib.redirect_stdout(sys.stderr) if args.ray else contextlib.nullcontext()
    try:  # Ray prints its notices on stdout, which is --json's
        with ray_prints:
            summary = run_batch(
                args.paths[:-1],
                [args.paths[-1]],
                args.output,
                engine=args.engine,
                options={k: v for k, v in options.items() if v is not None},
                fmt=args.format,
                ray=args.ray,
                workers=args.workers,
                on_outcome=bar,
            )
    finally:
        if bar is not None:
            bar.close()
    for failure in summary.failed:
        print(f"nst: {failure['input']}: {failure['error']}", file=sys.stderr)
    if args.json:
        print(json.dumps(summary.to_dict()))
    elif not args.quiet:
        print(
            f"nst: {summary.done} done, {summary.skipped} skipped, {len(summary.failed)} failed "
            f"of {summary.total} ({summary.workers} worker{'s' * (summary.workers != 1)}, "
            f"{summary.seconds:.1f} s) -> {args.output}",
            file=sys.stderr,
        )
    return 1 if summary.failed else 0


class BatchBar:
    """A rich bar for the whole batch: images, rate and time left."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(
            TextColumn("images"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[rate]}"),
            TimeRemainingColumn(),
            console=Console(stderr=True),
        )
        self.task = None
        self.progress.start()

    def __call__(self, outcome: dict, total: int) -> None:
        if self.task is None:
            self.task = self.progress.add_task("batch", total=total, rate="")
        self.progress.advance(self.task)
        task = self.progress.tasks[0]
        if task.speed:
            self.progress.update(self.task, rate=f"{task.speed * 60:.1f}/min")

    def close(self) -> None:
        self.progress.stop()
