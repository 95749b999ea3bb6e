"""Ray for `nst batch --ray` and `nst video --ray`: a cluster started for the run ("local")
or joined ("auto", an address), and a pool of worker actors that each load the engine once.
A worker that dies is restarted and its task retried (Ray's actor restarts and task retries),
so a task must be safe to run again: the workers skip what is already written."""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import RequestError

RETRIES = 3  # restarts of a dead worker, and retries of its task
OBJECT_STORE = 256 * 1024 * 1024  # a local cluster's object store: only outcomes travel


@dataclass
class Cluster:
    """A Ray cluster this run started or joined; `workers`: how many actors it runs, each
    taking `resources` (a GPU each where the cluster has GPUs, else a CPU slot each)."""

    workers: int
    resources: dict[str, float]
    local: bool

    @classmethod
    def start(cls, address: str, workers: int | None) -> Cluster:
        """Start a local cluster (`address` "local") or join one; one sentence if that fails."""
        ray = import_ray()
        local = address == "local"
        if local:
            ray.init(
                num_cpus=max(workers or 0, os.cpu_count() or 1),
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
        count, resources = worker_slots(ray.cluster_resources(), workers)
        return cls(count, resources, local)

    def map(
        self,
        worker: type,
        args: Sequence[Any],
        method: str,
        tasks: Sequence[Any],
        *,
        on_wait: Callable[[], Any] | None = None,
        every: float = 0.5,
    ) -> Iterator[Any]:
        """`worker(*args).method(task)` for every task on up to `self.workers` actors; the
        results as they finish. `on_wait()` about every `every` seconds while none arrives."""
        if not tasks:
            return
        ray = import_ray()
        actor = ray.remote(max_restarts=RETRIES, max_task_retries=RETRIES, **self.resources)(worker)
        pool = ray.util.ActorPool(
            [actor.remote(*args) for _ in range(min(self.workers, len(tasks)))]
        )
        for task in tasks:
            pool.submit(lambda a, t: getattr(a, method).remote(t), task)
        while pool.has_next():
            try:
                yield pool.get_next_unordered(timeout=None if on_wait is None else every)
            except TimeoutError:
                on_wait()

    def stop(self) -> None:
        """Stop a local cluster; leave a joined one running (only this run disconnects)."""
        ray = import_ray()
        if ray.is_initialized():
            ray.shutdown()

    def __enter__(self) -> Cluster:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def worker_slots(resources: dict[str, float], asked: int | None) -> tuple[int, dict[str, float]]:
    """How many workers, and what each one takes: a GPU each where the cluster has GPUs,
    else a CPU slot each."""
    gpus = int(resources.get("GPU", 0))
    if gpus:
        return asked or gpus, {"num_gpus": 1}
    return asked or max(1, int(resources.get("CPU", 1))), {"num_cpus": 1}


def import_ray():
    try:
        import ray
        import ray.util
    except ImportError:
        raise RequestError(
            "--ray needs Ray: pip install 'nst-plugin[ray]' (or leave out --ray to run here)."
        ) from None
    return ray
