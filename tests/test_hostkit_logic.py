"""The logic both editor plug-ins share (nst_plugin/hostkit): the options a job sends, the
area it processes, style files and names, layer names, progress, the quick preview, and one
job run against a real ``nst serve`` service.

These used to be two drifting copies, one per plug-in; now each rule is checked once here.
"""

from __future__ import annotations

import random
import threading

import pytest

from nst_plugin import engines as registry
from nst_plugin.hostkit import areas, engines, naming, preview, progress, regions, styles
from nst_plugin.hostkit.choices import Choices, output_size, parse_extra_options
from nst_plugin.hostkit.errors import Cancelled, PluginError, ServiceError, error_sentence
from nst_plugin.hostkit.jobs import ServiceJob, with_preview
from nst_plugin.options import PRESETS, json_schema


def one_sentence(text: str) -> bool:
    return bool(text) and "\n" not in text and text.endswith(".") and ". " not in text[:-1]


def engines_info(presets=True, offered=(("vgg19", None), ("fast", ("size", "strength")))):
    """A ``GET /v1/engines`` answer: vgg19 takes every option, fast only size and strength."""
    info = {
        "default": "vgg19",
        "engines": [{"name": n, "options": json_schema(names)} for n, names in offered],
    }
    if presets:
        info["presets"] = PRESETS
    return info


def served_engines() -> dict:
    """What the service answers for ``GET /v1/engines``, from the engines installed here."""
    return {"engines": [e.info() for e in registry.installed().values()]}


# ----------------------------------------------------------------------------- directing


def test_brush_size_colours_and_blend_become_the_engines_options():
    info = served_engines()
    choices = Choices(brush=2.0, match_colors=True, blend=0.25, engine="fast")
    options = choices.options(info, 64, 48)
    assert options["style_scale"] == 0.5  # strokes twice as big: the painting at half size
    assert options["match_colors"] is True
    assert options["style_blend"] == [0.75, 0.25]
    assert "style_scale" not in Choices(engine="fast").options(info, 64, 48)  # as painted
    assert preview.preview_choices(info, choices).brush == 2.0  # the preview shows them too


@pytest.mark.parametrize("bad", [dict(brush=8.0), dict(brush=0.1), dict(blend=1.5)])
def test_brush_and_blend_out_of_range_are_one_sentence(bad):
    with pytest.raises(PluginError) as info:
        Choices(**bad)
    assert one_sentence(str(info.value))


def test_a_layers_grey_is_its_green_with_transparent_as_black():
    rgba = bytes([10, 200, 30, 255, 10, 200, 30, 0, 255, 255, 255, 128])
    assert regions.grey(3, 1, rgba, "RGBA") == bytes([200, 0, 128])
    assert regions.grey(3, 1, bytes([1, 2, 3]), "L") == bytes([1, 2, 3])
    assert regions.grey(1, 1, bytes([40, 90, 10, 255]), "BGRA") == bytes([90])
    with pytest.raises(ValueError):
        regions.grey(2, 2, bytes(3), "RGB")


def test_grey_under_alpha_is_the_per_pixel_minimum_however_the_alpha_runs():
    """Opaque, transparent and soft runs take different quick paths: all give min(green, a)."""
    rng = random.Random(7)
    for _ in range(100):
        n = rng.randint(1, 40)
        alphas = [rng.choice((0, 255, rng.randint(1, 254))) for _ in range(n)]
        bgra = b"".join(bytes([9, rng.randint(0, 255), 9, a]) for a in alphas)
        assert regions.grey(n, 1, bgra, "BGRA") == bytes(map(min, bgra[1::4], bgra[3::4]))


def test_regions_become_styles_and_mask_pngs_in_order():
    a, b = {"name": "wave", "label": "wave"}, {"path": "/x/kiss.png", "label": "kiss"}
    found, masks = regions.styles_and_masks([(a, b"\xff\x00"), (b, b"\x00\xff")], 2, 1)
    assert found == [a, b] and all(m.startswith(b"\x89PNG") for m in masks)
    assert regions.label([(a, b""), (b, b"")]) == "wave + kiss"


