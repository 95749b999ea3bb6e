"""Tests for nst_plugin.images: real files in tmp_path, no mocks."""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pytest
from PIL import Image, ImageCms

from nst_plugin import fsutil
from nst_plugin import images as imageio
from nst_plugin.errors import ImageError, OutputExistsError
from nst_plugin.images import (
    SUPPORTED_OUTPUT,
    LoadedImage,
    check_output,
    join_alpha,
    load_image,
    save_image,
)
from nst_plugin.limits import MAX_PIXELS

# --------------------------------------------------------------------------- helpers


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _write_png(
    path: Path, width: int, height: int, depth: int, colour_type: int, idat: bytes
) -> Path:
    ihdr = struct.pack(">IIBBBBB", width, height, depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", ihdr)
        + _png_chunk(b"IDAT", idat)
        + _png_chunk(b"IEND", b"")
    )
    return path


def _png16_rgb(path: Path, width: int, height: int, value: tuple[int, int, int]) -> Path:
    """A 16-bit-per-channel RGB PNG (Pillow cannot write one itself)."""
    row = b"\0" + struct.pack(">HHH", *value) * width
    return _write_png(path, width, height, 16, 2, zlib.compress(row * height))


def _linear_rgb_icc() -> bytes:
    """A minimal ICC v2 RGB profile: sRGB primaries with a linear (gamma 1.0) curve."""

    def xyz(x: float, y: float, z: float) -> bytes:
        return b"XYZ \0\0\0\0" + b"".join(struct.pack(">i", round(v * 65536)) for v in (x, y, z))

    text = b"Linear RGB test\0"
    curve = b"curv\0\0\0\0" + struct.pack(">IH", 1, 0x0100)  # gamma 1.0 as u8Fixed8
    tags = [
        (b"desc", b"desc\0\0\0\0" + struct.pack(">I", len(text)) + text + b"\0" * 78),
        (b"wtpt", xyz(0.9642, 1.0, 0.8249)),
        (b"rXYZ", xyz(0.4361, 0.2225, 0.0139)),
        (b"gXYZ", xyz(0.3851, 0.7169, 0.0971)),
        (b"bXYZ", xyz(0.1431, 0.0606, 0.7141)),
        (b"rTRC", curve),
        (b"gTRC", curve),
        (b"bTRC", curve),
    ]
    offset = 128 + 4 + 12 * len(tags)
    table, data = struct.pack(">I", len(tags)), b""
    for sig, body in tags:
        body += b"\0" * (-len(body) % 4)
        table += sig + struct.pack(">II", offset + len(data), len(body))
        data += body
    size = offset + len(data)
    header = (
        struct.pack(">I", size)
        + b"\0" * 4
        + bytes([2, 0x10, 0, 0])
        + b"mntrRGB XYZ "
        + b"\0" * 12
        + b"acsp"
        + b"\0" * 28
        + xyz(0.9642, 1.0, 0.8249)[8:]
        + b"\0" * 48
    )
    assert len(header) == 128
    return header + table + data


def _srgb_icc() -> bytes:
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def _assert_one_sentence(err: ImageError, name: str) -> None:
    msg = str(err)
    assert name in msg
    assert "\n" not in msg
    assert msg.endswith(".")
    assert err.__cause__ is None and (err.__context__ is None or err.__suppress_context__)


def _palette(transparent: bool) -> Image.Image:
    img = Image.new("P", (6, 4), 1)
    img.putpalette([0, 0, 0, 10, 20, 30] + [0] * 762)
    img.putpixel((5, 3), 0)
    if transparent:
        img.info["transparency"] = 0
    return img


def _i16(value: int) -> Image.Image:
    img = Image.new("I;16", (6, 4))
    img.putpixel((0, 0), value)
    return img


# --------------------------------------------------------------------------- mode matrix

