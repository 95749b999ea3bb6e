"""The fast engine's TensorFlow Hub source: a SavedModel with the Hub model's call, (content,
style) -> [stylized], built here from seeded random values (the real one cannot be
downloaded on the test machines), installed by `nst models import|download` over real HTTP,
and run through the engine's tiles."""

from __future__ import annotations

import functools
import http.server
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import nst_plugin
from nst_plugin import cli
from nst_plugin.fast import hub, models, runners

tf = pytest.importorskip("tensorflow")


class TinyStylizer(tf.Module):
    """Magenta's call shape with a tiny network: a 3x3 convolution of the photo, shifted by
    the style image's mean colour, so the result depends on both inputs."""

    def __init__(self):
        super().__init__()
        rng = np.random.default_rng(7)
        self.kernel = tf.Variable(rng.normal(0, 0.3, (3, 3, 3, 3)).astype(np.float32))
        self.mix = tf.Variable(rng.normal(0, 2.0, (3, 3)).astype(np.float32))

    def stylize(self, content, style):
        shift = tf.reduce_mean(style, axis=[1, 2]) @ self.mix
        return tf.sigmoid(tf.nn.conv2d(content, self.kernel, 1, "SAME") + shift[:, None, None, :])


SPEC = [tf.TensorSpec([None, None, None, 3], tf.float32)] * 2


def build(path: Path, *, callable_: bool = True) -> Path:
    """Save a TinyStylizer like the Hub model: callable, or with only a serving signature."""
    model = TinyStylizer()
    if callable_:
        model.__call__ = tf.function(
            lambda content, style: [model.stylize(content, style)], input_signature=SPEC
        )
        signatures = None
    else:
        run = tf.function(
            lambda placeholder, placeholder_1: {
                "output_0": model.stylize(placeholder, placeholder_1)
            },
            input_signature=SPEC,
        )
        signatures = {"serving_default": run.get_concrete_function()}
    tf.saved_model.save(model, str(path), signatures=signatures)
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    return build(tmp_path_factory.mktemp("hub") / "model")


@pytest.fixture(scope="module")
def archive(saved, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("archive") / "model.tar.gz"
    with tarfile.open(path, "w:gz") as tar:
        for item in sorted(saved.rglob("*")):
            tar.add(item, arcname=str(item.relative_to(saved)), recursive=False)
    return path


@pytest.fixture
def savedmodel_only(monkeypatch):
    """The ONNX files out of reach, so the engine picks the SavedModel by itself."""
    monkeypatch.setattr(models, "package_dir", lambda: None)
    monkeypatch.setattr(runners, "_runners", {})


def direct(folder: Path, content: Image.Image, style_square: np.ndarray) -> np.ndarray:
    _, call = hub.load(folder)
    return call(np.asarray(content, np.float32)[None] / 255, style_square)[0] * 255


def test_the_engine_runs_an_imported_savedmodel_in_tiles_like_one_pass(
    saved, savedmodel_only, images
):
    assert cli.main(["models", "import", str(saved)]) == 0
    status = models.status()
    assert status["source"] == "savedmodel" and status["savedmodel"]["ready"]
    content, style = Image.open(images["content"]).convert("RGB"), Image.open(images["style"])
    result = nst_plugin.stylize(content, style, engine="fast", size=500, strength=0.5)
    assert result.image.size[0] == 500 and result.backend == "tensorflow"
    whole = direct(
        hub.installed(models.cache_dir()),
        content.resize(result.image.size, Image.Resampling.LANCZOS),
        runners.style_square(style, 1.0),
    )
    assert result.image.size[1] > 0 and whole.shape[1] > 384  # several tiles across
    assert np.abs(np.asarray(result.image, np.float32) - whole).mean() < 1.0


def test_strength_mixes_the_styles_result_with_the_photos_own(saved, savedmodel_only, images):
    """Strength as on vgg19: 0 the photo's own style, 0.5 the painting's, and no further."""
    models.import_file(saved)
    folder = hub.installed(models.cache_dir())
    content, style = Image.open(images["content"]).convert("RGB"), Image.open(images["style"])
    out = {
        s: np.asarray(
            nst_plugin.stylize(content, style, engine="fast", size=96, strength=s).image, np.float32
        )
        for s in (0.0, 0.25, 0.5, 1.0)
    }
    size = (out[0.0].shape[1], out[0.0].shape[0])
    photo = content.resize(size, Image.Resampling.LANCZOS)
    own = direct(folder, photo, runners.style_square(photo, 1.0))
    styled = direct(folder, photo, runners.style_square(style, 1.0))
    assert np.abs(out[0.0] - own).mean() < 1.0
    assert np.abs(out[0.5] - styled).mean() < 1.0
    assert np.abs(out[0.25] - (own + styled) / 2).mean() < 1.0
    assert np.abs(out[1.0] - styled).mean() < 1.0
    assert np.abs(own - styled).mean() > 2.5  # well above the tolerance: the checks can fail


def test_a_model_with_only_a_serving_signature_runs(tmp_path, savedmodel_only, images):
    models.import_file(build(tmp_path / "signature_only", callable_=False))
    result = nst_plugin.stylize(images["content"], images["style"], engine="fast", size=64)
    assert max(result.image.size) == 64


def test_download_fetches_unpacks_and_checks_the_archive_over_http(
    archive, tmp_path, monkeypatch, capsys
):
    served = tmp_path / "served"
    served.mkdir()
    (served / "model.tar.gz").write_bytes(archive.read_bytes())
    (served / "broken.tar.gz").write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(served))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        monkeypatch.setenv("NST_FAST_HUB_URL", f"{base}/model.tar.gz")
        assert cli.main(["models", "download"]) == 0
        folder = hub.installed(models.cache_dir())
        assert folder is not None and (folder / "variables").is_dir()
        before = sorted(p.name for p in models.cache_dir().iterdir())

        monkeypatch.setenv("NST_FAST_HUB_URL", f"{base}/broken.tar.gz")
        capsys.readouterr()
        assert cli.main(["models", "download"]) == 2
        err = capsys.readouterr().err.strip()
        assert "not a readable .tar.gz archive" in err and "Traceback" not in err
        assert (
            sorted(p.name for p in models.cache_dir().iterdir()) == before
        )  # nothing half-written
        assert hub.installed(models.cache_dir()) == folder  # the working model is kept
        assert cli.main(["models", "import", str(archive)]) == 0  # a good one replaces it
        assert sorted(p.name for p in models.cache_dir().iterdir()) == before
        hub.probe(folder)
    finally:
        server.shutdown()


def test_an_archive_reaching_outside_its_folder_is_refused(tmp_path):
    evil = tmp_path / "evil.tar.gz"
    with tarfile.open(evil, "w:gz") as tar:
        data = b"x"
        info = tarfile.TarInfo("../outside.txt")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    with pytest.raises(nst_plugin.UserError, match="was not unpacked"):
        models.import_file(evil)
    assert (
        not (tmp_path / "outside.txt").exists()
        and not (models.cache_dir().parent / "outside.txt").exists()
    )
    assert hub.installed(models.cache_dir()) is None


def test_no_source_installed_says_what_to_install(monkeypatch, savedmodel_only, images):
    monkeypatch.setenv("NST_FAST_SOURCE", "savedmodel")
    assert models.status()["source"] is None
    with pytest.raises(nst_plugin.UserError, match="nst models download"):
        nst_plugin.stylize(images["content"], images["style"], engine="fast", size=64)
    monkeypatch.setenv("NST_FAST_SOURCE", "pytorch")
    with pytest.raises(nst_plugin.UserError, match="set it to onnx or savedmodel"):
        models.source()
