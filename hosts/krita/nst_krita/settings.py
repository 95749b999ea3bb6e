"""What the plug-in remembers in kritarc (group ``nst_krita``): the docker's choices, declared
once in :data:`REMEMBERED`, and the service address and token the user entered.

Without an address the plug-in uses the ``nst-host.json`` that ``nst install-host krita``
wrote beside this file (see ``hostkit.discovery.connect_kwargs``). No Qt here; the Krita object
is passed in or imported on use.
"""

from __future__ import annotations

import os
from typing import NamedTuple

from .hostkit.discovery import connect_kwargs, load_host_config

GROUP = "nst_krita"
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))


class Remembered(NamedTuple):
    """One docker choice kept between sessions: its key, kind (int, bool or str), default."""

    key: str
    kind: type
    default: object


REMEMBERED = (
    Remembered("style", str, ""),  # the library style last used
    Remembered("style_folder", str, ""),  # where "Add..." last found a style image
    Remembered("engine", str, ""),  # "": the engine that fits the machine
    Remembered("strength", int, 70),  # percent
    Remembered("size", int, 0),  # a cap on the long edge; 0: the document's size
    Remembered("quality", str, "good"),
    Remembered("preserve_colors", bool, False),
    Remembered("brush", int, 100),  # percent of the painting's brush strokes
    Remembered("match_colors", bool, False),
    Remembered("blend_style", str, ""),  # the second style: a library name or an image's path
    Remembered("blend", int, 50),  # percent of the second style
    Remembered("quick_preview", bool, True),
    Remembered("open_sections", str, "preview,options"),  # the docker's unfolded sections
)


def _krita(krita=None):
    if krita is not None:
        return krita
    from krita import Krita  # only inside Krita

    return Krita.instance()


def _parse(entry: Remembered, text: str):
    if entry.kind is bool:
        return text == "true"
    try:
        return entry.kind(text)
    except (TypeError, ValueError):
        return entry.default


def read_choices(krita=None) -> dict:
    """Every remembered choice by key, its default where none was kept or it is damaged."""
    k = _krita(krita)
    found = {}
    for entry in REMEMBERED:
        text = k.readSetting(GROUP, entry.key, "")
        found[entry.key] = _parse(entry, text) if text else entry.default
    return found


def write_choices(values: dict, krita=None) -> None:
    """Keep the choices in ``values`` (keys of :data:`REMEMBERED`; None values are skipped)."""
    k = _krita(krita)
    for entry in REMEMBERED:
        value = values.get(entry.key)
        if value is None:
            continue
        text = ("true" if value else "false") if entry.kind is bool else str(value)
        k.writeSetting(GROUP, entry.key, text)


def read(krita=None) -> dict:
    """The service the user entered: ``{"url", "token", "fingerprint"}`` (empty when unset;
    the fingerprint pins a remote service's HTTPS certificate)."""
    k = _krita(krita)
    return {
        key: (k.readSetting(GROUP, key, "") or "").strip()
        for key in ("url", "token", "fingerprint")
    }


def write(url: str, token: str, fingerprint: str = "", krita=None) -> None:
    """Keep the address, token and certificate fingerprint the user entered (empty: use
    ``nst-host.json``)."""
    k = _krita(krita)
    k.writeSetting(GROUP, "url", (url or "").strip())
    k.writeSetting(GROUP, "token", (token or "").strip())
    k.writeSetting(GROUP, "fingerprint", (fingerprint or "").strip())


def load(krita=None) -> dict:
    """The keywords of ``hostkit.discovery.connect`` from Krita's settings and the installed
    ``nst-host.json``; raises ``ServiceError`` when that file is damaged."""
    return connect_kwargs(read(krita), load_host_config(PLUGIN_DIR))
