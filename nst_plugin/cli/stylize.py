"""`nst stylize` and `nst demo`: one job in this process, with a progress bar."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..engines import DEFAULT_ENGINE
from ..errors import UserError
from ..hookspecs import hookimpl
from .engine_flags import add_engine_options, settings_from

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
DEMO_CONTENT = EXAMPLES / "wave.jpg"
DEMO_STYLE = EXAMPLES / "starry_night.jpg"
# The demo's long edge when --size is not given: the fast engine is one pass, so its demo is a
# picture worth looking at; VGG19 optimizes, which takes minutes at that size on a CPU.
DEMO_SIZE = 256
DEMO_SIZES = {"fast": 1024}


def add_run_flags(p: argparse.ArgumentParser) -> None:
    """--overwrite, --quiet and --json: how a command that writes one result behaves."""
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "stylize",
        help="stylize a photo with one or more paintings",
        usage="nst stylize CONTENT STYLE [STYLE ...] -o OUT [options]\n"
        "       nst stylize --resume CHECKPOINT [-o OUT]",
    )
    p.add_argument(
        "images",
        nargs="*",
        metavar="IMAGE",
        help="the photo, then one or more style images (any format Pillow reads)",
    )
    p.add_argument("-o", "--output", help="output file; format from extension")
    p.add_argument(
        "--resume",
        metavar="CHECKPOINT",
        help="continue a run from its checkpoint (its settings and inputs are used)",
    )
    add_run_flags(p)
    add_engine_options(p)
    p.set_defaults(run=cmd_stylize)

    p = subparsers.add_parser(
        "demo",
        help="stylize the bundled example (a Hokusai with a Van Gogh)",
        description="Stylize the bundled example (a Hokusai with a Van Gogh). Without --size "
        f"the result's long edge is {DEMO_SIZES['fast']} px on the fast engine and {DEMO_SIZE} "
        "px on the others (VGG19 optimizes, which is slow on a CPU).",
    )
    p.add_argument("-o", "--output", default="nst-demo.png")
    add_run_flags(p)
    add_engine_options(p)
    p.set_defaults(run=cmd_demo, size=None, iterations=100, engine=None)  # None: see cmd_demo


def cmd_stylize(args: argparse.Namespace) -> int:
    if args.resume:
        return run_job(args, None, [])
    if len(args.images) < 2:
        raise UserError(
            "give the content image and at least one style image, "
            "e.g. nst stylize photo.jpg painting.jpg -o out.png."
        )
    if not args.output:
        raise UserError("give the output file with -o OUT (e.g. -o out.png).")
    return run_job(args, args.images[0], args.images[1:])


def cmd_demo(args: argparse.Namespace) -> int:
    if args.engine is None:  # not chosen: VGG19, or the fast engine when its weights are missing
        args.engine = "fast" if _imagenet_missing() and _fast_ready() else DEFAULT_ENGINE
        if args.engine == "fast":
            print(
                "nst: the VGG19 ImageNet weights are not on this machine, so the demo runs the "
                "fast engine (Magenta's arbitrary stylization); `nst weights download` or "
                "`nst weights import FILE` enables the VGG19 engine.",
                file=sys.stderr,
            )
    if args.size is None:
        args.size = DEMO_SIZES.get(args.engine, DEMO_SIZE)
    if not args.quiet:
        print(
            f"nst: stylizing {DEMO_CONTENT.name} with {DEMO_STYLE.name} "
            f"at {args.size} px on the {args.engine} engine -> {args.output}",
            file=sys.stderr,
        )
    return run_job(args, str(DEMO_CONTENT), [str(DEMO_STYLE)])


def _imagenet_missing() -> bool:
    """Whether the default engine would need ImageNet weights that are not on this machine.

    Its `weights` module is found beside the engine's stylize function, i.e. in whichever
    package registered the engine, so the demo names no engine package itself.
    """
    import importlib

    from ..engines import get

    package = getattr(get(DEFAULT_ENGINE).stylize, "__module__", None)
    try:
        weights = importlib.import_module(".weights", package)
    except (ImportError, TypeError):  # another plugin's engine of that name: it says what it lacks
        return False
    source = weights.resolve()
    return source.kind == "imagenet" and not source.path.is_file()


def _fast_ready() -> bool:
    from ..fast import models

    return models.status()["ready"]


def run_job(args: argparse.Namespace, content: Any, styles: list[Any]) -> int:
    """Run one job with a progress bar; print the summary. Engine failures exit 1."""
    from ..pipeline import resume, stylize
    from ..plugins import get_plugin_manager

    pm = get_plugin_manager()
    bar = None
    try:
        settings = settings_from(args)
        if not args.quiet:
            from ..progressbar import ProgressBar

            bar = ProgressBar()
            pm.register(bar, name="nst.cli.progressbar")
        if args.command == "stylize" and args.resume:
            result = resume(args.resume, args.output, overwrite=args.overwrite)
        else:
            result = stylize(
                content,
                styles,
                args.output,
                overwrite=args.overwrite,
                engine=args.engine,
                settings=settings,
            )
    finally:
        if bar is not None:
            pm.unregister(bar)
            bar.close()
    if args.json:
        print(json.dumps(result.to_dict()))
    elif not args.quiet:
        loss = f", loss {result.loss_start:.4g} -> {result.loss_end:.4g}" if result.losses else ""
        print(
            f"nst: wrote {result.output} ({result.width}x{result.height}, {result.engine}, "
            f"{result.iterations} iterations, {result.seconds:.1f} s{loss})",
            file=sys.stderr,
        )
    return 0
