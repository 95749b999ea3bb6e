"""The Krita plug-in (hosts/krita) inside the real Krita 5.1 under Xvfb, through a real `nst serve`:
loading, results, selections, cancel and errors, driven from scripts as the Scripter would.

Each test installs the plug-in with the real `nst install-host krita` into a throwaway Krita
HOME (krita_session.py). The service runs with random weights on small images. The docker's
tests are in test_krita_docker.py. Run with `.ci/editor-tests hosts/tests/test_krita.py`.
"""

from __future__ import annotations

import json
import socket

import editors
from krita_drivers import ERROR_DRIVE, REGIONS_PRELUDE
from krita_session import (  # noqa: F401  (fixtures)
    grey_photo,
    home,
    noise_styles,
    nst_service,
    one_sentence,
    run,
)

# ------------------------------------------------------------------------------ loading


def test_plugin_loads_with_docker_and_action(home, nst_service):
    code = r"""
def drive(result):
    import nst_krita
    result["file"] = nst_krita.__file__
    k = Krita.instance()
    action = k.action("nst_krita_open")
    result["action"] = action is not None and action.text()
    from nst_krita.extension import find_docker
    dock = find_docker()
    result["docker"] = dock is not None and dock.windowTitle()
    dock.hide(); process_events(0.2)
    action.trigger(); process_events(0.3)
    result["visible_after_action"] = dock.isVisible()
"""
    r = run(home, code, nst_service["service_file"])
    assert r["file"].startswith(str(home))
    assert r["action"] == "Neural Style Transfer..."
    assert r["docker"] == "Neural Style"
    assert r["visible_after_action"] is True


# ------------------------------------------------------------------------------ results


def test_stylize_adds_one_layer_and_leaves_the_source(home, nst_service):
    code = r"""
def drive(result):
    import nst_krita
    doc, layer = make_doc(96, 64)
    before = snapshot(doc)
    job = nst_krita.stylize(document=doc, node=layer, style="starry_night", strength=0.7,
                            iterations=6, size=48)  # sent at 48x32, scaled back to 96x64
    new = job.wait(timeout=120)
    after = snapshot(doc)
    result["state"] = job.state
    result["name"] = new.name()
    b = new.bounds()
    result["bounds"] = [b.x(), b.y(), b.width(), b.height()]
    result["before"], result["after"] = before, after
    result["differs"] = bytes(new.pixelData(0, 0, 96, 64)) != bytes(layer.pixelData(0, 0, 96, 64))
    result["order"] = [n.name() for n in doc.rootNode().childNodes()]
    result["active"] = doc.activeNode().name()
"""
    r = run(home, code, nst_service["service_file"])
    assert r["state"] == "done"
    assert r["name"] == "starry_night 70% · vgg19"
    assert r["bounds"] == [0, 0, 96, 64]
    assert len(r["after"]) == len(r["before"]) + 1
    assert r["after"][: len(r["before"])] == r["before"]  # the user's layers are unchanged
    assert r["differs"]
    assert r["order"] == ["Background", "Photo", "starry_night 70% · vgg19"]
    assert r["active"] == "Photo"  # the next Stylize starts from the photo again


