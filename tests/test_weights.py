"""Tests for the VGG19 weights: nst_plugin.vgg19.weights and the modules it uses to fetch and
read files (no network beyond 127.0.0.1)."""

from __future__ import annotations

import functools
import http.server
import itertools
import os
import threading
from pathlib import Path

import numpy as np
import pytest

from nst_plugin.errors import WeightsError
from nst_plugin.vgg19 import weights as W
from nst_plugin.vgg19.vgg_layers import CONV_LAYERS, VGG19_FILE, VGG19_MD5, VGG19_URL
from nst_plugin.vgg19.weights_fetch import download, file_md5, import_file, keras_cache_path
from nst_plugin.vgg19.weights_read import random_arrays, read_h5

try:
    from weightfiles import ALL_CONV, write_vgg19_h5
except ImportError:  # tests/ became a package
    from tests.weightfiles import ALL_CONV, write_vgg19_h5

FEW = ("block1_conv1", "block1_conv2", "block2_conv1")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path, monkeypatch):
    """Every test gets an empty Keras cache and no NST_WEIGHTS."""
    home = tmp_path / "keras_home"
    monkeypatch.setenv("KERAS_HOME", str(home))
    monkeypatch.delenv("NST_WEIGHTS", raising=False)
    return home


@pytest.fixture(scope="session")
def full_h5(tmp_path_factory) -> Path:
    return write_vgg19_h5(tmp_path_factory.mktemp("vgg") / "full.h5", seed=3)


@pytest.fixture
def small_h5(tmp_path) -> Path:
    return write_vgg19_h5(tmp_path / "small.h5", seed=1, layers=FEW)


@pytest.fixture
def http_dir(tmp_path):
    """A real http.server on 127.0.0.1 serving a folder; yields (folder, base_url)."""
    root = tmp_path / "served"
    root.mkdir()

    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, *args):  # silence the test output
            pass

        def do_GET(self):
            if self.path != "/short":
                return super().do_GET()
            self.send_response(200)  # promises more bytes than it sends
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(b"x" * 10)

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Quiet, directory=str(root))
    )
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    try:
        yield root, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def _same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name][0], b[name][0])
        np.testing.assert_array_equal(a[name][1], b[name][1])


# ------------------------------------------------------------------ constants / random


def test_conv_layers_table():
    assert len(CONV_LAYERS) == 16
    assert CONV_LAYERS[0] == ("block1_conv1", 3, 64)
    assert CONV_LAYERS[-1] == ("block5_conv4", 512, 512)
    for (_, _, out), (_, cin, _) in itertools.pairwise(CONV_LAYERS):
        assert out == cin
    assert VGG19_URL.endswith("/" + VGG19_FILE)


def test_random_arrays_shapes_and_independence():
    full = random_arrays(ALL_CONV, seed=5)
    for name, cin, cout in CONV_LAYERS:
        k, b = full[name]
        assert k.shape == (3, 3, cin, cout) and k.dtype == np.float32
        assert b.shape == (cout,) and b.dtype == np.float32
    for name, cin in (("block1_conv1", 3), ("block4_conv2", 512)):
        assert float(full[name][0].std()) == pytest.approx(np.sqrt(2 / (9 * cin)), rel=0.05)
    assert np.abs(full["block4_conv2"][1]).max() < 0.1
    # truncation / order / subset never changes a layer's values
    _same(
        random_arrays(["block3_conv1", "block1_conv1"], seed=5),
        {n: full[n] for n in ("block3_conv1", "block1_conv1")},
    )
    other = random_arrays(["block1_conv1"], seed=6)["block1_conv1"][0]
    assert not np.array_equal(other, full["block1_conv1"][0])
    assert not np.array_equal(full["block1_conv2"][0][..., :3, :], full["block1_conv1"][0])


def test_unknown_layer_name():
    with pytest.raises(ValueError, match="block6_conv1"):
        random_arrays(["block6_conv1"])


# ------------------------------------------------------------------ h5 round trip / keras


def test_round_trip_small(small_h5):
    _same(read_h5(small_h5, FEW), random_arrays(FEW, seed=1))
    _same(read_h5(small_h5, ["block1_conv2"]), random_arrays(["block1_conv2"], seed=1))


