"""`stylize_video_on_ray`: one shot cut into overlapping chunks (`chunks`), the chunks run in
parallel on Ray workers (`chunk_worker`, through the batch's `Cluster`), the overlaps
cross-faded as soon as both sides exist, then a video output encoded with its audio.

Resume works as without Ray: every frame and every overlap version is written atomically and
never replaced, so the same command again redoes nothing that is on disk, and a chunk
retried after its worker died continues where it stopped. A video input is first written
out as frames (`.nst-chunks/input/` in the frames folder), so any worker can read any frame.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import engines
from ..batch.cluster import Cluster, import_ray
from ..errors import RequestError
from ..options import Settings
from . import chunks, frames
from .chain import VideoResult, open_run, output_names
from .chunk_worker import ChunkWorker
from .chunks import Plan


@dataclass
class ChunkedResult(VideoResult):
    """`VideoResult` of a run on Ray: `done` and `skipped` count frames stylized (overlap
    frames twice: `renders` in all) in this run and found on disk. A run that finds every
    output frame there plans nothing: `chunks` 0, `skipped` the frames."""

    chunks: int = 0
    workers: int = 0
    renders: int = 0


@dataclass
class VideoProgress:
    """The whole video's progress: frames stylized of `renders` (overlap frames twice),
    output frames written of `frames`, the rate in this run (frames stylized a minute) and
    the seconds left (None until the rate is known)."""

    rendered: int
    renders: int
    written: int
    frames: int
    rate: float | None
    eta: float | None


def stylize_video_on_ray(
    source: str | os.PathLike[str],
    styles: Sequence[Any],
    output: str | os.PathLike[str],
    *,
    ray: str = "local",
    workers: int | None = None,
    chunk: int | None = None,
    overlap: int | None = None,
    engine: str = engines.DEFAULT_ENGINE,
    settings: Settings | None = None,
    on_progress: Callable[[VideoProgress], Any] | None = None,
    **options: Any,
) -> ChunkedResult:
    """`stylize_video` over a Ray cluster (`ray`: "local" starts one for the run, "auto" or
    an address joins one) with up to `workers` workers: chunks of `chunk` frames (default
    48), each also stylizing the `overlap` frames before it (default 4), cross-faded with
    the previous chunk's. Without `chunk`/`overlap` an unfinished run keeps its own."""
    if workers is not None and workers < 1:
        raise RequestError("--workers must be at least 1.")
    chunks.check_split(chunk, overlap)
    engines.get(engine)  # an unknown engine is one sentence here, not a failing worker
    seq, settings, output, folder = open_run(source, output, settings, options)
    folder, names = folder.resolve(), output_names(seq, output)
    started = time.monotonic()
    if all((folder / name).exists() for name in names):  # finished: nothing to plan or run
        result = ChunkedResult(str(output), len(names), 0, len(names), 0.0)
    else:
        chunk, overlap = chunks.record_split(folder, len(names), chunk, overlap)
        inputs = seq.files or frames.extract(seq, folder / chunks.WORK / "input")
        plan = Plan.make(inputs, folder, names, chunk, overlap)
        (folder / chunks.WORK / "seams").mkdir(parents=True, exist_ok=True)
        options = {k: v for k, v in settings.to_dict().items() if v is not None}
        styles = [str(Path(s).resolve()) for s in styles]
        args = (styles, engine, options)
        done, skipped, used = _run(plan, args, ray, workers, len(names), on_progress)
        result = ChunkedResult(
            str(output), len(names), done, skipped, 0.0, len(plan.chunks), used, plan.renders
        )
    chunks.remove_work(folder)
    if frames.is_video(output):
        audio = seq.path if frames.is_video(seq.path) else None
        frames.encode(folder, names, output, seq.fps, audio)
        frames.remove_work_folder(folder)
    result.seconds = time.monotonic() - started
    return result


def _run(plan: Plan, args: tuple, address: str, workers: int | None, count: int, on_progress):
    """Run the chunks not yet done and blend the seams; (stylized in this run, found on
    disk, workers used). One sentence when a chunk failed; its finished frames are kept."""
    todo = [c for c in plan.chunks if c.needed()]
    meter = _Meter(plan, count, on_progress)
    before = meter.start
    failed, used = [], 0
    if todo:
        with Cluster.start(address, workers) as cluster:
            used = min(cluster.workers, len(todo))
            ray = import_ray()
            try:
                for outcome in cluster.map(
                    ChunkWorker, args, "run_chunk", todo, on_wait=meter.tick
                ):
                    if outcome["state"] == "failed":
                        failed.append((plan.chunks[outcome["chunk"]], outcome["error"]))
                    meter.tick()
            except ray.exceptions.RayError as err:
                reason = " ".join(str(err).split())[:100]
                raise RequestError(
                    f"the Ray workers kept failing ({reason}); the finished frames are kept, "
                    "so run the same command again to continue."
                ) from None
    meter.tick()  # the last seams
    if failed:
        chunk, error = failed[0]
        raise RequestError(
            f"frames {chunk.start + 1} to {chunk.stop} could not be stylized "
            f"({error.rstrip('.')}); the finished frames are kept, so run the same command "
            "again once that is fixed."
        )
    after, written = plan.on_disk()
    if written < count:
        raise RequestError(
            f"{count - written} frames are still missing in {plan.folder}; run the same "
            "command again to finish them."
        )
    return after - before, before, used


class _Meter:
    """Blends the seams that are ready and reports the whole video's progress, from what
    is on disk; the rate is timed from the first frame stylized in this run."""

    def __init__(self, plan: Plan, frames: int, on_progress) -> None:
        self.plan, self.frames, self.on_progress = plan, frames, on_progress
        self.first: tuple[float, int] | None = None
        self.last: tuple[int, int] | None = None
        self.start, _ = plan.on_disk()

    def tick(self) -> None:
        self.plan.blend_ready()
        if self.on_progress is None:
            return
        rendered, written = self.plan.on_disk()
        now = time.monotonic()
        if self.first is None and rendered > self.start:
            self.first = (now, rendered)
        rate = eta = None
        if self.first is not None and rendered > self.first[1]:
            per_second = (rendered - self.first[1]) / (now - self.first[0])
            rate, eta = per_second * 60, (self.plan.renders - rendered) / per_second
        if (rendered, written) != self.last:
            self.last = (rendered, written)
            self.on_progress(
                VideoProgress(rendered, self.plan.renders, written, self.frames, rate, eta)
            )
