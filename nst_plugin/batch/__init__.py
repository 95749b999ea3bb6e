"""`nst batch`: many images with one style, here or over a Ray cluster.

`items` (which inputs, where each output goes), `worker` (one process's engine, loaded once,
taking images one after another), `run` (the run here or over Ray, the summary).
"""

from __future__ import annotations

from .run import Summary, run_batch

__all__ = ["Summary", "run_batch"]