def test_round_trip_full(full_h5):
    _same(read_h5(full_h5, ALL_CONV), random_arrays(ALL_CONV, seed=3))


def test_read_nested_weight_names(tmp_path):
    """Newer Keras 2 saves: weight names like 'block1_conv1/kernel:0' (nested groups)."""
    import h5py

    k, b = random_arrays(["block1_conv1"], seed=2)["block1_conv1"]
    path = tmp_path / "nested.h5"
    with h5py.File(path, "w") as f:
        f.attrs["layer_names"] = np.array([b"block1_conv1"])
        g = f.create_group("model_weights").create_group("block1_conv1")
        g.attrs["weight_names"] = np.array([b"block1_conv1/kernel:0", b"block1_conv1/bias:0"])
        g["block1_conv1/kernel:0"] = k
        g["block1_conv1/bias:0"] = b
    _same(read_h5(path, ["block1_conv1"]), {"block1_conv1": (k, b)})


def test_keras_vgg19_loads_written_file(full_h5):
    """Keras 3's own VGG19 accepts the file (legacy h5 weights) and gets the same values."""
    keras = pytest.importorskip("keras")
    model = keras.applications.VGG19(include_top=False, weights=None)
    model.load_weights(str(full_h5))
    expected = random_arrays(ALL_CONV, seed=3)
    for name in ("block1_conv1", "block3_conv2", "block5_conv4"):
        kernel, bias = model.get_layer(name).get_weights()
        np.testing.assert_array_equal(kernel, expected[name][0])
        np.testing.assert_array_equal(bias, expected[name][1])


def test_read_h5_not_hdf5(tmp_path):
    bad = tmp_path / "junk.h5"
    bad.write_bytes(b"this is not an HDF5 file\n" * 10)
    with pytest.raises(WeightsError, match="not a readable HDF5") as err:
        read_h5(bad, ["block1_conv1"])
    assert str(bad) in str(err.value)


def test_read_h5_missing_file(tmp_path):
    with pytest.raises(WeightsError, match="does not exist") as err:
        read_h5(tmp_path / "nope.h5", ["block1_conv1"])
    assert "nope.h5" in str(err.value)


def test_read_h5_missing_layer(small_h5):
    with pytest.raises(WeightsError, match="layer block4_conv1 is missing") as err:
        read_h5(small_h5, ["block1_conv1", "block4_conv1"])
    assert str(small_h5) in str(err.value)


def test_read_h5_wrong_shape(tmp_path):
    import h5py

    path = tmp_path / "shape.h5"
    with h5py.File(path, "w") as f:
        g = f.create_group("block1_conv1")
        g.attrs["weight_names"] = np.array([b"block1_conv1_W_1:0", b"block1_conv1_b_1:0"])
        g["block1_conv1_W_1:0"] = np.zeros((3, 3, 3, 32), np.float32)
        g["block1_conv1_b_1:0"] = np.zeros((32,), np.float32)
    with pytest.raises(WeightsError, match=r"kernel \(3, 3, 3, 32\)") as err:
        read_h5(path, ["block1_conv1"])
    assert str(path) in str(err.value)


# ------------------------------------------------------------------ paths / resolve


def test_keras_cache_path_honours_keras_home(tmp_path, monkeypatch):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "kh"))
    assert keras_cache_path() == tmp_path / "kh" / "models" / VGG19_FILE


def test_keras_cache_path_default_home(tmp_path, monkeypatch):
    monkeypatch.delenv("KERAS_HOME")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert keras_cache_path() == tmp_path / ".keras" / "models" / VGG19_FILE
    monkeypatch.setattr(os, "access", lambda *a, **k: False)
    assert keras_cache_path() == Path("/tmp/.keras/models") / VGG19_FILE


def test_resolve_keywords_and_env(tmp_path, monkeypatch, small_h5):
    src = W.resolve()
    assert (src.kind, src.label, src.path) == ("imagenet", "imagenet", keras_cache_path())
    assert W.resolve("random") == W.WeightsSource("random", None, "random")
    assert W.resolve("ImageNet").kind == "imagenet"
    monkeypatch.setenv("NST_WEIGHTS", "random")
    assert W.resolve().kind == "random"
    assert W.resolve(None).kind == "random"
    assert W.resolve("imagenet").kind == "imagenet"  # explicit spec beats the env
    monkeypatch.setenv("NST_WEIGHTS", str(small_h5))
    assert W.resolve() == W.WeightsSource("file", small_h5, f"file:{small_h5}")


