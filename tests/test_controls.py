"""Each artist-facing control changes what it promises (random stand-in network, tiny images)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import nst_plugin
from nst_plugin import Cancelled, Reporter, Settings, checkpoint
from nst_plugin.vgg19 import colors, load_engine

transfer = load_engine()
FAST = dict(size=48, weights="random", scales=1)


def run(images, **kw):
    return nst_plugin.stylize(images["content"], images["style"], **{**FAST, **kw})


def arr(result) -> np.ndarray:
    return np.asarray(result.image, dtype=np.float32)


def content_at(images, result) -> np.ndarray:
    img = Image.open(images["content"]).convert("RGB").resize(result.image.size, Image.LANCZOS)
    return np.asarray(img, dtype=np.float32)


def test_schedule_is_coarse_to_fine():
    plan = transfer.schedule((512, 256), Settings(iterations=100))
    assert [size for size, _ in plan] == [(128, 64), (256, 128), (512, 256)]
    assert sum(n for _, n in plan) == 100
    assert transfer.schedule((96, 64), Settings()) == [((96, 64), 300)]
    assert [s for s, _ in transfer.schedule((512, 512), Settings(scales=2))] == [
        (256, 256),
        (512, 512),
    ]


def test_multiscale_runs_every_scale(images):
    previews = []
    r = run(
        images,
        size=64,
        scales=2,
        iterations=4,
        preview_every=1,
        on_progress=lambda e: e.preview is not None and previews.append(e.preview.size),
    )
    assert max(r.image.size) == 64 and r.iterations == 4
    assert {max(size) for size in previews} == {32, 64}  # a preview from each scale


def test_time_budget_stops_the_run(images):
    r = run(images, iterations=100_000, time_budget=2.0)  # the most iterations there are
    assert 1 <= r.iterations < 100_000
    assert r.seconds < 60  # it stopped on time, not after 100000 iterations


def test_strength_zero_gives_the_content_back(images):
    r = run(images, strength=0.0, iterations=5)
    assert np.abs(arr(r) - content_at(images, r)).max() <= 1
    strong = run(images, strength=1.0, iterations=5, seed=1)
    assert np.abs(arr(strong) - content_at(images, strong)).mean() > 5


def test_strength_maps_onto_the_weights():
    s = Settings(content_weight=1, style_weight=10, tv_weight=0.1)
    assert s.replace(strength=0.5).loss_weights() == pytest.approx((1, 10, 0.1))
    assert s.replace(strength=1.0).loss_weights() == pytest.approx((0, 20, 0.1))
    assert s.replace(strength=0.0).loss_weights() == pytest.approx((2, 0, 0))


def test_preserve_colors_keeps_the_contents_chroma(images):
    r = run(images, preserve_colors=True, iterations=5)
    out, content = colors.to_yiq(arr(r)), colors.to_yiq(content_at(images, r))
    assert np.abs(out[..., 1:] - content[..., 1:]).mean() < 2.0
    plain = run(images, iterations=5)
    assert np.abs(colors.to_yiq(arr(plain))[..., 1:] - content[..., 1:]).mean() > 2.0


def test_match_colors_moves_the_style_to_the_contents_colours(images):
    request = nst_plugin.StylizeRequest(
        Image.open(images["content"]).convert("RGB"),
        [Image.open(images["style"]).convert("RGB")],
        Settings(match_colors=True, **FAST),
    )
    content, styles = transfer.prepare_images(request, (48, 27))
    gap = np.abs(styles[0].mean(axis=(0, 1, 2)) - content.mean(axis=(0, 1, 2))).max()
    assert gap < 3
    a, b = run(images, iterations=3), run(images, iterations=3, match_colors=True)
    assert a.losses[0] != pytest.approx(b.losses[0], rel=1e-3)


def test_style_scale_changes_the_style_targets(images):
    a, b = run(images, size=96, iterations=1), run(images, size=96, iterations=1, style_scale=0.5)
    assert a.losses[0] != pytest.approx(b.losses[0], rel=1e-3)


def test_meancov_style_loss_descends_and_differs(images):
    r = run(images, style_loss="meancov", iterations=6)
    assert r.loss_end < 0.7 * r.loss_start
    g = run(images, iterations=1)
    assert r.losses[0] != pytest.approx(g.losses[0], rel=1e-3)


def test_adam_iterate_averaging(images):
    avg = run(images, optimizer="adam", iterations=6, average=0.9, seed=0, init="noise")
    last = run(images, optimizer="adam", iterations=6, average=0.0, seed=0, init="noise")
    assert not np.array_equal(arr(avg), arr(last))
    assert avg.loss_end < avg.loss_start


@pytest.mark.parametrize("precision", ["mixed", "auto"])
@pytest.mark.parametrize("init", ["content", "noise"])
def test_mixed_precision_stays_finite(images, precision, init):
    r = run(images, precision=precision, init=init, seed=0, iterations=6)
    assert np.all(np.isfinite(r.losses)) and r.loss_end < r.loss_start
    assert np.isfinite(arr(r)).all()


def test_auto_precision_follows_the_device(tmp_path):
    from nst_plugin.vgg19 import precision

    class Device:
        def __init__(self, native):
            self.native_bfloat16 = lambda: native

    assert precision.resolve("auto", Device(True)) == "mixed"
    assert precision.resolve("auto", Device(False)) == "float32"
    assert precision.resolve("float32", Device(True)) == "float32"
    assert precision.resolve("mixed", Device(False)) == "mixed"
    for flags, want in (
        ("fpu sse avx512f amx_bf16 amx_tile", True),
        ("fpu sse avx512f avx512_bf16", True),
        ("fpu sse avx2 avx512f", False),
    ):
        info = tmp_path / f"cpuinfo-{want}-{len(flags)}"
        info.write_text(f"processor\t: 0\nflags\t\t: {flags}\n")
        assert precision.cpu_has_bfloat16(str(info)) is want
    assert precision.cpu_has_bfloat16(str(tmp_path / "absent")) is False


def test_content_targets_stop_at_the_content_layers(images):
    """Tiles compute content targets with a forward pass truncated at the content layers:
    the same features as the whole network's, from fewer layers."""
    s = Settings(weights="random", precision="float32")
    net = transfer.get_network(s)
    content = transfer.to_array(Image.open(images["content"]).convert("RGB"), (48, 32))
    full = net.forward(content)[: len(net.content_layers)]
    short = net.content_forward(content)
    assert len(short) == len(full) == 1
    np.testing.assert_allclose(np.asarray(short[0]), np.asarray(full[0]), rtol=1e-4, atol=1e-3)


