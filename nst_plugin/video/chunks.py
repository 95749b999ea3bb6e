"""`nst video --ray`'s plan: the frames cut into chunks that overlap, where each chunk's
results go, and the seams between chunks.

Chunk k owns frames k*C .. (k+1)*C - 1 (C: `--chunk`) and also stylizes the O frames before
them (O: `--overlap`), which chunk k-1 stylizes as its last O. Each chunk is its own temporal
chain, so chunk k starts cold where chunk k-1 is warm; the output of an overlap frame is a
linear cross-fade of the two versions, from all of chunk k-1's towards all of chunk k's, so
the picture does not jump at the seam.

Where things go, inside the frames folder (the output folder, or a video output's work
folder): a chunk's own frames straight to their output names; both versions of an overlap
frame to `.nst-chunks/seams/` (`NAME.end.png` from the earlier chunk, `NAME.start.png` from
the later one), and the output frame, their blend, once both exist. Every file is written
atomically and never replaced, so a stopped run continues from what is on disk.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import OutputExistsError, RequestError
from ..fsutil import write_atomic

WORK = ".nst-chunks"  # the run's own files, inside the frames folder; removed when it is done
DEFAULT_CHUNK = 48  # frames a chunk owns: 2 s at 24 fps
DEFAULT_OVERLAP = 4  # frames both neighbouring chunks stylize, cross-faded


def spans(count: int, chunk: int, overlap: int) -> list[tuple[int, int]]:
    """Each chunk's frames as (start, stop), 0-based, its leading overlap included."""
    return [
        (max(0, k * chunk - overlap), min(count, (k + 1) * chunk))
        for k in range(math.ceil(count / chunk))
    ]


def check_split(chunk: int | None, overlap: int | None) -> None:
    """One sentence for a chunk length or an overlap that cannot work (None: not given)."""
    if chunk is not None and chunk < 1:
        raise RequestError("--chunk must be at least 1 frame.")
    if overlap is not None and overlap < 0:
        raise RequestError("--overlap must be at least 0 frames.")
    if chunk is not None and overlap is not None and overlap >= chunk:
        raise RequestError("--overlap must be smaller than --chunk.")


@dataclass(frozen=True)
class Chunk:
    """One chunk's work: its input frames, where its result of each goes (`targets`), and
    each frame's output (`finals`: an overlap frame's is the blend). Paths are absolute
    strings, so the chunk travels to a worker on any machine that sees the same storage."""

    index: int
    start: int
    inputs: tuple[str, ...]
    targets: tuple[str, ...]
    finals: tuple[str, ...]

    @property
    def stop(self) -> int:
        return self.start + len(self.inputs)

    def needed(self) -> int:
        """How many of its frames, from the first, the chunk has to run through: up to the
        last one with neither its result nor its output on disk (0: the chunk is done)."""
        for i in range(len(self.targets) - 1, -1, -1):
            if not (os.path.exists(self.targets[i]) or os.path.exists(self.finals[i])):
                return i + 1
        return 0


@dataclass(frozen=True)
class Seam:
    """An overlap frame: the earlier chunk's version (`end`), the later one's (`start`), and
    the output, `(1 - weight) * end + weight * start`."""

    final: Path
    end: Path
    start: Path
    weight: float

    def blend(self) -> bool:
        """Write the output once both versions exist; whether the output is there now."""
        if self.final.exists():
            return True
        if not (self.end.exists() and self.start.exists()):
            return False
        from ..images import save_image

        a, b = (_read(p) for p in (self.end, self.start))
        mixed = np.rint((1 - self.weight) * a + self.weight * b).astype(np.uint8)
        with contextlib.suppress(OutputExistsError):  # written meanwhile by another run
            save_image(Image.fromarray(mixed), self.final)
        return True


