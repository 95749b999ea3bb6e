"""`nst video`: a folder of frames or a video file, stylized frame by frame without flicker."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from typing import Any

from ..errors import UserError
from ..hookspecs import hookimpl
from .engine_flags import add_engine_options, given_options


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser(
        "video",
        help="stylize a folder of frames or a video file, without flicker",
        usage="nst video INPUT STYLE [STYLE ...] -o OUTPUT [--ray local|auto|ADDRESS] [options]",
        description="Stylize every frame of INPUT (a folder of frames, sorted by name, or a "
        "video file) into OUTPUT (a folder: the same names; or a video file, the audio "
        "copied). Each frame follows the previous result along the optical flow "
        "(--temporal-weight 0: independent frames). Run the same command again after a stop "
        "and it continues at the first missing frame. With --ray the shot is cut into chunks "
        "that run in parallel, each following its own frames, and the frames where two chunks "
        "overlap are cross-faded from one to the other.",
    )
    p.add_argument("input", metavar="INPUT", help="a folder of frames or a video file")
    p.add_argument("styles", nargs="+", metavar="STYLE", help="one or more style images")
    p.add_argument("-o", "--output", required=True, help="a folder, or a video file (.mp4 ...)")
    ray = p.add_argument_group("on a Ray cluster (docs/SCALING.md)")
    ray.add_argument(
        "--ray",
        metavar="local|auto|ADDRESS",
        help="run the chunks on Ray: local starts a cluster for the run, auto or ADDRESS joins one",
    )
    ray.add_argument(
        "--workers", type=int, metavar="N", help="Ray workers (default: one per GPU, or per CPU)"
    )
    ray.add_argument("--chunk", type=int, metavar="FRAMES", help="frames per chunk (default 48)")
    ray.add_argument(
        "--overlap",
        type=int,
        metavar="FRAMES",
        help="frames a chunk shares with the one before it, cross-faded (default 4)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress display")
    p.add_argument("--json", action="store_true", help="print the summary as JSON on stdout")
    add_engine_options(p)
    p.set_defaults(run=cmd_video)


def cmd_video(args: argparse.Namespace) -> int:
    from ..video import stylize_video, stylize_video_on_ray

    if args.ray is None:
        given = [f"--{n}" for n in ("workers", "chunk", "overlap") if getattr(args, n) is not None]
        if given:
            raise UserError(
                f"{given[0]} needs --ray: without it the video runs here, frame after frame."
            )
        run, show, extra = stylize_video, None if args.quiet else FrameLine(), {}
        ray_prints = contextlib.nullcontext()
    else:
        run, show = stylize_video_on_ray, None if args.quiet else ChunkLine()
        extra = dict(ray=args.ray, workers=args.workers, chunk=args.chunk, overlap=args.overlap)
        ray_prints = contextlib.redirect_stdout(sys.stderr)  # Ray's notices; stdout is --json's
    try:  # without --size the frames keep their size (stylize_video sees no size given)
        with ray_prints:
            result = run(
                args.input,
                args.styles,
                args.output,
                engine=args.engine,
                on_progress=show,
                **extra,
                **given_options(args),
            )
    finally:
        if show is not None:
            show.close()
    if args.json:
        print(json.dumps(result.__dict__))
    elif not args.quiet:
        line = f"nst: wrote {result.output} ({summary(result)}; {result.seconds:.1f} s)"
        print(line, file=sys.stderr)
    return 0


def summary(result) -> str:
    """What a run did, for the last line: frames, and on Ray the chunks and workers."""
    kept = f", {result.skipped} already done" if result.skipped else ""
    if not getattr(result, "chunks", 0):
        return f"{result.frames} frames: {result.done} stylized{kept}"
    workers = f"{result.workers} worker{'s' * (result.workers != 1)}"
    return (
        f"{result.frames} frames in {result.chunks} chunks on {workers}: {result.done} "
        f"stylized{kept}, overlap frames counted twice"
    )


class ChunkLine:
    """One line on stderr for a run on Ray: the whole video's frames, rate and time left."""

    def __init__(self, out=None) -> None:
        self.out = out or sys.stderr
        self.tty = self.out.isatty()

    def __call__(self, p) -> None:
        text = f"frames stylized {p.rendered}/{p.renders} · written {p.written}/{p.frames}"
        if p.rate is not None:
            text += f" · {p.rate:.1f}/min"
        if p.eta is not None:
            text += f" · {format_seconds(p.eta)} left"
        self.out.write("\r\x1b[2K" + text if self.tty else text + "\n")
        self.out.flush()

    def close(self) -> None:
        if self.tty:
            self.out.write("\n")
            self.out.flush()


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
