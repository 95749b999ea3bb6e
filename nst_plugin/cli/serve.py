"""`nst serve`: the engine as a local HTTP service for the editor plug-ins (docs/SERVICE.md).

nst serve [--port N] [--weights W] [--preload]   run it (until Ctrl+C or --stop)
nst serve --idle-exit MINUTES                    ... or until MINUTES without requests or jobs
nst serve --ray ADDRESS [--workers N]            renders on a Ray cluster's workers
nst serve --status [--json]                      the running service's address and state
nst serve --stop                                 stop the running service
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ..hookspecs import hookimpl

HELP = "run the engine as a local service for the Krita and GIMP plug-ins"
DESCRIPTION = (
    "Run the engine as a local HTTP service (one job at a time, the engine kept "
    "loaded). The plug-ins find it through its discovery file."
)


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("serve", help=HELP, description=DESCRIPTION)
    add_flags(p)
    p.set_defaults(run=cmd_serve)


def add_flags(p: argparse.ArgumentParser) -> None:
    which = p.add_mutually_exclusive_group()
    which.add_argument(
        "--status",
        action="store_true",
        help="print the running service's address and state; exit 1 if none runs",
    )
    which.add_argument("--stop", action="store_true", help="stop the running service")
    p.add_argument("--json", action="store_true", help="with --status: one JSON object")
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default %(default)s; others need --allow-remote)",
    )
    p.add_argument("--port", type=int, default=0, help="port (default 0: any free port)")
    p.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a --host other machines reach, over HTTPS; prints the address, token and "
        "certificate fingerprint to enter in the editor",
    )
    p.add_argument(
        "--tls-cert",
        type=Path,
        default=None,
        help="with --allow-remote: your PEM certificate (default: a self-signed one made at "
        "the first start in $XDG_CONFIG_HOME/nst-plugin/tls)",
    )
    p.add_argument(
        "--tls-key", type=Path, default=None, help="with --tls-cert: its PEM private key"
    )
    p.add_argument(
        "--weights",
        default=None,
        help="network weights for every job: imagenet, a PATH.h5 or random "
        "(default $NST_WEIGHTS, else imagenet)",
    )
    p.add_argument(
        "--styles-dir",
        type=Path,
        default=None,
        help="the folder of the user's styles (default $XDG_DATA_HOME/nst-plugin/styles)",
    )
    p.add_argument(
        "--max-body-mb",
        type=int,
        default=256,
        help="largest request body in MB (default %(default)s)",
    )
    p.add_argument(
        "--max-job-mb",
        type=int,
        default=2048,
        help="largest memory one job's images take decoded, in MB (default %(default)s)",
    )
    p.add_argument(
        "--max-queue-mb",
        type=int,
        default=1024,
        help="largest memory the uploads of waiting jobs hold (compressed), in MB "
        "(default %(default)s); more is answered 503 with Retry-After",
    )
    p.add_argument(
        "--header-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="seconds a connection has to send a complete request head (default %(default)s)",
    )
    p.add_argument(
        "--max-pixels",
        type=int,
        default=None,
        help="largest image in pixels a client may send (default 89478485)",
    )
    p.add_argument(
        "--preload",
        action="store_true",
        help="load the engine before listening, so that a missing engine or weights stops the "
        "start (default: it loads in the background once listening)",
    )
    p.add_argument(
        "--no-warm-up",
        dest="warm_up",
        action="store_false",
        help="do not load the engine until the first job needs it (less memory while idle)",
    )
    p.add_argument(
        "--ray",
        default=None,
        metavar="ADDRESS",
        help="run the renders on a Ray cluster's workers, so that many editors share this "
        "service: local (a cluster on this machine, stopped with the service), auto (the "
        "cluster this machine belongs to) or the head's address (docs/SCALING.md)",
    )
    p.add_argument(
        "--workers",
        type=int,
        default=None,
        metavar="N",
        help="with --ray: how many workers, each running one job at a time (default: one per "
        "GPU of the cluster, else one per CPU)",
    )
    p.add_argument(
        "--idle-exit",
        default=None,
        metavar="MINUTES",
        help="stop by itself after MINUTES (e.g. 30, 0.5, or seconds: 90s) with no request, "
        "no open event stream and no job queued or running; the editor plug-ins start it with "
        f"{IDLE_EXIT_PLUGIN}; default, and 0: run until stopped",
    )


def cmd_serve(args: argparse.Namespace) -> int:
    from ..errors import UserError, user_message

    if args.status:
        return show_status(args.json)
    if args.stop:
        return stop()
    from ..service.config import ServiceConfig, is_loopback
    from ..service.server import serve

    if not is_loopback(args.host) and not args.allow_remote:
        raise UserError(
            f"listening on {args.host} lets other machines reach the service; add "
            "--allow-remote to do that on purpose."
        )
    idle_exit = check_limits(args)
    config = ServiceConfig(
        host=args.host,
        port=args.port,
        allow_remote=args.allow_remote,
        weights=args.weights,
        max_body=args.max_body_mb * MB,
        max_job_bytes=args.max_job_mb * MB,
        max_queue_bytes=args.max_queue_mb * MB,
        header_timeout=args.header_timeout,
        preload=args.preload,
        warm_up=args.warm_up,
        idle_exit=idle_exit,
        tls_cert=args.tls_cert.expanduser().resolve() if args.tls_cert else None,
        tls_key=args.tls_key.expanduser().resolve() if args.tls_key else None,
        ray=args.ray,
        workers=args.workers,
    )
    if args.styles_dir is not None:
        config.styles_dir = args.styles_dir.expanduser().resolve()
    if args.max_pixels is not None:
        config.max_pixels = args.max_pixels
    try:
        return serve(config)
    except UserError:
        raise
    except Exception as err:  # e.g. the engine failed to load with --preload
        print(f"nst: the service could not start: {user_message(err)}", file=sys.stderr)
        return 1


MB = 1024 * 1024
IDLE_EXIT_PLUGIN = 30  # minutes; the host kit's discovery.IDLE_EXIT (it ships apart)


def check_limits(args: argparse.Namespace) -> float | None:
    """One sentence for a flag out of its range; `--idle-exit` in seconds (None: never)."""
    from ..errors import UserError
    from ..service.config import idle_exit_seconds

    sizes = (args.max_body_mb, args.max_job_mb, args.max_queue_mb)
    if min(sizes) < 1 or (args.max_pixels is not None and args.max_pixels < 1):
        raise UserError(
            "--max-body-mb, --max-job-mb, --max-queue-mb and --max-pixels must be positive."
        )
    try:
        idle_exit = None if args.idle_exit is None else idle_exit_seconds(args.idle_exit)
    except ValueError:
        raise UserError(
            "--idle-exit takes the minutes without requests or jobs after which the service "
            "stops (e.g. 30, 0.5, or seconds: 90s); 0 keeps it running until stopped."
        ) from None
    if not 0 < args.header_timeout < float("inf"):
        raise UserError("--header-timeout must be a positive number of seconds.")
    if (args.tls_cert or args.tls_key) and not args.allow_remote:
        raise UserError("--tls-cert and --tls-key serve HTTPS for --allow-remote; add it.")
    if args.tls_key and not args.tls_cert:
        raise UserError("--tls-key needs its certificate: add --tls-cert.")
    if args.workers is not None and (args.ray is None or args.workers < 1):
        raise UserError("--workers takes a positive number of Ray workers, with --ray.")
    return idle_exit


def show_status(as_json: bool) -> int:
    from ..service import discovery

    state = discovery.running()
    if state is None:
        print("nst: no service is running; start one with `nst serve`.", file=sys.stderr)
        return 1
    if as_json:
        print(json.dumps(state))
        return 0
    print(discovery.status_line(state) + on_ray(state))
    return 0


def on_ray(state: dict[str, Any]) -> str:
    """The status line's note on --ray ("" without it)."""
    ray = state.get("ray")
    if not isinstance(ray, dict):
        return ""
    workers = ray.get("workers")
    plural = "" if workers == 1 else "s"
    return f"; renders run on {workers} Ray worker{plural} (--ray {ray.get('address')})"


def stop() -> int:
    from ..service import discovery

    try:
        state = discovery.stop()
    except TimeoutError as err:
        print(f"nst: {err}; stop it with `kill -9`.", file=sys.stderr)
        return 1
    if state is None:
        print("nst: no service is running.", file=sys.stderr)
        return 1
    print(f"nst: stopped the service at {state['url']} (pid {state['pid']}).")
    return 0
