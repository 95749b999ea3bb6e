"""The GIMP plug-in's pure logic module (hosts/gimp/nst-stylize/nst_gimp_logic.py): no GIMP.

The tests with the real GIMP 3.0 are in test_gimp.py.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
PLUGIN_SRC = REPO / "hosts" / "gimp" / "nst-stylize"
sys.path.insert(0, str(PLUGIN_SRC))

import nst_gimp_logic as logic  # noqa: E402

# ------------------------------------------------------------------ the logic module (no GIMP)


def test_area_is_the_whole_drawable_without_selection():
    assert logic.processing_area(64, 48) == (0, 0, 64, 48)


def test_area_is_the_selection_plus_margin_clamped():
    assert logic.processing_area(200, 100, (50, 40, 10, 10)) == (18, 8, 74, 74)
    assert logic.processing_area(64, 48, (12, 10, 12, 10)) == (0, 0, 56, 48)
    with pytest.raises(logic.UserError, match="selection does not touch"):
        logic.processing_area(64, 48, (0, 0, 0, 0))


def test_options_preset_then_arguments_then_json():
    engines = {
        "default": "vgg19",
        "presets": {"draft": {"iterations": 9, "scales": 1}},
        "engines": [
            {
                "name": "vgg19",
                "options": {
                    "properties": {
                        k: {}
                        for k in (
                            "iterations",
                            "scales",
                            "size",
                            "strength",
                            "preserve_colors",
                            "seed",
                        )
                    }
                },
            },
            {"name": "fast", "options": {"properties": {"size": {}, "strength": {}}}},
        ],
    }
    opts = logic.build_options(
        quality="draft",
        strength=0.7,
        size=0,
        area=(0, 0, 64, 48),
        preserve_colors=True,
        extra='{"seed": 1, "iterations": 2}',
        engines_info=engines,
    )
    assert opts == {
        "iterations": 2,
        "scales": 1,
        "strength": 0.7,
        "size": 64,
        "preserve_colors": True,
        "seed": 1,
    }
    fast = logic.build_options(
        quality="best",
        strength=0.5,
        size=300,
        area=(0, 0, 64, 48),
        preserve_colors=False,
        engine="fast",
        engines_info=engines,
    )
    assert fast == {"strength": 0.5, "size": 300, "engine": "fast"}  # best's iterations dropped
    bare = logic.build_options(
        quality="good", strength=0.5, size=0, area=(0, 0, 10, 20), preserve_colors=False
    )
    assert bare == {"strength": 0.5, "size": 20, "preserve_colors": False}  # no presets served


def test_quality_choices_are_the_services_presets():
    from nst_plugin.options import PRESETS

    assert [q for q, _ in logic.QUALITIES] == list(PRESETS)


@pytest.mark.parametrize("text, words", [("[1]", "JSON object"), ("{oops", "not valid JSON")])
def test_bad_options_json_is_one_sentence(text, words):
    with pytest.raises(logic.UserError, match=words) as info:
        logic.parse_extra_options(text)
    assert str(info.value).endswith(".") and "\n" not in str(info.value)


def test_style_names_paths_and_non_images(tmp_path):
    assert logic.resolve_style(" starry_night ") == ("name", "starry_night", "starry_night")
    picture = tmp_path / "my painting.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    kind, data, label = logic.resolve_style(str(picture))
    assert (kind, label) == ("file", "my painting") and data.startswith(b"\x89PNG")
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    for style, words in (
        (str(text), "is not an image"),
        (str(tmp_path / "gone.png"), "does not exist"),
        ("", "Choose"),
    ):
        with pytest.raises(logic.UserError, match=words):
            logic.resolve_style(style)
    with pytest.raises(logic.UserError, match="choose one of starry_night, wave"):
        logic.check_style_name("nope", [{"name": "wave"}, {"name": "starry_night"}])
    logic.check_style_name("wave", [{"name": "wave"}])


def test_progress_text_and_layer_name():
    event = {"event": "progress", "stage": "optimizing", "step": 40, "total": 200, "eta": 75.2}
    assert logic.progress_text(event) == (
        "Neural style: optimizing, iteration 40/200, about 1 min 15 s left"
    )
    assert logic.progress_fraction(event) == 0.2
    assert (
        logic.progress_text({"event": "progress", "stage": "preparing", "step": 0, "total": 0})
        == "Neural style: preparing"
    )
    assert logic.progress_fraction({"step": 0, "total": 0}) is None
    assert logic.layer_name("starry_night", 0.7) == "Neural Style: starry_night 70%"


@pytest.mark.parametrize(
    "name, allowed",
    [
        (
            "nst-stylize.py",
            {
                "os",
                "sys",
                "threading",
                "traceback",
                "gi",
                "client",
                "nst_gimp_logic",
                "nst_gimp_preview",
            },
        ),
        (
            "nst_gimp_preview.py",
            {"hashlib", "json", "os", "threading", "contextlib", "gi", "client", "nst_gimp_logic"},
        ),
        ("nst_gimp_logic.py", {"json", "os", "threading", "client"}),
    ],
)
def test_plugin_files_stay_small_and_standard_library_only(name, allowed):
    source = (PLUGIN_SRC / name).read_text(encoding="utf-8")
    assert len(source.splitlines()) < 400
    imports = set(re.findall(r"^\s*(?:from|import) (\w+)", source, re.M))
    assert imports <= allowed, imports


# ------------------------------------------------------------------ the quick preview


def test_preview_sizes_keep_the_ratio():
    assert logic.fit(1000, 500, 384) == (384, 192)
    assert logic.fit(300, 600, 384) == (192, 384)
    assert logic.fit(64, 48, 384) == (64, 48)  # never enlarged for the service
    assert logic.fit(64, 48, 256, enlarge=True) == (256, 192)  # but shown at the dialog's size
    assert logic.fit(5000, 1, 384) == (384, 1)


def test_preview_needs_the_fast_engine():
    on, tip = logic.preview_available({"engines": [{"name": "vgg19"}, {"name": "fast"}]})
    assert on and "fast engine" in tip
    for answer in ({"engines": [{"name": "vgg19"}]}, {}, None):
        on, tip = logic.preview_available(answer)
        assert not on and "pip install 'nst-plugin[fast]'" in tip
        assert tip.endswith(".") and tip.count(". ") == 0  # one sentence
    problem = "The fast engine needs its model, which is not installed; run nst models download"
    on, tip = logic.preview_available(
        {"engines": [{"name": "fast", "ready": False, "problem": problem}]}
    )
    assert not on and tip == problem + "."


def test_preview_follows_the_real_services_answer(monkeypatch, tmp_path):
    """The engines as the service describes them: ready here, not ready without a model."""
    from nst_plugin import engines

    answer = lambda: {"engines": [e.describe() for e in engines.installed().values()]}
    monkeypatch.setenv("NST_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("NST_FAST_SOURCE", "savedmodel")  # a source not installed there
    on, tip = logic.preview_available(answer())
    assert not on and "nst models download" in tip
    monkeypatch.delenv("NST_FAST_SOURCE")
    if engines.get("fast").problem() is None:
        assert logic.preview_available(answer())[0]


def test_preview_job_sends_the_style_strength_and_colors_to_the_fast_engine(tmp_path):
    key = logic.preview_key(" wave ", 0.70001, 1)
    assert key == ("wave", 0.7, True)
    assert logic.preview_job(key, 300) == {
        "styles": None,
        "style_name": "wave",
        "options": {"engine": "fast", "size": 300, "strength": 0.7, "preserve_colors": True},
    }
    picture = tmp_path / "mine.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    job = logic.preview_job(logic.preview_key(str(picture), 0, False), 2000)
    assert job["styles"] == [picture.read_bytes()] and job["style_name"] is None
    assert job["options"]["size"] == logic.PREVIEW_EDGE
    with pytest.raises(logic.UserError, match="Choose a style"):
        logic.preview_job(logic.preview_key("", 0.5, False), 300)


def test_preview_errors_are_one_sentence():
    from nst_plugin import client

    assert (
        logic.preview_message(client.ServiceError("The service is gone.")) == "The service is gone."
    )
    assert logic.preview_message(client.Cancelled("Job 1 was cancelled")) == "Job 1 was cancelled."
    assert logic.preview_message(logic.UserError("Choose a style.")) == "Choose a style."
    text = logic.preview_message(OSError("disk full\nTraceback (most recent call last):"))
    assert text == "The preview failed (disk full)."


def test_a_newer_preview_request_supersedes_older_ones():
    requests = logic.PreviewRequests()
    first = requests.start(("wave", 0.5, False))
    assert requests.start(("wave", 0.5, False)) is None  # nothing changed: no new job
    assert requests.submitted(first, "job-1") and requests.is_current(first)
    second = requests.start(("wave", 0.9, False))
    assert second > first and not requests.is_current(first)
    assert requests.stale_jobs() == ["job-1"]  # the newer request cancels it ...
    assert requests.stale_jobs() == []  # ... once
    third = requests.start(("wave", 1.0, False))
    assert not requests.submitted(second, "job-2")  # late: its own thread cancels it
    assert requests.submitted(third, "job-3")
    requests.finished(third)
    assert requests.stale_jobs() == []  # a finished job is not cancelled
    requests.stop()  # preview off, or the dialog closed
    assert not requests.is_current(third)
    assert requests.start(("wave", 1.0, False)) is not None  # on again: asks anew


def test_the_preview_carries_the_strength_to_the_fast_engine(monkeypatch):
    from nst_plugin import client, engines

    monkeypatch.setitem(sys.modules, "client", client)  # install-host copies it beside the plug-in
    info = {"default": "vgg19", "engines": [e.describe() for e in engines.installed().values()]}
    assert [logic.carried_strength(info, s) for s in (0.0, 0.25, 0.5, 0.8)] == [0.0, 0.5, 1.0, 1.0]
    assert logic.carried_strength(info, 0.3, "fast") == pytest.approx(0.3)
    assert logic.carried_strength({}, 0.3) == pytest.approx(0.3)  # no answer yet: as it is
