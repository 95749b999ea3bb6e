"""Tiling for images larger than the device holds: the tile size, overlapping tiles and
feathered blending."""

from __future__ import annotations

import math

import numpy as np

Box = tuple[int, int, int, int]  # x0, y0, x1, y1

DEFAULT_TILE = 1024  # the tile size where the device's free memory is unknown
MIN_TILE = 256
MEMORY_SHARE = 0.5  # of the free memory, what one scale's optimization may plan to take
# peak memory per pixel optimized, by precision: bench/bench_memory.py measured 2.9 GB per
# megapixel untiled in "mixed"; float32 keeps its activations at twice the width
BYTES_PER_PIXEL = {"mixed": 3_000, "float32": 5_000}


def size_for(width: int, height: int, free: int | None, precision: str, overlap: int) -> int:
    """The tile size of a width x height scale when the user set none: the whole scale where
    its work fits in `MEMORY_SHARE` of the device's `free` bytes (no overlap to compute twice),
    else the largest square tile that fits (16 px steps); `DEFAULT_TILE` where `free` is
    unknown."""
    if free is None:
        return DEFAULT_TILE
    pixels = free * MEMORY_SHARE / BYTES_PER_PIXEL.get(precision, BYTES_PER_PIXEL["float32"])
    if width * height <= pixels:
        return max(width, height)
    return max(MIN_TILE, 2 * overlap + 16, int(math.sqrt(pixels)) // 16 * 16)


def available_memory(meminfo: str = "/proc/meminfo") -> int | None:
    """The host memory available to new work, in bytes (Linux's MemAvailable); None where
    there is none to read."""
    try:
        with open(meminfo, encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def spans(length: int, tile: int, overlap: int, align: int = 1) -> list[tuple[int, int]]:
    """Start and end of evenly spread spans of `tile` covering 0..length, each pair
    overlapping by at least `overlap`; starts are multiples of `align` where possible."""
    if length <= tile:
        return [(0, length)]
    n = math.ceil((length - overlap) / (tile - overlap))
    starts = [round(i * (length - tile) / (n - 1) / align) * align for i in range(n)]
    starts[-1] = length - tile
    return [(a, a + tile) for a in starts]


def boxes(width: int, height: int, tile: int, overlap: int) -> list[Box]:
    """Overlapping tiles covering a width x height image, row by row."""
    return [
        (x0, y0, x1, y1)
        for y0, y1 in spans(height, tile, overlap, 16)
        for x0, x1 in spans(width, tile, overlap, 16)
    ]


def feather(box: Box, width: int, height: int, overlap: int) -> np.ndarray:
    """(h, w, 1) blend weights: 1 inside, ramping linearly to 0 over `overlap` pixels at the
    edges a tile shares with its neighbours (image borders stay at 1)."""
    x0, y0, x1, y1 = box

    def ramp(n: int, inner_start: bool, inner_end: bool) -> np.ndarray:
        r = np.ones(n, np.float32)
        k = min(overlap, n // 2)
        if k:
            edge = (np.arange(k, dtype=np.float32) + 0.5) / k
            if inner_start:
                r[:k] = edge
            if inner_end:
                r[n - k :] = edge[::-1]
        return r

    wy = ramp(y1 - y0, y0 > 0, y1 < height)
    wx = ramp(x1 - x0, x0 > 0, x1 < width)
    return (wy[:, None] * wx[None, :])[..., None]


def blend(image: np.ndarray, tile: np.ndarray, box: Box, weights: np.ndarray) -> None:
    """Blend `tile` into (1, h, w, 3) `image` at `box`, in place."""
    x0, y0, x1, y1 = box
    region = image[0, y0:y1, x0:x1]
    region += weights * (tile[0] - region)


def cores(width: int, height: int, tile: int) -> list[Box]:
    """Non-overlapping boxes (multiples of 16 px) partitioning the image, for statistics."""
    step = max(16, tile // 16 * 16)
    return [
        (x, y, min(x + step, width), min(y + step, height))
        for y in range(0, height, step)
        for x in range(0, width, step)
    ]
