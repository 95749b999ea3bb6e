"""The commit record, `.nst-job.json` in a work folder: how far a job got.

A watcher writes it (atomically) before each step that moves a file: the output name it
chose before publishing, the original's destination before moving it. A watcher that
adopts the folder after a crash reads it and goes on from there, so every step happens
once. The JSON keys are the field names; a missing key is None (records of earlier
versions read the same).
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..fsutil import write_atomic

RECORD = ".nst-job.json"


@dataclass
class CommitRecord:
    """One job's progress through publish and finish."""

    file: str  # the original, relative to the inbox (and to its work folder)
    style: str = "-"  # the style label for the log ("-" when none was resolved)
    want: Path | None = None  # the output name asked for; a counter is added when taken
    output: Path | None = None  # the output name chosen: the result is (being) linked there
    error: str | None = None  # a failed job: the sentence for its error note
    dest: Path | None = None  # where the original is (being) moved: done/ or failed/

    @property
    def failed(self) -> bool:
        return self.error is not None

    @property
    def published(self) -> bool:
        """An output was chosen and the original has no destination yet."""
        return self.output is not None and self.dest is None

    def to_json(self) -> str:
        """The record as JSON; None fields are left out."""
        data = {
            k: str(v) if isinstance(v, Path) else v
            for k, v in dataclasses.asdict(self).items()
            if v is not None
        }
        return json.dumps(data)

    @classmethod
    def from_json(cls, text: str) -> CommitRecord:
        """A record from JSON; ValueError when it is not one. Unknown keys are ignored."""
        data: Any = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("file"), str):
            raise ValueError("not a commit record")
        paths = ("want", "output", "dest")
        return cls(
            **{
                f.name: Path(data[f.name]) if f.name in paths else data[f.name]
                for f in dataclasses.fields(cls)
                if data.get(f.name) is not None
            }
        )

    @classmethod
    def read(cls, folder: Path) -> CommitRecord | None:
        """The record in a work folder, or None when there is none (or it is unreadable)."""
        try:
            return cls.from_json((folder / RECORD).read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None

    def write(self, folder: Path) -> None:
        write_atomic(folder / RECORD, self.to_json())

    @staticmethod
    def remove(folder: Path) -> None:
        (folder / RECORD).unlink(missing_ok=True)
