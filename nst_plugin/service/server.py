"""Running the service: the log file, the socket, uvicorn, the discovery file, signals.

The socket is bound before uvicorn starts, so the port (0 = any free one) is known to the
Host check; the discovery file is written once uvicorn listens and removed as soon as it
begins to stop. SIGTERM (`nst serve --stop`) and Ctrl+C stop it the same way: open event
streams end, jobs are cancelled, and the command exits 0. With `--idle-exit MINUTES` it also
stops that way by itself once that time passes with no request (open or new, on any route,
refused or not; an event stream is one that stays open) and no job queued or running, the
warm-up included; results kept for clients do not count. Once listening, the engine loads in
the background (`warmup.py`) unless `--preload` loaded it before or `--no-warm-up` is given.
With `--ray` the renders run on a Ray cluster's workers (`on_ray.py`), the warm-up on each;
stopping stops a cluster it started (`--ray local`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import logging.handlers
import os
import signal
import socket
import sys
import time
from typing import Any

from .. import __version__
from . import discovery
from .config import ServiceConfig, describe_seconds, is_wildcard
from .connections import protocol_class
from .warmup import WarmUp

log = logging.getLogger("nst_plugin.service")
IDLE_POLL = 0.5  # seconds between two looks at the idle clock (--idle-exit)
MAX_CONNECTIONS = 256  # open connections beyond which uvicorn answers 503


def setup_tls(config: ServiceConfig) -> None:
    """HTTPS for --allow-remote: the user's pair (checked), else the kept self-signed one."""
    from . import tls

    if config.tls_cert is None:
        config.tls_cert, config.tls_key = tls.self_signed(tls.default_dir(), config.host)
    tls.check_pair(config.tls_cert, config.tls_key or config.tls_cert)
    config.tls_key = config.tls_key or config.tls_cert
    config.fingerprint = tls.fingerprint(config.tls_cert)


class PrivateLogFile(logging.handlers.RotatingFileHandler):
    """A rotating log file that only its user can read (0600), backups included."""

    def _open(self):
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        if hasattr(os, "fchmod"):
            os.fchmod(fd, 0o600)  # a file an older version made readable to all
        return open(fd, "a", encoding=self.encoding, errors=self.errors)


class Scrub(logging.Filter):
    """Keeps secrets out of the log: query strings of request lines (a client may put a token
    there) and the service's token wherever it appears."""

    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = tuple(s for s in secrets if s)

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if record.name == "uvicorn.access" and isinstance(args, tuple) and len(args) >= 3:
            path = str(args[2])
            if "?" in path:
                record.args = (*args[:2], path.partition("?")[0] + "?…", *args[3:])
        try:
            message = record.getMessage()
        except Exception:  # a broken record: logging reports it itself
            return True
        if any(secret in message for secret in self.secrets):
            for secret in self.secrets:
                message = message.replace(secret, "[token]")
            record.msg, record.args = message, None
        return True


