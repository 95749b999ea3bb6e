"""How long a job will take, said before Stylize: measured from the machine's own recent jobs
(the service's ``GET /v1/estimate``), or, before any job has run there, the engine's usual
pace (:func:`.engines.seconds_for`); and the words a painter reads."""

from __future__ import annotations

from typing import NamedTuple

from . import engines
from .errors import ServiceError


class Estimate(NamedTuple):
    """``seconds``: about how long (None: no idea); ``based_on``: the service's recent jobs it
    was measured from (0: a first guess from the engine's usual pace)."""

    seconds: float | None
    based_on: int

    @property
    def measured(self) -> bool:
        return self.seconds is not None and self.based_on > 0


def estimate(client, info: dict, options: dict, width: int, height: int) -> Estimate:
    """About how long a job with ``options`` (as sent, ``Choices.options``) on a ``width`` x
    ``height`` area takes; ``info``: the service's ``GET /v1/engines`` answer. Never raises for
    the service: one that cannot say (an older one, or an error) gives the first guess."""
    try:
        answer = client.estimate(width, height, options)
    except ServiceError:
        answer = {}
    seconds, based_on = answer.get("seconds"), answer.get("based_on")
    if _number(seconds) and seconds >= 0 and _number(based_on) and based_on > 0:
        return Estimate(float(seconds), int(based_on))
    return Estimate(engines.seconds_for(info, options, width, height), 0)


def phrase(seconds: float) -> str:
    """``about 8 s``, ``about 40 s``, ``about 3 min``, ``about 1 h 20 min``: rounded as one
    would say it (to 5 s, a minute, ten minutes)."""
    s = max(1.0, float(seconds))
    if s < 9.5:
        return "about %d s" % round(s)
    if s < 57.5:
        return "about %d s" % (5 * round(s / 5))
    if s < 3570:
        return "about %d min" % max(1, round(s / 60))
    hours, minutes = divmod(10 * round(s / 600), 60)
    return "about %d h" % hours if not minutes else "about %d h %02d min" % (hours, minutes)


def describe(found: Estimate, where: str = "on this computer") -> str | None:
    """``about 40 s on this computer`` for a measured estimate, ``about 3 min`` for a first
    guess, None without one."""
    if found.seconds is None:
        return None
    text = phrase(found.seconds)
    return "%s %s" % (text, where) if found.measured and where else text


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