@pytest.mark.parametrize("case", ["none", "black", "too many"])
def test_regions_that_cannot_make_a_job_are_one_sentence(case):
    style = {"name": "wave", "label": "wave"}
    found = {
        "none": [],
        "black": [(style, b"\xff"), (style, b"\x00")],
        "too many": [(style, b"\xff")] * (regions.MAX_REGIONS + 1),
    }[case]
    with pytest.raises(PluginError) as info:
        regions.check(found)
    assert one_sentence(str(info.value))
    if case == "black":
        assert "region 2" in str(info.value)


def test_several_styles_are_sent_as_one_ordered_list():
    a, b = {"name": "wave", "label": "wave"}, {"pixels": (1, 1, b"\x00\x00\x00", "RGB")}
    sent = styles.submit_kwargs([a, b])["styles"]
    assert sent[0] == "wave" and sent[1].startswith(b"\x89PNG")
    assert styles.submit_kwargs([a]) == {"style_name": "wave"}


# ----------------------------------------------------------------------------- options


def test_options_preset_then_controls_then_extra_then_engine():
    info = engines_info()
    chosen = Choices(strength=0.7, preserve_colors=True)
    assert chosen.options(info, 800, 600) == {
        **PRESETS["good"],
        "strength": 0.7,
        "size": 800,
        "preserve_colors": True,
        "engine": "vgg19",
    }
    draft = Choices(quality="draft", size=1024, extra={"seed": 1, "iterations": 2})
    assert draft.options(info, 3000, 2000) == {
        **PRESETS["draft"],
        "size": 1024,
        "seed": 1,
        "iterations": 2,  # extra wins over the preset
        "engine": "vgg19",
    }
    fast = Choices(quality="best", strength=0.5, preserve_colors=True, engine="fast")
    assert fast.options(info, 300, 200) == {"strength": 0.5, "size": 300, "engine": "fast"}


def test_an_engine_that_takes_no_options_gets_none_of_the_controls():
    info = engines_info(offered=(("vgg19", None), ("plain", ())))
    chosen = Choices(strength=0.5, preserve_colors=True, engine="plain", extra={"seed": 3})
    assert chosen.options(info, 64, 48) == {"seed": 3, "engine": "plain"}  # extra is never cut


def test_without_presets_quality_is_not_sent_and_mistakes_are_one_sentence():
    bare = engines_info(presets=False)
    assert engines.quality_choices(bare) == []
    assert Choices().options(bare, 100, 50) == {"size": 100, "engine": "vgg19"}
    errors = []
    for make, _info in (
        (lambda: Choices(quality="best").options(bare, 10, 10), bare),
        (lambda: Choices(engine="nope").options(engines_info(), 10, 10), None),
        (lambda: Choices(quality="huge").options(engines_info(), 10, 10), None),
        (lambda: Choices(strength=1.5), None),
        (lambda: Choices(size=8), None),
    ):
        with pytest.raises(PluginError) as caught:
            make()
        errors.append(str(caught.value))
    assert "no quality presets" in errors[0] and "'nope'" in errors[1] and "vgg19" in errors[1]
    assert "draft, good, best" in errors[2] and "0.7 is 70 %" in errors[3]
    assert all(one_sentence(e) for e in errors), errors


def test_quality_choices_follow_the_services_presets():
    assert engines.quality_choices(engines_info()) == list(PRESETS)
    assert [name for name, _label in engines.QUALITIES] == list(PRESETS)
    assert engines.quality_label("draft") == "Draft (fast)"
    assert engines.quality_label("ultra") == "Ultra"


def test_output_size_and_the_json_options():
    assert output_size(640, 480) == 640 and output_size(640, 480, 256) == 256
    assert output_size(100, 50, 4000) == 100
    assert parse_extra_options("  ") == {}
    assert parse_extra_options('{"seed": 2}') == {"seed": 2}
    for text, words in (("[1]", "JSON object"), ("{oops", "not valid JSON")):
        with pytest.raises(PluginError, match=words) as caught:
            parse_extra_options(text)
        assert one_sentence(str(caught.value))


