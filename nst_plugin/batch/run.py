"""A batch run: here in this process, or over a Ray cluster (`ray`: "local" starts one for
the run and stops it; "auto" or an address joins one; see `cluster`). Each Ray worker is an
actor that loads the engine once; a worker that dies is restarted and its image retried
(Ray's actor restarts and task retries). Outputs are written atomically and never replaced,
so an image whose output exists is skipped: the same command again redoes nothing, and a
retried image is never written twice."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RequestError
from .cluster import Cluster
from .items import Item, collect
from .worker import Worker


@dataclass
class Summary:
    done: int = 0
    skipped: int = 0
    failed: list[dict[str, str]] = field(default_factory=list)  # {"input", "error"}
    workers: int = 1
    seconds: float = 0.0
    total: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def run_batch(
    inputs: Sequence[str | os.PathLike],
    styles: Sequence[str | os.PathLike],
    outdir: str | os.PathLike,
    *,
    engine: str,
    options: dict[str, Any],
    fmt: str | None = None,
    ray: str | None = None,
    workers: int | None = None,
    on_outcome: Callable[[dict[str, Any], int], Any] | None = None,
) -> Summary:
    """Stylize every input into `outdir`; `on_outcome(outcome, total)` after each image."""
    items = collect(inputs, outdir, fmt)
    Path(outdir).mkdir(parents=True, exist_ok=True)
    styles = [str(Path(s).resolve()) for s in styles]
    summary = Summary(total=len(items))
    started = time.monotonic()
    todo = [item for item in items if not Path(item.output).exists()]
    summary.skipped = len(items) - len(todo)
    if ray is None:
        if workers not in (None, 1):
            raise RequestError("--workers needs --ray: without it the batch runs here, alone.")
        outcomes = _here(todo, styles, engine, options)
    else:
        outcomes, summary.workers = _over_ray(todo, styles, engine, options, ray, workers)
    for outcome in outcomes:
        if outcome["state"] == "done":
            summary.done += 1
        elif outcome["state"] == "skipped":
            summary.skipped += 1
        else:
            summary.failed.append({"input": outcome["input"], "error": outcome["error"]})
        if on_outcome is not None:
            on_outcome(outcome, len(items))
    summary.seconds = time.monotonic() - started
    return summary


def _here(items: list[Item], styles, engine, options) -> Iterator[dict[str, Any]]:
    if not items:
        return
    worker = Worker(styles, engine, options)
    for item in items:
        yield worker.run(item)


def _over_ray(items, styles, engine, options, address, workers):
    """(outcomes, as they finish; the number of workers)."""
    cluster = Cluster.start(address, workers)

    def outcomes() -> Iterator[dict[str, Any]]:
        with cluster:
            yield from cluster.map(Worker, (styles, engine, options), "run", items)

    return outcomes(), cluster.workers
