"""Finding the service, or starting it: the discovery file, ``nst-host.json``, :func:`connect`.

``nst serve`` writes a discovery file (its address, token, pid, version, log). A plug-in reads
the ``nst-host.json`` that ``nst install-host`` wrote beside it: a service address and token
when set, else the ``nst`` command with which :func:`connect` starts ``nst serve`` itself.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from contextlib import suppress

from .client import Client, loads
from .errors import ServiceError

HOST_CONFIG = "nst-host.json"
START_WAIT = 90.0  # seconds to wait for a service a plug-in starts (TensorFlow loads slowly)
# A service a plug-in starts is started with `nst serve --idle-exit IDLE_EXIT`: it goes away
# (with the memory its engine holds) half an hour after the last editor stopped using it,
# instead of outliving the editor; an editor opened again within that time finds it warm.
# Open editors send a heartbeat, and a running job keeps it too, so it never stops under
# them; one started by hand (`nst serve`) stays until stopped. NST_IDLE_EXIT in the editor's
# environment sets another time (`90s`, `2h`; `0`: never).
IDLE_EXIT = 30  # minutes
NOT_RUNNING = (
    "The nst service is not running; start it with `nst serve` in a terminal, or run "
    "`nst install-host <editor>` again so the plug-in can start it itself."
)
BUSY_WAIT = 10.0  # seconds a live service that did not answer at once gets to answer
BUSY = (
    "The nst service (pid %s) is running but did not answer within %g s; it may be busy, so "
    "try again in a moment, or stop it with `nst serve --stop`."
)
_STARTED = []  # the services started here (kept so that they are not reaped noisily)


def _user_cache() -> str:
    home = os.path.expanduser("~")
    if sys.platform == "win32":
        return os.environ.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
    if sys.platform == "darwin":
        return os.path.join(home, "Library", "Caches")
    return os.path.join(home, ".cache")


def service_file_path() -> str:
    """The discovery file: ``$NST_SERVICE_FILE``, else ``nst-plugin/service.json`` in
    ``$XDG_RUNTIME_DIR``, ``$XDG_CACHE_HOME`` or the user's cache folder."""
    explicit = os.environ.get("NST_SERVICE_FILE")
    if explicit:
        return os.path.expanduser(explicit)
    bases = [os.environ.get(key) or "" for key in ("XDG_RUNTIME_DIR", "XDG_CACHE_HOME")]
    base = next((b for b in bases if os.path.isabs(b)), None) or _user_cache()
    return os.path.join(base, "nst-plugin", "service.json")


def read_service_file(path: str | None = None) -> dict | None:
    """The discovery file's JSON object (url, token, pid, version, log); None when missing or
    invalid."""
    with suppress(OSError), open(path or service_file_path(), "rb") as fh:
        info = loads(fh.read())
        if isinstance(info, dict) and isinstance(info.get("url"), str) and info["url"]:
            return info
    return None


def load_host_config(folder: str) -> dict:
    """The plug-in folder's ``nst-host.json`` (``{"nst": path, "url", "token", "fingerprint"}``);
    ``{}`` when it is missing."""
    path = os.path.join(folder, HOST_CONFIG)
    try:
        with open(path, "rb") as fh:
            config = loads(fh.read())
    except OSError:
        return {}
    if not isinstance(config, dict):
        raise ServiceError(
            "The plug-in settings file %s is damaged; run `nst install-host <editor>` again." % path
        )
    return config


def _text(value) -> str | None:
    return value.strip() if isinstance(value, str) and value.strip() else None


def connect_kwargs(user: dict, host_config: dict) -> dict:
    """Keyword arguments of :func:`connect` from the user's settings and ``nst-host.json``.

    An address the user entered wins (with its token and, for ``https://``, the certificate
    ``fingerprint``); then one in ``nst-host.json``; else the discovery file
    of a running service, or a service started with the ``nst`` command it names.
    """
    for source in (user, host_config):
        url = _text(source.get("url"))
        if url:
            found = {"url": url, "token": _text(source.get("token"))}
            fingerprint = _text(source.get("fingerprint"))
            return {**found, "fingerprint": fingerprint} if fingerprint else found
    nst = host_config.get("nst")
    if isinstance(nst, (list, tuple)):
        nst = [str(part) for part in nst] or None
    else:
        nst = _text(nst)
    return {"nst_command": nst, "start": nst is not None, "wait": START_WAIT}


def _answering(info: dict, timeout: float = 2.0) -> Client | None:
    """A client of the service ``info`` describes, if it answers."""
    with suppress(ServiceError):
        client = Client(info["url"], info.get("token"), fingerprint=info.get("fingerprint"))
        if client.health(timeout=timeout).get("ok", True):
            return client
    return None


