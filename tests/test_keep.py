"""Keep: a running job ends at the next iteration boundary with its current image as the result,
done and not cancelled; on the vgg19 engine with the random stand-in network."""

from __future__ import annotations

import threading

import numpy as np
import pytest
from PIL import Image

import nst_plugin
from nst_plugin import Reporter
from nst_plugin.jobs import DONE, JobRunner
from nst_plugin.vgg19 import tiles

SMALL = dict(weights="random", scales=1)


def keeper(at_step: int) -> Reporter:
    """A reporter that asks to keep once the optimizer reports step `at_step`."""
    reporter = Reporter()

    def on_event(event) -> None:
        if event.stage == "optimizing" and event.step >= at_step:
            reporter.keep()

    reporter.listeners.append(on_event)
    return reporter


def as_int(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), np.int16)


def test_keep_ends_at_the_iteration_it_was_asked_with_that_image(images):
    reporter = keeper(3)
    kept = nst_plugin.stylize(
        images["content"], images["style"], size=48, iterations=40, reporter=reporter, **SMALL
    )
    assert reporter.kept and kept.iterations == 3 and len(kept.losses) == 4
    assert max(kept.image.size) == 48
    three = nst_plugin.stylize(images["content"], images["style"], size=48, iterations=3, **SMALL)
    assert kept.image.size == three.image.size
    assert np.abs(as_int(kept.image) - as_int(three.image)).max() <= 1  # the same image
    assert not np.array_equal(
        as_int(kept.image), as_int(Image.open(images["content"]).resize(kept.image.size))
    )


def test_keep_during_a_coarse_scale_gives_the_final_size(images):
    reporter = keeper(2)
    result = nst_plugin.stylize(
        images["content"],
        images["style"],
        size=96,
        iterations=40,
        scales=2,
        weights="random",
        reporter=reporter,
    )
    assert reporter.kept and result.iterations == 2  # scale 1 (48 px) had 20 to run
    assert max(result.image.size) == 96
    src = Image.open(images["content"])
    assert result.width / result.height == pytest.approx(src.width / src.height, rel=0.05)


def test_keep_in_a_tiled_run_keeps_the_tiles_done_and_leaves_the_rest_as_started(images):
    reporter = keeper(12)  # 10 iterations a tile: the second tile's second iteration
    result = nst_plugin.stylize(
        images["content"],
        images["style"],
        size=96,
        iterations=10,
        tile_size=48,
        tile_overlap=8,
        reporter=reporter,
        **SMALL,
    )
    assert reporter.kept and result.iterations == 12
    w, h = result.image.size
    assert max(w, h) == 96
    photo = as_int(Image.open(images["content"]).convert("RGB").resize((w, h), Image.LANCZOS))
    boxes = tiles.boxes(w, h, 48, 8)
    assert len(boxes) > 2
    touched = np.zeros((h, w), bool)  # the first tile ran its 10 iterations, the second 2
    for x0, y0, x1, y1 in boxes[:2]:
        touched[y0:y1, x0:x1] = True
    changed = np.abs(as_int(result.image) - photo).max(-1)
    assert changed[~touched].max() <= 1  # the tiles that never ran: still the photo
    x0, y0, x1, y1 = boxes[0]
    assert changed[y0:y1, x0:x1].mean() > 1


def test_a_kept_job_is_done_with_its_iterations_and_others_are_not_kept(images):
    running = threading.Event()

    def on_event(event) -> None:
        if event.stage == "optimizing" and event.step >= 2:
            running.set()

    with JobRunner(broadcast=False) as runner:
        job = runner.submit(
            images["content"],
            images["style"],
            size=48,
            iterations=500,
            listeners=[on_event],
            **SMALL,
        )
        assert running.wait(120)
        job.keep()  # from this thread, while the worker iterates
        assert job.wait(120)
        full = runner.submit(images["content"], images["style"], size=48, iterations=2, **SMALL)
        assert full.wait(120)
    assert job.state == DONE and job.kept and job.result is not None and job.message == ""
    assert 2 <= job.iterations_run < 500
    assert full.state == DONE and not full.kept and full.iterations_run == 2


def test_keep_before_the_first_iteration_keeps_the_image_after_it(images):
    reporter = Reporter()
    reporter.keep()
    result = nst_plugin.stylize(
        images["content"], images["style"], size=48, iterations=30, reporter=reporter, **SMALL
    )
    assert reporter.kept and result.iterations == 1


def test_keep_lets_a_fast_job_finish_its_one_pass(images):
    pytest.importorskip("onnxruntime", reason="the fast engine needs onnxruntime")
    from nst_plugin.fast import models

    if not models.status()["ready"]:
        pytest.skip("the fast engine's model is not installed")
    with JobRunner(broadcast=False) as runner:
        job = runner.submit(images["content"], images["style"], engine="fast", size=48)
        job.keep()
        assert job.wait(120)
    assert job.state == DONE and not job.kept and job.iterations_run == 1
    assert max(job.result.image.size) == 48
