"""One worker of `nst video --ray`: a batch worker (the engine loaded once, as a Ray actor)
that runs chunks of a video, each its own temporal chain (`chain.run_chain`)."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from PIL import Image

from ..batch.worker import Worker
from ..errors import Cancelled, OutputExistsError, user_message
from .chain import run_chain
from .chunks import Chunk


class ChunkWorker(Worker):
    """Runs chunks with fixed styles, engine and options; each outcome is a dict:
    {"chunk", "state": "done" | "failed", "done", "skipped", "error", "seconds", "pid"}."""

    def run_chunk(self, chunk: Chunk) -> dict[str, Any]:
        """Stylize the chunk's frames that are not on disk yet, reading the others back as
        links: a chunk retried after its worker died continues where it stopped."""
        outcome = {"chunk": chunk.index, "state": "done", "error": None, "pid": os.getpid()}
        started = time.monotonic()
        try:
            outcome["done"], outcome["skipped"] = self._run(chunk)
        except Cancelled:
            raise
        except Exception as err:  # this chunk fails; the others go on, its frames are kept
            outcome.update(state="failed", error=user_message(err), done=0, skipped=0)
        outcome["seconds"] = time.monotonic() - started
        return outcome

    def _run(self, chunk: Chunk) -> tuple[int, int]:
        try:
            return self._chain(chunk)
        except OutputExistsError:  # another attempt wrote a frame first: read it back
            return self._chain(chunk)

    def _chain(self, chunk: Chunk) -> tuple[int, int]:
        count = chunk.needed()
        frames = (_open(path) for path in chunk.inputs[:count])
        targets = [Path(t) for t in chunk.targets[:count]]
        return run_chain(frames, targets, self.styles, engine=self.engine, settings=self.settings)


def _open(path: str) -> Image.Image:
    with Image.open(path) as im:
        return im.convert("RGB")
