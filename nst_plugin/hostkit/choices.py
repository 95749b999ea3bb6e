"""What the user chose for a job, and the ``options`` JSON it sends to the service."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from . import engines
from .errors import PluginError

MIN_SIZE = 16


@dataclass(frozen=True)
class Choices:
    """The settings of one job, as the docker, a dialog or a script chose them.

    ``strength``: 0..1 (None: the engine's default); ``size``: a cap on the long edge sent
    (None: the area's own); ``quality``: a preset name (None: "good" when the service has
    presets); ``engine``: None for the service's default; ``extra``: any other schema option,
    sent as given (the service refuses what it does not allow).
    """

    strength: float | None = None
    size: int | None = None
    quality: str | None = None
    preserve_colors: bool | None = None
    engine: str | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.strength is not None and not 0.0 <= float(self.strength) <= 1.0:
            raise PluginError(
                "Strength must be between 0 and 1 (0.7 is 70 %%), not %g." % float(self.strength)
            )
        if self.size is not None and int(self.size) < MIN_SIZE:
            raise PluginError(
                "The output size must be at least %d pixels, not %d." % (MIN_SIZE, self.size)
            )

    def with_(self, **changes) -> Choices:
        """A copy with ``changes``."""
        return replace(self, **changes)

    def options(self, info: dict, width: int, height: int) -> dict:
        """The ``options`` JSON of a job on a ``width`` x ``height`` area.

        ``info``: the service's ``GET /v1/engines`` answer. The quality preset comes first,
        then strength, size and colours, each left out when the engine does not take it, then
        ``extra`` (never filtered) and the engine.
        """
        chosen = self._engine(info)
        takes = engines.option_names(engines.entry(info, chosen))
        options = dict(self._preset(info))
        options["strength"] = None if self.strength is None else float(self.strength)
        options["size"] = output_size(width, height, self.size)
        options["preserve_colors"] = self.preserve_colors
        options = {k: v for k, v in options.items() if v is not None}
        if takes is not None:
            options = {k: v for k, v in options.items() if k in takes}
        options.update(self.extra)
        if chosen:
            options["engine"] = chosen
        return options

    def _engine(self, info: dict) -> str | None:
        offered = engines.names(info)
        if self.engine and self.engine not in offered:
            raise PluginError(
                "The nst service has no engine named %r; it offers: %s."
                % (self.engine, ", ".join(offered) or "none")
            )
        return self.engine or engines.default(info)

    def _preset(self, info: dict) -> dict:
        found = engines.presets(info)
        quality = self.quality
        if quality is None:
            if not found:
                return {}
            choices = engines.quality_choices(info)
            quality = engines.DEFAULT_QUALITY if engines.DEFAULT_QUALITY in found else choices[0]
        if not found:
            raise PluginError(
                "This nst service offers no quality presets; leave quality unset and pass "
                "iterations= instead."
            )
        if quality not in found:
            offered = ", ".join(engines.quality_choices(info))
            raise PluginError("Quality must be one of %s, not %r." % (offered, quality))
        return found[quality]


def output_size(width: int, height: int, cap: int | None = None) -> int:
    """The long edge to ask for: the area's own, or ``cap`` when that is smaller."""
    edge = max(int(width), int(height))
    return edge if cap is None else min(edge, int(cap))


def parse_extra_options(text: str) -> dict:
    """More options typed as a JSON object (empty text: none)."""
    text = (text or "").strip()
    if not text:
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise PluginError(
            "The options are not valid JSON (%s); write an object such as "
            '{"style_weight": 20}.' % exc.args[0].split(":")[0]
        ) from None
    if not isinstance(value, dict):
        raise PluginError('The options must be a JSON object such as {"style_weight": 20}.')
    return value