# (id, image factory, file extension, expected rgb at (0, 0), expected alpha at (0, 0) or None)
MODE_CASES = [
    ("1", lambda: Image.new("1", (6, 4), 1), ".png", (255, 255, 255), None),
    ("L", lambda: Image.new("L", (6, 4), 100), ".png", (100, 100, 100), None),
    ("LA", lambda: Image.new("LA", (6, 4), (100, 50)), ".png", (100, 100, 100), 50),
    ("P", lambda: _palette(False), ".png", (10, 20, 30), None),
    ("P-transparent", lambda: _palette(True), ".png", (10, 20, 30), 255),
    ("RGB", lambda: Image.new("RGB", (6, 4), (10, 20, 30)), ".png", (10, 20, 30), None),
    ("RGB-jpeg", lambda: Image.new("RGB", (6, 4), (200, 100, 50)), ".jpg", (200, 100, 50), None),
    ("RGBA", lambda: Image.new("RGBA", (6, 4), (10, 20, 30, 40)), ".png", (10, 20, 30), 40),
    (
        "RGBA-opaque",
        lambda: Image.new("RGBA", (6, 4), (10, 20, 30, 255)),
        ".png",
        (10, 20, 30),
        None,
    ),
    ("CMYK", lambda: Image.new("CMYK", (6, 4), (0, 255, 0, 0)), ".tif", (255, 0, 255), None),
    ("I;16-max", lambda: _i16(65535), ".png", (255, 255, 255), None),
    ("I;16-half", lambda: _i16(32768), ".png", (128, 128, 128), None),
    ("I-16bit", lambda: Image.new("I", (6, 4), 32768), ".tif", (128, 128, 128), None),
    ("I-8bit", lambda: Image.new("I", (6, 4), 77), ".tif", (77, 77, 77), None),
    ("F-unit", lambda: Image.new("F", (6, 4), 0.5), ".tif", (128, 128, 128), None),
    ("F-255", lambda: Image.new("F", (6, 4), 200.0), ".tif", (200, 200, 200), None),
]


@pytest.mark.parametrize(
    "factory, ext, want_rgb, want_alpha",
    [case[1:] for case in MODE_CASES],
    ids=[case[0] for case in MODE_CASES],
)
def test_load_modes_from_file(tmp_path, factory, ext, want_rgb, want_alpha):
    path = tmp_path / f"image{ext}"
    factory().save(path)
    loaded = load_image(path)
    assert isinstance(loaded, LoadedImage)
    assert loaded.name == os.fspath(path)
    assert loaded.rgb.mode == "RGB" and loaded.rgb.size == (6, 4)
    tolerance = 3 if ext == ".jpg" else 0
    got = loaded.rgb.getpixel((0, 0))
    assert all(abs(g - w) <= tolerance for g, w in zip(got, want_rgb)), got
    if want_alpha is None:
        assert loaded.alpha is None
    else:
        assert loaded.alpha.mode == "L" and loaded.alpha.size == (6, 4)
        assert loaded.alpha.getpixel((0, 0)) == want_alpha


@pytest.mark.parametrize(
    "factory, want_rgb, want_alpha",
    [(c[1], c[3], c[4]) for c in MODE_CASES if c[2] != ".jpg"],
    ids=[c[0] for c in MODE_CASES if c[2] != ".jpg"],
)
def test_load_modes_from_pil_image(factory, want_rgb, want_alpha):
    source = factory()
    before = (source.mode, source.size, source.tobytes(), dict(source.info))
    loaded = load_image(source)
    assert loaded.name == "<image>"
    assert loaded.rgb.mode == "RGB" and loaded.rgb.getpixel((0, 0)) == want_rgb
    assert (loaded.alpha.getpixel((0, 0)) if loaded.alpha else None) == want_alpha
    assert (source.mode, source.size, source.tobytes(), dict(source.info)) == before


def test_palette_transparency_becomes_alpha(tmp_path):
    path = tmp_path / "palette.png"
    _palette(True).save(path)
    loaded = load_image(path)
    assert loaded.alpha.getpixel((5, 3)) == 0
    assert loaded.alpha.getpixel((0, 0)) == 255


def test_rgb_colour_key_transparency_becomes_alpha(tmp_path):
    img = Image.new("RGB", (4, 4), (10, 20, 30))
    img.putpixel((1, 1), (1, 2, 3))
    path = tmp_path / "key.png"
    img.save(path, transparency=(1, 2, 3))
    loaded = load_image(path)
    assert loaded.alpha.getpixel((1, 1)) == 0 and loaded.alpha.getpixel((0, 0)) == 255


