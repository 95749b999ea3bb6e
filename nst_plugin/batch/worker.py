"""One worker of a batch: the engine loaded once, then images one after another. The same
class runs here (`nst batch`) and as a Ray actor (`nst batch --ray`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from ..errors import Cancelled, OutputExistsError, user_message
from .items import Item


class Worker:
    """Stylizes items with fixed styles, engine and options; each outcome is a dict:
    {"input", "output", "state": "done" | "skipped" | "failed", "error", "seconds", "pid"}."""

    def __init__(self, styles: list[str], engine: str, options: dict[str, Any]) -> None:
        from .. import engines
        from ..options import Settings

        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        self.styles, self.engine = styles, engine
        self.settings = Settings.from_dict(options)
        engines.get(engine)  # an unknown engine fails here, once, not per image

    def pid(self) -> int:
        return os.getpid()

    def run(self, item: Item) -> dict[str, Any]:
        """Stylize one item; an existing output is skipped (never written twice)."""
        from ..pipeline import stylize
        from ..progress import Reporter

        outcome = {"input": item.input, "output": item.output, "error": None, "pid": os.getpid()}
        if Path(item.output).exists():
            return {**outcome, "state": "skipped", "seconds": 0.0}
        try:
            result = stylize(
                item.input,
                self.styles,
                item.output,
                engine=self.engine,
                settings=self.settings,
                reporter=Reporter(),  # quiet: progress is the batch's, not each image's
            )
        except OutputExistsError:  # another attempt finished it first
            return {**outcome, "state": "skipped", "seconds": 0.0}
        except Cancelled:
            raise
        except Exception as err:  # bad input or an engine failure: this image fails, not the batch
            return {**outcome, "state": "failed", "error": user_message(err), "seconds": 0.0}
        return {**outcome, "state": "done", "seconds": result.seconds}
