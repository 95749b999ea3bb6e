"""The watcher's console: one log line per job on stdout, a live status line on stderr.

The status line (the running file, its stage, step and ETA, how many files wait) is a
transient `rich` Live display, drawn only when stderr is a terminal. Log lines and messages
are printed above it: the line is blanked, the text printed, the line drawn again.
"""

from __future__ import annotations

import datetime
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from ..errors import user_message


def sentence(err: BaseException | None, folder: Path, rel: str) -> str:
    """A job's error as one sentence that names the file as the user dropped it."""
    return user_message(err or RuntimeError("unknown error")).replace(str(folder / rel), rel)


class Console:
    """Where the watcher reports: `log` and `say` lines, and the `status` line when live."""

    def __init__(self, out: TextIO, err: TextIO, inbox: Path) -> None:
        self.out, self.err, self.inbox = out, err, inbox
        self.live = bool(getattr(err, "isatty", lambda: False)())
        self._lock = threading.Lock()
        self._status = ""
        self._shown = 0.0
        self._line: _StatusLine | None = None  # made on the first status

    def log(self, verb: str, rel: str, style: str, seconds: float, tail: str) -> None:
        """The line for a job that ended: time, verb, file, style, seconds, result or error."""
        now = datetime.datetime.now().strftime("%Y-%m-%d %H:%M:%S")
        self._print(self.out, f"{now} {verb:<7} {rel}  style={style}  {seconds:.1f}s  {tail}")

    def say(self, line: str) -> None:
        """A message for the user on stderr (start, errors)."""
        self._print(self.err, line)

    def shown(self, path: Path) -> str:
        """A path as the log shows it: relative to the inbox when inside it."""
        try:
            return path.relative_to(self.inbox).as_posix()
        except ValueError:
            return str(path)

    def status(self, text: str, *, force: bool = False) -> None:
        """Show `text` as the status line; unforced updates come at most ten times a second."""
        if (
            not self.live
            or text == self._status
            or (not force and time.monotonic() - self._shown < 0.1)
        ):
            return
        with self._lock:
            self._status = text
            self._draw()
            self._shown = time.monotonic()

    def idle(self, waiting: int, done: int, failed: int) -> None:
        """The status line while no job runs."""
        self.status(
            f"watching {self.inbox.name}: {waiting} waiting, {done} done, {failed} failed",
            force=True,
        )

    def progress_listener(self, rel: str, waiting: Callable[[], int]) -> Callable[[Any], None]:
        """A job listener that shows the job's progress events on the status line."""

        def listen(event: Any) -> None:
            step = f" {event.step}/{event.total}" if event.total else ""
            eta = f" eta {event.eta:.0f}s" if event.eta is not None else ""
            self.status(
                f"{rel}: {event.stage}{step}{eta} ({waiting()} waiting)",
                force=event.stage != "optimizing",
            )

        return listen

    def close(self) -> None:
        """Take the status line away."""
        with self._lock:
            self._status = ""
            if self._line is not None:
                self._line.close()
                self._line = None

    def _print(self, stream: TextIO, line: str) -> None:
        with self._lock:
            shown = self._line is not None and self._status
            if shown:
                self._line.show("")
            print(line, file=stream, flush=True)
            if shown:
                self._line.show(self._status)

    def _draw(self) -> None:
        if self._line is None:
            self._line = _StatusLine(self.err)
        self._line.show(self._status)


class _StatusLine:
    """One line of text at the bottom of a terminal: a transient rich Live display."""

    def __init__(self, err: TextIO) -> None:
        # rich only here: a watcher without a terminal (cron, a service) never loads it
        from rich.console import Console as RichConsole
        from rich.live import Live
        from rich.text import Text

        self._text = Text
        self._live = Live(
            console=RichConsole(file=err, force_terminal=True, highlight=False),
            auto_refresh=False,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self._live.start()

    def show(self, text: str) -> None:
        self._live.update(self._text(text, no_wrap=True, overflow="ellipsis"), refresh=True)

    def close(self) -> None:
        self.show("")
        self._live.stop()