def test_a_selection_result_is_one_layer_and_one_undo_step(home, nst_service):
    """Krita 5.1's Python API fills a transparency mask only through Krita's own action, a
    second undo step: the selection's soft values go into the result layer's alpha instead."""
    code = r"""
def drive(result):
    import nst_krita
    doc, layer = make_doc(96, 64)
    sel = Selection()
    sel.select(40, 20, 24, 16, 255)
    sel.feather(3)
    doc.setSelection(sel)
    doc.waitForDone()
    wanted = bytes(doc.selection().pixelData(0, 0, 96, 64))
    before = snapshot(doc)
    result["before_names"] = [n.name() for n in doc.rootNode().childNodes()]
    new = nst_krita.stylize(document=doc, node=layer, style="wave", iterations=5).wait(120)
    result["bounds"] = painted_box(new, doc)
    result["masks"] = len(new.childNodes())
    alpha = bytes(new.pixelData(0, 0, 96, 64))[3::4]
    result["alpha_matches"] = max(abs(a - m) for a, m in zip(alpha, wanted)) <= 1
    result["soft"] = len({a for a in alpha if 0 < a < 255}) > 0
    s = doc.selection()
    result["selection_kept"] = s is not None and bytes(s.pixelData(0, 0, 96, 64)) == wanted
    result["active"] = doc.activeNode().name()
    after = snapshot(doc)
    result["source_same"] = all(e in after for e in before) and len(after) == len(before) + 1
    Krita.instance().action("edit_undo").trigger()
    doc.waitForDone(); process_events(0.5)
    result["after_undo"] = [n.name() for n in doc.rootNode().childNodes()]
    # A document not on screen, with another layer of it as the style image.
    doc2, layer2 = make_doc(96, 64, view=False, name="offscreen")
    style = doc2.createNode("Style layer", "paintlayer")
    doc2.rootNode().addChildNode(style, layer2)
    style.setPixelData(bytes((200, 40, 90, 255)) * (30 * 20), 5, 5, 30, 20)
    style.setVisible(False)
    sel2 = Selection(); sel2.select(10, 10, 20, 20, 255); doc2.setSelection(sel2)
    doc2.waitForDone()
    job2 = nst_krita.stylize(document=doc2, node=layer2, style=style, iterations=5)
    new2 = job2.wait(120)
    result["layer_style_name"] = new2.name()
    px = bytes(new2.pixelData(0, 0, 96, 64))
    result["offscreen_masks"] = len(new2.childNodes())
    result["offscreen_alpha"] = [px[4 * (15 * 96 + 15) + 3], px[4 * (45 * 96 + 80) + 3]]
"""
    r = run(home, code, nst_service["service_file"])
    # the selection's box plus 32 px of context was sent, but only the selection (feathered:
    # a little larger) shows: no hard-edged box
    x, y, w, h = r["bounds"]
    assert 40 - 6 <= x <= 40 and 20 - 6 <= y <= 20 and w <= 24 + 12 and h <= 16 + 12, r
    assert r["masks"] == 0 and r["alpha_matches"] and r["soft"], r
    assert r["selection_kept"] and r["source_same"] and r["active"] == "Photo", r
    assert r["after_undo"] == r["before_names"], r  # one undo: all of the result
    assert r["offscreen_masks"] == 0 and r["offscreen_alpha"] == [255, 0]
    assert r["layer_style_name"] == "Style layer · vgg19"


# ------------------------------------------------------------------------------ regions


def test_scripter_regions_swap_with_the_styles_and_bad_ones_raise(home, nst_service, tmp_path):
    """``styles=[(style, mask), ...]`` from a script: a hidden layer (white on the left) and a
    real transparency mask (made by Krita's action from a selection of the right half) as the
    regions' masks; swapping the styles swaps the sides' colours. A strength map, a blend, a
    brush size and matched colours from a script; wrong arguments raise one sentence at once
    and change nothing."""
    styles = {k: str(v) for k, v in noise_styles(tmp_path).items()}
    code = (
        REGIONS_PRELUDE
        + r"""
def drive(result):
    import nst_krita
    red, blue = STYLES["red"], STYLES["blue"]
    doc, photo = photo_doc(CONTENT)
    w, h = doc.width(), doc.height()
    left = half_layer(doc, "Left", "left")
    holder = doc.createNode("Holder", "paintlayer")
    doc.rootNode().addChildNode(holder, None)
    holder.setVisible(False)
    activate(doc, holder)
    doc.setSelection(half(doc, "right")); doc.waitForDone()
    Krita.instance().action("add_new_transparency_mask").trigger()
    doc.waitForDone(); process_events(0.3)
    doc.setSelection(None); doc.waitForDone()
    mask = holder.childNodes()[0]
    result["mask"] = [mask.type(), len(bytes(mask.pixelData(0, 0, w, h))), w * h]
    activate(doc, photo)
    common = dict(document=doc, node=photo, engine="fast", strength=0.7)

    def means(**kwargs):
        layer = nst_krita.stylize(**common, **kwargs).wait(120)
        return layer.name(), side_means(layer, doc, "left"), side_means(layer, doc, "right")

    result["first"] = means(styles=[(red, left), (blue, mask)])
    result["swapped"] = means(styles=[(blue, left), (red, mask)])
    mapped = nst_krita.stylize(**common, style=red, strength_map=left).wait(120)
    result["mapped"] = [side_difference(mapped, photo, doc, s) for s in ("left", "right")]
    result["blend"] = means(style=red, blend_with=blue, blend=0.5)
    result["matched"] = means(style=red, brush=2.0, match_colors=True)
    other, other_layer = make_doc(96, 64, view=False, name="other")
    black = half_layer(doc, "Black", "left")
    black.setPixelData(b"\x00\x00\x00\xff" * (w * h), 0, 0, w, h)
    before = snapshot(doc)
    bad = {
        "both": dict(style=red, styles=[(blue, left)]),
        "other document": dict(styles=[(red, other_layer)]),
        "too many": dict(styles=[(red, left)] * 9),
        "black": dict(styles=[(red, left), (blue, black)]),
        "not pairs": dict(styles=[red, blue]),
        "map type": dict(style=red, strength_map="Left"),
    }
    result["raised"] = {}
    for name, kwargs in bad.items():
        try:
            nst_krita.stylize(**common, **kwargs)
            result["raised"][name] = None
        except nst_krita.PluginError as exc:
            result["raised"][name] = str(exc)
    result["same"] = snapshot(doc) == before
"""
    )
    code = code.replace("STYLES", repr(styles))
    code = code.replace("CONTENT", repr(str(grey_photo(tmp_path))))
    r = run(home, code, nst_service["service_file"])
    print("\nSCRIPTER REGIONS:", r["first"][1:], r["swapped"][1:], r["mapped"])
    assert r["mask"][0] == "transparencymask" and r["mask"][1] == r["mask"][2], r["mask"]
    (name, (lr, _, lb), (rr, _, rb)), (_, (slr, _, slb), (srr, _, srb)) = r["first"], r["swapped"]
    assert name == "red + blue 70% · fast", name
    assert lr > lb + 40 and rb > rr + 40, r["first"]  # red on the left, blue on the right
    assert slb > slr + 40 and srr > srb + 40, r["swapped"]  # and swapped
    map_left, map_right = r["mapped"]
    assert map_left > 3 * map_right, r["mapped"]  # "Left" is black on the right: the photo
    (name, (br, bg, bb), _), (_, (mr, _, mb), _) = r["blend"], r["matched"]
    assert name.startswith("red + blue 70% · fast") and min(br, bb) > bg + 40, r["blend"]
    assert abs(mr - mb) < 30, r["matched"]  # the red painting recoloured to the grey photo
    assert all(one_sentence(text) for text in r["raised"].values()), r["raised"]
    said = r["raised"]
    assert "not both" in said["both"] and "not part of this document" in said["other document"]
    assert "at most 8" in said["too many"] and "region 2 is all black" in said["black"]
    assert r["same"], r


