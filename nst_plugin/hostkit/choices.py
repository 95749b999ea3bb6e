"""What the user chose for a job, and the ``options`` JSON it sends to the service."""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from . import engines
from .errors import PluginError

MIN_SIZE = 16
MIN_BRUSH, MAX_BRUSH = 0.25, 4.0  # the style_scale option's useful range, inverted


@dataclass(frozen=True)
class Choices:
    """The settings of one job, as the docker, a dialog or a script chose them.

    ``strength``: 0..1, the same meaning on every engine (None: the engine's default, 0.5);
    ``size``: a cap on the long edge sent (None: the area's own); ``quality``: a preset name
    (None: "good" when the service has presets); ``engine``: None for the service's default;
    ``brush``: the painting's brush strokes this many times bigger (the ``style_scale`` option
    is its inverse; None: as painted); ``match_colors``: recolour the painting to the photo's
    colours first; ``blend``: with two styles, the second one's share (0..1); ``extra``: any
    other schema option, sent as given (the service refuses what it does not allow).
    """

    strength: float | None = None
    size: int | None = None
    quality: str | None = None
    preserve_colors: bool | None = None
    engine: str | None = None
    brush: float | None = None
    match_colors: bool | None = None
    blend: float | None = None
    extra: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.strength is not None and not 0.0 <= float(self.strength) <= 1.0:
            raise PluginError(
                "Strength must be between 0 and 1 (0.7 is 70 %%), not %g." % float(self.strength)
            )
        if self.brush is not None and not MIN_BRUSH <= float(self.brush) <= MAX_BRUSH:
            raise PluginError(
                "The brush size must be between %d %% and %d %% of the painting's, not %g %%."
                % (MIN_BRUSH * 100, MAX_BRUSH * 100, float(self.brush) * 100)
            )
        if self.blend is not None and not 0.0 <= float(self.blend) <= 1.0:
            raise PluginError(
                "The blend must be between 0 and 1 (0.3 is 30 %% of the second style), not %g."
                % float(self.blend)
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
        then strength, size, colours, brush size and blend, each left out when the engine does
        not take it, then ``extra`` (never filtered) and the engine.
        """
        chosen = self._engine(info)
        takes = engines.option_names(engines.entry(info, chosen))
        options = dict(self._preset(info))
        options["strength"] = None if self.strength is None else float(self.strength)
        options["size"] = output_size(width, height, self.size)
        options["preserve_colors"] = self.preserve_colors
        options["style_scale"] = None if self.brush is None else round(1.0 / float(self.brush), 4)
        options["match_colors"] = self.match_colors
        if self.blend is not None:
            options["style_blend"] = [1.0 - float(self.blend), float(self.blend)]
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