@dataclass
class Plan:
    """The chunks and seams of one output, and what of it is on disk."""

    folder: Path
    chunks: list[Chunk]
    seams: list[Seam]

    @classmethod
    def make(
        cls,
        inputs: Sequence[Path],
        folder: Path,
        names: Sequence[str],
        chunk: int,
        overlap: int,
    ) -> Plan:
        """The plan for `inputs` (frame files, in order) into `folder` under `names`."""
        folder = folder.resolve()
        seams_dir = folder / WORK / "seams"
        parts = spans(len(names), chunk, overlap)
        chunks = []
        for k, (start, stop) in enumerate(parts):
            targets = []
            for i in range(start, stop):
                if i < k * chunk:
                    targets.append(seams_dir / f"{names[i]}.start.png")
                elif k + 1 < len(parts) and i >= (k + 1) * chunk - overlap:
                    targets.append(seams_dir / f"{names[i]}.end.png")
                else:
                    targets.append(folder / names[i])
            chunks.append(
                Chunk(
                    k,
                    start,
                    tuple(str(Path(p).resolve()) for p in inputs[start:stop]),
                    tuple(map(str, targets)),
                    tuple(str(folder / n) for n in names[start:stop]),
                )
            )
        seams = [
            Seam(
                folder / names[i],
                seams_dir / f"{names[i]}.end.png",
                seams_dir / f"{names[i]}.start.png",
                (j + 1) / (overlap + 1),
            )
            for k in range(1, len(parts))
            for j, i in enumerate(range(k * chunk - overlap, k * chunk))
        ]
        return cls(folder, chunks, seams)

    @property
    def renders(self) -> int:
        """Frames to stylize in all: each frame once, each overlap frame twice."""
        return sum(len(c.targets) for c in self.chunks)

    def on_disk(self) -> tuple[int, int]:
        """(frames stylized, overlaps counted twice; output frames written), from two
        folder listings, so it is cheap to ask often."""
        listing = {d: _names(d) for d in (self.folder, self.folder / WORK / "seams")}

        def there(path: str) -> bool:
            p = Path(path)
            return p.name in listing.get(p.parent, ())

        rendered = sum(
            there(t) or there(f) for c in self.chunks for t, f in zip(c.targets, c.finals)
        )
        written = len({f for c in self.chunks for f in c.finals if there(f)})
        return rendered, written

    def blend_ready(self) -> None:
        """Blend every seam whose two versions exist and whose output does not yet."""
        for seam in self.seams:
            seam.blend()


def record_split(folder: Path, frames: int, chunk: int | None, overlap: int | None):
    """The split of an unfinished run kept in `folder`, or the one asked for (the defaults
    where not given), recorded for the next run; one sentence if they differ."""
    path = folder / WORK / "plan.json"
    kept = _kept(path)
    if kept is not None:
        asked = {"frames": frames, "chunk": kept["chunk"] if chunk is None else chunk}
        asked["overlap"] = kept["overlap"] if overlap is None else overlap
        if asked != kept:
            raise RequestError(
                f"{folder} holds an unfinished run of {kept['frames']} frames with --chunk "
                f"{kept['chunk']} --overlap {kept['overlap']}; run it again with the same input "
                f"and flags to continue it, or give another output to start over."
            )
        return kept["chunk"], kept["overlap"]
    chunk = DEFAULT_CHUNK if chunk is None else chunk
    overlap = min(DEFAULT_OVERLAP, chunk - 1) if overlap is None else overlap
    check_split(chunk, overlap)
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, json.dumps({"frames": frames, "chunk": chunk, "overlap": overlap}))
    return chunk, overlap


def remove_work(folder: Path) -> None:
    """The run's own files (overlap versions, extracted input frames, the split), once every
    output frame is written."""
    shutil.rmtree(folder / WORK, ignore_errors=True)


def _kept(path: Path) -> dict | None:
    try:
        kept = json.loads(path.read_text())
        return {k: int(kept[k]) for k in ("frames", "chunk", "overlap")}
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _names(folder: Path) -> set[str]:
    try:
        return set(os.listdir(folder))
    except OSError:
        return set()


def _read(path: Path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), np.float32)
