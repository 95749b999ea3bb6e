"""Every hook of nst-plugin. Each docstring is that hook's documentation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .progress import ProgressEvent, Reporter
    from .request import Result, StylizeRequest

hookspec = pluggy.HookspecMarker("nst_plugin")
hookimpl = pluggy.HookimplMarker("nst_plugin")


@hookspec(firstresult=True)
def nst_stylize(request: StylizeRequest, reporter: Reporter) -> Result | None:
    """Stylize one request; called by the core for every job (CLI, Python API, hot folder).

    An engine plugin returns a Result when `request.engine` names it and None otherwise, so
    the next engine gets its turn; the first Result wins. It calls `reporter.progress(...)`
    after every iteration and `reporter.check_cancel()` at least once per iteration.
    """


@hookspec
def nst_progress(event: ProgressEvent) -> None:
    """Receive every progress event of every job: the CLI's progress bar, a log, a UI.

    Called in the engine's thread after each iteration and at each stage change. Keep it
    quick; return values are ignored.
    """


@hookspec
def nst_engines() -> list[dict[str, Any]]:
    """Describe the engines a plugin provides; called by `nst plugins` and by hosts.

    Return a list of dicts with at least "name" (what `request.engine` matches) and
    "description"; add what the engine supports (optimizers, poolings, backends).
    """
