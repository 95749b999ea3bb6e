"""The command line's progress display on stderr (rich), fed by the `nst_progress` hook."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from .hookspecs import hookimpl
from .progress import ProgressEvent


class ProgressBar:
    """A plugin that draws one bar per job: stage, iteration, loss, elapsed and ETA."""

    def __init__(self) -> None:
        self._progress = Progress(
            TextColumn("{task.description:<10}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]}"),
            TimeElapsedColumn(),
            TextColumn("eta {task.fields[eta]}"),
            console=Console(stderr=True),
            transient=False,
        )
        self._tasks: dict[str, int] = {}
        self._progress.start()

    @hookimpl
    def nst_progress(self, event: ProgressEvent) -> None:
        task = self._tasks.get(event.job_id)
        if task is None:
            task = self._progress.add_task(event.stage, total=None, loss="-", eta="-")
            self._tasks[event.job_id] = task
        fields = {"description": event.stage}
        if event.total:
            fields["total"] = event.total
        if event.loss is not None:
            fields["loss"] = f"{event.loss:.4g}"
        if event.eta is not None:
            fields["eta"] = f"{event.eta:.0f}s"
        self._progress.update(task, completed=event.step, **fields)

    def close(self) -> None:
        self._progress.stop()


@contextlib.contextmanager
def download_bar() -> Iterator[Callable[[int, int | None], None]]:
    """A byte-count progress bar for downloads; yields the callback that feeds it."""
    progress = Progress(
        TextColumn("downloading"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        console=Console(stderr=True),
    )
    task = progress.add_task("download", total=None)
    with progress:
        yield lambda done, total: progress.update(task, completed=done, total=total)
