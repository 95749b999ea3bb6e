"""Engines as the core knows them: registered by plugins, looked up by name."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pluggy

from .errors import RequestError, quote
from .plugins import get_plugin_manager

if TYPE_CHECKING:
    from .progress import Reporter
    from .request import Result, StylizeRequest

DEFAULT_ENGINE = "vgg19"


@dataclass(frozen=True)
class Engine:
    """An engine: its name (what a request names), a one-line description, the stylize
    function `stylize(request, reporter) -> Result`, the schema options it takes, and
    optionally `check() -> None | sentence`: what keeps it from running (a missing model),
    and `standard_strength`: the strength at which it gives its standard look (0 is always the
    photo, 1 its strongest), so hosts can carry a strength from one engine to another;
    `device() -> str`: where it runs ("CPU", or a GPU's name), so hosts can pick defaults and
    say how long a job will take."""

    name: str
    description: str
    stylize: Callable[[StylizeRequest, Reporter], Result]
    options: tuple[str, ...] = ()
    check: Callable[[], str | None] | None = None
    standard_strength: float = 0.5
    device: Callable[[], str] | None = None

    def problem(self) -> str | None:
        """None when the engine can run; else one sentence saying what to install."""
        return None if self.check is None else self.check()

    def info(self) -> dict[str, Any]:
        """What `nst plugins` and the service's /v1/engines show: name, description, the JSON
        schema of its options, whether it can run now (`ready`, and `problem` when it cannot),
        `standard_strength` and `device` (None when the engine does not say)."""
        from .options import json_schema

        problem = self.problem()
        return {
            "name": self.name,
            "description": self.description,
            "options": json_schema(self.options),
            "ready": problem is None,
            "problem": problem,
            "standard_strength": self.standard_strength,
            "device": None if self.device is None or problem else self.device(),
        }


def installed(pm: pluggy.PluginManager | None = None) -> dict[str, Engine]:
    """Every registered engine by name; a later-registered plugin's engine wins a name."""
    found: dict[str, Engine] = {}
    (pm or get_plugin_manager()).hook.nst_register_engines(
        register=lambda e: found.setdefault(e.name, e)
    )
    return found


def get(name: str, pm: pluggy.PluginManager | None = None) -> Engine:
    """The engine called `name`; an unknown name is one sentence listing the installed ones."""
    engines = installed(pm)
    if name not in engines:
        names = ", ".join(sorted(engines)) or "none"
        raise RequestError(
            f"no engine named {quote(name)} is installed; the installed engines are: {names}."
        )
    return engines[name]
