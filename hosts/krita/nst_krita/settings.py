"""Where the plug-in finds the nst service: the user's settings, then ``nst-host.json``.

The user may enter a service address and token in the docker (kept in kritarc through
``Krita.instance().writeSetting``, group ``nst_krita``). Without them, the plug-in uses the
``nst-host.json`` that ``nst install-host krita`` wrote beside this file: its ``url``/``token``
when set, else its ``nst`` command, with which ``client.connect`` starts ``nst serve`` when no
service runs yet. No Qt here; the Krita object is passed in or imported on use.
"""

from __future__ import annotations

import os

GROUP = "nst_krita"
PLUGIN_DIR = os.path.dirname(os.path.abspath(__file__))
START_WAIT = 60.0  # seconds client.connect waits for a service it started


def _krita(krita=None):
    if krita is not None:
        return krita
    from krita import Krita  # only inside Krita

    return Krita.instance()


def read(krita=None) -> dict:
    """The user's settings: ``{"url": str, "token": str}`` (empty strings when unset)."""
    k = _krita(krita)
    return {
        "url": (k.readSetting(GROUP, "url", "") or "").strip(),
        "token": (k.readSetting(GROUP, "token", "") or "").strip(),
    }


def write(url: str, token: str, krita=None) -> None:
    """Keep the address and token the user entered (empty: use ``nst-host.json``)."""
    k = _krita(krita)
    k.writeSetting(GROUP, "url", (url or "").strip())
    k.writeSetting(GROUP, "token", (token or "").strip())


def read_value(key: str, default: str = "", krita=None) -> str:
    """A remembered docker choice (strength, size, quality...), as text."""
    return _krita(krita).readSetting(GROUP, key, default) or default


def write_value(key: str, value, krita=None) -> None:
    _krita(krita).writeSetting(GROUP, key, str(value))


def connect_kwargs(user: dict, host_config: dict) -> dict:
    """Keyword arguments for ``client.connect`` from the user's settings and ``nst-host.json``.

    An address the user entered wins; then one in ``nst-host.json``; else the discovery file
    of a running service, or start one with the ``nst`` command ``nst-host.json`` names.
    """
    url = (user.get("url") or "").strip()
    if url:
        return {"url": url, "token": (user.get("token") or "").strip() or None}
    url = host_config.get("url")
    if isinstance(url, str) and url.strip():
        token = host_config.get("token")
        return {"url": url.strip(), "token": token if isinstance(token, str) and token else None}
    nst = host_config.get("nst")
    if isinstance(nst, (list, tuple)):
        nst = [str(part) for part in nst] or None
    elif not (isinstance(nst, str) and nst.strip()):
        nst = None
    return {"nst_command": nst, "start": nst is not None, "wait": START_WAIT}


def load(krita=None) -> dict:
    """``connect_kwargs`` from the settings in Krita and the installed ``nst-host.json``.

    Raises the client's ``ServiceError`` when ``nst-host.json`` is damaged.
    """
    from .client import load_host_config

    return connect_kwargs(read(krita), load_host_config(PLUGIN_DIR))