# ----------------------------------------------------------------------------- areas


def test_area_is_the_whole_layer_or_the_selection_plus_margin_clamped():
    assert areas.area_to_process(64, 48) == (0, 0, 64, 48)
    assert areas.area_to_process(200, 100, (50, 40, 10, 10)) == (18, 8, 74, 74)
    assert areas.area_to_process(64, 48, (12, 10, 12, 10)) == (0, 0, 56, 48)
    assert areas.area_to_process(96, 64, (40, 20, 24, 16), margin=8) == (32, 12, 40, 32)
    for selection in ((0, 0, 0, 0), (500, 500, 10, 10)):
        with pytest.raises(PluginError, match="selection does not touch") as caught:
            areas.area_to_process(64, 48, selection)
        assert one_sentence(str(caught.value))
    assert areas.clamp_box((-5, -5, 10, 10), 64, 48) == (0, 0, 5, 5)
    assert areas.clamp_box((70, 0, 10, 10), 64, 48) is None


# ----------------------------------------------------------------------------- styles


def test_styles_typed_as_names_or_files(tmp_path):
    assert styles.style_from_text(" starry_night ") == {
        "name": "starry_night",
        "label": "starry_night",
    }
    picture = tmp_path / "my painting.png"
    picture.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    style = styles.style_from_text(str(picture))
    assert style == {"path": str(picture), "label": "my painting"}
    assert styles.submit_kwargs(style) == {"styles": [picture.read_bytes()]}
    assert styles.submit_kwargs({"name": "wave"}) == {"style_name": "wave"}
    text = tmp_path / "notes.jpg"
    text.write_text("not a picture")
    for typed, words in ((str(tmp_path / "gone.png"), "does not exist"), ("", "Choose")):
        with pytest.raises(PluginError, match=words):
            styles.style_from_text(typed)
    with pytest.raises(PluginError, match="is not an image"):
        styles.submit_kwargs(styles.style_from_text(str(text)))
    with pytest.raises(PluginError, match="choose one of starry_night, wave"):
        styles.check_style_name("nope", [{"name": "wave"}, {"name": "starry_night"}])
    styles.check_style_name("wave", [{"name": "wave"}])


def test_one_list_of_image_files():
    assert ".gif" in styles.IMAGE_EXTENSIONS and "*.gif" in styles.FILE_FILTER
    assert all("*" + ext in styles.FILE_FILTER for ext in styles.IMAGE_EXTENSIONS)
    for head in (b"GIF89a", b"BM\0\0", b"RIFF\0\0\0\0WEBP", b"II*\x00", b"\xff\xd8\xff\xe0"):
        assert styles.is_image(head)
    assert not styles.is_image(b"hello")


# ----------------------------------------------------------------------------- names, progress


def test_layer_names_and_labels():
    assert naming.layer_name("starry_night", 0.7, "fast") == "starry_night 70% · fast"
    assert naming.layer_name("starry_night", 0.7) == "starry_night 70%"
    assert naming.layer_name("", None, "vgg19") == "style · vgg19"
    assert styles.style_from_text("starry_night")["label"] == "starry_night"
    assert naming.unique_name("a", ["a", "a (2)"]) == "a (3)"


def test_progress_line_and_fraction():
    event = {"event": "progress", "stage": "optimizing", "step": 40, "total": 200, "eta": 75.2}
    assert progress.progress_text(event) == "Stylizing 40/200 · 1 min 15 s left"
    assert progress.progress_text({"stage": "loading"}) == "Loading the engine"
    assert progress.progress_text({"stage": "optimizing", "eta": 12.4}) == "Stylizing · 12 s left"
    assert progress.progress_fraction(event) == 0.2
    assert progress.progress_fraction({"step": 0, "total": 0}) is None
    assert progress.progress_fraction({"step": True, "total": 2}) is None
    framed = dict(event, frame=2, frames=4)  # a frame sequence: the frame, then its steps
    assert progress.progress_text(framed) == "Frame 2/4 · Stylizing 40/200 · 1 min 15 s left"
    assert progress.progress_fraction(framed) == (1 + 0.2) / 4
    assert progress.duration(7300) == "2 h 01 min"