def service_alive(info: dict | None) -> bool:
    """Whether the process the discovery file names still runs and is an ``nst serve``: a
    service that does not answer then is busy, not gone, and no second one may start.

    False when that cannot be told safely (Windows, where probing a pid would end it).
    """
    pid = (info or {}).get("pid")
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0 or os.name == "nt":
        return False
    try:
        os.kill(pid, 0)
    except OSError:  # gone, or another user's process (the pid was reused)
        return False
    try:
        with open("/proc/%d/stat" % pid, "rb") as fh:
            if fh.read().rpartition(b")")[2].split()[:1] == [b"Z"]:
                return False  # a zombie has exited
        with open("/proc/%d/cmdline" % pid, "rb") as fh:
            return b"serve" in fh.read().split(b"\0")
    except OSError:  # no /proc (macOS): the pid lives, take it for the service
        return True


def connect(
    *,
    url: str | None = None,
    token: str | None = None,
    fingerprint: str | None = None,
    service_file: str | None = None,
    nst_command=None,
    start: bool = True,
    wait: float = START_WAIT,
) -> Client:
    """A :class:`Client` of a service that answers.

    The one at ``url`` (an ``https://`` one pinned by ``fingerprint``, the SHA-256 `nst serve
    --status` prints); else the one the discovery file names; else, when ``start``, one
    started with ``nst_command`` (the ``nst`` executable or an argv prefix) and polled for up
    to ``wait`` seconds. A service whose process lives but does not answer is busy: it gets
    ``BUSY_WAIT`` seconds, and no second one is started beside it. Raises
    :class:`ServiceError` when none answers.
    """
    if url:
        client = Client(url, token, fingerprint=fingerprint)
        client.health()
        return client
    path = service_file or service_file_path()
    stale = read_service_file(path)
    client = _answering(stale) if stale else None
    if client is not None:
        return client
    if service_alive(stale):
        client = _answering(stale, timeout=BUSY_WAIT)
        if client is not None:
            return client
        raise ServiceError(BUSY % (stale.get("pid"), BUSY_WAIT))
    if not (start and nst_command):
        raise ServiceError(NOT_RUNNING)
    child = _start_service(nst_command, service_file)
    return _wait_for_service(child, path, stale, wait)


def _start_service(nst_command, service_file: str | None) -> subprocess.Popen:
    """``nst serve --idle-exit IDLE_EXIT``, detached and silent, without the editor's Python
    variables."""
    if isinstance(nst_command, (str, bytes, os.PathLike)):
        argv = [nst_command]
    else:
        argv = list(nst_command)
    if os.name == "nt":  # DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP
        detach = {"creationflags": 0x00000008 | 0x00000200}
    else:
        detach = {"start_new_session": True}
    hidden = ("PYTHONHOME", "PYTHONPATH", "PYTHONEXECUTABLE")
    env = {k: v for k, v in os.environ.items() if k not in hidden}
    if service_file:
        env["NST_SERVICE_FILE"] = service_file
    try:
        child = subprocess.Popen(
            [os.fspath(arg) for arg in argv]
            + ["serve", "--idle-exit", os.environ.get("NST_IDLE_EXIT") or str(IDLE_EXIT)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            **detach,
        )
    except OSError as exc:
        raise ServiceError(
            "The nst command %s cannot be started (%s); run `nst install-host <editor>` again, "
            "or start the service with `nst serve`." % (argv[0], exc.strerror or exc)
        ) from exc
    _STARTED.append(child)
    return child


def _wait_for_service(child, path: str, stale: dict | None, wait: float) -> Client:
    """Poll the discovery file until the started service answers, exits or ``wait`` passes."""
    deadline = time.monotonic() + max(0.0, float(wait))
    info = stale
    while True:
        info = read_service_file(path) or info
        code = child.poll()
        done = code is not None or time.monotonic() >= deadline  # exit 0: another one runs
        if info is not None and (info != stale or done):
            client = _answering(info, timeout=1.0)
            if client is not None:
                return client
        if done:
            raise ServiceError(_start_failure(code, wait, (info or {}).get("log")))
        time.sleep(0.1)


def _start_failure(code: int | None, wait: float, log: str | None) -> str:
    if code == 0:
        return NOT_RUNNING
    if code:
        what = "exited with code %d right after starting" % code
    else:
        what = "did not answer within %g s" % wait
    where = "see its log %s" % log if log else "run `nst serve` in a terminal to see why"
    return "The nst service %s; %s." % (what, where)