def setup_log(config: ServiceConfig) -> None:
    """Send the service's and uvicorn's log records to the log file (1 MB, one backup, 0600),
    without secrets."""
    config.log_file.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    handler = PrivateLogFile(config.log_file, maxBytes=1 << 20, backupCount=1, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(Scrub((config.token,)))
    for name in ("nst_plugin.service", "uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(logging.INFO)
        logger.propagate = False


def bind(host: str, port: int) -> socket.socket:
    """A listening-ready TCP socket on (host, port); port 0 picks a free one."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    if sys.platform != "win32":
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as err:
        sock.close()
        from ..errors import UserError

        raise UserError(
            f"cannot listen on {host}:{port} ({err.strerror or err}); choose "
            "another --port, or 0 for any free one."
        ) from None
    sock.set_inheritable(True)
    return sock


def _server_class():
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server with hooks: once listening, and as soon as it begins to stop."""

        on_started: Any = None
        on_stopping: Any = None
        idle: IdleClock | None = None  # with --idle-exit
        _idle_task: asyncio.Task | None = None

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets=sockets)
            if not self.started or self.should_exit:
                return
            if self.on_started is not None:
                self.on_started()
            if self.idle is not None:
                self._idle_task = asyncio.ensure_future(self._watch_idle(self.idle))

        async def _watch_idle(self, idle: IdleClock) -> None:
            """Stop the way SIGTERM does once the idle clock runs out."""
            idle.busy = time.monotonic()
            while not self.should_exit:
                await asyncio.sleep(IDLE_POLL)
                try:
                    if idle.expired(time.monotonic()):
                        self.should_exit = True
                except Exception:  # the watch must go on, or the service would never stop
                    log.exception("the idle clock (--idle-exit) failed")

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            if self._idle_task is not None:
                self._idle_task.cancel()
            if self.on_stopping is not None:
                self.on_stopping()
            await super().shutdown(sockets=sockets)

    return Server


class IdleClock:
    """`--idle-exit`: whether `limit` seconds have passed with no request open or begun and no
    job queued or running (the warm-up's too). Asked in the event loop's thread, where requests
    and jobs change."""

    def __init__(self, limit: float, activity: Any, table: Any, out=sys.stdout) -> None:
        self.limit = limit
        self.activity = activity  # app.Activity: open requests, the last one's time
        self.table = table
        self.out = out
        self.busy = time.monotonic()  # the last time a request was open or a job active

    def idle_for(self, now: float) -> float:
        lanes = (self.table.runner, self.table.quick)  # the warm-up is a job no client sees
        if self.activity.open or self.table.active() or any(lane.jobs() for lane in lanes):
            self.busy = now
            return 0.0
        ended = (j.finished_at for j in self.table.jobs.values() if j.finished_at is not None)
        return now - max(self.busy, self.activity.last, *ended)

    def expired(self, now: float) -> bool:
        """True (once logged and printed) when the service should stop now."""
        if self.idle_for(now) < self.limit:
            return False
        span = describe_seconds(self.limit)
        log.info("no request and no job for %s (--idle-exit): stopping", span)
        with contextlib.suppress(OSError, ValueError):  # a closed terminal must not keep it
            print(
                f"nst: no request and no job for {span} (--idle-exit); stopping.",
                file=self.out,
                flush=True,
            )
        return True


def _yield_cpu() -> None:
    """Run below normal CPU priority: the editor the user is working in comes first."""
    if hasattr(os, "nice"):
        with contextlib.suppress(OSError):
            os.nice(10)


def serve(config: ServiceConfig, *, out=sys.stdout) -> int:
    """Run the service until it is stopped; 0 also when one is already running."""
    info = discovery.running()
    if info is not None:
        busy = " but does not answer now (busy)" if info.get("state") == discovery.BUSY else ""
        print(
            f"nst: a service is already running at {info['url']} (pid {info.get('pid')}){busy}; "
            "`nst serve --stop` stops it.",
            file=out,
        )
        return 0
    if config.allow_remote:
        setup_tls(config)
    setup_log(config)
    _yield_cpu()
    sock = bind(config.host, config.port)
    config.port = sock.getsockname()[1]
    import uvicorn

    from .app import create_app

    table = on_ray(config, out)
    try:
        app = create_app(config, table)
    except BaseException:
        if table is not None:
            table.close(timeout=1)
        raise
    table = app.state.table
    warm_up = WarmUp(table, config, out)
    info = {
        "url": config.url,
        "token": config.token,
        "pid": os.getpid(),
        "version": __version__,
        "log": str(config.log_file),
        "fingerprint": config.fingerprint,
    }
    if config.ray is not None:
        info["ray"] = {"address": config.ray, "workers": table.runner.workers}
    try:
        if config.preload:
            print("nst: loading the engine (--preload)...", file=out, flush=True)
            table.warm_up(warm_up.settings)
        server = _server_class()(
            uvicorn.Config(
                app,
                loop="asyncio",
                http=protocol_class(config.header_timeout, config.max_idle_connections),
                ws="none",
                lifespan="on",
                log_config=None,
                proxy_headers=False,
                server_header=False,
                timeout_keep_alive=5,
                timeout_graceful_shutdown=3,
                # Idle connections are capped by the protocol: this counts requests that run.
                limit_concurrency=MAX_CONNECTIONS,
                h11_max_incomplete_event_size=64 * 1024,
                ssl_certfile=str(config.tls_cert) if config.tls_cert else None,
                ssl_keyfile=str(config.tls_key) if config.tls_key else None,
            )
        )
        server.on_started = lambda: _started(config, info, out, warm_up)
        server.on_stopping = lambda: _stopping(info, table, warm_up)
        if config.idle_exit:
            server.idle = IdleClock(config.idle_exit, app.state.activity, table, out)
        previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run(sockets=[sock])  # it re-raises the signal that stopped it on return
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
    finally:
        discovery.remove_if_ours(info)
        table.close(timeout=10)
        sock.close()
        log.info("stopped")
    print("nst: the service has stopped.", file=out, flush=True)
    return 0


def on_ray(config: ServiceConfig, out) -> Any:
    """With --ray: a job table whose renders run on the cluster's workers (a local cluster
    started here); else None."""
    if config.ray is None:
        return None
    from .jobtable import JobTable
    from .on_ray import RayRunner

    print(f"nst: starting the Ray workers (--ray {config.ray})...", file=out, flush=True)
    runner = RayRunner.start(config.ray, config.workers)
    log.info("renders run on %d Ray workers (--ray %s)", runner.workers, config.ray)
    workers = f"{runner.workers} Ray worker" + ("s" if runner.workers != 1 else "")
    print(f"nst: renders run on {workers}.", file=out, flush=True)
    return JobTable(config, runner=runner)


def _ignore(signum: int, frame: Any) -> None:
    """Stands in for the default handlers while uvicorn re-raises the signal that stopped it."""


def _started(config: ServiceConfig, info: dict[str, Any], out, warm_up: WarmUp) -> None:
    where = discovery.write(info)
    log.info(
        "listening at %s (pid %s, version %s); discovery file %s",
        config.url,
        info["pid"],
        __version__,
        where,
    )
    print(
        f"nst: service listening at {config.url} (log: {config.log_file}); stop it with "
        "Ctrl+C or `nst serve --stop`.",
        file=out,
        flush=True,
    )
    if config.allow_remote:
        host = socket.gethostname() if is_wildcard(config.host) else config._url_host()
        print(
            f"nst: enter this address, token and certificate fingerprint in the editor "
            f"plug-in's settings:\n  address:     {config.scheme}://{host}:{config.port}\n"
            f"  token:       {config.token}\n  fingerprint: {config.fingerprint}",
            file=out,
            flush=True,
        )
    if config.warm_up and not config.preload:
        warm_up.start()


def _stopping(info: dict[str, Any], table: Any, warm_up: WarmUp) -> None:
    log.info("stopping")
    warm_up.stopping()
    discovery.remove_if_ours(info)
    table.stop()