def test_error_sentences():
    assert error_sentence(ServiceError("The service is gone.")) == "The service is gone."
    assert error_sentence(Cancelled("Job 1 was cancelled")) == "Job 1 was cancelled."
    assert error_sentence(PluginError("Choose a style")) == "Choose a style."
    odd = error_sentence(ValueError("bad\nthing."), "Krita's log")
    assert odd == (
        "Neural Style failed unexpectedly (ValueError: bad thing); please report this with "
        "Krita's log."
    )


# ----------------------------------------------------------------------------- engines


def test_whether_an_engine_can_run_now():
    assert engines.unavailable({"engines": []}, "fast").endswith(
        "pip install 'nst-plugin[fast]' and restart the service."
    )
    problem = "The fast engine needs its model, which is not installed; run nst models download"
    info = {"engines": [{"name": "fast", "ready": False, "problem": problem}]}
    assert engines.unavailable(info, "fast") == problem + "."
    assert engines.unavailable({"engines": [{"name": "fast"}]}, "fast") is None


def test_the_real_engines_say_whether_the_fast_engine_is_ready(monkeypatch, tmp_path):
    monkeypatch.setenv("NST_MODELS_DIR", str(tmp_path))
    monkeypatch.setenv("NST_FAST_SOURCE", "savedmodel")  # a source that is not installed here
    why_not = engines.unavailable(served_engines(), "fast")
    assert "nst models download" in why_not and one_sentence(why_not), why_not
    monkeypatch.delenv("NST_FAST_SOURCE")
    if registry.get("fast").problem() is None:  # the fast extra is installed
        assert engines.unavailable(served_engines(), "fast") is None


def test_strength_means_the_same_on_both_engines_so_previews_need_no_translation():
    info = {"default": "vgg19", **served_engines()}
    assert {e["name"]: e["standard_strength"] for e in info["engines"]} == {
        "vgg19": 0.5,
        "fast": 0.5,
    }
    carried = [engines.carried_strength(info, s, None, "fast") for s in (0, 0.25, 0.5, 0.7, 1)]
    assert carried == pytest.approx([0.0, 0.25, 0.5, 0.7, 1.0])
    assert engines.carried_strength(info, 0.3, "fast", "fast") == pytest.approx(0.3)
    old = {"engines": [{"name": "vgg19"}, {"name": "fast"}]}  # a service that does not say
    assert engines.carried_strength(old, 0.3, "vgg19", "fast") == pytest.approx(0.3)


# ----------------------------------------------------------------------------- quick preview


def test_the_preview_is_the_fast_engine_on_a_small_copy_with_the_same_colours():
    info = {"default": "vgg19", **served_engines()}
    render = Choices(strength=0.25, preserve_colors=True, quality="best", size=2048)
    assert preview.preview_choices(info, render) == Choices(
        strength=0.25, size=preview.EDGE, preserve_colors=True, engine="fast"
    )
    options = preview.preview_choices(info, render).options(info, 300, 200)
    assert options["engine"] == "fast" and options["size"] == 300  # never enlarged


def test_the_preview_needs_a_ready_fast_engine():
    on, tip = preview.availability({"engines": [{"name": "vgg19"}, {"name": "fast"}]})
    assert on and tip == preview.TIP
    for answer in ({"engines": [{"name": "vgg19"}]}, {}, None):
        on, tip = preview.availability(answer)
        assert not on and one_sentence(tip)


def test_preview_sizes_keep_the_ratio():
    assert preview.fit(1000, 500, 384) == (384, 192)
    assert preview.fit(300, 600, 384) == (192, 384)
    assert preview.fit(64, 48, 384) == (64, 48)  # never enlarged for the service
    assert preview.fit(64, 48, 256, enlarge=True) == (256, 192)  # but shown at the dialog's size
    assert preview.fit(5000, 1, 384) == (384, 1)