def test_pa_image_splits_alpha():
    img = Image.new("PA", (3, 3))
    img.putpalette([10, 20, 30] + [0] * 765)
    img.putpixel((0, 0), (0, 99))
    loaded = load_image(img)
    assert loaded.rgb.getpixel((0, 0)) == (10, 20, 30)
    assert loaded.alpha.getpixel((0, 0)) == 99


def test_16bit_rgb_png(tmp_path):
    path = _png16_rgb(tmp_path / "deep.png", 5, 3, (65535, 32768, 0))
    with Image.open(path) as raw:
        raw_mode = raw.mode
    loaded = load_image(path)
    assert loaded.rgb.mode == "RGB" and loaded.rgb.size == (5, 3), raw_mode
    assert loaded.rgb.getpixel((0, 0)) == (255, 128, 0)


def test_pil_input_result_is_independent_of_caller_image():
    source = Image.new("RGB", (4, 4), (1, 2, 3))
    loaded = load_image(source)
    assert loaded.rgb is not source
    loaded.rgb.putpixel((0, 0), (9, 9, 9))
    assert source.getpixel((0, 0)) == (1, 2, 3)


# --------------------------------------------------------------------------- EXIF and ICC


def test_exif_orientation_applied(tmp_path):
    img = Image.new("RGB", (40, 20), (0, 0, 255))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise on display
    path = tmp_path / "rotated.jpg"
    img.save(path, exif=exif)
    loaded = load_image(path)
    assert loaded.rgb.size == (20, 40)


def test_exif_orientation_applied_to_pil_input():
    img = Image.new("RGB", (40, 20))
    img.getexif()[0x0112] = 8
    assert load_image(img).rgb.size == (20, 40)
    assert img.size == (40, 20)


def test_embedded_srgb_profile_keeps_pixels(tmp_path):
    path = tmp_path / "srgb.png"
    Image.new("RGB", (4, 4), (128, 64, 32)).save(path, icc_profile=_srgb_icc())
    assert load_image(path).rgb.getpixel((0, 0)) == (128, 64, 32)


def test_non_srgb_profile_is_converted(tmp_path):
    icc = _linear_rgb_icc()
    ImageCms.ImageCmsProfile(io.BytesIO(icc))  # the test profile itself must parse
    path = tmp_path / "linear.png"
    Image.new("RGB", (4, 4), (128, 128, 128)).save(path, icc_profile=icc)
    r, g, b = load_image(path).rgb.getpixel((0, 0))
    # linear 0.502 encoded with the sRGB curve is about 0.735, i.e. 188
    assert 183 <= r <= 193 and abs(r - g) <= 2 and abs(r - b) <= 2


def test_broken_profile_falls_back_to_plain_conversion(tmp_path):
    path = tmp_path / "badicc.png"
    Image.new("RGB", (4, 4), (128, 64, 32)).save(path, icc_profile=b"not a profile at all")
    assert load_image(path).rgb.getpixel((0, 0)) == (128, 64, 32)


# --------------------------------------------------------------------------- size limits


def test_too_many_pixels_rejected_before_decoding(tmp_path):
    path = tmp_path / "big.png"
    Image.new("L", (3000, 3000)).save(path)
    with pytest.raises(ImageError) as info:
        load_image(path, max_pixels=1_000_000)
    _assert_one_sentence(info.value, "big.png")
    assert "3000 x 3000" in str(info.value) and "1000000" in str(info.value)
    assert load_image(path, max_pixels=9_000_000).rgb.size == (3000, 3000)


def test_pil_image_input_checked_against_limit():
    with pytest.raises(ImageError, match="<image> is too large"):
        load_image(Image.new("L", (200, 200)), max_pixels=100)


@pytest.mark.parametrize("side", [10_000, 20_000], ids=["bomb-warning", "bomb-error"])
def test_pillow_decompression_bomb_becomes_image_error(tmp_path, side):
    # header only: Pillow never decodes the (bogus) pixel data
    path = _write_png(tmp_path / "bomb.png", side, side, 8, 0, b"\0" * 16)
    with pytest.raises(ImageError) as info:
        load_image(path)
    _assert_one_sentence(info.value, "bomb.png")
    assert "too large" in str(info.value)
    assert MAX_PIXELS == Image.MAX_IMAGE_PIXELS