def test_xla_matches_the_graph(images):
    a = run(images, iterations=2)
    b = run(images, iterations=2, xla=True)
    assert b.losses[0] == pytest.approx(a.losses[0], rel=1e-3)


def test_tiles_cover_and_feather():
    from nst_plugin.vgg19 import tiles

    boxes = tiles.boxes(200, 120, 64, 16)
    cover = np.zeros((120, 200))
    for x0, y0, x1, y1 in boxes:
        cover[y0:y1, x0:x1] += 1
        assert x1 - x0 == 64 and y1 - y0 == 64
    assert cover.min() >= 1
    w = tiles.feather(boxes[0], 200, 120, 16)
    assert w[0, 0, 0] == 1 and w[0, -1, 0] < 0.1 and w[-1, 0, 0] < 0.1


def test_tiled_run_has_no_seam(images):
    """A tiled run matches an untiled one as closely at the tile seams as elsewhere."""
    from nst_plugin.vgg19 import tiles

    kw = dict(size=96, iterations=6, init="content")
    whole = run(images, **kw)
    tiled = run(images, tile_size=48, tile_overlap=16, **kw)
    diff = np.abs(arr(tiled) - arr(whole)).mean(axis=2)
    h, w = diff.shape
    seams_x = [x0 for x0, _, _, _ in tiles.boxes(w, h, 48, 16) if x0 > 0]
    near = np.concatenate([diff[:, max(0, x - 8) : x + 24] for x in seams_x], axis=1)
    assert near.mean() < 2.0 * diff.mean() + 1.0
    # and the seam itself is no sharper in the tiled image than in the whole one
    step = lambda a, x: np.abs(np.diff(a[:, x - 4 : x + 20].mean(axis=2), axis=1)).mean()  # noqa: E731
    for x in seams_x:
        assert step(arr(tiled), x) < 1.5 * step(arr(whole), x) + 2.0


