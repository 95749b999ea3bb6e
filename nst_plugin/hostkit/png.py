"""8-bit PNG encoding and decoding of raw pixel buffers, in pure Python.

The editors hand over raw pixels (Krita: BGRA; GIMP: RGBA, RGB, grey) and their embedded
Pythons have no Pillow; the service speaks PNG.
"""

from __future__ import annotations

import struct
import zlib
from operator import add, sub

from .errors import ServiceError

SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_PIXELS = 16384 * 16384  # the largest image the service makes (--size 16384, square)
_SOURCES = {"L": (0, 0, 0), "LA": (0, 0, 0, 1), "RGB": (0, 1, 2), "RGBA": (0, 1, 2, 3)}
_SOURCES["BGRA"] = (2, 1, 0, 3)
_MODES = {0: "L", 2: "RGB", 4: "LA", 6: "RGBA"}  # by PNG colour type
_COLOUR_TYPES = {"L": 0, "RGB": 2, "LA": 4, "RGBA": 6, "BGRA": 6}
_AND255 = (255).__and__


def to_rgba(mode: str, pixels: bytes) -> bytes:
    """Convert 8-bit ``L``, ``LA``, ``RGB``, ``RGBA`` or ``BGRA`` pixels to RGBA."""
    if mode not in _SOURCES:
        raise ValueError("unknown pixel mode %r" % mode)
    out = bytearray(b"\xff" * (len(pixels) // len(mode) * 4))
    for channel, source in enumerate(_SOURCES[mode]):  # where R, G, B (and A) come from
        out[channel::4] = pixels[source :: len(mode)]
    return bytes(out)


def rgba_to_bgra(pixels: bytes) -> bytes:
    """Swap red and blue of RGBA pixels (Krita's 8-bit order is BGRA), or of BGRA pixels."""
    return to_rgba("BGRA", pixels)


def encode_png(width: int, height: int, data: bytes, mode: str = "RGBA") -> bytes:
    """Encode 8-bit ``RGBA``, ``BGRA`` (written as RGBA), ``RGB``, ``L`` or ``LA`` pixels."""
    if mode not in _SOURCES or width <= 0 or height <= 0 or len(data) != width * height * len(mode):
        raise ValueError(
            "encode_png: %d bytes are not a %dx%d image in mode %r"
            % (len(data), width, height, mode)
        )
    data = to_rgba(mode, data) if mode == "BGRA" else bytes(data)
    stride = int(width) * len(mode)
    above = bytes(stride) + data
    rows = b"".join(  # every row with the Up filter: small files for photos, quick in Python
        b"\x02" + bytes(map(_AND255, map(sub, data[y : y + stride], above[y : y + stride])))
        for y in range(0, len(data), stride)
    )
    header = struct.pack(">IIBBBBB", int(width), int(height), 8, _COLOUR_TYPES[mode], 0, 0, 0)
    chunks = [(b"IHDR", header), (b"IDAT", zlib.compress(rows, 6)), (b"IEND", b"")]
    return SIGNATURE + b"".join(_chunk(kind, body) for kind, body in chunks)


def _chunk(kind: bytes, body: bytes) -> bytes:
    crc = struct.pack(">I", zlib.crc32(kind + body))
    return struct.pack(">I", len(body)) + kind + body + crc


def _bad_png(reason: str) -> ServiceError:
    return ServiceError("The image is not a PNG this plug-in can read (%s)." % reason)


def _unfilter(kind: int, line: bytes, prior: bytes, bpp: int) -> bytes:
    """Undo a row's filter: 0 None, 1 Sub, 2 Up, 3 Average, 4 Paeth (channel by channel)."""
    if kind == 0:
        return line
    if kind == 2:
        return bytes(map(_AND255, map(add, line, prior)))
    if kind > 4:
        raise _bad_png("a row has the unknown filter type %d" % kind)
    out = bytearray(len(line))
    for channel in range(bpp):
        lane = []
        left = upper_left = 0  # the decoded byte on the left, and the prior row's above it
        for x, up in zip(line[channel::bpp], prior[channel::bpp]):
            if kind == 1:
                left = (x + left) & 255
            elif kind == 3:
                left = (x + ((left + up) >> 1)) & 255
            else:
                left = (x + _paeth(left, up, upper_left)) & 255
                upper_left = up
            lane.append(left)
        out[channel::bpp] = bytes(lane)
    return bytes(out)


def _paeth(left: int, up: int, upper_left: int) -> int:
    """Of the three neighbours, the one nearest to ``left + up - upper_left``."""
    p_left, p_up = abs(up - upper_left), abs(left - upper_left)
    p_upper_left = abs(left + up - 2 * upper_left)
    if p_left <= p_up and p_left <= p_upper_left:
        return left
    return up if p_up <= p_upper_left else upper_left


def _chunks(data: bytes) -> tuple:
    """``(IHDR fields, IDAT bytes)`` of a PNG file, its CRCs checked."""
    if data[:8] != SIGNATURE:
        raise _bad_png("it does not start with the PNG signature")
    pos, header, idat, kind = 8, None, [], b""
    while kind != b"IEND":
        size = int.from_bytes(data[pos : pos + 4], "big")
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + size]
        crc = data[pos + 8 + size : pos + 12 + size]
        if len(crc) < 4:
            raise _bad_png("the file is truncated")
        if zlib.crc32(kind + body) != int.from_bytes(crc, "big"):
            name = kind.decode("latin-1")
            raise _bad_png("its %s chunk fails the CRC check, so the file is damaged" % name)
        if header is None and (kind != b"IHDR" or size != 13):
            raise _bad_png("it does not begin with an IHDR chunk")
        header = header or struct.unpack(">IIBBBBB", body)
        if kind == b"IDAT":
            idat.append(body)
        pos += 12 + size
    return header, b"".join(idat)


def decode_png(data: bytes, max_pixels: int = MAX_PIXELS) -> tuple:
    """``(width, height, mode, pixels)`` of a non-interlaced 8-bit L, RGB, LA or RGBA PNG.

    Other PNGs (palette, 16-bit, ...), damaged files, images of no pixels or of more than
    ``max_pixels`` raise :class:`ServiceError`, checked from the header before anything is
    inflated; inflating stops at the size the header declares.
    """
    try:
        return _decode(bytes(data), max_pixels)
    except MemoryError:
        raise ServiceError(
            "The image is too large to decode in this editor's memory; choose a smaller size."
        ) from None


def _decode(data: bytes, max_pixels: int) -> tuple:
    header, idat = _chunks(data)
    width, height, depth, colour, compression, filtering, interlace = header
    if width <= 0 or height <= 0:
        raise _bad_png("it declares %d x %d pixels" % (width, height))
    if width * height > max_pixels:
        raise ServiceError(
            "The image is %d x %d pixels, more than the %d this plug-in decodes; choose a "
            "smaller size." % (width, height, max_pixels)
        )
    if depth != 8 or colour not in _MODES or compression or filtering or interlace:
        raise ServiceError(
            "The image is not an 8-bit PNG this plug-in can read (colour type %d, bit depth %d%s);"
            " save it as 8-bit grey, RGB or RGBA."
            % (colour, depth, ", interlaced" if interlace else "")
        )
    bpp = len(_MODES[colour])
    stride, size = width * bpp, (width * bpp + 1) * height
    try:
        raw = zlib.decompressobj().decompress(idat, size)
    except zlib.error:
        raise _bad_png("its image data cannot be decompressed") from None
    if len(raw) < size:
        raise _bad_png("its image data is truncated")
    pixels, prior = bytearray(), bytes(stride)
    for start in range(0, size, stride + 1):
        prior = _unfilter(raw[start], raw[start + 1 : start + 1 + stride], prior, bpp)
        pixels += prior
    return width, height, _MODES[colour], bytes(pixels)
