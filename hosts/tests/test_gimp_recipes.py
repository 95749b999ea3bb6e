"""Recipes in the real GIMP 3: a result layer carries the persistent `nst-recipe` parasite,
which an .xcf file keeps; the procedure run with *from-recipe* on a result makes it again with
the changes a script passes; a recipe that cannot be used is one sentence and no new layer.
Fixtures and helpers: gimp_session.py; run with `.venv/bin/pytest hosts/tests/test_gimp_recipes.py`.
"""

from __future__ import annotations

import json

from gimp_session import gimp, nst_exe, nst_service  # noqa: F401  (fixtures)

FAST = '{"iterations": 3}'


def test_recipe_parasite_survives_xcf_and_from_recipe_makes_it_again(gimp):
    xcf = f"{gimp.chroot_dir}/recipe-test.xcf"
    _, _, err, runs = gimp.batch(f"""
        from gi.repository import Gio
        image, layer = make_image()
        status, message = stylize(image, layer, style="starry_night", quality="draft",
                                  engine="vgg19", strength=0.7, options={FAST!r})
        new = image.get_layers()[0]
        new.set_name("renamed by the user")
        def recipe_of(item):
            parasite = item.get_parasite("nst-recipe")
            return None if parasite is None else bytes(parasite.get_data()).decode()
        first, photo = recipe_of(new), recipe_of(layer)
        Gimp.file_save(Gimp.RunMode.NONINTERACTIVE, image, Gio.File.new_for_path({xcf!r}), None)
        loaded = Gimp.file_load(Gimp.RunMode.NONINTERACTIVE, Gio.File.new_for_path({xcf!r}))
        again = [l for l in loaded.get_layers() if l.get_name() == "renamed by the user"][0]
        status2, message2 = stylize(loaded, again, from_recipe=True,
                                    options='{{"strength": 0.3}}')
        newest = loaded.get_layers()[1]  # above its source, below the result it came from
        report(status=status, message=message, first=first, photo=photo,
               loaded=recipe_of(again), status2=status2, message2=message2,
               third=recipe_of(newest), names=[l.get_name() for l in loaded.get_layers()])
    """)
    (run,) = runs
    assert run["status"] == "success", run["message"]
    assert run["photo"] is None  # the user's own layers never get one
    first = json.loads(run["first"])
    assert first["style"]["name"] == "starry_night" and len(first["style"]["sha256"]) == 64
    assert first["engine"] == "vgg19" and first["options"]["strength"] == 0.7
    assert first["source"]["label"] == "photo" and first["source"]["box"] == [0, 0, 64, 48]
    assert run["loaded"] == run["first"]  # the same parasite after saving and loading .xcf
    assert run["status2"] == "success", run["message2"]
    third = json.loads(run["third"])
    assert third["options"]["strength"] == 0.3 and third["choices"]["strength"] == 0.3
    assert third["style"] == first["style"] and third["options"]["iterations"] == 3
    assert third["source"] == first["source"]
    names = run["names"]
    assert names[0] == "renamed by the user" and names[2] == "photo" and len(names) == 3
    assert "inconsistent state" not in err


def test_recipes_that_cannot_be_used_are_one_sentence_and_add_no_layer(gimp):
    _, _, _, runs = gimp.batch(f"""
        import json
        image, layer = make_image()
        stylize(image, layer, style="starry_night", quality="draft", engine="vgg19",
                options={FAST!r})
        result = image.get_layers()[0]
        good = json.loads(bytes(result.get_parasite("nst-recipe").get_data()).decode())

        def attempt(recipe, drawable=result, options="{{}}"):
            if recipe is not None:
                data = list(json.dumps(recipe).encode()) if isinstance(recipe, dict) else recipe
                drawable.attach_parasite(Gimp.Parasite.new("nst-recipe", 1, data))
            before = describe(image)
            status, message = stylize(image, drawable, from_recipe=True, options=options)
            report(status=status, message=message, same=describe(image) == before)

        attempt(None, drawable=layer)
        attempt(dict(good, choices={{"strength": 7}}))
        attempt(dict(good, source=dict(good["source"], layer="99999")))
        attempt(dict(good, style={{"name": "lost_painting"}}, styles=[{{"name": "lost_painting"}}]))
        attempt(list(b"not json"))
        attempt(good, options='{{"strength": 3}}')
    """)
    assert len(runs) == 6
    for run in runs:
        assert run["status"] == "execution-error" and run["same"], run
        message = run["message"]
        assert "\n" not in message and message.endswith(".") and "Traceback" not in message
    assert "not a Neural Style result" in runs[0]["message"]
    assert "out of range" in runs[1]["message"]
    assert "source layer 'photo'" in runs[2]["message"]
    assert "no style named 'lost_painting'" in runs[3]["message"]
    assert "not valid JSON" in runs[4]["message"]
    assert "Strength must be between 0 and 1" in runs[5]["message"]
