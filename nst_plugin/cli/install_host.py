"""`nst install-host krita|gimp` and `nst uninstall-host krita|gimp`: the editor plug-ins."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ..hookspecs import hookimpl

EDITORS = ("krita", "gimp")


@hookimpl
def nst_register_commands(subparsers: Any) -> None:
    p = subparsers.add_parser("install-host", help="install the Krita or GIMP plug-in")
    p.add_argument("editor", choices=EDITORS)
    p.add_argument(
        "--dest",
        type=Path,
        default=None,
        help="the editor's user folder (default: Krita ~/.local/share/krita, "
        "GIMP ~/.config/GIMP/3.0)",
    )
    p.add_argument(
        "--kritarc",
        type=Path,
        default=None,
        help="Krita: the settings file in which to enable the plug-in (default: "
        "Krita's own, ~/.config/kritarc, unless --dest is given)",
    )
    p.add_argument(
        "--no-enable",
        action="store_true",
        help="Krita: leave its settings alone; enable the plug-in in Krita yourself",
    )
    p.set_defaults(run=cmd_install)

    p = subparsers.add_parser(
        "uninstall-host", help="remove the Krita or GIMP plug-in that install-host put there"
    )
    p.add_argument("editor", choices=EDITORS)
    p.add_argument("--dest", type=Path, default=None, help="the editor's user folder")
    p.set_defaults(run=cmd_uninstall)


def cmd_install(args: argparse.Namespace) -> int:
    from .. import hostinstall, kritarc

    spec = hostinstall.HOSTS[args.editor]
    dest = args.dest or hostinstall.default_dest(args.editor)
    settings = None
    if spec.setting is not None and not args.no_enable:
        settings = args.kritarc or (None if args.dest else kritarc.default_path())
    written = hostinstall.install(args.editor, dest, kritarc=settings)
    step = (
        spec.next_step
        if settings is None
        else (f"restart {spec.title} (the plug-in is enabled in {settings})")
    )
    print(f"nst: installed the {spec.title} plug-in in {dest} ({len(written)} files); now {step}.")
    return 0


def cmd_uninstall(args: argparse.Namespace) -> int:
    from .. import hostinstall

    spec = hostinstall.HOSTS[args.editor]
    dest = args.dest or hostinstall.default_dest(args.editor)
    removed = hostinstall.uninstall(args.editor, dest)
    if not removed:
        print(f"nst: no {spec.title} plug-in installed by nst was found in {dest}.")
        return 0
    print(f"nst: removed the {spec.title} plug-in from {dest} ({len(removed)} files).")
    return 0
