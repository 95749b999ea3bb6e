"""The host kit's recipes (nst_plugin/hostkit/recipes.py): what a result layer keeps of how it
was made, checked back into one sentence when it cannot be used, and turned into the choices
of a restylize."""

from __future__ import annotations

import re

import pytest

from nst_plugin.hostkit import recipes
from nst_plugin.hostkit.choices import Choices
from nst_plugin.hostkit.errors import PluginError


def one_sentence(text: str) -> bool:
    return text.endswith(".") and "\n" not in text and not re.search(r"[.!?]\s+[A-Z]", text[:-1])


def a_recipe(tmp_path, **overrides) -> dict:
    style_file = tmp_path / "paint.png"
    style_file.write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    styles = [
        recipes.style_ref({"name": "starry_night", "label": "starry_night"}),
        recipes.style_ref({"path": str(style_file), "label": "paint"}),
        recipes.style_ref({"pixels": (1, 1, b"\1\2\3\4", "BGRA"), "label": "Sky"}, "{id-1}"),
    ]
    made = recipes.make(
        styles=styles,
        engine=None,
        choices=Choices(strength=0.7, brush=2.0, extra={"seed": 3}),
        options={"engine": "vgg19", "strength": 0.7, "style_scale": 0.5, "seed": 3},
        source={"layer": "{id-2}", "label": "Photo", "box": [0, 0, 8, 8], "selection": False},
        masks=[{"layer": "{m%d}" % i, "label": "m"} for i in range(3)],
        version="1.2.3",
    )
    made.update(overrides)
    return made


def test_a_recipe_round_trips_and_says_where_each_style_came_from(tmp_path):
    made = a_recipe(tmp_path)
    back = recipes.loads(recipes.dumps(made))
    assert back == made
    assert back["engine"] == "vgg19"  # from the options when the job did not say
    name, path, layer = back["styles"]
    assert back["style"] == name == {"name": "starry_night", "label": "starry_night"}
    assert path["path"].endswith("paint.png") and len(path["sha256"]) == 64
    assert layer["layer"] == "{id-1}" and layer["sha256"] == recipes.digest(b"\1\2\3\4")
    assert back["choices"] == {"strength": 0.7, "brush": 2.0, "extra": {"seed": 3}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", back["created"])
    assert "kept" not in back
    assert "starry_night + paint + Sky, vgg19, strength 70 %" in recipes.label(back)


def test_restylize_choices_are_the_recipes_with_the_changes(tmp_path):
    made = a_recipe(tmp_path)
    again = recipes.choices(made, {"strength": 0.3, "iterations": 9})
    assert again == Choices(strength=0.3, brush=2.0, extra={"seed": 3, "iterations": 9})
    assert recipes.choices(made, {}) == Choices(strength=0.7, brush=2.0, extra={"seed": 3})
    with pytest.raises(PluginError):
        recipes.choices(made, {"strength": 2})


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"nst_recipe": 9}, "unknown format"),
        ({"styles": []}, "names no style"),
        ({"styles": [{"label": "x"}]}, "neither a library name"),
        ({"masks": [{"layer": "a"}]}, "1 region masks for 3 styles"),
        ({"engine": ""}, "names no engine"),
        ({"options": "strength=1"}, "has no options"),
        ({"choices": {"colour": 1}}, "does not know (colour)"),
        ({"choices": {"strength": 5}}, "out of range"),
        ({"choices": {"strength": "high"}}, "wrong kind"),
    ],
)
def test_a_recipe_edited_into_nonsense_is_one_sentence(tmp_path, change, words):
    with pytest.raises(PluginError) as caught:
        recipes.check(a_recipe(tmp_path, **change))
    message = str(caught.value)
    assert words in message and one_sentence(message), message


def test_unreadable_recipe_bytes_are_one_sentence():
    for data in (b"{not json", b"\xff\xfe", b"[1, 2]"):
        with pytest.raises(PluginError) as caught:
            recipes.loads(data, "The layer 'x''s")
        assert one_sentence(str(caught.value)), caught.value