# ------------------------------------------------------------------------------ cancel


def test_cancel_leaves_the_document_as_it_was(home, nst_service):
    code = r"""
def drive(result):
    import nst_krita
    doc, layer = make_doc(96, 64)
    before = snapshot(doc)
    job = nst_krita.stylize(document=doc, node=layer, style="starry_night", iterations=5000)
    result["started"] = wait_until(lambda: job.progress.get("stage") == "optimizing"
                                   and (job.progress.get("step") or 0) >= 2, 90)
    job_id = job._job._work.job_id
    t0 = time.monotonic()
    job.cancel()
    result["state"] = job.state
    service = service_client()
    wait_until(lambda: service_state(service, job_id) in ("cancelled", "gone", "failed", "done"), 5)
    result["service_state"] = service_state(service, job_id)
    result["service_seconds"] = time.monotonic() - t0
    try:
        job.wait(1)
    except Exception as exc:
        result["wait_raises"] = type(exc).__name__
    process_events(1.0)
    result["same"] = snapshot(doc) == before
    result["error"] = job.error
    # Closing the document cancels its job too.
    doc2, layer2 = make_doc(96, 64, name="closing")
    job2 = nst_krita.stylize(document=doc2, node=layer2, style="wave", iterations=5000)
    wait_until(lambda: job2.progress.get("stage") == "optimizing", 90)
    job2_id = job2._job._work.job_id
    doc2.setModified(False)  # else closing asks whether to save, in a modal dialog
    doc2.close()
    wait_until(lambda: job2.state != "running", 5)
    result["closed_state"], result["closed_error"] = job2.state, job2.error
    wait_until(lambda: service_state(service, job2_id) in ("cancelled", "gone"), 5)
    result["closed_service_state"] = service_state(service, job2_id)
"""
    r = run(home, code, nst_service["service_file"])
    assert r["started"]
    assert r["state"] == "cancelled" and r["wait_raises"] == "Cancelled"
    assert r["service_state"] in ("cancelled", "gone") and r["service_seconds"] < 1.5, r
    assert r["same"] and one_sentence(r["error"])
    assert r["closed_state"] == "cancelled" and "closed" in r["closed_error"]
    assert r["closed_service_state"] in ("cancelled", "gone"), r


# ------------------------------------------------------------------------------ errors


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_service_url_is_one_sentence(home, nst_service):
    port = _closed_port()
    editors.kritarc_set(home, "nst_krita", "url", f"http://127.0.0.1:{port}")
    r = run(home, ERROR_DRIVE, nst_service["service_file"])
    assert r["raised"] == "ServiceError" and r["state"] == "failed" and r["same"]
    assert one_sentence(r["error"]) and f"127.0.0.1:{port}" in r["error"], r["error"]


def test_missing_nst_command_is_one_sentence(home, tmp_path):
    pkg = editors.krita_pykrita_dir(home) / "nst_krita"
    (pkg / "nst-host.json").write_text(
        json.dumps({"nst": str(tmp_path / "no-such-nst"), "url": None, "token": None})
    )
    r = run(home, ERROR_DRIVE, tmp_path / "no-service.json")
    assert r["raised"] == "ServiceError" and r["state"] == "failed" and r["same"]
    assert one_sentence(r["error"]) and "no-such-nst" in r["error"], r["error"]
