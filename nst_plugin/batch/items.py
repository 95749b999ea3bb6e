"""A batch's work: the input images (files, or the images in folders) and each one's output,
`OUTDIR/<stem>.<ext>`; two inputs with one stem are one sentence, not a silent overwrite."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..errors import RequestError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp", ".gif")
WRITABLE = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")


@dataclass(frozen=True)
class Item:
    """One input and the output it becomes."""

    input: str
    output: str


def collect(inputs: Sequence[str | os.PathLike], outdir: str | os.PathLike, fmt: str | None):
    """The items, sorted by input path: files as given, folders' images (not recursive,
    hidden files left out). `fmt`: the outputs' extension (None: the input's, or png)."""
    found: list[Path] = []
    for given in inputs:
        path = Path(given)
        if path.is_dir():
            found += sorted(
                p
                for p in path.iterdir()
                if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith(".")
            )
        elif path.is_file():
            found.append(path)
        else:
            raise RequestError(f"{path} does not exist; give image files or folders of images.")
    if not found:
        raise RequestError("the inputs hold no images; give image files or folders of images.")
    outdir = Path(outdir)
    items, seen = [], {}
    for path in found:
        ext = f".{fmt.lstrip('.')}" if fmt else path.suffix.lower()
        ext = ext if ext in WRITABLE else ".png"
        out = outdir / (path.stem + ext)
        if out in seen and seen[out] != path:
            raise RequestError(
                f"{seen[out]} and {path} would both become {out.name}; rename one or run them "
                "into different output folders."
            )
        seen[out] = path
        items.append(Item(str(path), str(out)))
    return items
