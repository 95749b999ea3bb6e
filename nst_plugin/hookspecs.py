"""Every hook of nst-plugin. Each docstring is that hook's documentation (docs/plugins.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import pluggy

if TYPE_CHECKING:
    from .engines import Engine
    from .progress import ProgressEvent

hookspec = pluggy.HookspecMarker("nst_plugin")
hookimpl = pluggy.HookimplMarker("nst_plugin")


@hookspec
def nst_register_engines(register: Callable[[Engine], None]) -> None:
    """Register engines: call `register(Engine(name, description, stylize, options))`.

    Called by the core whenever it needs the installed engines (a job names one, `nst
    plugins` lists them, the service serves their options). `stylize(request, reporter)`
    returns a `Result`; it calls `reporter.progress(...)` after every iteration and
    `reporter.check_cancel()` at least once per iteration, and raises `UserError` for
    mistakes in the request. `options` names the schema options the engine takes. When two
    plugins register the same name, the plugin registered last wins, so a third-party plugin
    can replace a built-in engine.
    """


@hookspec
def nst_register_commands(subparsers: Any) -> None:
    """Add `nst` subcommands: `p = subparsers.add_parser(name, help=...)`, then
    `p.set_defaults(run=function)`.

    Called once by `nst`'s `main()` while it builds the parser. `run(args)` receives the
    parsed arguments and returns the exit code; raising `UserError` prints its sentence and
    exits 2. Keep the module cheap to import: `nst --help` imports every command plugin.
    """


@hookspec
def nst_progress(event: ProgressEvent) -> None:
    """Receive every progress event of every job: the CLI's progress bar, a log, a UI.

    Called in the engine's thread after each iteration and at each stage change, for every
    job started through `nst_plugin.stylize`, `resume` or a `JobRunner`. Keep it quick;
    return values are ignored.
    """
