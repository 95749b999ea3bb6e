"""The service's warm-up: the engine loaded and compiled in the background once it listens.

Without it the first job pays for loading TensorFlow or JAX, building the network and tracing
or compiling its step (about 5 s with TensorFlow on a 2-core CPU). The warm-up is a
one-iteration job of 16 px in the render lane, so jobs submitted meanwhile queue behind it and
start the moment it ends. TensorFlow traces the step once for images of every size, so that
covers every job. JAX compiles one program per image shape; no shape is common enough to
compile in advance (the first scale of a job follows its photo's aspect ratio, and the tile
shape of large jobs took 40 s on a 2-core CPU, a wait for any job sent meanwhile), so there
the shapes a job needs compile with it and JAX keeps them on disk for the next runs
(`compile_cache`).

Weights not on disk yet (imagenet before its first download) are not fetched here: the first
job downloads them with its progress shown.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any

from .. import engines
from ..errors import user_message
from ..options import Settings
from .config import ServiceConfig

log = logging.getLogger("nst_plugin.service")
ENGINE = "vgg19"  # the engine loaded in advance (the render lane's)


def settings_for(config: ServiceConfig) -> Settings:
    """The settings the warm-up runs with: the defaults and the service's weights, so that
    jobs with the default network share what it loaded."""
    return Settings(weights=config.weights) if config.weights else Settings()


def reason_to_skip(settings: Settings) -> str | None:
    """Why the engine should not load in advance (None: it should)."""
    if ENGINE not in engines.installed():
        return f"the {ENGINE} engine is not installed"
    from ..vgg19 import weights  # reads no weights and loads no backend

    try:
        source = weights.resolve(settings.weights)
    except Exception as err:  # a missing weights file: the first job says so
        return user_message(err)
    if source.kind == "imagenet" and source.path is not None and not source.path.exists():
        return "its weights are not downloaded yet; the first job downloads them"
    return None


class WarmUp:
    """The background warm-up of one service run; `stopping()` once the service stops."""

    def __init__(self, table: Any, config: ServiceConfig, out: Any) -> None:
        self.table, self.out = table, out
        self.settings = settings_for(config)
        self._stopping = threading.Event()

    def start(self) -> None:
        """Warm up in a daemon thread, unless there is a reason not to (logged)."""
        why = reason_to_skip(self.settings)
        if why is not None:
            log.info("the engine loads with the first job: %s", why)
            return
        threading.Thread(target=self._run, name="nst-warm-up", daemon=True).start()

    def stopping(self) -> None:
        self._stopping.set()

    def _run(self) -> None:
        started = time.monotonic()
        _say(
            self.out, "nst: loading the engine in the background; jobs sent meanwhile wait for it."
        )
        try:
            self.table.warm_up(self.settings)
        except Exception as err:  # the first job that needs the engine reports it as well
            if self._stopping.is_set():
                log.info("warm-up ended: the service is stopping")
                return
            log.warning("warm-up failed: %s", user_message(err))
            _say(self.out, f"nst: the engine could not be loaded in advance: {user_message(err)}")
            return
        took = time.monotonic() - started
        log.info("warm-up: the engine is loaded and compiled (%.1f s)", took)
        _say(self.out, f"nst: the engine is ready ({took:.1f} s).")


def _say(out: Any, line: str) -> None:
    with contextlib.suppress(OSError, ValueError):  # a closed terminal must not matter
        print(line, file=out, flush=True)
