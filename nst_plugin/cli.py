"""The `nst` command: stylize, demo, watch, weights, plugins.

Exit codes: 0 done, 1 engine failure, 2 bad usage or bad input, 130 interrupted.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any, Sequence

from . import __version__, watch
from .request import Settings

EXAMPLES = Path(__file__).parent / "examples"
DEMO_CONTENT = EXAMPLES / "wave.jpg"
DEMO_STYLE = EXAMPLES / "starry_night.jpg"


class UsageError(Exception):
    """Bad input that the user fixes; exit code 2."""


def _floats(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(v) for v in text.split(","))
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected numbers separated by commas, got {text!r}")


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """The settings every command that runs the engine takes (stylize, demo, watch)."""
    d = Settings.__dataclass_fields__
    g = parser.add_argument_group("engine options")
    g.add_argument("--size", type=int, default=d["size"].default,
                   help="long edge of the output in pixels (default %(default)s)")
    g.add_argument("--iterations", type=int, default=d["iterations"].default,
                   help="optimizer iterations (default %(default)s)")
    g.add_argument("--optimizer", choices=("lbfgs", "adam"), default=d["optimizer"].default)
    g.add_argument("--content-weight", type=float, default=d["content_weight"].default)
    g.add_argument("--style-weight", type=float, default=d["style_weight"].default)
    g.add_argument("--tv-weight", type=float, default=d["tv_weight"].default,
                   help="smoothness (total variation) weight")
    g.add_argument("--learning-rate", type=float, default=d["learning_rate"].default,
                   help="Adam step size in pixel units (default %(default)s)")
    g.add_argument("--init", choices=("content", "noise"), default=d["init"].default,
                   help="start from the content image or from noise")
    g.add_argument("--pooling", choices=("max", "avg"), default=d["pooling"].default)
    g.add_argument("--style-blend", type=_floats, default=None, metavar="W1,W2,...",
                   help="blend weights, one per style image")
    g.add_argument("--style-scale", type=float, default=d["style_scale"].default,
                   help="style image size relative to the output (default %(default)s)")
    g.add_argument("--strength", type=float, default=None, metavar="0..1",
                   help="one knob for the style/content balance: 0 the content, 0.5 the "
                        "weights as set, 1 the strongest style")
    g.add_argument("--style-loss", choices=("gram", "meancov"), default=d["style_loss"].default,
                   help="match Gram matrices, or feature means and covariances")
    g.add_argument("--preserve-colors", action="store_true",
                   help="stylize the luminance only and keep the content's colours")
    g.add_argument("--match-colors", action="store_true",
                   help="match the style images' colours to the content before starting")
    g.add_argument("--scales", type=int, default=None,
                   help="coarse-to-fine scales (default: automatic, up to 3; 1 turns it off)")
    g.add_argument("--time-budget", type=float, default=None, metavar="SECONDS",
                   help="stop when this time is up, with the best result reached")
    g.add_argument("--average", type=float, default=d["average"].default, metavar="DECAY",
                   help="Adam: average the iterates with this decay, 0 turns it off "
                        "(default %(default)s)")
    g.add_argument("--tile-size", type=int, default=d["tile_size"].default,
                   help="scales larger than this (px) run in overlapping tiles "
                        "(default %(default)s)")
    g.add_argument("--tile-overlap", type=int, default=d["tile_overlap"].default)
    g.add_argument("--precision", choices=("float32", "mixed"), default="float32",
                   help="mixed: bfloat16 convolutions, float32 losses (for GPUs)")
    g.add_argument("--xla", action="store_true", help="compile with XLA")
    g.add_argument("--save-every", type=int, default=0, metavar="N",
                   help="write numbered intermediates OUT-00010.png every N iterations")
    g.add_argument("--checkpoint-every", type=int, default=0, metavar="N",
                   help="keep a checkpoint beside the output every N iterations; "
                        "continue a killed run with --resume")
    g.add_argument("--seed", type=int, default=None, help="make a run repeatable")
    g.add_argument("--weights", default=None,
                   help="imagenet (default, or $NST_WEIGHTS), PATH.h5, or random (tests only)")
    g.add_argument("--engine", default="vgg19", help="engine plugin (default %(default)s)")


def settings_from(args: argparse.Namespace) -> Settings:
    names = [f for f in Settings.__dataclass_fields__ if hasattr(args, f)]
    return Settings(**{n: getattr(args, n) for n in names})


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="nst", description="Neural style transfer for image editors, folders and scripts."
    )
    parser.add_argument("--version", action="version", version=f"nst-plugin {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    p = sub.add_parser("stylize", help="stylize a photo with one or more paintings",
                       usage="nst stylize CONTENT STYLE [STYLE ...] -o OUT [options]\n"
                             "       nst stylize --resume CHECKPOINT [-o OUT]")
    p.add_argument("images", nargs="*", metavar="IMAGE",
                   help="the photo, then one or more style images (any format Pillow reads)")
    p.add_argument("-o", "--output", help="output file; format from extension")
    p.add_argument("--resume", metavar="CHECKPOINT",
                   help="continue a run from its checkpoint (its settings and inputs are used)")
    _add_run_flags(p)
    add_engine_options(p)

    p = sub.add_parser("demo", help="stylize the bundled example (a Hokusai with a Van Gogh)")
    p.add_argument("-o", "--output", default="nst-demo.png")
    _add_run_flags(p)
    add_engine_options(p)
    p.set_defaults(size=256, iterations=100)

    watch.add_cli(sub, add_engine_options, settings_from)

    p = sub.add_parser("weights", help="show, download or import the VGG19 ImageNet weights")
    wsub = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    wsub.add_parser("status", help="where the weights are and whether they check out")
    wsub.add_parser("download", help="download Keras's VGG19 file into the Keras cache")
    imp = wsub.add_parser("import", help="copy a downloaded file into the Keras cache")
    imp.add_argument("file")

    sub.add_parser("plugins", help="list loaded plugins, their hooks and engines as JSON")
    return parser


def _add_run_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--overwrite", action="store_true", help="replace an existing output file")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")
    p.add_argument("--json", action="store_true", help="print the result as JSON on stdout")


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command is None:
        build_parser().print_help()
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        return COMMANDS[args.command](args)
    except KeyboardInterrupt:
        print("nst: interrupted; no output was written.", file=sys.stderr)
        return 130
    except UsageError as err:
        print(f"nst: error: {err}", file=sys.stderr)
        return 2


def _run_job(args: argparse.Namespace, content: Any, styles: list[Any]) -> int:
    from . import resume, stylize
    from .engine.weights import WeightsError
    from .imageio import ImageError
    from .progress import Cancelled
    from .request import RequestError

    from .plugins import get_plugin_manager

    pm = get_plugin_manager()
    bar = None
    try:
        settings = settings_from(args)
        if not args.quiet:
            from .progressbar import ProgressBar

            bar = ProgressBar()
            pm.register(bar, name="nst.cli.progressbar")
        if getattr(args, "resume", None):
            result = resume(args.resume, args.output, overwrite=args.overwrite)
        else:
            result = stylize(content, styles, args.output, overwrite=args.overwrite,
                             engine=args.engine, settings=settings)
    except (RequestError, ImageError, WeightsError) as err:
        raise UsageError(str(err)) from None
    except (Cancelled, KeyboardInterrupt):
        raise KeyboardInterrupt from None
    except Exception as err:  # engine failure: one line, the details only on request
        if os.environ.get("NST_DEBUG") == "1":
            raise
        print(f"nst: the engine failed: {type(err).__name__}: {err} "
              "(set NST_DEBUG=1 for the traceback).", file=sys.stderr)
        return 1
    finally:
        if bar is not None:
            pm.unregister(bar)
            bar.close()
    if args.json:
        print(json.dumps(result.to_dict()))
    elif not args.quiet:
        print(f"nst: wrote {result.output} ({result.width}x{result.height}, "
              f"{result.iterations} iterations, {result.seconds:.1f} s, "
              f"loss {result.loss_start:.4g} -> {result.loss_end:.4g})", file=sys.stderr)
    return 0


def cmd_stylize(args: argparse.Namespace) -> int:
    if args.resume:
        return _run_job(args, None, [])
    if len(args.images) < 2:
        raise UsageError("give the content image and at least one style image, "
                         "e.g. nst stylize photo.jpg painting.jpg -o out.png.")
    if not args.output:
        raise UsageError("give the output file with -o OUT (e.g. -o out.png).")
    return _run_job(args, args.images[0], args.images[1:])


def cmd_demo(args: argparse.Namespace) -> int:
    if not args.quiet:
        print(f"nst: stylizing {DEMO_CONTENT.name} with {DEMO_STYLE.name} "
              f"at {args.size} px, {args.iterations} iterations -> {args.output}",
              file=sys.stderr)
    return _run_job(args, str(DEMO_CONTENT), [str(DEMO_STYLE)])


def cmd_weights(args: argparse.Namespace) -> int:
    from .engine import weights

    try:
        if args.action == "status":
            print(json.dumps(weights.status(), indent=2))
        elif args.action == "download":
            from .progressbar import download_bar

            with download_bar() as progress:
                path = weights.download(progress=progress)
            print(f"nst: weights saved to {path}", file=sys.stderr)
        else:
            path = weights.import_file(args.file)
            print(f"nst: weights imported to {path}", file=sys.stderr)
    except weights.WeightsError as err:
        raise UsageError(str(err)) from None
    return 0


def cmd_plugins(args: argparse.Namespace) -> int:
    from .plugins import describe, get_plugin_manager

    pm = get_plugin_manager()
    engines = [e for group in pm.hook.nst_engines() for e in group]
    print(json.dumps({"plugins": describe(pm), "engines": engines}, indent=2))
    return 0


COMMANDS = {
    "stylize": cmd_stylize,
    "demo": cmd_demo,
    "weights": cmd_weights,
    "plugins": cmd_plugins,
    "watch": lambda args: args.func(args),
}

if __name__ == "__main__":
    sys.exit(main())