def test_a_newer_preview_request_supersedes_older_ones():
    requests = preview.PreviewRequests()
    first = requests.start(("wave", Choices(strength=0.5)))
    assert requests.start(("wave", Choices(strength=0.5))) is None  # nothing changed
    assert requests.submitted(first, "job-1")
    second = requests.start(("wave", Choices(strength=0.8)))
    assert not requests.is_current(first) and requests.is_current(second)
    assert not requests.submitted(first, "late")  # superseded: its thread cancels it itself
    assert requests.stale_jobs() == ["job-1"] and requests.stale_jobs() == []
    requests.stop()
    assert not requests.is_current(second) and requests.key is None


def test_preview_requests_from_many_threads_hand_out_each_stale_job_once():
    requests = preview.PreviewRequests()
    numbers = [requests.start(("style", i)) for i in range(50)]
    for number in numbers[-1:]:
        requests.submitted(number, number)
    handed = []
    threads = [threading.Thread(target=lambda: handed.extend(requests.stale_jobs())) for _ in "ab"]
    requests.start(("style", "new"))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert handed == [numbers[-1]]


def test_progress_previews_arrive_as_png_bytes():
    assert with_preview({"event": "progress", "preview": "iVBORw=="})["preview"] == b"\x89PNG"
    assert with_preview({"event": "progress", "preview": "abc"})["preview"] is None
    plain = {"event": "progress"}
    assert with_preview(plain) is plain


def test_a_cancelled_job_stops_before_it_connects():
    connected = []
    job = ServiceJob({"url": "http://127.0.0.1:9"}, (1, 1, b"\0\0\0\0", "RGBA"), {}, Choices())
    job._service = lambda: connected.append(1) or object()
    job.cancel()
    with pytest.raises(Cancelled):
        job.run()
    assert connected == [1] and job.job_id is None


# ----------------------------------------------------------------------------- defaults


def machine(vgg19_device="CPU", fast_ready=True) -> dict:
    fast = {"name": "fast", "device": "CPU", "ready": fast_ready, "options": json_schema(())}
    vgg19 = {"name": "vgg19", "device": vgg19_device, "options": json_schema(None)}
    return {"default": "vgg19", "engines": [vgg19, fast], "presets": PRESETS}


def test_engines_are_named_for_what_they_give_and_fit_the_machine():
    assert engines.label("fast") == "Quick: seconds" and engines.label("vgg19") == (
        "Detailed: minutes"
    )
    assert engines.label("other") == "other"
    assert engines.suggested(machine()) == "fast"  # no GPU: minutes would surprise a painter
    assert engines.suggested(machine("GPU:0")) == "vgg19"
    assert engines.suggested(machine(fast_ready=False)) == "vgg19"
    assert not engines.on_gpu({"device": "CPU"}) and engines.on_gpu({"device": "gpu:0 (H200)"})
    assert not engines.on_gpu({})  # a service that does not say: as a CPU


def test_the_time_a_job_takes_is_said_before_it_starts():
    info = machine()
    good = Choices().options(info, 1024, 683)
    detailed = engines.seconds_for(info, good, 1024, 683)
    assert 80 < detailed < 200  # 94 s measured at 1024 x 566, Good, on two CPU cores
    quick = engines.seconds_for(info, Choices(engine="fast").options(info, 1024, 683), 1024, 683)
    assert quick < 5
    capped = engines.seconds_for(info, Choices(size=512).options(info, 1024, 683), 1024, 683)
    assert capped < detailed / 3  # a quarter of the pixels
    on_gpu = engines.seconds_for(machine("GPU:0"), good, 1024, 683)
    assert on_gpu < detailed / 20
    assert engines.seconds_for({"engines": [{"name": "x"}]}, {"engine": "x"}, 10, 10) is None


def test_the_real_engines_say_where_they_run():
    for entry in served_engines()["engines"]:
        assert entry["device"] is None or isinstance(entry["device"], str), entry
    assert {e["name"]: e["device"] for e in served_engines()["engines"]}["vgg19"] in ("CPU", "GPU")
