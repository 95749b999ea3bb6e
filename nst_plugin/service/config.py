"""The settings of one `nst serve` run, and the folders its files live in."""

from __future__ import annotations

import ipaddress
import secrets
from dataclasses import dataclass, field
from pathlib import Path

from ..fsutil import user_dir
from ..limits import MAX_PIXELS


def default_log_file() -> Path:
    """$XDG_STATE_HOME/nst-plugin/serve.log (default ~/.local/state/nst-plugin/serve.log)."""
    return (
        user_dir("XDG_STATE_HOME", ".local/state", mac="Library/Logs") / "nst-plugin" / "serve.log"
    )


def default_styles_dir() -> Path:
    """$XDG_DATA_HOME/nst-plugin/styles (default ~/.local/share/nst-plugin/styles)."""
    return user_dir("XDG_DATA_HOME", ".local/share") / "nst-plugin" / "styles"


def is_loopback(host: str) -> bool:
    """Whether `host` (an address or "localhost") is reachable only from this machine."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def is_wildcard(host: str) -> bool:
    """Whether binding `host` listens on every interface (0.0.0.0, ::)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_unspecified
    except ValueError:
        return host == ""


IDLE_EXIT_UNITS = {"s": 1.0, "m": 60.0, "h": 3600.0}


def idle_exit_seconds(text: str) -> float | None:
    """`--idle-exit`'s value in seconds: minutes (`30`, `0.5`) or a number with a unit (`90s`,
    `30m`, `2h`); None for 0 (never). Raises ValueError for anything else."""
    value = text.strip().lower()
    unit = IDLE_EXIT_UNITS.get(value[-1:])
    number = float(value[:-1] if unit else value)  # ValueError for text that is no number
    seconds = number * (unit or 60.0)
    if not 0 <= seconds < float("inf"):
        raise ValueError(text)
    return seconds or None


def describe_seconds(seconds: float) -> str:
    """A time span as a person reads it: "90 s", "30 minutes", "2 hours"."""
    if seconds < 120:
        return f"{seconds:g} s"
    if seconds < 2 * 3600:
        return f"{seconds / 60:g} minutes"
    return f"{seconds / 3600:g} hours"


@dataclass
class ServiceConfig:
    """What one service run uses; `port` is the bound port once the socket is open."""

    host: str = "127.0.0.1"
    port: int = 0
    allow_remote: bool = False
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32), repr=False)
    weights: str | None = None  # the service's own: clients never choose files here
    styles_dir: Path = field(default_factory=default_styles_dir)
    log_file: Path = field(default_factory=default_log_file)
    max_body: int = 256 * 1024 * 1024
    max_pixels: int = MAX_PIXELS
    max_styles: int = 8  # style images in one job
    max_queued: int = 32  # queued and running jobs
    max_job_bytes: int = 2048 * 1024 * 1024  # one job's images, decoded
    max_queue_bytes: int = 1024 * 1024 * 1024  # the uploads queued jobs hold (compressed)
    header_timeout: float = 10.0  # seconds to send a complete request head
    max_idle_connections: int = 32  # idle connections kept; the oldest are closed first
    tls_cert: Path | None = None  # HTTPS (--allow-remote): the certificate and key in use
    tls_key: Path | None = None
    fingerprint: str | None = None  # the certificate's SHA-256, which clients pin
    keep_results: int = 32  # finished jobs kept for reconnecting clients
    keep_seconds: float = 3600.0
    keepalive: float = 15.0  # seconds between keep-alive comments of an event stream
    preload: bool = False  # load the engine before listening (blocking)
    warm_up: bool = True  # load and compile the engine in the background once listening
    idle_exit: float | None = None  # stop after this many seconds without requests or jobs
    ray: str | None = None  # --ray: renders on a Ray cluster ("local", "auto" or an address)
    workers: int | None = None  # --workers: Ray workers (default: a GPU each, else a CPU each)

    def _url_host(self) -> str:
        if is_wildcard(self.host):
            return "127.0.0.1"  # the discovery file is for clients on this machine
        return f"[{self.host}]" if ":" in self.host else self.host

    @property
    def scheme(self) -> str:
        return "https" if self.tls_cert is not None else "http"

    @property
    def url(self) -> str:
        """The address local clients use."""
        return f"{self.scheme}://{self._url_host()}:{self.port}"

    def allowed_hosts(self) -> frozenset[str] | None:
        """The Host header values a request may carry (None: any, for a wildcard bind).

        Refusing other names stops DNS rebinding: a web page whose name resolves to
        127.0.0.1 still sends its own name as Host.
        """
        if is_wildcard(self.host):
            return None
        names = {"127.0.0.1", "localhost", "[::1]", self._url_host().lower()}
        allowed = {f"{name}:{self.port}" for name in names}
        if self.port == 80:
            allowed |= names
        return frozenset(allowed)
