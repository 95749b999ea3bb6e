"""Running the service: the log file, the socket, uvicorn, the discovery file, signals.

The socket is bound before uvicorn starts, so the port (0 = any free one) is known to the
Host check; the discovery file is written once uvicorn listens and removed as soon as it
begins to stop. SIGTERM (`nst serve --stop`) and Ctrl+C stop it the same way: open event
streams end, jobs are cancelled, and the command exits 0. With `--idle-exit SECONDS` it also
stops that way by itself once SECONDS pass with no request (open or new, on any route,
refused or not) and no job queued or running; results kept for clients do not count.
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
from ..options import Settings
from . import discovery
from .config import ServiceConfig

log = logging.getLogger("nst_plugin.service")
IDLE_POLL = 0.5  # seconds between two looks at the idle clock (--idle-exit)


def setup_log(config: ServiceConfig) -> None:
    """Send the service's and uvicorn's log records to the log file (1 MB, one backup)."""
    config.log_file.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        config.log_file, maxBytes=1 << 20, backupCount=1, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
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
    job queued or running. Asked in the event loop's thread, where requests and jobs change."""

    def __init__(self, limit: float, activity: Any, table: Any, out=sys.stdout) -> None:
        self.limit = limit
        self.activity = activity  # app.Activity: open requests, the last one's time
        self.table = table
        self.out = out
        self.busy = time.monotonic()  # the last time a request was open or a job active

    def idle_for(self, now: float) -> float:
        if self.activity.open or self.table.active():
            self.busy = now
            return 0.0
        ended = (j.finished_at for j in self.table.jobs.values() if j.finished_at is not None)
        return now - max(self.busy, self.activity.last, *ended)

    def expired(self, now: float) -> bool:
        """True (once logged and printed) when the service should stop now."""
        if self.idle_for(now) < self.limit:
            return False
        log.info("no request and no job for %g s (--idle-exit): stopping", self.limit)
        with contextlib.suppress(OSError, ValueError):  # a closed terminal must not keep it
            print(
                f"nst: no request and no job for {self.limit:g} s (--idle-exit); stopping.",
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
        print(
            f"nst: a service is already running at {info['url']} (pid {info.get('pid')}); "
            "`nst serve --stop` stops it.",
            file=out,
        )
        return 0
    setup_log(config)
    _yield_cpu()
    sock = bind(config.host, config.port)
    config.port = sock.getsockname()[1]
    import uvicorn

    from .app import create_app

    app = create_app(config)
    table = app.state.table
    info = {
        "url": config.url,
        "token": config.token,
        "pid": os.getpid(),
        "version": __version__,
        "log": str(config.log_file),
    }
    try:
        if config.preload:
            print("nst: loading the engine (--preload)...", file=out, flush=True)
            table.warm_up(Settings(weights=config.weights) if config.weights else None)
        server = _server_class()(
            uvicorn.Config(
                app,
                loop="asyncio",
                http="h11",
                ws="none",
                lifespan="on",
                log_config=None,
                proxy_headers=False,
                server_header=False,
                timeout_keep_alive=5,
                timeout_graceful_shutdown=3,
                limit_concurrency=64,
                h11_max_incomplete_event_size=64 * 1024,
            )
        )
        server.on_started = lambda: _started(config, info, out)
        server.on_stopping = lambda: _stopping(info, table)
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


def _ignore(signum: int, frame: Any) -> None:
    """Stands in for the default handlers while uvicorn re-raises the signal that stopped it."""


def _started(config: ServiceConfig, info: dict[str, Any], out) -> None:
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
        host = socket.gethostname() if config.url.startswith("http://127.0.0.1") else config.host
        print(
            f"nst: enter this address and token in the editor plug-in's settings:\n"
            f"  address: http://{host}:{config.port}\n  token:   {config.token}",
            file=out,
            flush=True,
        )


def _stopping(info: dict[str, Any], table: Any) -> None:
    log.info("stopping")
    discovery.remove_if_ours(info)
    table.stop()
