"""`nst models status|download|import FILE`: the fast engine's model."""

from __future__ import annotations

from typing import Any

from ..hookspecs import hookimpl
from .weights import add_model_files_command


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    add_model_files_command(
        subparsers,
        "models",
        "the fast engine's model",
        "..fast.models",
        "model",
        download="download the TensorFlow Hub model into the cache",
    )