# --------------------------------------------------------------------------- unreadable input


def _half(tmp_path: Path, fmt: str) -> Path:
    full = tmp_path / f"full.{fmt}"
    img = Image.effect_noise((64, 64), 50).convert("RGB")
    img.save(full)
    data = full.read_bytes()
    broken = tmp_path / f"broken.{fmt}"
    broken.write_bytes(data[: len(data) // 2])
    return broken


@pytest.mark.parametrize(
    "make",
    [
        lambda d: d / "missing.png",
        lambda d: d,
        lambda d: (d / "empty.png", (d / "empty.png").write_bytes(b""))[0],
        lambda d: (d / "notes.png", (d / "notes.png").write_text("just some text\n"))[0],
        lambda d: _half(d, "png"),
        lambda d: _half(d, "jpg"),
    ],
    ids=["missing", "directory", "empty", "text", "truncated-png", "truncated-jpeg"],
)
def test_unreadable_files_raise_one_sentence_image_error(tmp_path, make):
    path = make(tmp_path)
    with pytest.raises(ImageError) as info:
        load_image(path)
    _assert_one_sentence(info.value, os.fspath(path))


def test_empty_file_message(tmp_path):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    with pytest.raises(
        ImageError, match=r"empty\.png is not an image Pillow can read \(the file is empty\)"
    ):
        load_image(path)


def test_not_an_image_message(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("hello")
    with pytest.raises(
        ImageError,
        match=r"notes\.png is not an image Pillow can read \(cannot identify image file\)",
    ):
        load_image(str(path))


# --------------------------------------------------------------------------- alpha


def test_join_alpha_round_trip(tmp_path):
    img = Image.new("RGBA", (8, 6), (10, 20, 30, 255))
    for x in range(8):
        img.putpixel((x, 0), (10, 20, 30, x * 30))
    path = tmp_path / "alpha.png"
    img.save(path)
    loaded = load_image(path)
    joined = join_alpha(loaded.rgb, loaded.alpha)
    assert joined.mode == "RGBA"
    assert joined.tobytes() == img.tobytes()


def test_join_alpha_resizes_and_passes_through_none():
    rgb = Image.new("RGB", (20, 10), (1, 2, 3))
    joined = join_alpha(rgb, Image.new("L", (10, 5), 77))
    assert joined.mode == "RGBA" and joined.size == (20, 10)
    assert joined.getpixel((10, 5)) == (1, 2, 3, 77)
    assert rgb.mode == "RGB"
    assert join_alpha(rgb, None) is rgb


# --------------------------------------------------------------------------- check_output


def test_check_output_accepts_new_file(tmp_path):
    assert check_output(str(tmp_path / "out.png")) == tmp_path / "out.png"


def test_check_output_refuses_existing_unless_overwrite(tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    with pytest.raises(OutputExistsError) as info:
        check_output(out)
    _assert_one_sentence(info.value, "out.png")
    assert "already exists; pass --overwrite" in str(info.value)
    assert check_output(out, overwrite=True) == out


@pytest.mark.parametrize("name", ["out.gif", "out", "out.PNG.txt"])
def test_check_output_rejects_unsupported_extension(tmp_path, name):
    with pytest.raises(ImageError) as info:
        check_output(tmp_path / name)
    _assert_one_sentence(info.value, name)
    assert all(ext in str(info.value) for ext in SUPPORTED_OUTPUT)
    assert not isinstance(info.value, OutputExistsError)


def test_check_output_accepts_upper_case_extension(tmp_path):
    assert check_output(tmp_path / "OUT.JPG").name == "OUT.JPG"


def test_check_output_rejects_missing_folder_and_folder_target(tmp_path):
    with pytest.raises(ImageError, match="does not exist"):
        check_output(tmp_path / "nope" / "out.png")
    (tmp_path / "dir.png").mkdir()
    with pytest.raises(ImageError, match="is a folder"):
        check_output(tmp_path / "dir.png", overwrite=True)


# --------------------------------------------------------------------------- save_image


@pytest.mark.parametrize("ext", sorted(SUPPORTED_OUTPUT))
def test_save_every_supported_format(tmp_path, ext):
    out = save_image(Image.new("RGB", (8, 8), (200, 100, 50)), tmp_path / f"out{ext}")
    assert out == tmp_path / f"out{ext}"
    with Image.open(out) as img:
        assert img.size == (8, 8)
        assert all(
            abs(a - b) <= 4 for a, b in zip(img.convert("RGB").getpixel((4, 4)), (200, 100, 50))
        )
    assert os.listdir(tmp_path) == [out.name]


def test_save_without_overwrite_leaves_existing_file_untouched(tmp_path):
    out = tmp_path / "out.png"
    Image.new("RGB", (4, 4), (1, 1, 1)).save(out)
    original = out.read_bytes()
    with pytest.raises(OutputExistsError):
        save_image(Image.new("RGB", (4, 4), (9, 9, 9)), out)
    assert out.read_bytes() == original
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_with_overwrite_replaces(tmp_path):
    out = tmp_path / "out.png"
    out.write_bytes(b"old")
    save_image(Image.new("RGB", (4, 4), (9, 9, 9)), out, overwrite=True)
    with Image.open(out) as img:
        assert img.convert("RGB").getpixel((0, 0)) == (9, 9, 9)
    assert os.listdir(tmp_path) == ["out.png"]


def test_save_failures_leave_no_temp_files(tmp_path):
    with pytest.raises(ImageError):
        save_image(Image.new("RGB", (4, 4)), tmp_path / "out.gif")
    with pytest.raises(ImageError) as info:  # JPEG cannot be this wide: fails mid-write
        save_image(Image.new("RGB", (70_000, 1)), tmp_path / "wide.jpg")
    _assert_one_sentence(info.value, "wide.jpg")
    assert os.listdir(tmp_path) == []


def test_link_into_place_refuses_a_file_that_appeared_meanwhile(tmp_path):
    out, tmp = tmp_path / "out.png", tmp_path / ".out.png.x.tmp"
    out.write_bytes(b"someone else")
    tmp.write_bytes(b"ours")
    with pytest.raises(FileExistsError):
        fsutil.link_into_place(tmp, out)
    assert out.read_bytes() == b"someone else"


def test_saved_file_has_normal_permissions(tmp_path):
    umask = os.umask(0o022)
    os.umask(umask)
    out = save_image(Image.new("RGB", (2, 2)), tmp_path / "out.png")
    if os.name == "posix":
        assert out.stat().st_mode & 0o777 == 0o666 & ~umask


@pytest.mark.parametrize("ext", [".jpg", ".bmp"])
def test_save_flattens_alpha_onto_white_for_jpeg_and_bmp(tmp_path, ext):
    img = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    img.putpixel((7, 7), (0, 0, 0, 255))
    out = save_image(img, tmp_path / f"flat{ext}")
    with Image.open(out) as saved:
        assert saved.mode == "RGB"
        assert all(v >= 250 for v in saved.getpixel((0, 0)))


def test_save_png_keeps_alpha_and_16bit_is_scaled(tmp_path):
    rgba = Image.new("RGBA", (4, 4), (10, 20, 30, 40))
    with Image.open(save_image(rgba, tmp_path / "a.png")) as saved:
        assert saved.mode == "RGBA" and saved.getpixel((0, 0)) == (10, 20, 30, 40)
    with Image.open(save_image(Image.new("I;16", (4, 4), 65535), tmp_path / "g.png")) as saved:
        assert saved.mode == "RGB" and saved.getpixel((0, 0)) == (255, 255, 255)


def _module_level(nodes):
    """Statements run at import time (skips function and class bodies)."""
    import ast

    for node in nodes:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        yield node
        for field in ("body", "handlers", "orelse", "finalbody"):
            yield from _module_level(getattr(node, field, []))


def test_module_level_imports_are_stdlib_or_pillow():
    import ast
    import sys

    names = set()
    for node in _module_level(ast.parse(Path(imageio.__file__).read_text()).body):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names.add(node.module.split(".")[0])
    assert "PIL" in names and "numpy" not in names
    assert names - {"PIL"} <= set(sys.stdlib_module_names), names
