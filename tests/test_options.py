"""The one options schema: Settings, validation, the JSON schema and the flags come from it."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from PIL import Image

from nst_plugin import Settings, cli, engines
from nst_plugin.errors import RequestError
from nst_plugin.options import BY_NAME, OPTIONS, check, coerce, json_schema, taken_by


def test_settings_fields_and_defaults_are_the_schema():
    fields = {f.name: f.default for f in dataclasses.fields(Settings)}
    assert list(fields) == [o.name for o in OPTIONS]
    assert all(fields[o.name] == o.default for o in OPTIONS)
    assert Settings().size == BY_NAME["size"].default


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("size", 8, "size must be between 16 and 16384, got 8."),
        ("iterations", 0, "iterations must be between 1 and 100000, got 0."),
        ("learning_rate", 0, "learning-rate must be positive, got 0.0."),
        ("average", 1, "average must be at least 0 and below 1, got 1.0."),
        ("style_weight", -1, "style-weight must be at least 0 (not negative), got -1.0."),
        ("optimizer", "sgd", "optimizer must be one of lbfgs, adam, got 'sgd'."),
        ("size", "big", "size must be a whole number, got 'big'."),
        ("preserve_colors", "maybe", "preserve-colors must be true or false, got 'maybe'."),
        ("style_blend", [1, -1], "style-blend must be at least 0 (not negative), got -1.0."),
    ],
)
def test_each_bad_value_is_one_sentence_naming_the_option(name, value, message):
    with pytest.raises(RequestError) as err:
        Settings(**{name: value})
    assert str(err.value) == message


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("time_budget", float("inf"), "time-budget must be a finite number, got Infinity."),
        ("time_budget", "NaN", "time-budget must be a finite number, got 'NaN'."),
        ("time_budget", 1e308, "time-budget must be above 0 and at most 86400, got 1e+308."),
        ("iterations", 10**9, "iterations must be between 1 and 100000, got 1000000000."),
        ("style_weight", 10**400, "style-weight must be a finite number, got 1000000000"),
        ("size", "9" * 5000, "size must be a whole number, got '99999"),
        ("tile_size", 10**6, "tile-size must be between 32 and 16384, got 1000000."),
        ("seed", 2**40, "seed must be between 0 and 4294967295, got 1099511627776."),
        ("style_loss", "x" * 10**6, "style-loss must be one of gram, meancov, got 'xxx"),
    ],
    ids=lambda v: str(v)[:20],
)
def test_numbers_are_finite_and_bounded_and_echoes_short(name, value, message):
    """No endless job: every number has an upper bound; long input is quoted cut short."""
    with pytest.raises(RequestError) as err:
        Settings(**{name: value})
    assert str(err.value).startswith(message) and len(str(err.value)) < 160
    for option in OPTIONS:
        if option.kind in (int, float) and option.name not in ("strength", "average"):
            assert option.maximum is not None, option.name


def test_values_arrive_as_text_json_or_python():
    assert coerce(BY_NAME["size"], "64") == 64
    assert check(BY_NAME["strength"], "0.7") == 0.7
    assert check(BY_NAME["style_blend"], "0.7, 0.3") == (0.7, 0.3)
    assert check(BY_NAME["style_layers"], ["block1_conv1"]) == ("block1_conv1",)
    assert check(BY_NAME["xla"], "true") is True
    assert check(BY_NAME["scales"], None) is None
    assert Settings.from_dict(json.loads('{"size": 64.0, "strength": 1}')).size == 64


def test_unknown_options_and_cross_checks():
    with pytest.raises(RequestError, match="unknown option 'sharpness'; the options are size,"):
        Settings.from_dict({"sharpness": 1})
    with pytest.raises(RequestError, match="tile-overlap must be below half of tile-size"):
        Settings(tile_size=64, tile_overlap=32)
    assert Settings(size=64).replace(size=96).size == 96


def test_json_schema_describes_every_client_option():
    schema = json_schema()
    props = schema["properties"]
    assert schema["additionalProperties"] is False
    assert set(props) == {o.name for o in OPTIONS if not o.on_server}
    assert props["size"] == {
        "type": "integer",
        "description": BY_NAME["size"].help,
        "x-group": "basic",
        "x-engines": ["vgg19", "fast"],
        "default": 512,
        "minimum": 16,
        "maximum": 16384,
    }
    assert props["strength"]["type"] == ["number", "null"]
    assert props["optimizer"]["enum"] == ["lbfgs", "adam"]
    assert props["style_blend"]["items"] == {"type": "number", "minimum": 0, "maximum": 1e6}
    assert {n for n, p in props.items() if p["x-group"] == "basic"} >= {
        "size",
        "strength",
        "preserve_colors",
    }


def test_the_engine_takes_the_options_the_schema_marks_for_it():
    vgg19 = engines.get("vgg19")
    assert vgg19.options == taken_by("vgg19")
    assert set(vgg19.info()["options"]["properties"]) <= set(vgg19.options)


def test_import_stays_cheap():
    code = (
        "import time; t = time.perf_counter(); import nst_plugin, sys; "
        "print(time.perf_counter() - t, 'numpy' in sys.modules, 'tensorflow' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    seconds, numpy, tensorflow = out.stdout.split()
    assert (numpy, tensorflow) == ("False", "False")
    assert float(seconds) < 0.3


def test_a_panorama_smaller_than_the_network_is_stylized_at_the_size_asked(tmp_path):
    """8:1 at --size 32 would be 32x4, below VGG19's 16 px: it runs larger and is resized."""
    pano = tmp_path / "pano.png"
    Image.linear_gradient("L").resize((256, 32)).convert("RGB").save(pano)
    style = tmp_path / "style.png"
    Image.effect_noise((32, 32), 60).convert("RGB").save(style)
    out = tmp_path / "out.png"
    code = cli.main(
        [
            "stylize",
            str(pano),
            str(style),
            "-o",
            str(out),
            "--size",
            "32",
            "--iterations",
            "2",
            "--weights",
            "random",
            "--quiet",
        ]
    )
    assert code == 0
    with Image.open(out) as result:
        assert result.size == (32, 4)
