"""Command-line flags for every stylize option, made from the one schema (`options.OPTIONS`)."""

from __future__ import annotations

import argparse

from ..engines import DEFAULT_ENGINE
from ..options import OPTIONS, Option, Settings, coerce


def _parse(option: Option):
    """The flag's type: text to the option's type (ranges are checked by Settings)."""

    def parse(text: str):
        try:
            return coerce(option, text)
        except ValueError as err:
            raise argparse.ArgumentTypeError(str(err).rstrip(".")) from None

    parse.__name__ = option.label  # argparse names the type in its messages
    return parse


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """The flags of every command that runs an engine (stylize, demo, watch)."""
    group = parser.add_argument_group("engine options")
    group.add_argument(
        "--engine",
        default=DEFAULT_ENGINE,
        help="the engine that runs the job (default %(default)s; `nst plugins` lists them)",
    )
    for o in OPTIONS:
        text = f"{o.help} (default {o.shown_default()})".replace("%", "%%")
        if o.kind is bool:
            group.add_argument(o.flag, action="store_true", default=None, help=text)
        else:
            group.add_argument(
                o.flag,
                type=_parse(o),
                default=None,
                metavar=o.shown_metavar,
                choices=o.choices or None,
                help=text,
            )


def given_options(args: argparse.Namespace) -> dict:
    """The options whose flags were given, by name."""
    return {
        o.name: getattr(args, o.name) for o in OPTIONS if getattr(args, o.name, None) is not None
    }


def settings_from(args: argparse.Namespace) -> Settings:
    """Settings from the flags given; the schema's defaults for the others."""
    return Settings.from_dict(given_options(args))
