"""Limits shared by the image loader and the service, in a module that imports nothing heavy."""

from __future__ import annotations

MAX_PIXELS: int = 89_478_485  # the largest image decoded: Pillow's decompression-bomb limit