def test_tile_size_follows_the_free_memory(tmp_path):
    from nst_plugin.vgg19 import tiles

    per = tiles.BYTES_PER_PIXEL["mixed"]
    assert tiles.size_for(2048, 1133, None, "mixed", 64) == tiles.DEFAULT_TILE  # unknown
    whole = int(2048 * 1133 * per / tiles.MEMORY_SHARE)
    assert tiles.size_for(2048, 1133, whole, "mixed", 64) == 2048  # fits: no tiles
    assert tiles.size_for(2048, 1133, whole - 10**6, "mixed", 64) < 2048  # not quite: tiles
    assert tiles.size_for(2048, 1133, whole, "float32", 64) < 2048  # float32 takes more
    quarter = int(1024 * 1024 * per / tiles.MEMORY_SHARE)
    assert tiles.size_for(4096, 4096, quarter, "mixed", 64) == 1024  # the largest that fits
    assert tiles.size_for(4096, 4096, 1, "mixed", 64) == tiles.MIN_TILE
    assert tiles.size_for(4096, 4096, 1, "mixed", 300) == 616  # twice the overlap, and more
    meminfo = tmp_path / "meminfo"
    meminfo.write_text("MemTotal:       24000000 kB\nMemAvailable:   20000000 kB\n")
    assert tiles.available_memory(str(meminfo)) == 20_000_000 * 1024
    assert tiles.available_memory(str(tmp_path / "none")) is None
    assert tiles.available_memory() is None or tiles.available_memory() > 0


def test_automatic_tiles_are_the_tiles_that_fit(images, monkeypatch):
    """Without --tile-size a scale runs whole where it fits the free memory, and in the
    tiles that fit where it does not. Snapshots (and so checkpoints) record the size, so a
    resume cuts the same tiles."""
    from nst_plugin import StylizeRequest
    from nst_plugin.vgg19 import tiles

    content = Image.open(images["content"]).convert("RGB")
    style = Image.open(images["style"]).convert("RGB")

    def render(**kw):
        states = []
        reporter = Reporter()
        reporter.on_snapshot = lambda step, state: states.append(state)
        more = dict(size=96, iterations=3, seed=0, tile_overlap=16, save_every=1, preview_every=0)
        s = Settings(**{**FAST, **more, **kw})
        image = transfer.run(StylizeRequest(content, [style], s), reporter).image
        return np.asarray(image, np.float32), states

    whole, states = render()
    assert {s["tile_size"] for s in states} == {96} and {s["tile"] for s in states} == {0}
    backend = transfer.get_network(Settings(weights="random")).backend
    monkeypatch.setattr(tiles, "MIN_TILE", 48)
    monkeypatch.setattr(backend, "free_memory", lambda: 48 * 48 * 5_000 * 2)
    auto, states = render()
    assert {s["tile_size"] for s in states} == {48}
    h, w = auto.shape[:2]
    assert len({s["tile"] for s in states}) == len(tiles.boxes(w, h, 48, 16))
    assert np.abs(auto - whole).mean() > 1.0  # and tiles change the result a little


def test_style_statistics_are_the_same_tiled(images):
    """Style targets from blocks equal the whole-image ones (context margins at the cuts)."""
    s = Settings(weights="random")
    net = transfer.get_network(s)
    from nst_plugin.vgg19.targets import style_statistics

    style = transfer.to_array(Image.open(images["style"]).convert("RGB"), (96, 60))
    whole = style_statistics(net, style, tile=1024)
    blocks = style_statistics(net, style, tile=32)
    for (_, g1), (_, g2) in zip(whole, blocks):
        assert np.abs(g2 - g1).max() <= 0.05 * np.abs(g1).max()


def test_previews_and_intermediates(images, tmp_path):
    events = []
    out = tmp_path / "out.png"
    run(images, output=out, iterations=4, preview_every=2, save_every=2, on_progress=events.append)
    previews = [e for e in events if e.preview is not None]
    assert [e.step for e in previews] == [2, 4]
    assert max(previews[0].preview.size) <= 256
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "out-00002.png",
        "out-00004.png",
        "out.png",
    ]


def test_checkpoint_and_resume(images, tmp_path):
    out = tmp_path / "out.png"
    reporter = Reporter()
    reporter.listeners.append(
        lambda e: e.stage == "optimizing" and e.step == 5 and reporter.cancel()
    )
    with pytest.raises(Cancelled):
        run(images, output=out, iterations=8, checkpoint_every=2, reporter=reporter)
    ckpt = checkpoint.path_for(out)
    assert ckpt.exists() and not out.exists()
    steps = []
    r = nst_plugin.resume(
        ckpt, on_progress=lambda e: e.stage == "optimizing" and steps.append(e.step)
    )
    assert steps[0] == 4 and steps[-1] == 8  # lost at most checkpoint_every iterations
    assert out.exists() and not ckpt.exists() and r.output == str(out)


def test_resume_refuses_a_non_checkpoint(tmp_path):
    bad = tmp_path / "x.nst-checkpoint.npz"
    bad.write_bytes(b"nope")
    with pytest.raises(nst_plugin.RequestError, match="not an nst checkpoint"):
        nst_plugin.resume(bad)
