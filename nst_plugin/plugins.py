"""The plugin manager: built-in plugins, external ones from entry points, allowlist, tracing."""

from __future__ import annotations

import importlib
import os
import sys
import warnings
from importlib import metadata
from typing import Any

import pluggy

from . import hookspecs

ENTRY_POINT_GROUP = "nst_plugin"

# Built-in behaviour, registered like any plugin so a third-party plugin can replace it.
DEFAULT_PLUGINS = (
    "nst_plugin.vgg19",
    "nst_plugin.fast",
    "nst_plugin.cli.stylize",
    "nst_plugin.cli.video",
    "nst_plugin.cli.batch",
    "nst_plugin.cli.watch",
    "nst_plugin.cli.weights",
    "nst_plugin.cli.models",
    "nst_plugin.cli.list_plugins",
    "nst_plugin.cli.serve",
    "nst_plugin.cli.install_host",
)

_pm: pluggy.PluginManager | None = None
_distributions: dict[str, dict[str, str]] = {}  # plugin name -> {"distribution", "version"}


def make_plugin_manager(*, load_entry_points: bool = True) -> pluggy.PluginManager:
    """A fresh manager with the hookspecs, the default plugins and the allowed external ones."""
    pm = pluggy.PluginManager("nst_plugin")
    pm.add_hookspecs(hookspecs)
    for name in DEFAULT_PLUGINS:
        pm.register(importlib.import_module(name), name=name)
    if load_entry_points:
        _load_entry_points(pm)
    if os.environ.get("NST_TRACE_PLUGINS") == "1":
        pm.trace.root.setwriter(sys.stderr.write)
        pm.enable_tracing()
    return pm


def get_plugin_manager() -> pluggy.PluginManager:
    """The process-wide manager, made on first use."""
    global _pm
    if _pm is None:
        _pm = make_plugin_manager()
    return _pm


def _allowed() -> set[str] | None:
    """Names from NST_PLUGINS (None: all; empty string: none)."""
    value = os.environ.get("NST_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


def _load_entry_points(pm: pluggy.PluginManager) -> None:
    allowed = _allowed()
    for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
        if allowed is not None and ep.name not in allowed:
            continue
        if pm.get_plugin(ep.name) is not None:
            continue
        try:
            pm.register(ep.load(), name=ep.name)
            if ep.dist is not None:
                _distributions[ep.name] = {
                    "distribution": ep.dist.name,
                    "version": ep.dist.version,
                }
        except Exception as err:  # a broken plugin must never stop the tool
            dist = getattr(ep.dist, "name", "?")
            warnings.warn(
                f"nst: plugin {ep.name!r} from {dist} could not be loaded and is skipped ({err}).",
                RuntimeWarning,
                stacklevel=2,
            )


def plugin_listing(pm: pluggy.PluginManager | None = None) -> list[dict[str, Any]]:
    """The loaded plugins and the hooks each implements, for `nst plugins`."""
    pm = pm or get_plugin_manager()
    out = []
    for name, plugin in sorted(pm.list_name_plugin(), key=lambda item: item[0]):
        if plugin is None:
            continue
        hooks = sorted(h.name for h in pm.get_hookcallers(plugin) or [])
        out.append({"name": name, "hooks": hooks, **_distributions.get(name, {})})
    return out
