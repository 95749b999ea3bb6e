"""Live in the real Krita 5.1: with the docker's Live switch on, strokes a script paints on the
layer bring new quick previews (at most about two a second, from Krita's own thumbnail, never a
full read of the layer), the large preview docker shows them, and Apply makes the live result a
layer with its recipe. The UI thread's longest stall while painting, with Live off and on, is
written to <tmp>/krita-live.json (NST_EDITOR_SHOTS keeps it and the screenshot; figures in
docs/BENCHMARKS.md), not asserted. Run with `.venv/bin/pytest hosts/tests/test_krita_live.py -s`.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from krita_drivers import DOCKER_PRELUDE, TICKS_PRELUDE
from krita_session import REPO, home, nst_service, run  # noqa: F401  (fixtures)

LIVE_DRIVE = r"""
def paint_strokes(doc, layer, seconds, shade):
    # A dab every 40 ms moving across the layer, as a brush would, each a new colour.
    w, h = doc.width(), doc.height()
    t0 = time.monotonic()
    n = 0
    while time.monotonic() - t0 < seconds:
        dab = bytes(((n * 7) % 256, shade, 240, 255)) * (48 * 48)
        layer.setPixelData(dab, (n * 37) % (w - 48), (n * 23) % (h - 48), 48, 48)
        doc.refreshProjection()
        n += 1
        process_events(0.04)
    doc.waitForDone()
    return n


def drive(result):
    import nst_krita
    from nst_krita.extension import find_live_docker
    doc, layer = make_doc(WIDTH, HEIGHT)
    result["large_visible_at_start"] = find_live_docker().isVisible()
    Krita.instance().action("nst_krita_open").trigger()
    dock = find_docker()
    dock.picker.refresh(start=True)
    wait_until(lambda: dock.picker.count > 0, 120)
    from PyQt5.QtCore import Qt
    dock.styles.setCurrentItem(dock.styles.findItems("starry_night", Qt.MatchExactly)[0])
    dock.sections["preview"].set_open(True)
    quick = dock.quick_preview
    # Baseline: the same strokes with the quick preview off.
    dock.quick.setChecked(False)
    ticks = Ticks(); t0 = time.monotonic()
    dabs = paint_strokes(doc, layer, SECONDS, 40)
    result["off"] = dict(ticks.stop(time.monotonic() - t0), dabs=dabs)
    # Live on: the previews follow the strokes.
    dock.live.setChecked(True)
    result["quick_on"] = dock.quick.isChecked()
    wait_until(lambda: quick.count > 0 and quick.job.state != "running", 60)
    dock.open_large_preview()
    large = find_live_docker()
    process_events(0.5)
    count, reads = quick.count, quick.reads
    ticks = Ticks(); t0 = time.monotonic()
    dabs = paint_strokes(doc, layer, SECONDS, 160)
    seconds = time.monotonic() - t0
    result["on"] = dict(ticks.stop(seconds), dabs=dabs)
    wait_until(lambda: quick.job is None or quick.job.state != "running", 30)
    result["previews_while_painting"] = quick.count - count
    result["full_reads_while_painting"] = quick.reads - reads
    result["painting_seconds"] = seconds
    result["large_shows"] = not large.view.image.isNull() and large.isVisible()
    # Stop painting: no more previews come.
    process_events(1.5)
    idle = quick.count
    process_events(1.5)
    result["previews_when_still"] = quick.count - idle
    # Apply: the live result as a layer, with its recipe.
    before = len(doc.rootNode().childNodes())
    large.apply_button.click()
    job = dock.job
    wait_until(lambda: job is not None and job.state != "running", 120)
    result["state"], result["error"] = job.state, job.error
    result["layers_added"] = len(doc.rootNode().childNodes()) - before
    made = nst_krita.recipe(job.layer, document=doc)
    result["recipe_engine"] = made["engine"]
    result["recipe_box"] = made["source"]["box"]
    dock.live.setChecked(False)
    qwin = main_window().qwindow()
    large.setFloating(True)
    large.resize(520, 460)
    large.move(qwin.x() + 200, qwin.y() + 150)
    process_events(1.0)
    screenshot(SHOT)
"""


def test_live_previews_follow_painting_and_apply_makes_a_layer(home, nst_service, tmp_path):
    shots = Path(os.environ.get("NST_EDITOR_SHOTS") or tmp_path)
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / "krita-live.png"
    width, height, seconds = 1024, 768, 6
    code = (
        DOCKER_PRELUDE
        + TICKS_PRELUDE
        + (
            LIVE_DRIVE.replace("WIDTH", str(width))
            .replace("HEIGHT", str(height))
            .replace("SECONDS", str(seconds))
            .replace("SHOT", repr(str(shot)))
        )
    )
    r = run(home, code, nst_service["service_file"], timeout=400)
    (shots / "krita-live.json").write_text(json.dumps(r, indent=1))
    print("\nLIVE:", json.dumps({k: r[k] for k in ("off", "on")}, indent=1))
    assert not r["large_visible_at_start"]  # it opens from the docker's Large preview
    assert r["quick_on"]  # Live switches the quick preview on
    assert r["previews_while_painting"] >= 2, r
    assert r["previews_while_painting"] <= 2 * r["painting_seconds"] + 2, r  # about 2 a second
    assert r["full_reads_while_painting"] == 0  # Krita's thumbnail, never the whole layer
    assert r["previews_when_still"] == 0
    assert r["large_shows"]
    assert r["state"] == "done", r["error"]
    assert r["layers_added"] == 1
    assert r["recipe_engine"] == "fast" and r["recipe_box"] == [0, 0, width, height]
    if os.environ.get("NST_KRITA_DOCS_SHOT"):
        shutil.copy(shot, REPO / "docs" / "krita-live.png")
