"""Every hook of nst-plugin. Each docstring is that hook's documentation: the hooks section of
docs/plugins.md is generated from them (`python -m nst_plugin.hookdocs`), so write them in
Markdown and name every keyword argument a hook's implementations pass or receive."""

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

    Called by the core whenever it needs the installed engines: a job names one, `nst plugins`
    lists them, the service serves their options. `stylize(request, reporter)` receives a
    `StylizeRequest` (decoded sRGB content and style images, validated `Settings`) and returns
    a `Result`; it calls `reporter.progress(step, total, loss, preview)` after each iteration
    and `reporter.check_cancel()` at least once per iteration, and raises `UserError` (one
    sentence saying what to do) for a mistake in the request. `options` names the options of
    the one schema (`nst_plugin/options.py`) that the engine takes; the editors show those.
    An engine that takes `style_masks` or `strength_map` finds them, loaded and checked, as
    greyscale images of the content's size in `request.style_masks` (one per style) and
    `request.strength_map` (`nst_plugin/regions.py`); the core refuses them for the others.

    `Engine` also takes two keyword arguments:

    - `check=`: for an engine that may be unable to run (a model not installed), a function
      returning None when it can run, else one sentence saying what to install. `nst plugins`
      and the service show it as `ready` and `problem`, and the editors offer the engine only
      when it is ready.
    - `standard_strength=` (default 0.5): the strength at which the engine gives its standard
      look (0 is always the photo, 1 its strongest), so hosts can carry a strength from one
      engine to another.
    - `device=` (optional): a function returning where the engine runs ("CPU", or a GPU's
      name), cheap to call; the service shows it, and the editors pick their default engine
      and say how long a job will take from it.

    When two plugins register the same name, the plugin registered last wins, so a third-party
    plugin can replace a built-in engine.
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
    job started through `nst_plugin.stylize`, `resume` or a `JobRunner`. The `ProgressEvent`
    has the job's `job_id`, its `stage` (`loading`, `preparing`, `downloading`, `optimizing`,
    `stylizing`, `saving`, `done`), `step` of `total`, `loss` (None when the engine has none),
    `elapsed` and `eta` in seconds (`eta` None until it can be estimated), sometimes a small
    `preview` image, and in a frame sequence the `frame` (from 1) of `frames` (both 0
    otherwise; `eta` is then for the whole sequence). Keep it quick; return values are
    ignored.
    """
