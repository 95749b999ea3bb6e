"""`nst video`: a folder of frames or a video file, stylized frame by frame without flicker."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from ..hookspecs import hookimpl
from .engine_flags import add_engine_options, given_options


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "video",
        help="stylize a folder of frames or a video file, without flicker",
        usage="nst video INPUT STYLE [STYLE ...] -o OUTPUT [options]",
        description="Stylize every frame of INPUT (a folder of frames, sorted by name, or a "
        "video file) into OUTPUT (a folder: the same names; or a video file, the audio "
        "copied). Each frame follows the previous result along the optical flow "
        "(--temporal-weight 0: independent frames). Run the same command again after a stop "
        "and it continues at the first missing frame.",
    )
    p.add_argument("input", metavar="INPUT", help="a folder of frames or a video file")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more style images")
    p.add_argument("-o", "--output", required=True, help="a folder, or a video file (.mp4 ...)")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    add_engine_options(p)
    p.set_defaults(run=cmd_video)


def cmd_video(args: argparse.Namespace) -> int:
    from ..video import stylize_video

    show = None if args.quiet else FrameLine()
    try:  # without --size the frames keep their size (stylize_video sees no size given)
        result = stylize_video(
            args.input,
            args.styles,
            args.output,
            engine=args.engine,
            on_progress=show,
            **given_options(args),
        )
    finally:
        if show is not None:
            show.close()
    if args.json:
        print(json.dumps(result.__dict__))
    elif not args.quiet:
        kept = f", {result.skipped} already done" if result.skipped else ""
        print(
            f"nst: wrote {result.output} ({result.frames} frames: {result.done} stylized{kept}; "
            f"{result.seconds:.1f} s)",
            file=sys.stderr,
        )
    return 0


class FrameLine:
    """One line on stderr: the frame, its iteration, and the time left for the whole run."""

    def __init__(self, out=None) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty()

    def __call__(self, e) -> None:
        if e.skipped:
            text = f"frame {e.index}/{e.total}: already done"
        else:
            step = ""
            if e.event is not None and e.event.total:
                step = f" · iteration {e.event.step}/{e.event.total}"
            left = "" if e.eta is None else f" · {format_seconds(e.eta)} left"
            text = f"frame {e.index}/{e.total}{step}{left}"
        if self.tty:
            self.out.write("\r\x1b[2K" + text)
        elif e.event is None or e.event.stage == "done":
            self.out.write(text + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


def format_seconds(seconds: float) -> str:
    seconds = round(seconds)
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"
