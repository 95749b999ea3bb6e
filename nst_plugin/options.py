"""The one declaration of every stylize option, and what is derived from it.

Each `Option` says its type, default, range or choices, a one-line help, whether editor
dialogs show it (`basic`) and which engines take it. From `OPTIONS` come `Settings` (with its
validation), the command-line flags (`cli/engine_flags.py`), the JSON schema the service
serves and the editor dialogs build their controls from (`json_schema`), and the README's
option table (`markdown_table`, checked by a test).
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from .errors import RequestError, quote

BASIC, ADVANCED = "basic", "advanced"
VGG19 = ("vgg19",)
BOTH = ("vgg19", "fast")
STYLE_LAYERS = ("block1_conv1", "block2_conv1", "block3_conv1", "block4_conv1", "block5_conv1")


@dataclass(frozen=True)
class Option:
    """One stylize option. `kind` is bool, int, float, str or tuple (a list of `item`)."""

    name: str
    kind: type
    default: Any
    help: str
    example: str = ""
    group: str = ADVANCED
    engines: tuple[str, ...] = VGG19
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False
    exclusive_maximum: bool = False
    choices: tuple[str, ...] = ()
    optional: bool = False  # None is allowed and means what `default_text` says
    default_text: str | None = None
    item: type = float
    metavar: str | None = None
    # names or writes files where the engine runs: never from remote clients
    on_server: bool = False
    # names image files that travel with the job: paths on the command line, in sidecars and
    # in Python (PIL images too); uploaded file parts (`upload`) in the service, never paths
    upload: str | None = None

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def label(self) -> str:
        return self.name.replace("_", "-")

    @property
    def shown_metavar(self) -> str:
        if self.metavar:
            return self.metavar
        return "|".join(self.choices) if self.choices else {float: "X"}.get(self.kind, "N")

    def shown_default(self) -> str:
        if self.default_text is not None:
            return self.default_text
        if isinstance(self.default, tuple):
            return ",".join(str(v) for v in self.default)
        if isinstance(self.default, float):
            return f"{self.default:g}"
        return "off" if self.default is False else str(self.default)


def _o(name: str, kind: type, default: Any, help: str, example: str, **kw: Any) -> Option:
    return Option(name, kind, default, help, example, **kw)


# One call per option, laid out as a table (the formatter would give each argument a line).
# fmt: off
OPTIONS: tuple[Option, ...] = (
    _o("size", int, 512, "long edge of the output in pixels; the aspect ratio is kept",
       "--size 1024", group=BASIC, minimum=16, maximum=16384, metavar="N", engines=BOTH),
    _o("iterations", int, 300, "optimizer iterations, spread over the scales",
       "--iterations 500", group=BASIC, minimum=1, maximum=100_000, metavar="N"),
    _o("time_budget", float, None, "stop after this many seconds with the best result reached; "
       "iterations no longer limit", "--time-budget 60", optional=True, default_text="none",
       minimum=0, exclusive_minimum=True, maximum=86_400, metavar="S"),
    _o("scales", int, None, "coarse-to-fine scales, each starting from the previous result",
       "--scales 1", optional=True, minimum=1, maximum=8, metavar="N",
       default_text="automatic: from a quarter of the size, at most 3; 1 = off"),
    _o("strength", float, None, "one knob for the balance, the same on every engine: 0 gives the "
       "photo back, 0.5 the engine's standard look, 1 the strongest style", "--strength 0.8",
       group=BASIC, optional=True, minimum=0, maximum=1, metavar="0..1",
       default_text="0.5: the standard look", engines=BOTH),
    _o("content_weight", float, 1.0, "how closely the result follows the photo's content; "
       "relative to its target, so it holds at any size", "--content-weight 2", minimum=0,
       maximum=1e6),
    _o("style_weight", float, 10.0, "how strongly the result takes the painting's style",
       "--style-weight 30", minimum=0, maximum=1e6),
    _o("tv_weight", float, 0.1, "smoothness (total variation) of the result", "--tv-weight 0",
       minimum=0, maximum=1e6),
    _o("style_blend", tuple, None, "weights of several style images, one per image",
       "a.jpg b.jpg --style-blend 0.7,0.3", optional=True, default_text="equal", minimum=0,
       maximum=1e6, metavar="W1,W2", engines=BOTH),
    _o("style_scale", float, 1.0, "style image size relative to the output: smaller gives "
       "bigger brush strokes", "--style-scale 0.5", group=BASIC, minimum=0.05, maximum=8,
       engines=BOTH),
    _o("style_masks", tuple, None, "one greyscale mask per style image, in order (white: that "
       "style; soft and overlapping allowed); where they add up to less than white the photo "
       "shows through", "a.jpg b.jpg --style-masks ma.png,mb.png", optional=True,
       default_text="none: the styles blend everywhere", item=str, metavar="M1,M2",
       engines=BOTH, upload="style_mask"),
    _o("strength_map", str, None, "a greyscale image of the style's strength per pixel: black "
       "keeps the photo, white is full strength", "--strength-map map.png",
       optional=True, default_text="none: the same strength everywhere", metavar="IMAGE",
       engines=BOTH, upload="strength_map"),
    _o("temporal_weight", float, 1.0, "video (nst video): how strongly each frame keeps the "
       "previous stylized frame where the motion is reliable; 0 stylizes frames independently",
       "--temporal-weight 2", minimum=0, maximum=100, engines=BOTH),
    _o("style_loss", str, "gram", "match Gram matrices, or feature means and covariances",
       "--style-loss meancov", choices=("gram", "meancov")),
    _o("preserve_colors", bool, False, "stylize the luminance only and keep the photo's colours "
       "(Gatys et al. 2017)", "--preserve-colors", group=BASIC, engines=BOTH),
    _o("match_colors", bool, False, "recolour the style images to the photo's colour "
       "statistics first (Gatys et al. 2017)", "--match-colors", engines=BOTH),
    _o("optimizer", str, "lbfgs", "L-BFGS or Adam, each iteration one compiled step on the "
       "device, pixels kept in 0..255",
       "--optimizer adam", choices=("lbfgs", "adam")),
    _o("learning_rate", float, 5.0, "Adam's step in pixel units", "--learning-rate 2",
       minimum=0, exclusive_minimum=True, maximum=1000),
    _o("average", float, 0.9, "Adam returns the moving average of its iterates with this "
       "decay; 0 gives the last iterate", "--average 0", minimum=0, maximum=1,
       exclusive_maximum=True, metavar="D"),
    _o("init", str, "content", "start from the photo, from noise, or from the fast engine's "
       "result", "--init fast", choices=("content", "noise", "fast")),
    _o("pooling", str, "max", "VGG19 pooling", "--pooling avg", choices=("max", "avg")),
    _o("content_layers", tuple, ("block4_conv2",), "VGG19 layers whose features the result "
       "keeps from the photo", "--content-layers block5_conv2", item=str, metavar="L1,L2"),
    _o("style_layers", tuple, STYLE_LAYERS, "VGG19 layers whose statistics the result takes "
       "from the paintings", "--style-layers block1_conv1,block2_conv1", item=str,
       metavar="L1,L2"),
    _o("tile_size", int, None, "scales larger than this many pixels run in overlapping, "
       "feather-blended tiles, so memory stays bounded", "--size 4096 --tile-size 768",
       optional=True, minimum=32, maximum=16384, metavar="N",
       default_text="automatic: the whole image where it fits in half the free memory, "
       "else tiles that do; 1024 on a GPU whose free memory is unknown"),
    _o("tile_overlap", int, 64, "pixels that neighbouring tiles share (below half the tile "
       "size)", "--tile-overlap 96", minimum=0, maximum=8192, metavar="N", engines=BOTH),
    _o("precision", str, "auto", "mixed runs the network in bfloat16 with float32 losses; "
       "auto picks it where the device computes bfloat16 natively (GPUs of compute "
       "capability 8.0+, CPUs with AMX or AVX512-BF16 under TensorFlow), else float32",
       "--precision float32", choices=("auto", "float32", "mixed")),
    _o("xla", bool, False, "compile the loss and gradient with XLA", "--xla"),
    _o("seed", int, None, "makes a run repeatable on the same machine", "--seed 1",
       optional=True, default_text="none", minimum=0, maximum=2**32 - 1, metavar="N"),
    _o("preview_every", int, 10, "send a small preview image with every Nth progress event; "
       "0 sends none", "--preview-every 5", minimum=0, maximum=100_000, metavar="N",
       engines=BOTH),
    _o("save_every", int, 0, "write numbered intermediates OUT-00010.png every N iterations",
       "--save-every 25", minimum=0, maximum=100_000, metavar="N", on_server=True),
    _o("checkpoint_every", int, 0, "keep OUT.nst-checkpoint.npz beside the output every N "
       "iterations; it goes when the run completes", "--checkpoint-every 20", minimum=0,
       maximum=100_000, metavar="N", on_server=True),
    _o("weights", str, None, "network weights: imagenet, a PATH.h5 in Keras's layout, or "
       "random (tests only)", "--weights vgg19.h5", optional=True, on_server=True,
       default_text="imagenet, or $NST_WEIGHTS", metavar="W"),
)
# fmt: on

BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}

# The editors' "quality" choice: a few options, the same in every host (the service serves it).
PRESETS: dict[str, dict[str, Any]] = {
    "draft": {"iterations": 60, "scales": 1},
    "good": {"iterations": 90},
    "best": {"iterations": 250},
}


def taken_by(engine: str) -> tuple[str, ...]:
    """The names of the options the schema marks for `engine`."""
    return tuple(o.name for o in OPTIONS if engine in o.engines)


# --------------------------------------------------------------------------- validation


_KIND_WORDS = {
    bool: "true or false",
    int: "a whole number",
    float: "a finite number",
    str: "text",
}


_INVALID = object()  # what a converter returns for a value it cannot convert
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def _as_bool(value: Any) -> Any:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in _TRUE + _FALSE:
        return value.lower() in _TRUE
    return _INVALID


_DIGITS = 30  # longer whole numbers are refused before Python converts them


def _as_int(value: Any) -> Any:
    if isinstance(value, bool):
        return _INVALID
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = value.strip() if isinstance(value, str) else ""
    if text.lstrip("-").isdigit() and len(text) <= _DIGITS:
        return int(text)
    return _INVALID


def _as_float(value: Any) -> Any:
    """A finite float: infinity and NaN (JSON's Infinity and NaN too) are refused."""
    if isinstance(value, bool):
        return _INVALID
    number: Any = _INVALID
    if isinstance(value, (int, float)):
        try:
            number = float(value)
        except OverflowError:  # an int beyond any float
            return _INVALID
    elif isinstance(value, str) and len(value) <= 100:
        try:
            number = float(value)
        except ValueError:
            return _INVALID
    return number if number is _INVALID or math.isfinite(number) else _INVALID


def _as_str(value: Any) -> Any:
    return value if isinstance(value, str) else _INVALID


_CONVERTERS = {bool: _as_bool, int: _as_int, float: _as_float, str: _as_str}


def _scalar(option: Option, kind: type, value: Any) -> Any:
    """`value` as `kind`, from Python values, JSON or command-line text."""
    converted = _CONVERTERS[kind](value)
    if converted is not _INVALID:
        return converted
    what = _KIND_WORDS[kind] if option.kind is not tuple else f"a list of {_KIND_WORDS[kind]}s"
    raise RequestError(f"{option.label} must be {what}, got {quote(value)}.")


def _number_text(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else f"{x:g}"


def _check_range(option: Option, value: Any) -> None:
    lo, hi = option.minimum, option.maximum
    low_ok = lo is None or (value > lo if option.exclusive_minimum else value >= lo)
    high_ok = hi is None or (value < hi if option.exclusive_maximum else value <= hi)
    if low_ok and high_ok:
        return
    low = "above" if option.exclusive_minimum else "at least"
    high = "below" if option.exclusive_maximum else "at most"
    if not low_ok and lo == 0:
        rule = "positive" if option.exclusive_minimum else "at least 0 (not negative)"
    elif lo is not None and hi is not None:
        lo_text, hi_text = _number_text(lo), _number_text(hi)
        if option.exclusive_minimum or option.exclusive_maximum:
            rule = f"{low} {lo_text} and {high} {hi_text}"
        else:
            rule = f"between {lo_text} and {hi_text}"
    elif not low_ok:
        rule = f"{low} {_number_text(lo)}"
    else:
        rule = f"{high} {_number_text(hi)}"
    raise RequestError(f"{option.label} must be {rule}, got {quote(value)}.")


def coerce(option: Option, value: Any) -> Any:
    """One option's value in its type (a list from "a,b" text too); ranges are not checked."""
    if option.kind is not tuple:
        return _scalar(option, option.kind, value)
    if isinstance(value, str):
        value = [v.strip() for v in value.split(",") if v.strip()]
    if not isinstance(value, (list, tuple)):
        raise RequestError(f"{option.label} must be a list, got {quote(value)}.")
    return tuple(_scalar(option, option.item, v) for v in value)


def check(option: Option, value: Any) -> Any:
    """Validate one option's value; return it in its canonical type. Raises RequestError."""
    if value is None:
        if option.optional:
            return None
        raise RequestError(f"{option.label} needs a value (default {option.shown_default()}).")
    value = coerce(option, value)
    if option.kind is tuple:
        if option.item is not str:
            for v in value:
                _check_range(option, v)
        return value
    if option.choices and value not in option.choices:
        raise RequestError(
            f"{option.label} must be one of {', '.join(option.choices)}, got {quote(value)}."
        )
    if option.kind in (int, float):
        _check_range(option, value)
    return value


# --------------------------------------------------------------------------- settings


class _SettingsBase:
    """Methods of `Settings`; its fields come from OPTIONS."""

    def __post_init__(self) -> None:
        for option in OPTIONS:
            setattr(self, option.name, check(option, getattr(self, option.name)))
        if self.weights is None:
            self.weights = os.environ.get("NST_WEIGHTS") or "imagenet"
        if self.tile_size is not None and not self.tile_overlap < self.tile_size // 2:
            raise RequestError("tile-overlap must be below half of tile-size.")
        if not self.style_layers and not self.content_layers:
            raise RequestError("at least one content or style layer is needed.")

    def loss_weights(self) -> tuple[float, float, float]:
        """(content, style, tv) weights, with `strength` applied when it is set.

        strength s in 0..1 scales content by 2(1 - s), style by 2s and smoothness by
        min(1, 2s): 0 gives back the content, 0.5 the weights as set, 1 style alone.
        """
        cw, sw, tw = self.content_weight, self.style_weight, self.tv_weight
        if self.strength is None:
            return cw, sw, tw
        s = self.strength
        return cw * 2 * (1 - s), sw * 2 * s, tw * min(1.0, 2 * s)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready values."""
        return {
            k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(self).items()
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Settings:
        """Settings from JSON-like data; an unknown key is an error naming the known ones."""
        unknown = sorted(set(data) - set(BY_NAME))
        if unknown:
            raise RequestError(
                f"unknown option {quote(unknown[0])}; the options are {', '.join(BY_NAME)}."
            )
        return cls(**data)

    def replace(self, /, **changes: Any) -> Settings:
        """A copy with some options changed (validated again)."""
        return type(self).from_dict({**dataclasses.asdict(self), **changes})


Settings = dataclasses.make_dataclass(
    "Settings",
    [(o.name, Any, dataclasses.field(default=o.default)) for o in OPTIONS],
    bases=(_SettingsBase,),
    namespace={
        "__doc__": "Every option of a stylize job, validated; see `OPTIONS`.",
        "__module__": __name__,
    },
)


# --------------------------------------------------------------------------- derived views


def json_schema(names: Iterable[str] | None = None) -> dict[str, Any]:
    """A JSON schema (draft 2020-12) of the options, for the service and the editor dialogs.

    Each property carries `x-group` ("basic": shown in editor dialogs) and `x-engines`.
    Options that name files on the engine's machine are left out: clients never send them.
    Image options (`upload`) are listed with `x-upload`, the file part that carries them:
    clients send the image's bytes in that part, never in the options object.
    """
    wanted = set(BY_NAME if names is None else names)
    props: dict[str, Any] = {}
    for o in OPTIONS:
        if o.name not in wanted or o.on_server:
            continue
        types = {bool: "boolean", int: "integer", float: "number", str: "string", tuple: "array"}
        prop: dict[str, Any] = {
            "type": types[o.kind],
            "description": o.help,
            "x-group": o.group,
            "x-engines": list(o.engines),
        }
        if o.kind is tuple:
            prop["items"] = {"type": types[o.item]}
        if o.optional:
            prop["type"] = [prop["type"], "null"]
        prop["default"] = list(o.default) if isinstance(o.default, tuple) else o.default
        if o.choices:
            prop["enum"] = list(o.choices) + ([None] if o.optional else [])
        bounds = prop["items"] if o.kind is tuple else prop
        if o.minimum is not None:
            bounds["exclusiveMinimum" if o.exclusive_minimum else "minimum"] = o.minimum
        if o.maximum is not None:
            bounds["exclusiveMaximum" if o.exclusive_maximum else "maximum"] = o.maximum
        if o.upload:
            prop["x-upload"] = o.upload
        props[o.name] = prop
    return {"type": "object", "properties": props, "additionalProperties": False}


def markdown_table() -> str:
    """The README's option table, one row per option."""
    rows = ["| option | meaning (default) | example |", "|---|---|---|"]
    for o in OPTIONS:
        flag = o.flag if o.kind is bool else f"{o.flag} {o.shown_metavar}"
        flag = flag.replace("|", "\\|")  # a pipe would end the table cell
        rows.append(f"| `{flag}` | {o.help} ({o.shown_default()}) | `{o.example}` |")
    return "\n".join(rows)


def settings_with(settings: Settings | None, options: dict[str, Any]) -> Settings:
    """`settings` (or the defaults) with keyword `options` applied, validated."""
    if settings is None:
        return Settings.from_dict(options)
    return settings.replace(**options) if options else settings
