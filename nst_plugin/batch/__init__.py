"""`nst batch`: many images with one style, here or over a Ray cluster.

`items` (which inputs, where each output goes), `worker` (one process's engine, loaded once,
taking images one after another), `cluster` (Ray: the cluster started or joined, the pool of
worker actors, restarts and retries; `nst video --ray` uses it too), `run` (the run here or
over Ray, the summary).
"""

from __future__ import annotations

from .run import Summary, run_batch

__all__ = ["Summary", "run_batch"]
