"""A batch run: here in this process, or over a Ray cluster (`ray`: "local" starts one for
the run and stops it; "auto" or an address joins one). Each Ray worker is an actor that
loads the engine once; a worker that dies is restarted and its image retried (Ray's actor
restarts and task retries). Outputs are written atomically and never replaced, so an image
whose output exists is skipped: the same command again redoes nothing, and a retried image
is never written twice."""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from ..errors import RequestError
from .items import Item, collect
from .worker import Worker

RETRIES = 3  # restarts of a dead worker, and retries of its image
OBJECT_STORE = 256 * 1024 * 1024  # a local cluster's object store: only outcomes travel


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
    ray = _import_ray()
    local = address == "local"
    if local:
        slots = max(workers or 0, os.cpu_count() or 1)
        ray.init(
            num_cpus=slots,
            include_dashboard=False,
            log_to_driver=False,
            logging_level=logging.ERROR,
            object_store_memory=OBJECT_STORE,
        )
    else:
        try:
            ray.init(address=address, log_to_driver=False, logging_level=logging.ERROR)
        except (ConnectionError, RuntimeError, ValueError) as err:
            reason = " ".join(str(err).split())[:100]
            raise RequestError(
                f"cannot join the Ray cluster at {address} ({reason}); start it with "
                "`ray start --head`, or use --ray local."
            ) from None
    count, resources = _workers(ray.cluster_resources(), workers)

    def outcomes() -> Iterator[dict[str, Any]]:
        try:
            if not items:
                return
            actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES, **resources)(Worker)
            pool = ray.util.ActorPool(
                [actor.remote(styles, engine, options) for _ in range(min(count, len(items)))]
            )
            yield from pool.map_unordered(lambda a, item: a.run.remote(item), items)
        finally:
            if local:
                ray.shutdown()

    return outcomes(), count


def _workers(resources: dict[str, float], asked: int | None) -> tuple[int, dict[str, float]]:
    """How many workers, and what each one takes: a GPU each where the cluster has GPUs,
    else a CPU slot each."""
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return asked or gpus, {"num_gpus": 1}
    return asked or max(1, int(resources.get("CPU", 1))), {"num_cpus": 1}


def _import_ray():
    try:
        import ray
        import ray.util
    except ImportError:
        raise RequestError(
            "--ray needs Ray: pip install 'nst-plugin[ray]' (or leave out --ray to run here)."
        ) from None
    return ray
