"""The names of result layers."""

from __future__ import annotations

ENGINE_MARK = " · "  # between what the result shows and the engine that made it


def layer_name(label: str, strength: float | None = None, engine: str | None = None) -> str:
    """The result layer's name, short enough for a layer list: ``starry_night 70% · fast``."""
    name = label or "style"
    if strength is not None:
        name += " %d%%" % round(float(strength) * 100)
    if engine:
        name += ENGINE_MARK + engine
    return name


def unique_name(name: str, taken) -> str:
    """``name``, or ``name (2)``, ``name (3)``... when a sibling has it already."""
    taken = set(taken)
    if name not in taken:
        return name
    number = 2
    while "%s (%d)" % (name, number) in taken:
        number += 1
    return "%s (%d)" % (name, number)