def test_resolve_paths(tmp_path, monkeypatch, small_h5):
    monkeypatch.chdir(small_h5.parent)
    src = W.resolve(small_h5.name)
    assert src.kind == "file" and src.path == small_h5 and src.label == f"file:{small_h5}"
    with pytest.raises(WeightsError, match="imagnet") as err:
        W.resolve("imagnet")
    assert "does not exist" in str(err.value)
    with pytest.raises(WeightsError, match="not a file"):
        W.resolve(str(tmp_path))
    monkeypatch.setenv("NST_WEIGHTS", str(tmp_path / "gone.h5"))
    with pytest.raises(WeightsError, match=r"gone\.h5"):
        W.resolve()


# ------------------------------------------------------------------ load


def test_load_random_warns_once(monkeypatch, capsys):
    monkeypatch.setattr(W, "_random_warned", False)
    got = W.load("random", FEW, seed=4)
    _same(got, random_arrays(FEW, seed=4))
    W.load("random", ["block1_conv1"])
    err = capsys.readouterr().err
    assert err.count("nst: using random VGG19 weights") == 1
    assert "not real stylization." in err


def test_load_file(small_h5):
    _same(W.load(str(small_h5), ["block1_conv2"]), random_arrays(["block1_conv2"], seed=1))


def test_load_imagenet_from_cache(small_h5):
    cache = keras_cache_path()
    cache.parent.mkdir(parents=True)
    cache.write_bytes(small_h5.read_bytes())
    _same(W.load("imagenet", FEW, download=False), random_arrays(FEW, seed=1))
    with pytest.raises(WeightsError, match="cached VGG19 ImageNet weights") as err:
        W.load(None, ["block5_conv1"])
    assert "block5_conv1" in str(err.value) and "nst weights import" in str(err.value)


def test_load_imagenet_missing_no_download(_isolated_cache):
    with pytest.raises(WeightsError) as err:
        W.load("imagenet", FEW, download=False)
    msg = str(err.value)
    assert VGG19_FILE in msg and "nst weights import" in msg and VGG19_URL in msg
    assert str(keras_cache_path()) in msg and "--weights random" in msg
    assert not _isolated_cache.exists() or not any(_isolated_cache.rglob("*.h5"))


def test_load_imagenet_download_fails(monkeypatch):
    monkeypatch.setattr(W, "VGG19_URL", "http://127.0.0.1:1/x")
    with pytest.raises(WeightsError) as err:
        W.load("imagenet", FEW)
    msg = str(err.value)
    assert VGG19_FILE in msg and "nst weights import" in msg and "could not be downloaded" in msg
    assert not keras_cache_path().exists()
    assert not list(keras_cache_path().parent.iterdir())


def test_load_imagenet_downloads_when_missing(monkeypatch, http_dir, small_h5):
    root, base = http_dir
    (root / VGG19_FILE).write_bytes(small_h5.read_bytes())
    monkeypatch.setattr(W, "VGG19_URL", f"{base}/{VGG19_FILE}")
    monkeypatch.setattr(W, "VGG19_MD5", file_md5(small_h5))
    calls = []
    got = W.load("imagenet", FEW, progress=lambda d, t: calls.append((d, t)))
    _same(got, random_arrays(FEW, seed=1))
    assert keras_cache_path().is_file() and calls


# ------------------------------------------------------------------ download / import


def test_download_success(http_dir, small_h5, tmp_path):
    root, base = http_dir
    served = root / "w.h5"
    served.write_bytes(small_h5.read_bytes() + os.urandom(2_500_000))  # > 2 chunks
    dest = tmp_path / "out" / "sub" / VGG19_FILE
    calls = []
    got = download(
        url=f"{base}/w.h5",
        dest=dest,
        expected_md5=file_md5(served),
        progress=lambda d, t: calls.append((d, t)),
    )
    assert got == dest and dest.read_bytes() == served.read_bytes()
    size = served.stat().st_size
    assert len(calls) >= 3 and calls[-1] == (size, size)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    assert sorted(p.name for p in dest.parent.iterdir()) == [VGG19_FILE]


