"""The discovery file the clients read (`client.service_file_path()`), and what `nst serve
--status` and `--stop` do with it.

The file is JSON {url, token, pid, version, log, fingerprint}, mode 0600, written in one step
once the service listens and removed when it stops (only while it is still this service's
file). A service whose process lives but does not answer is *busy* (state "not answering"),
not gone: it is neither replaced nor reported as stopped.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any

from ..fsutil import atomic_file
from ..hostkit import discovery as client
from ..hostkit.client import Client
from ..hostkit.errors import ServiceError

BUSY = "not answering"  # the state of a live service that did not answer in time


def path() -> Path:
    return Path(client.service_file_path())


def write(info: dict[str, Any]) -> Path:
    """Write the discovery file atomically, readable by this user only."""
    dest = path()
    dest.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    with atomic_file(dest) as fh:
        os.fchmod(fh.fileno(), 0o600)
        fh.write(json.dumps(info, indent=2).encode("utf-8"))
    return dest


def remove_if_ours(info: dict[str, Any]) -> bool:
    """Remove the file if it still describes `info`'s service (a newer one may have replaced it)."""
    current = client.read_service_file(str(path()))
    if (
        not current
        or current.get("token") != info.get("token")
        or current.get("pid") != info.get("pid")
    ):
        return False
    try:
        os.remove(path())
    except OSError:
        return False
    return True


def ask(info: dict[str, Any], route: str, timeout: float = 5.0) -> dict[str, Any] | None:
    """GET /v1/<route> of the service `info` names (its certificate pinned); None when it
    does not answer with JSON."""
    try:
        conn = Client(info["url"], info.get("token"), timeout, info.get("fingerprint"))
        return conn.call("GET", "/" + route)
    except ServiceError:
        return None


def running(timeout: float = 3.0) -> dict[str, Any] | None:
    """The discovery info of the service that answers there, merged with its /v1/status;
    with state BUSY when its process lives but it did not answer within `timeout`.

    A file whose service is gone is stale: it is removed when its process no longer exists.
    """
    info = client.read_service_file(str(path()))
    if info is None:
        return None
    state = ask(info, "status", timeout)
    if state is not None:
        return {**info, **state, "token": info.get("token")}
    if client.service_alive(info):
        return {**info, "state": BUSY}
    if _gone(info.get("pid")):
        remove_if_ours(info)
    return None


def status_line(state: dict[str, Any]) -> str:
    """One line for `nst serve --status`."""
    tls = f"; certificate SHA-256 {state['fingerprint']}" if state.get("fingerprint") else ""
    if state.get("state") == BUSY:
        return (
            f"nst: the service at {state['url']} (pid {state.get('pid')}) runs but did not "
            f"answer in time, so it is busy; `nst serve --stop` stops it{tls}"
        )
    running_job = state.get("running")
    if running_job:
        doing = (
            f"running job {running_job['id']} ({running_job.get('stage')}, step "
            f"{running_job.get('step')} of {running_job.get('total')})"
        )
    else:
        doing = state.get("state", "idle")
    queued = state.get("queued") or 0
    waiting = f", {queued} queued" if queued else ""
    return (
        f"nst: the service at {state['url']} (pid {state.get('pid')}, version "
        f"{state.get('version')}) is {doing}{waiting}; log: {state.get('log')}{tls}"
        f"{_idle_exit(state.get('idle_exit'))}"
    )


def _idle_exit(seconds: Any) -> str:
    """The status line's note on `--idle-exit` (seconds in `/v1/status`; null: never)."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) or seconds <= 0:
        return ""
    from .config import describe_seconds

    return f"; it stops by itself after {describe_seconds(seconds)} without requests or jobs"


def stop(timeout: float = 30.0) -> dict[str, Any] | None:
    """SIGTERM the running service (after it proved it is ours) and wait until it is gone.

    Returns its discovery info, or None when none runs. Raises TimeoutError if it outlives
    `timeout`.
    """
    state = running()
    if state is None:
        return None
    pid = state.get("pid")
    if not isinstance(pid, int) or pid <= 0 or pid == os.getpid():
        raise TimeoutError(f"the service at {state['url']} did not tell its process id")
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return state
        time.sleep(0.05)
    raise TimeoutError(
        f"the service (pid {pid}) is still running {timeout:g} s after it was asked to stop"
    )


def _gone(pid: Any) -> bool:
    """Whether process `pid` has exited (a zombie waiting for its parent counts as gone)."""
    if not isinstance(pid, int) or pid <= 0 or sys.platform.startswith("win"):
        return False  # cannot tell: os.kill(pid, 0) would end the process on Windows
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except OSError:
        return False  # e.g. another user's process
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[:1] == ["Z"]
