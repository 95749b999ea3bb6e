"""Style masks and the strength map on the VGG19 engine (random stand-in network, tiny
images): swapping masks swaps the regions' styles, black stays the photo, bad input is one
sentence and writes nothing; the options reach the CLI, the schema and checkpoints."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nst_plugin
from nst_plugin import RequestError, UserError, checkpoint, cli
from nst_plugin.cli.stylize import DEMO_CONTENT
from nst_plugin.options import json_schema
from nst_plugin.vgg19 import load_engine

load_engine()
W, H = 64, 48
FAST = dict(size=W, weights="random", scales=1, iterations=25)


def flat(colour, seed=0) -> Image.Image:
    """A flat-coloured style with a little noise (the Gram needs some texture)."""
    rng = np.random.default_rng(seed)
    noisy = np.asarray(colour, np.float32) + rng.normal(0, 20, (48, 48, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


RED, BLUE = flat((220, 40, 40)), flat((40, 40, 220), seed=1)


@pytest.fixture(scope="module")
def photo() -> Image.Image:
    img = Image.open(DEMO_CONTENT).convert("RGB")
    return img.resize((W, H), Image.Resampling.LANCZOS)


def half(side: str, size=(W, H)) -> Image.Image:
    mask = Image.new("L", size, 0)
    w, h = size
    mask.paste(255, (0, 0, w // 2, h) if side == "left" else (w // 2, 0, w, h))
    return mask


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), np.float32)


def redness(a: np.ndarray) -> float:
    """Mean red minus mean blue: positive for the red style, negative for the blue."""
    return float(a[..., 0].mean() - a[..., 2].mean())


MARGIN = 6  # columns either side of the seam, left out of per-half measures


def halves(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return a[:, : W // 2 - MARGIN], a[:, W // 2 + MARGIN :]


def test_swapping_the_masks_swaps_the_regions_styles(photo):
    left, right = half("left"), half("right")
    a = arr(nst_plugin.stylize(photo, [RED, BLUE], style_masks=[left, right], **FAST).image)
    b = arr(nst_plugin.stylize(photo, [RED, BLUE], style_masks=[right, left], **FAST).image)
    base = redness(arr(photo))
    (al, ar), (bl, br) = halves(a), halves(b)
    assert redness(al) > base + 40 and redness(ar) < base - 40  # red left, blue right
    assert redness(bl) < base - 40 and redness(br) > base + 40  # and the other way round


def test_strength_map_keeps_the_photo_where_black(photo):
    out = arr(nst_plugin.stylize(photo, RED, strength_map=half("left"), **FAST).image)
    diff = np.abs(out - arr(photo))
    white, black = halves(diff)
    assert black.mean() < 4 and white.mean() > 30, (black.mean(), white.mean())
    plain = np.abs(arr(nst_plugin.stylize(photo, RED, **FAST).image) - arr(photo))
    assert halves(plain)[1].mean() > 30  # without the map the right half moves too


def test_masks_adding_to_zero_leave_the_photo(photo):
    top = Image.new("L", (W, H), 0)
    top.paste(255, (0, 0, W, H // 2))
    out = arr(nst_plugin.stylize(photo, [RED, BLUE], style_masks=[top, top], **FAST).image)
    diff = np.abs(out - arr(photo))
    assert diff[H // 2 + MARGIN :].mean() < 4 and diff[: H // 2 - MARGIN].mean() > 20


@pytest.mark.parametrize(
    "extra",
    [
        dict(style_loss="meancov"),
        dict(size=96, tile_size=64, tile_overlap=16),  # tiles: masks cropped per tile
        dict(size=96, scales=2),  # each scale resizes the masks
        dict(optimizer="adam", learning_rate=8.0, iterations=40),
    ],
    ids=["meancov", "tiles", "scales", "adam"],
)
def test_regions_hold_with_other_controls(photo, extra):
    kw = {**FAST, **extra}
    out = arr(
        nst_plugin.stylize(
            photo, [RED, BLUE], style_masks=[half("left"), half("right")], **kw
        ).image
    )
    w = out.shape[1]
    base = redness(arr(photo))
    assert redness(out[:, : w // 2 - MARGIN]) > base + 20
    assert redness(out[:, w // 2 + MARGIN :]) < base - 20


@pytest.mark.parametrize("colour", ["preserve_colors", "match_colors"])
def test_colour_options_with_a_strength_map(photo, colour):
    out = arr(
        nst_plugin.stylize(photo, RED, strength_map=half("left"), **{colour: True}, **FAST).image
    )
    white, black = halves(np.abs(out - arr(photo)))
    assert black.mean() < 4 and white.mean() > black.mean() + 5


def test_regions_survive_a_checkpoint(photo, tmp_path):
    out = tmp_path / "out.png"
    seen = {}

    def keep(event):
        if checkpoint.path_for(out).exists():
            seen["saved"] = checkpoint.load(checkpoint.path_for(out))

    nst_plugin.stylize(
        photo,
        [RED, BLUE],
        out,
        style_masks=[half("left"), half("right")],
        strength_map=half("left"),
        checkpoint_every=5,
        on_progress=keep,
        **FAST,
    )
    saved = seen["saved"]
    assert [np.asarray(m).tolist() for m in saved["style_masks"]] == [
        np.asarray(half("left")).tolist(),
        np.asarray(half("right")).tolist(),
    ]
    assert saved["strength_map"] is not None and saved["settings"].style_masks is None


@pytest.mark.parametrize("kind", ["gram", "meancov"])
def test_one_region_covering_everything_is_the_plain_loss(kind):
    from nst_plugin.vgg19 import losses

    rng = np.random.default_rng(0)
    f = rng.normal(size=(1, 8, 12, 5)).astype(np.float32) + 0.5
    t = rng.normal(size=(5, 5)).astype(np.float32)
    t = t @ t.T
    m = rng.normal(size=5).astype(np.float32)
    full = losses.layer_weights(np.ones((1, 17, 25, 1), np.float32), f, 2)
    if kind == "gram":
        plain, guided = losses.style_loss(f, t), losses.guided_style_loss(f, full, t[None])
    else:
        plain = losses.meancov_loss(f, m, t)
        guided = losses.guided_style_loss(f, full, t[None], m[None])
    assert float(guided) == pytest.approx(float(plain), rel=1e-4)
    # a region on the left half: the left half's statistics, counted by the half's share
    left = np.zeros((1, 16, 24, 1), np.float32)
    left[:, :, :12] = 1
    half_f = f[:, :, :6]
    plain = losses.style_loss(half_f, t) if kind == "gram" else losses.meancov_loss(half_f, m, t)
    weights = losses.layer_weights(left, f, 2)
    mean = None if kind == "gram" else m[None]
    guided = losses.guided_style_loss(f, weights, t[None], mean)
    assert float(guided) == pytest.approx(0.5 * float(plain), rel=1e-4)


# --------------------------------------------------------------------------- bad input


def _save(image: Image.Image, path) -> str:
    image.save(path)
    return str(path)


@pytest.mark.parametrize(
    "case, words",
    [
        ("count", "1 style mask given for 2 style images"),
        ("black", "black everywhere"),
        ("aspect", "different shape"),
        ("missing", "does not exist"),
        ("corrupt", "style mask #1: "),
        ("map_aspect", "strength map"),
        ("blend", "one or the other"),
    ],
)
def test_bad_guides_are_one_sentence_and_write_nothing(photo, tmp_path, case, words):
    out = tmp_path / "out.png"
    left = _save(half("left"), tmp_path / "left.png")
    kw: dict = {"style_masks": [left, _save(half("right"), tmp_path / "right.png")]}
    if case == "count":
        kw["style_masks"] = [left]
    elif case == "black":
        kw["style_masks"][1] = _save(Image.new("L", (W, H), 0), tmp_path / "black.png")
    elif case == "aspect":
        kw["style_masks"][0] = _save(half("left", (W, W * 2)), tmp_path / "tall.png")
    elif case == "missing":
        kw["style_masks"][0] = str(tmp_path / "nowhere.png")
    elif case == "corrupt":
        (tmp_path / "bad.png").write_bytes(b"not an image at all")
        kw["style_masks"][0] = str(tmp_path / "bad.png")
    elif case == "map_aspect":
        kw = {"strength_map": _save(half("left", (W * 3, H)), tmp_path / "wide.png")}
    elif case == "blend":
        kw["style_blend"] = (0.5, 0.5)
    with pytest.raises(UserError) as info:
        nst_plugin.stylize(photo, [RED, BLUE], out, **kw, **FAST)
    text = str(info.value)
    assert words in text and text.endswith(".") and "\n" not in text, text
    assert text.count(". ") == 0, text  # one sentence
    assert not out.exists()


def test_masks_of_another_size_are_resized(photo):
    big = half("left", (W * 4, H * 4))  # the same shape, painted at four times the size
    out = arr(nst_plugin.stylize(photo, [RED], style_masks=[big], **FAST).image)
    white, black = halves(np.abs(out - arr(photo)))
    assert black.mean() < 4 and white.mean() > 30


# --------------------------------------------------------------------------- interfaces


def test_the_options_reach_the_schema_as_uploads():
    props = json_schema()["properties"]
    assert props["style_masks"]["x-upload"] == "style_mask"
    assert props["strength_map"]["x-upload"] == "strength_map"
    with pytest.raises(RequestError):
        nst_plugin.Settings(style_masks=[1, 2]).style_masks  # noqa: B018  paths are text


def test_cli_takes_masks_and_a_map(photo, tmp_path, capsys):
    paths = {}
    for name, image in (("photo", photo), ("red", RED), ("blue", BLUE)):
        paths[name] = _save(image, tmp_path / f"{name}.png")
    left = _save(half("left"), tmp_path / "l.png")
    right = _save(half("right"), tmp_path / "r.png")
    out = tmp_path / "out.png"
    common = ["--size", str(W), "--weights", "random", "--scales", "1", "--iterations", "20", "-q"]
    code = cli.main(
        [
            "stylize",
            paths["photo"],
            paths["red"],
            paths["blue"],
            "-o",
            str(out),
            *common,
            "--style-masks",
            f"{right},{left}",
            "--strength-map",
            left,
        ]
    )
    assert code == 0
    a = arr(Image.open(out))
    (al, ar) = halves(a)
    # the map keeps the right half (blue's region) the photo; the left takes blue
    assert redness(al) < redness(arr(photo)[:, : W // 2 - MARGIN]) - 20
    assert np.abs(ar - halves(arr(photo))[1]).mean() < 4
    capsys.readouterr()
    bad = tmp_path / "bad.png"
    code = cli.main(
        [
            "stylize",
            paths["photo"],
            paths["red"],
            paths["blue"],
            "-o",
            str(bad),
            *common,
            "--style-masks",
            left,
        ]
    )
    err = capsys.readouterr().err.strip()
    assert code == 2 and not bad.exists()
    assert err.startswith("nst: error: 1 style mask given for 2 style images"), err
    assert "\n" not in err


def test_a_sidecars_mask_paths_are_relative_to_the_photos_folder(tmp_path):
    import json

    from nst_plugin.hotfolder.spec import Specs, WatchConfig

    inbox = tmp_path / "inbox"
    inbox.mkdir()
    style = _save(RED, tmp_path / "red.png")
    (inbox / "photo.png.json").write_text(
        json.dumps({"style_masks": ["masks/m.png"], "strength_map": "/abs/map.png"})
    )
    specs = Specs(WatchConfig(inbox=inbox, style=style))
    specs.load_default()
    spec = specs.for_file(inbox, "photo.png")
    assert spec.settings.style_masks == (str(inbox / "masks" / "m.png"),)
    assert spec.settings.strength_map == "/abs/map.png"


def test_an_engine_without_the_options_refuses_masks(photo, fake, tmp_path):
    out = tmp_path / "out.png"
    with pytest.raises(RequestError) as info:
        nst_plugin.stylize(photo, RED, out, engine="fake", strength_map=half("left"))
    assert "fake engine does not take strength-map" in str(info.value) and not out.exists()
    assert nst_plugin.stylize(photo, RED, engine="fake").width == W  # without: as before
