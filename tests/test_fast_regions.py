"""Style masks and the strength map on the fast engine with the real model (the ONNX files of
the test extra): per-style passes placed by their masks, the map interpolating per pixel."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nst_plugin
from nst_plugin import UserError

pytest.importorskip(
    "onnxruntime", reason="the fast engine needs onnxruntime: pip install '.[fast]'"
)
from nst_plugin.fast import models

if not models.status()["ready"]:
    pytest.skip(
        "the fast engine's model is not installed: pip install '.[fast]'", allow_module_level=True
    )

from nst_plugin.cli.stylize import DEMO_CONTENT

W, H = 96, 64
MARGIN = 8  # columns either side of the seam (the masks are feathered), left out of measures
FAST = dict(engine="fast", size=W)


def flat(colour, seed=0) -> Image.Image:
    rng = np.random.default_rng(seed)
    noisy = np.asarray(colour, np.float32) + rng.normal(0, 20, (64, 64, 3))
    return Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8))


RED, BLUE = flat((220, 40, 40)), flat((40, 40, 220), seed=1)
PHOTO = Image.open(DEMO_CONTENT).convert("RGB").resize((W, H), Image.Resampling.LANCZOS)


def half(side: str) -> Image.Image:
    mask = Image.new("L", (W, H), 0)
    mask.paste(255, (0, 0, W // 2, H) if side == "left" else (W // 2, 0, W, H))
    return mask


def arr(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), np.float32)


def halves(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    return a[:, : W // 2 - MARGIN], a[:, W // 2 + MARGIN :]


def redness(a: np.ndarray) -> float:
    return float(a[..., 0].mean() - a[..., 2].mean())


def test_swapping_the_masks_swaps_the_regions_styles():
    a = arr(
        nst_plugin.stylize(
            PHOTO, [RED, BLUE], style_masks=[half("left"), half("right")], **FAST
        ).image
    )
    b = arr(
        nst_plugin.stylize(
            PHOTO, [RED, BLUE], style_masks=[half("right"), half("left")], **FAST
        ).image
    )
    base = redness(arr(PHOTO))
    (al, ar), (bl, br) = halves(a), halves(b)
    assert redness(al) > base + 40 and redness(ar) < base - 40
    assert redness(bl) < base - 40 and redness(br) > base + 40


def test_strength_map_black_stays_near_the_photo_and_white_moves():
    out = arr(nst_plugin.stylize(PHOTO, RED, strength_map=half("left"), **FAST).image)
    white, black = halves(np.abs(out - arr(PHOTO)))
    full = arr(nst_plugin.stylize(PHOTO, RED, **FAST).image)
    # black is the photo's own-style pass (the engine's strength 0), white the full style
    assert black.mean() < 0.5 * white.mean()
    assert np.abs(halves(out)[0] - halves(full)[0]).mean() < 3


def test_masks_adding_to_zero_leave_the_photo():
    out = arr(
        nst_plugin.stylize(
            PHOTO, [RED, BLUE], style_masks=[half("left"), half("left")], **FAST
        ).image
    )
    styled, untouched = halves(np.abs(out - arr(PHOTO)))
    assert untouched.mean() < 1 and styled.mean() > 20


def test_a_black_mask_is_one_sentence():
    with pytest.raises(UserError) as info:
        nst_plugin.stylize(
            PHOTO, [RED, BLUE], style_masks=[half("left"), Image.new("L", (W, H))], **FAST
        )
    assert "black everywhere" in str(info.value)


def test_match_colors_recolours_the_painting_to_the_photos_colours():
    """A red painting on the photo: with match_colors the result keeps the photo's colours."""
    plain = arr(nst_plugin.stylize(PHOTO, RED, **FAST).image)
    matched = arr(nst_plugin.stylize(PHOTO, RED, match_colors=True, **FAST).image)
    base = redness(arr(PHOTO))
    assert redness(plain) > base + 40
    assert abs(redness(matched) - base) < 0.5 * abs(redness(plain) - base)


def test_a_small_region_runs_over_its_box_and_matches_the_whole_pictures_pass():
    """A region's pass covers its mask's box plus context, not the whole picture: inside it
    looks like the one-style result there, outside the photo is untouched, and progress
    still climbs steadily to its end."""
    w, h = 768, 512
    photo = PHOTO.resize((w, h), Image.Resampling.LANCZOS)
    corner = Image.new("L", (w, h), 0)
    corner.paste(255, (0, 0, 200, 200))
    steps = []
    big = dict(engine="fast", size=w)
    out = arr(
        nst_plugin.stylize(
            photo, [RED], style_masks=[corner], on_progress=steps.append, **big
        ).image
    )
    whole = arr(nst_plugin.stylize(photo, RED, **big).image)
    edge = 120  # well inside the feathered edge
    assert np.abs(out[:edge, :edge] - whole[:edge, :edge]).mean() < 8
    assert np.abs(out[:, 300:] - arr(photo)[:, 300:]).max() < 1
    done = [e.step for e in steps if e.stage == "optimizing"]
    assert done == sorted(done) and done[-1] == [e for e in steps if e.total][-2].total
