"""How long a job takes, without a service: the robust fit, the history file (bounded, atomic,
unreadable files survived), the reporter's ETA leaning on the expected time, and the host kit's
words for it."""

from __future__ import annotations

import json
import time

import pytest

from nst_plugin.hostkit import estimates as words
from nst_plugin.hostkit.errors import ServiceError
from nst_plugin.progress import Reporter
from nst_plugin.service import estimates
from nst_plugin.service.estimates import KEEP, KEEP_COLD, History, Sample, fit, predict


def jobs(overhead: float, rate: float, works: list[float], cold: bool = False) -> list[Sample]:
    return [Sample(w, 1.0, overhead + rate * w, cold, at=i) for i, w in enumerate(works)]


def test_the_fit_finds_rate_and_overhead_and_shrugs_off_an_odd_job():
    samples = jobs(3.0, 0.5, [10, 20, 40, 80, 160])
    rate, overhead = fit(samples)
    assert rate == pytest.approx(0.5) and overhead == pytest.approx(3.0)
    odd = [*samples, Sample(20, 1.0, 500.0)]  # a job that waited for the disk, say
    rate, overhead = fit(odd)
    assert rate == pytest.approx(0.5, rel=0.1) and overhead == pytest.approx(3.0, abs=2.0)
    assert predict(odd, 100, 1) == (pytest.approx(53.0, rel=0.1), 6)


def test_one_size_only_gives_the_median_pace_and_no_overhead():
    samples = [Sample(1.0, 100, s) for s in (9.0, 10.0, 30.0)]
    assert fit(samples) == (pytest.approx(0.1), 0.0)
    assert predict(samples, 1.0, 200) == (pytest.approx(20.0), 3)  # twice the work: the time
    assert predict([], 1.0, 200) == (None, 0)


def test_loading_the_engine_is_added_only_while_it_is_not_loaded():
    warm = jobs(1.0, 0.1, [10, 20, 40])
    cold = [Sample(10, 1.0, 12.0, cold=True)]  # 1 s of work, 1 s overhead: 10 s of loading
    assert predict(warm + cold, 20, 1)[0] == pytest.approx(3.0)
    assert predict(warm + cold, 20, 1, loaded=False)[0] == pytest.approx(13.0)
    assert predict(cold, 10, 1)[0] == pytest.approx(12.0)  # no warm job yet: the cold one is all
    assert predict(warm, 20, 1, budget=60)[0] == pytest.approx(61.0)  # a time budget ends it


def test_jobs_near_the_size_asked_set_the_pace_when_there_are_a_few():
    # A GPU's pace: small pictures cost about the same per iteration, large ones more.
    small = [Sample(0.25, its, 1.0 + 0.01 * its) for its in (60, 200, 500)]
    large = [Sample(4.0, its, 1.0 + 0.05 * its) for its in (60, 200, 500)]
    seconds, used = predict(small + large, 0.25, 300)
    assert used == 3 and seconds == pytest.approx(4.0)  # the small jobs' pace alone
    seconds, used = predict(small + large, 4.0, 300)
    assert used == 3 and seconds == pytest.approx(16.0)
    seconds, used = predict(small + large[:1], 1.0, 300)  # too few near: all of them
    assert used == 4


def test_the_history_is_bounded_per_engine_and_written_atomically(tmp_path):
    history = History(tmp_path / "data" / "job-times.json")
    assert history.estimate("vgg19", 1.0, 100) == (None, 0)
    for i in range(KEEP + 5):
        history.record("vgg19", Sample(0.01, 20, 2.0 + i % 3, cold=False, at=i))
    for i in range(KEEP_COLD + 3):
        history.record("vgg19", Sample(0.01, 20, 9.0, cold=True, at=100 + i))
    history.record("fast", Sample(0.25, 1, 0.5, at=200))
    saved = json.loads(history.path.read_text())
    assert saved["version"] == 1
    kept = history.samples("vgg19")
    assert len(kept) == KEEP + KEEP_COLD and sum(s.cold for s in kept) == KEEP_COLD
    assert min(s.at for s in kept if not s.cold) == 5  # the oldest went
    assert [p.name for p in history.path.parent.iterdir()] == ["job-times.json"]  # no temp files
    seconds, based_on = history.estimate("vgg19", 0.01, 20)
    assert based_on == KEEP and 2.0 <= seconds <= 4.0  # the cold ones count only for loading
    assert history.estimate("fast", 1.0, 1) == (pytest.approx(2.0), 1)


