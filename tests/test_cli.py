"""`nst` end to end: stylize, exit codes, no overwrite, bad files, weights, interrupt."""

from __future__ import annotations

import json
import os
import signal
import struct
import subprocess
import sys
import time
import zlib

import pytest
from PIL import Image

from nst_plugin import cli
from nst_plugin.vgg19 import weights
from nst_plugin.vgg19.vgg_layers import VGG19_FILE
from nst_plugin.vgg19.weights_fetch import keras_cache_path

FAST = ["--size", "48", "--iterations", "2", "--weights", "random", "--quiet"]


def nst(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "nst_plugin.cli", *args], capture_output=True, text=True, **kw
    )


def test_stylize_json_end_to_end(images, tmp_path):
    out = tmp_path / "out.png"
    p = nst(
        "stylize",
        str(images["content"]),
        str(images["style"]),
        "-o",
        str(out),
        "--size",
        "128",
        "--iterations",
        "30",
        "--weights",
        "random",
        "--json",
    )
    assert p.returncode == 0, p.stderr
    summary = json.loads(p.stdout.strip().splitlines()[-1])
    src = Image.open(images["content"])
    saved = Image.open(out)
    assert max(saved.size) == 128 and (summary["width"], summary["height"]) == saved.size
    assert saved.width / saved.height == pytest.approx(src.width / src.height, rel=0.02)
    assert summary["loss_end"] < summary["loss_start"]
    assert summary["iterations"] == 30 and summary["output"] == str(out)
    for key in ("seconds", "engine", "backend", "device"):
        assert summary[key]
    assert "random VGG19 weights" in p.stderr  # said loudly


def test_progress_bar_on_stderr(images, tmp_path, capsys):
    args = [
        "stylize",
        str(images["content"]),
        str(images["style"]),
        "-o",
        str(tmp_path / "o.png"),
        *[a for a in FAST if a != "--quiet"],
    ]
    assert cli.main(args) == 0
    err = capsys.readouterr().err
    assert "2/2" in err and "loss" in err and "wrote" in err


def test_existing_output_is_never_overwritten(images, tmp_path, capsys):
    out = tmp_path / "out.png"
    out.write_bytes(b"precious")
    args = ["stylize", str(images["content"]), str(images["style"]), "-o", str(out), *FAST]
    assert cli.main(args) == 2
    assert "already exists" in capsys.readouterr().err
    assert out.read_bytes() == b"precious"
    assert cli.main([*args, "--overwrite"]) == 0
    assert Image.open(out).size[0] == 48


def _png_header(width: int, height: int) -> bytes:
    """A PNG that claims a huge size: a decompression bomb, refused before decoding."""
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)

    def chunk(kind: bytes, data: bytes) -> bytes:
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IEND", b"")


def _bad_files(tmp_path, images):
    good = images["content"].read_bytes()
    return {
        "corrupt.png": good[: len(good) // 2],
        "empty.jpg": b"",
        "notes.png": b"this is a text file, not an image\n",
        "bomb.png": _png_header(30000, 30000),
    }


@pytest.mark.parametrize("name", ["corrupt.png", "empty.jpg", "notes.png", "bomb.png"])
@pytest.mark.parametrize("role", ["content", "style"])
def test_bad_inputs_exit_2_with_one_sentence(images, tmp_path, capsys, name, role):
    bad = tmp_path / name
    bad.write_bytes(_bad_files(tmp_path, images)[name])
    out = tmp_path / "out.png"
    content, style = (bad, images["style"]) if role == "content" else (images["content"], bad)
    code = cli.main(["stylize", str(content), str(style), "-o", str(out), *FAST])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert name in err and len(err.splitlines()) == 1 and "Traceback" not in err
    assert not out.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]  # no temp files either


def test_bad_usage_exits_2(images, tmp_path, capsys):
    assert (
        cli.main(
            [
                "stylize",
                str(images["content"]),
                str(images["style"]),
                "-o",
                str(tmp_path / "o.png"),
                "--size",
                "0",
                *FAST[2:],
            ]
        )
        == 2
    )
    assert "size" in capsys.readouterr().err
    assert (
        cli.main(
            [
                "stylize",
                str(images["content"]),
                str(images["style"]),
                "-o",
                str(tmp_path / "o.gif2"),
                *FAST,
            ]
        )
        == 2
    )
    assert not list(tmp_path.iterdir())
    with pytest.raises(SystemExit) as exc:
        cli.main(["stylize", "--no-such-flag"])
    assert exc.value.code == 2


def test_missing_weights_say_how_to_import(images, tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(weights, "VGG19_URL", "http://127.0.0.1:1/vgg19.h5")  # offline
    out = tmp_path / "out.png"
    code = cli.main(
        [
            "stylize",
            str(images["content"]),
            str(images["style"]),
            "-o",
            str(out),
            "--size",
            "48",
            "--iterations",
            "1",
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 2
    assert VGG19_FILE in err and "nst weights import" in err
    assert not out.exists()


def test_weights_status_and_import_refuses_a_wrong_file(tmp_path, capsys):
    assert cli.main(["weights", "status"]) == 0
    status = json.loads(capsys.readouterr().out)
    assert status["present"] is False and status["cache_path"].endswith(VGG19_FILE)
    wrong = tmp_path / "wrong.h5"
    wrong.write_bytes(b"not the weights")
    assert cli.main(["weights", "import", str(wrong)]) == 2
    assert "expected" in capsys.readouterr().err
    assert not keras_cache_path().exists()


def test_version():
    p = nst("--version")
    assert p.returncode == 0 and p.stdout.startswith("nst-plugin ")


def test_ctrl_c_exits_130_and_leaves_no_output(images, tmp_path):
    out = tmp_path / "out.png"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "nst_plugin.cli",
            "stylize",
            str(images["content"]),
            str(images["style"]),
            "-o",
            str(out),
            "--size",
            "64",
            "--iterations",
            "100000",
            "--weights",
            "random",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "NST_TRACE_PLUGINS": "1"},
    )  # hook calls traced to stderr
    deadline = time.monotonic() + 120
    buf = ""
    while "stage='optimizing', step=2" not in buf and time.monotonic() < deadline:
        buf += proc.stderr.readline()
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "interrupted" in err
    assert list(tmp_path.iterdir()) == []
