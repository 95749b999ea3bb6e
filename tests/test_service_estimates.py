"""How long: a real `nst serve` records its finished jobs in the user's data folder and answers
`GET /v1/estimate` from them, null before any job of the engine; the host kit asks and phrases
it; a job's first ETA starts from the same estimate."""

from __future__ import annotations

import json

import pytest
from test_service import STYLE, Service, png

from nst_plugin.hostkit import estimates
from nst_plugin.hostkit.choices import Choices
from nst_plugin.options import PRESETS, json_schema

JOB = {"size": 48, "iterations": 20, "scales": 1}


@pytest.fixture(scope="module")
def service(tmp_path_factory):
    svc = Service(tmp_path_factory.mktemp("service-estimates"))
    svc.start()
    yield svc
    svc.stop()


def seconds_of(status: dict) -> float:
    return status["finished"] - status["started"]


def test_no_history_gives_null_and_the_host_kit_a_first_guess(service):
    c = service.client
    answer = c.estimate(48, 36, {"engine": "vgg19", **JOB})
    assert answer["seconds"] is None and answer["based_on"] == 0
    assert (answer["engine"], answer["size"], answer["iterations"]) == ("vgg19", 48, 20)
    info = {  # as GET /v1/engines describes them (asked for once the engine has loaded)
        "default": "vgg19",
        "engines": [{"name": "vgg19", "device": "CPU", "options": json_schema(None)}],
        "presets": PRESETS,
    }
    options = Choices(size=48).options(info, 640, 480)
    guess = estimates.estimate(c, info, options, 640, 480)
    assert guess.based_on == 0 and guess.seconds is not None and not guess.measured


def test_after_two_jobs_the_estimate_is_their_measured_time(service):
    c = service.client
    measured = []
    for _ in range(2):
        job = c.submit(png((48, 36)), styles=[STYLE], options=JOB)
        c.wait(job)
        measured.append(seconds_of(c.status(job)))
    answer = c.estimate(48, 36, JOB)  # vgg19: the service's default engine
    assert min(measured) / 1.5 < answer["seconds"] < max(measured) * 1.5

    history = json.loads((service.root / "data" / "nst-plugin" / "job-times.json").read_text())
    saved = history["engines"]["vgg19"]
    assert len(saved) == 2 and saved[1]["cold"] is False  # the first may have loaded it
    assert answer["based_on"] == sum(not entry["cold"] for entry in saved)
    assert saved[0]["megapixels"] == pytest.approx(48 * 36 / 1e6)
    assert saved[0]["iterations"] == 20
    assert saved[1]["seconds"] == pytest.approx(measured[1], abs=0.01)

    bigger = c.estimate(96, 72, JOB | {"size": 96})  # four times the pixels
    assert bigger["seconds"] > 2 * answer["seconds"]
    preset = c.estimate(48, 36, {"size": 48})  # the default 300 iterations
    assert preset["iterations"] == 300 and preset["seconds"] > 5 * answer["seconds"]
    status, _, body = service.request("GET", "/v1/estimate?width=48&height=36&quality=draft")
    assert status == 200 and json.loads(body)["iterations"] == 60

    info = c.engines()
    said = estimates.estimate(c, info, {"engine": "vgg19", **JOB}, 48, 36)
    assert said.measured and said.based_on == answer["based_on"]
    assert estimates.describe(said).endswith(" s on this computer")


def test_a_jobs_first_eta_is_the_estimate(service):
    c = service.client
    options = {**JOB, "iterations": 60}
    expected = c.estimate(48, 36, options)["seconds"]
    job = c.submit(png((48, 36)), styles=[STYLE], options=options)
    etas = []
    with c.events(job) as stream:
        for event in stream:
            if event.get("eta") is not None and event.get("stage") != "queued":
                etas.append(event["eta"])
    assert etas, "no progress event carried an ETA"
    assert expected / 2 < etas[0] <= expected * 1.05


def test_bad_estimate_questions_get_one_sentence(service):
    for query, words in (
        ("height=36", "width"),
        ("width=x&height=36", "whole number"),
        ("width=0&height=36", "at least 1"),
        ("width=48&height=36&engine=nope", "nope"),
        ("width=48&height=36&quality=superb", "draft, good, best"),
        ("width=48&height=36&options=%7B", "JSON"),
        ("width=48&height=36&iterations=-3", "at least 1"),
        ("width=100000&height=100000", "limit"),
    ):
        status, message = service.error("GET", "/v1/estimate?" + query)
        assert status == 400 and words in message, (query, message)
