"""Stylize animation in the real Krita 5.1: an animated layer's frames go to the service as
one job and come back as a new animated layer, held drawings stay held, the user's layer is
untouched; the docker offers it while an animated layer is active; a still layer is one
sentence.

Run with `.venv/bin/pytest hosts/tests/test_krita_animation.py` (the editors:
.ci/install-editors).
"""

from __future__ import annotations

from pathlib import Path

from krita_drivers import DOCKER_PRELUDE
from krita_session import REPO, home, nst_service, one_sentence, run  # noqa: F401  (fixtures)
from PIL import Image

WAVE = REPO / "nst_plugin" / "examples" / "wave.jpg"


def drawings(folder: Path, count: int, size=(64, 48), step=6) -> list:
    """An animation's drawings as PNG files: the Great Wave panned ``step`` px a frame."""
    wide = Image.open(WAVE).convert("RGB").resize((size[0] * 2, size[1]))
    paths = []
    for i in range(count):
        path = folder / ("drawing-%d.png" % i)
        wide.crop((i * step, 0, i * step + size[0], size[1])).save(path)
        paths.append(str(path))
    return paths


ANIMATION_DRIVE = r"""
def animated_doc(files, step):
    doc, photo = make_doc(64, 48)
    assert doc.importAnimation(files, 0, step)
    doc.waitForDone(); process_events(0.5)
    layer = [n for n in doc.rootNode().childNodes() if n.animated()][0]
    layer.setName("Walk cycle")
    end = (len(files) - 1) * step + 1  # one held frame after the last drawing
    set_range(doc, 0, end)
    activate(doc, layer)
    return doc, photo, layer


from nst_krita.animation import set_playback_range


def set_range(doc, start, end):
    # Krita applies an import's clip range after the import returns: set until it holds.
    for _ in range(20):
        doc.setFullClipRangeStartTime(start); doc.setFullClipRangeEndTime(end)
        set_playback_range(doc, start, end)
        process_events(0.1)
        if (doc.playBackStartTime(), doc.playBackEndTime()) == (start, end):
            return
    raise AssertionError("the range is not %d..%d: %s" % (start, end, ranges(doc)))


def ranges(doc):
    return [doc.playBackStartTime(), doc.playBackEndTime(), doc.fullClipRangeStartTime(),
            doc.fullClipRangeEndTime()]


def frame_digests(node, times):
    return [hashlib.sha1(bytes(node.pixelDataAtTime(0, 0, 64, 48, t))).hexdigest()
            if node.hasKeyframeAtTime(t) else None for t in times]


def drive(result):
    import nst_krita
    from nst_krita.hostkit.errors import PluginError

    # The Scripter: three drawings, one job, an animated layer.
    doc, photo, layer = animated_doc(FILES, 1)
    before = frame_digests(layer, range(3))
    events = []
    job = nst_krita.stylize_animation(document=doc, style="starry_night", iterations=3, size=64)
    job._job.progressed.connect(lambda e: events.append((e.get("frame"), e.get("frames"))))
    before_range = ranges(doc)
    new = job.wait(timeout=240)
    process_events(0.5)
    result["ranges"] = [before_range, ranges(doc)]
    result["made"] = frame_digests(new, range(4))
    result["animated"] = new.animated()
    result["name"] = new.name()
    result["source_same"] = frame_digests(layer, range(3)) == before
    result["active"] = doc.activeNode().name()
    result["frames_seen"] = sorted({e for e in events if e[0]})
    result["layers"] = [n.name() for n in doc.rootNode().childNodes()]
    result["source_frames"] = before

    # A still layer is one sentence and changes nothing.
    try:
        nst_krita.stylize_animation(document=doc, node=photo, style="starry_night")
    except PluginError as exc:
        result["still"] = str(exc)

    # Holds: drawings at 0 and 2 play as 0, 0, 2; the result holds the same way.
    doc2, photo2, held = animated_doc(FILES[:2], 2)
    again = nst_krita.stylize_animation(document=doc2, style="starry_night", iterations=2,
                                        size=64).wait(timeout=240)
    result["held"] = frame_digests(again, range(3))

    # The docker offers it while an animated layer is active.
    dock = find_docker()
    activate(doc2, held)
    dock.refresh_status(); process_events(0.2)
    result["offered"] = dock.animate_button.isVisible()
    activate(doc2, photo2)
    dock.refresh_status(); process_events(0.2)
    result["offered_on_still"] = dock.animate_button.isVisible()
"""


def test_an_animated_layer_becomes_a_new_animated_layer(home, nst_service, tmp_path):
    code = DOCKER_PRELUDE + ANIMATION_DRIVE.replace("FILES", repr(drawings(tmp_path, 3)))
    r = run(home, code, nst_service["service_file"], timeout=420)
    made = r["made"]
    assert r["animated"] is True
    assert None not in made[:3] and made[3] is None  # a keyframe per time, none beyond
    assert len(set(made[:3])) == 3  # three different frames
    assert not set(made) & set(r["source_frames"])  # stylized, not copies
    assert r["source_same"]  # the user's layer is untouched
    assert r["ranges"][0] == r["ranges"][1] == [0, 3, 0, 3]  # the user's range too
    assert r["active"] == "Walk cycle"  # the source layer stays active
    assert r["frames_seen"] == [[1, 3], [2, 3], [3, 3]]  # progress per frame
    assert r["name"] in r["layers"] and r["name"].startswith("starry_night")
    held = r["held"]
    assert None not in held and held[0] == held[1] != held[2]  # the hold stays a hold
    assert "no animation frames" in r["still"] and one_sentence(r["still"])
    assert r["offered"] is True and r["offered_on_still"] is False