def test_download_default_dest_is_cache(http_dir, small_h5):
    root, base = http_dir
    (root / "w.h5").write_bytes(small_h5.read_bytes())
    got = download(url=f"{base}/w.h5", expected_md5=file_md5(small_h5))
    assert got == keras_cache_path() and got.is_file()


def test_download_md5_mismatch(http_dir, small_h5, tmp_path):
    root, base = http_dir
    (root / "w.h5").write_bytes(small_h5.read_bytes())
    dest_dir = tmp_path / "dl"
    with pytest.raises(WeightsError, match="expected") as err:
        download(url=f"{base}/w.h5", dest=dest_dir / VGG19_FILE)
    assert VGG19_MD5 in str(err.value)
    assert list(dest_dir.iterdir()) == []


def test_download_http_404(http_dir, tmp_path):
    _, base = http_dir
    with pytest.raises(WeightsError, match="404"):
        download(url=f"{base}/missing.h5", dest=tmp_path / "d" / "x.h5")
    assert list((tmp_path / "d").iterdir()) == []


def test_download_cut_short(http_dir, tmp_path):
    _, base = http_dir
    with pytest.raises(WeightsError, match=r"Could not download|cut short"):
        download(url=f"{base}/short", dest=tmp_path / "d" / "x.h5", expected_md5=None)
    assert list((tmp_path / "d").iterdir()) == []


def test_download_unreachable(tmp_path):
    with pytest.raises(WeightsError, match="Could not download") as err:
        download(url="http://127.0.0.1:1/x", dest=tmp_path / "d" / "x.h5", timeout=5)
    assert err.value.reason
    assert list((tmp_path / "d").iterdir()) == []


def test_import_file_success(small_h5):
    before = small_h5.read_bytes()
    md5 = file_md5(small_h5)
    dest = import_file(str(small_h5), expected_md5=md5)
    assert dest == keras_cache_path()
    assert dest.read_bytes() == before and small_h5.read_bytes() == before
    assert sorted(p.name for p in dest.parent.iterdir()) == [VGG19_FILE]
    st = W.status()
    assert st["present"] is True and st["md5_ok"] is False and st["bytes"] == len(before)
    assert st["cache_path"] == str(dest) and st["default"] == "imagenet"
    # importing the cache file onto itself is a no-op
    assert import_file(dest, expected_md5=md5) == dest


def test_import_file_mismatch(small_h5, tmp_path):
    before = small_h5.read_bytes()
    mtime = small_h5.stat().st_mtime_ns
    with pytest.raises(WeightsError) as err:
        import_file(small_h5)
    msg = str(err.value)
    assert "not Keras's published VGG19 notop file" in msg
    assert file_md5(small_h5) in msg and VGG19_MD5 in msg
    assert small_h5.read_bytes() == before and small_h5.stat().st_mtime_ns == mtime
    cache_dir = keras_cache_path().parent
    assert not cache_dir.exists() or list(cache_dir.iterdir()) == []
    # explicit dest also left empty
    dest_dir = tmp_path / "explicit"
    dest_dir.mkdir()
    with pytest.raises(WeightsError):
        import_file(small_h5, dest=dest_dir / "x.h5")
    assert list(dest_dir.iterdir()) == []


def test_import_file_missing_src(tmp_path):
    with pytest.raises(WeightsError, match="no such file"):
        import_file(tmp_path / "nothing.h5")


def test_status_empty_and_bad_env(monkeypatch, tmp_path):
    st = W.status()
    assert st == {
        "cache_path": str(keras_cache_path()),
        "present": False,
        "md5_ok": None,
        "bytes": None,
        "default": "imagenet",
        "default_error": None,
    }
    monkeypatch.setenv("NST_WEIGHTS", "random")
    assert W.status()["default"] == "random"
    monkeypatch.setenv("NST_WEIGHTS", str(tmp_path / "gone.h5"))
    st = W.status()
    assert st["default"].endswith("gone.h5") and "does not exist" in st["default_error"]


def test_module_has_no_tf_imports():
    src = Path(W.__file__).read_text()
    assert "import tensorflow" not in src and "import keras" not in src
    assert "from keras" not in src and "from tensorflow" not in src
