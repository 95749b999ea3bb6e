"""Recipes in the real Krita 5.1: every result layer remembers how it was made, in the .kra
file; restylize makes it again with changes; history lists the document's results after a
reopen; a recipe that cannot be used is one sentence and the document stays as it was.

Run with `.venv/bin/pytest hosts/tests/test_krita_recipes.py` (the editors: .ci/install-editors).
"""

from __future__ import annotations

from krita_session import home, nst_service, one_sentence, run  # noqa: F401  (fixtures)


def test_recipe_survives_save_and_reopen_and_restylize_adds_a_result(home, nst_service, tmp_path):
    path = tmp_path / "recipes.kra"
    code = r"""
def drive(result):
    import nst_krita
    doc, layer = make_doc(96, 64)
    new = nst_krita.stylize(document=doc, node=layer, style="starry_night", strength=0.7,
                            iterations=4, size=48).wait(timeout=120)
    new.setName("renamed by the user")
    result["photo_recipe"] = nst_krita.recipe(layer, document=doc)
    result["first"] = nst_krita.recipe(new, document=doc)
    doc.setFileName(PATH)
    result["saved"] = doc.save()
    doc.waitForDone()
    doc.close()
    process_events(0.5)
    doc = Krita.instance().openDocument(PATH)
    doc.waitForDone()
    main_window().addView(doc)
    process_events(0.3)
    named = {n.name(): n for n in doc.rootNode().childNodes()}
    again = named["renamed by the user"]
    result["reopened"] = nst_krita.recipe(again, document=doc)
    result["history_before"] = [h["name"] for h in nst_krita.history(doc)]
    before = snapshot(doc)
    third = nst_krita.restylize(again, document=doc, strength=0.3).wait(timeout=120)
    result["restyled"] = nst_krita.recipe(third, document=doc)
    result["history_after"] = [h["name"] for h in nst_krita.history(doc)]
    after = snapshot(doc)
    result["unchanged"] = after[: len(before)] == before or sorted(before) == sorted(
        [a for a in after if a[0] != third.name()])
    result["third_name"] = third.name()
""".replace("PATH", repr(str(path)))
    r = run(home, code, nst_service["service_file"], timeout=300)
    first = r["first"]
    assert r["photo_recipe"] is None  # the user's own layers never get one
    assert first["style"]["name"] == "starry_night" and len(first["style"]["sha256"]) == 64
    assert first["engine"] == "vgg19"
    assert first["options"]["strength"] == 0.7 and first["options"]["iterations"] == 4
    assert first["choices"]["strength"] == 0.7
    assert first["source"]["label"] == "Photo" and first["source"]["box"] == [0, 0, 96, 64]
    assert first["version"]
    assert r["saved"] is True
    assert r["reopened"] == first  # the same after save, close and reopen, renamed too
    assert r["history_before"] == ["renamed by the user"]
    restyled = r["restyled"]
    assert restyled["options"]["strength"] == 0.3
    assert restyled["style"] == first["style"]
    assert restyled["options"]["iterations"] == 4
    assert restyled["source"] == first["source"]
    assert r["history_after"] == ["renamed by the user", r["third_name"]]
    assert r["unchanged"]


def test_recipes_that_cannot_be_used_are_one_sentence_and_change_nothing(home, nst_service):
    code = r"""
def drive(result):
    import json
    import nst_krita
    from PyQt5.QtCore import QByteArray
    doc, layer = make_doc(64, 48)
    new = nst_krita.stylize(document=doc, node=layer, style="starry_night",
                            iterations=2, size=32).wait(timeout=120)
    table = json.loads(bytes(doc.annotation("nst-plugin/recipes")).decode())
    (uid, good), = table.items()
    result["not_a_result"] = None
    try:
        nst_krita.restylize(layer, document=doc)
    except nst_krita.PluginError as exc:
        result["not_a_result"] = str(exc)

    def attempt(recipe):
        table[uid] = recipe
        doc.setAnnotation("nst-plugin/recipes", "", QByteArray(json.dumps(table).encode()))
        before = snapshot(doc)
        try:
            nst_krita.restylize(new, document=doc).wait(timeout=120)
            message = "no error"
        except Exception as exc:
            message = type(exc).__name__ + ": " + str(exc)
        return message, snapshot(doc) == before

    nonsense = dict(good, choices={"strength": 7})
    result["nonsense"] = attempt(nonsense)
    result["no_engine"] = attempt({k: v for k, v in good.items() if k != "engine"})
    gone = dict(good, style={"name": "lost_painting", "label": "lost_painting"},
                styles=[{"name": "lost_painting", "label": "lost_painting"}])
    result["gone"] = attempt(gone)
    source_gone = dict(good, source=dict(good["source"], layer="{00000000-0000-0000-0000-0}"))
    result["source_gone"] = attempt(source_gone)
    doc.setAnnotation("nst-plugin/recipes", "", QByteArray(b"[not json"))
    try:
        nst_krita.recipe(new, document=doc)
        result["damaged"] = "no error"
    except nst_krita.PluginError as exc:
        result["damaged"] = str(exc)
"""
    r = run(home, code, nst_service["service_file"], timeout=300)
    assert "not a Neural Style result" in r["not_a_result"]
    for key, words in (
        ("nonsense", "setting out of range"),
        ("no_engine", "names no engine"),
        ("gone", "lost_painting"),
        ("source_gone", "source layer 'Photo'"),
    ):
        message, unchanged = r[key]
        assert words in message, (key, message)
        assert one_sentence(message.split(": ", 1)[1]), message
        assert unchanged, key
    assert "damaged" in r["damaged"] and one_sentence(r["damaged"])
