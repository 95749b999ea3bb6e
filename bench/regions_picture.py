"""The README's regions picture: two paintings in two regions of one picture, the masks
swapped, and a painted strength map, by the fast engine (real pretrained weights).

    python bench/regions_picture.py [-o docs/regions-fast.jpg] [--size 480]

The content is Hokusai's *Great Wave*, the styles Van Gogh's *Starry Night* and Kandinsky's
*Composition VII*, all public-domain paintings read from ../shared/images (the bundled Wave
is too small for it).
The left region fades into the right one over a tenth of the width, so a seam would show.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import nst_plugin  # noqa: E402

EXAMPLES = ROOT / "nst_plugin" / "examples"
SHARED = ROOT.parent / "shared" / "images"
GAP = 6


def ramp(size: tuple[int, int], soft: float, reverse: bool = False) -> Image.Image:
    """A left-to-right mask: white on the left, a soft band of `soft` x the width, black."""
    w, h = size
    x = np.linspace(0.0, 1.0, w)
    values = np.clip((0.5 + soft / 2 - x) / max(soft, 1e-6), 0.0, 1.0)
    values = values[::-1] if reverse else values
    return Image.fromarray(np.tile(values * 255, (h, 1)).astype(np.uint8))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-o", "--output", default=str(ROOT / "docs" / "regions-fast.jpg"))
    parser.add_argument("--size", type=int, default=480)
    args = parser.parse_args(argv)
    second = SHARED / "composition_vii.jpg"
    if not second.is_file():
        print(f"{second} is missing: this picture needs ../shared/images beside the repository.")
        return 1
    photo = Image.open(SHARED / "wave.jpg").convert("RGB")  # larger than the bundled copy
    photo.thumbnail((args.size, args.size))
    starry = Image.open(EXAMPLES / "starry_night.jpg").convert("RGB")
    kandinsky = Image.open(second).convert("RGB")
    left, right = ramp(photo.size, 0.1), ramp(photo.size, 0.1, reverse=True)
    common = dict(engine="fast", size=max(photo.size))
    regions = nst_plugin.stylize(photo, [starry, kandinsky], style_masks=[left, right], **common)
    swapped = nst_plugin.stylize(photo, [starry, kandinsky], style_masks=[right, left], **common)
    gradient = ramp(photo.size, 1.0, reverse=True)  # black on the left, white on the right
    mapped = nst_plugin.stylize(photo, starry, strength_map=gradient, **common)
    tiles = [photo, regions.image, mapped.image, swapped.image]  # a 2 x 2 sheet, row by row
    w, h = photo.size
    sheet = Image.new("RGB", (2 * w + GAP, 2 * h + GAP), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile.resize((w, h)), ((i % 2) * (w + GAP), (i // 2) * (h + GAP)))
    sheet.save(args.output, quality=82)
    print(f"wrote {args.output} ({sheet.width} x {sheet.height})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