def test_an_unreadable_history_is_no_history_and_is_replaced(tmp_path):
    path = tmp_path / "job-times.json"
    for text in ("not json", '{"engines": []}', '{"engines": {"vgg19": [{"seconds": "x"}]}}'):
        path.write_text(text)
        assert History(path).estimate("vgg19", 1.0, 1) == (None, 0)
    path.write_text('{"engines": {"vgg19": [{"megapixels": 1, "iterations": 1, "seconds": -1}]}}')
    assert History(path).samples("vgg19") == []  # a negative time is not a job
    History(path).record("vgg19", Sample(1.0, 10, 5.0))
    assert History(path).estimate("vgg19", 1.0, 10) == (pytest.approx(5.0), 1)


def test_the_history_lives_in_the_users_data_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))
    assert estimates.default_file() == tmp_path / "nst-plugin" / "job-times.json"
    assert estimates.megapixels(2000, 1000) == 2.0
    assert estimates.megapixels(2000, 1000, 1000) == 0.5


def test_the_eta_starts_from_the_expected_time_and_moves_to_the_pace():
    events = []
    reporter = Reporter(listeners=[events.append])
    reporter.stage("preparing")
    assert events[-1].eta is None  # no expectation: no ETA before the first step
    reporter.expect(100.0)
    reporter.stage("optimizing", 100)
    assert events[-1].eta == pytest.approx(100.0, abs=1.0)
    time.sleep(0.2)  # one slow first step (a compile), 0.2 s: the pace alone says 19.8 s left
    reporter.progress(1, 100)
    paced = 0.2 * 99
    assert paced < events[-1].eta < 100.0 and events[-1].eta > 60  # mostly the expected time
    reporter.progress(10, 100)  # a tenth of the steps: the pace alone
    assert events[-1].eta < paced
    reporter.progress(100, 100)
    assert events[-1].eta == pytest.approx(0.0)
    reporter.stage("done")
    assert events[-1].eta is None

    reporter.stage("downloading")  # bytes: their own pace, never the job's expected time
    assert events[-1].eta is None
    reporter.progress(500, 1000, stage="downloading")
    assert events[-1].eta < 1.0


class Answers:
    """A client whose estimate() answers as given (or raises it)."""

    def __init__(self, answer):
        self.answer = answer

    def estimate(self, width, height, options=None):
        if isinstance(self.answer, Exception):
            raise self.answer
        return self.answer


def test_the_host_kit_says_a_measured_time_and_falls_back_to_a_first_guess():
    from nst_plugin.options import PRESETS, json_schema

    info = {
        "default": "vgg19",
        "engines": [{"name": "vgg19", "device": "CPU", "options": json_schema(None)}],
        "presets": PRESETS,
    }
    options = {"size": 1024, "iterations": 200, "engine": "vgg19"}
    measured = words.estimate(Answers({"seconds": 41.3, "based_on": 12}), info, options, 1024, 683)
    assert measured == (41.3, 12) and measured.measured
    assert words.describe(measured) == "about 40 s on this computer"
    for answer in ({"seconds": None, "based_on": 0}, ServiceError("gone", 404), {}):
        guess = words.estimate(Answers(answer), info, options, 1024, 683)
        assert guess.based_on == 0 and not guess.measured and 200 < guess.seconds < 400
        assert words.describe(guess) == "about %d min" % round(guess.seconds / 60)
    assert words.describe(words.Estimate(None, 0)) is None
    said = [words.phrase(s) for s in (0.3, 7.4, 12, 52, 58, 170, 3500, 4800, 7300)]
    assert said == [
        "about 1 s",
        "about 7 s",
        "about 10 s",
        "about 50 s",
        "about 1 min",
        "about 3 min",
        "about 58 min",
        "about 1 h 20 min",
        "about 2 h",
    ]
