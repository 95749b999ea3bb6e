"""How long a job takes on this machine, from the machine's own recent jobs.

The service records every job that ran to its end (not kept early, no time budget): its
engine, the result's megapixels, its iterations (1 for an engine that makes one pass), its
seconds from start to finish, and whether it was the first job of its engine since the
service started (`cold`: it also loaded the engine). They live in one small JSON file in the
user's data folder, `$XDG_DATA_HOME/nst-plugin/job-times.json`, written atomically, the
latest KEEP jobs per engine (and KEEP_COLD cold ones).

An estimate fits seconds = overhead + rate * megapixels * iterations to the engine's warm jobs
(Theil-Sen: the median of the pairwise slopes, then the median overhead), so one odd job does
not move it; to those near the size asked when there are a few, since the pace per pixel
changes with the size (multi-scale runs, GPUs); a service that has not loaded the engine yet
adds what loading cost before.
"""

from __future__ import annotations

import json
import logging
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from pathlib import Path
from statistics import median
from typing import Any

from ..engines import Engine
from ..errors import quote
from ..fsutil import user_dir, write_atomic
from ..options import PRESETS, Settings
from .security import ApiError

KEEP = 50  # warm jobs kept per engine, the latest
KEEP_COLD = 10  # jobs that loaded their engine, kept apart so that they are not crowded out
MAX_ENGINES = 16
DISTINCT = 1.2  # two jobs' work must differ by this factor for their slope to count
NEAR, MIN_NEAR = 2.0, 3  # fit to the jobs within 2x the megapixels asked, when 3 or more
log = logging.getLogger("nst_plugin.service")


def default_file() -> Path:
    """$XDG_DATA_HOME/nst-plugin/job-times.json (default ~/.local/share/nst-plugin/...)."""
    return user_dir("XDG_DATA_HOME", ".local/share") / "nst-plugin" / "job-times.json"


def megapixels(width: int, height: int, long_edge: int | None = None) -> float:
    """The result's megapixels for a `width` x `height` picture scaled to `long_edge` (both
    engines keep the aspect ratio); None: at its own size."""
    scale = 1.0 if long_edge is None else long_edge / max(width, height)
    return width * height * scale * scale / 1e6


@dataclass(frozen=True)
class Sample:
    """One finished job."""

    megapixels: float
    iterations: float  # 1 for an engine that makes one pass
    seconds: float
    cold: bool = False  # the first of its engine since the service started: it loaded it
    at: float = 0.0  # Unix time it finished

    @property
    def work(self) -> float:
        return self.megapixels * self.iterations

    @classmethod
    def from_json(cls, data: Any) -> Sample | None:
        """A sample from the file, or None for an entry that is not one."""
        try:
            sample = cls(
                float(data["megapixels"]),
                float(data["iterations"]),
                float(data["seconds"]),
                bool(data.get("cold", False)),
                float(data.get("at", 0.0)),
            )
        except (TypeError, KeyError, ValueError, AttributeError):
            return None
        numbers = (sample.megapixels, sample.iterations, sample.seconds)
        if not all(math.isfinite(x) and x > 0 for x in numbers):
            return None
        return sample


def fit(samples: Sequence[Sample]) -> tuple[float, float]:
    """(rate, overhead) of seconds = overhead + rate * work: Theil-Sen over the pairs of jobs
    whose work differs by DISTINCT, else (or when that fit says a job costs less than nothing)
    the median seconds per unit of work and no overhead."""
    ordered = sorted(samples, key=lambda s: s.work)
    slopes = [
        (b.seconds - a.seconds) / (b.work - a.work)
        for a, b in combinations(ordered, 2)
        if b.work > a.work * DISTINCT
    ]
    if slopes:
        rate = median(slopes)
        overhead = median(s.seconds - rate * s.work for s in samples)
        if rate > 0 and overhead >= 0:
            return rate, overhead
    return median(s.seconds / s.work for s in samples), 0.0


def nearby(samples: Sequence[Sample], megapixels: float) -> list[Sample]:
    """The jobs within a factor NEAR of `megapixels` when there are at least MIN_NEAR, else all:
    a size's own pace, where the history has it (a GPU's, or multi-scale runs', is not
    proportional to the pixels)."""
    near = [s for s in samples if megapixels / NEAR <= s.megapixels <= megapixels * NEAR]
    return near if len(near) >= MIN_NEAR else list(samples)


def predict(
    samples: Sequence[Sample],
    megapixels: float,
    iterations: float,
    *,
    loaded: bool = True,
    budget: float | None = None,
) -> tuple[float | None, int]:
    """(seconds, the jobs the fit used) for a job of `megapixels` and `iterations` (or one that
    stops after `budget` seconds) from one engine's `samples`; (None, 0) without any. Without
    `loaded` (the engine is not in memory yet) what loading cost the cold jobs is added."""
    warm = [s for s in samples if not s.cold]
    basis = nearby(warm or samples, megapixels)
    if not basis:
        return None, 0
    rate, overhead = fit(basis)
    seconds = overhead + (rate * megapixels * iterations if budget is None else budget)
    cold = [s for s in samples if s.cold]
    if not loaded and warm and cold:
        seconds += median(max(0.0, s.seconds - overhead - rate * s.work) for s in cold)
    return seconds, len(basis)


class History:
    """The recent jobs' times, in `path` (read at every question: it is small, and another
    service may have written it)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = Path(path) if path is not None else default_file()
        self._lock = threading.Lock()

    def _read(self) -> dict[str, list[dict]]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
            engines = data["engines"]
        except (OSError, ValueError, KeyError, TypeError):
            return {}
        if not isinstance(engines, dict):
            return {}
        return {k: v for k, v in engines.items() if isinstance(k, str) and isinstance(v, list)}

    def samples(self, engine: str) -> list[Sample]:
        """The engine's recorded jobs, oldest first."""
        found = (Sample.from_json(entry) for entry in self._read().get(engine, []))
        return [s for s in found if s is not None]

    def record(self, engine: str, sample: Sample) -> None:
        """Add a finished job; never raises (a job's end must not fail for its timing)."""
        with self._lock:
            engines = self._read()
            kept = [s for s in map(Sample.from_json, engines.get(engine, [])) if s is not None]
            kept.append(sample)
            warm = [s for s in kept if not s.cold][-KEEP:]
            cold = [s for s in kept if s.cold][-KEEP_COLD:]
            engines[engine] = [asdict(s) for s in sorted(warm + cold, key=lambda s: s.at)]
            latest = sorted(engines, key=lambda e: _latest(engines[e]), reverse=True)
            engines = {e: engines[e] for e in latest[:MAX_ENGINES]}
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(self.path, json.dumps({"version": 1, "engines": engines}))
            except OSError as err:
                log.warning("job times not written to %s: %s", self.path, err)

    def estimate(
        self,
        engine: str,
        megapixels: float,
        iterations: float,
        *,
        loaded: bool = True,
        budget: float | None = None,
    ) -> tuple[float | None, int]:
        """(seconds or None, the number of the engine's jobs it rests on)."""
        return predict(self.samples(engine), megapixels, iterations, loaded=loaded, budget=budget)


def _latest(entries: list) -> float:
    times = [e.get("at", 0.0) for e in entries if isinstance(e, dict)]
    return max((t for t in times if isinstance(t, (int, float))), default=0.0)


def work_of(engine: Engine, settings: Settings) -> tuple[float, float | None]:
    """(iterations, time budget) of a job as `engine` runs it: one pass for an engine that does
    not iterate, and a time budget only where the engine takes one."""
    iterations = settings.iterations if "iterations" in engine.options else 1
    budget = settings.time_budget if "time_budget" in engine.options else None
    return float(iterations), budget


def query_options(params: Mapping[str, str], max_pixels: int) -> tuple[str, int, int]:
    """(the options as the job's JSON, width, height) from `GET /v1/estimate`'s query: the
    `quality` preset, then `options` (a JSON object), then `engine`, `iterations` and `size`;
    without a size the result is width x height."""
    width, height = (_whole(params.get(name), name) for name in ("width", "height"))
    if width * height > max_pixels:
        raise ApiError(
            400, f"{width} x {height} pixels is over the service's limit of {max_pixels}"
        )
    data: dict[str, Any] = {}
    quality = params.get("quality")
    if quality is not None:
        if quality not in PRESETS:
            raise ApiError(
                400, f"quality must be one of {', '.join(PRESETS)}, not {quote(quality)}"
            )
        data.update(PRESETS[quality])
    text = params.get("options")
    if text is not None and text.strip():
        try:
            given = json.loads(text)
        except (ValueError, RecursionError):
            raise ApiError(400, "the options parameter is not valid JSON") from None
        if not isinstance(given, dict):
            raise ApiError(400, 'the options parameter must be a JSON object such as {"size": 512}')
        data.update(given)
    if params.get("engine"):
        data["engine"] = params["engine"]
    for name in ("iterations", "size"):
        if params.get(name) is not None:
            data[name] = _whole(params[name], name, "")
    data.setdefault("size", max(width, height))
    return json.dumps(data), width, height


def _whole(text: str | None, name: str, unit: str = " of pixels") -> int:
    if text is None:
        raise ApiError(400, f"give the picture's {name} in pixels as the {name} parameter")
    try:
        value = int(text)
    except ValueError:
        raise ApiError(400, f"{name} must be a whole number{unit}, not {quote(text)}") from None
    if value < 1:
        raise ApiError(400, f"{name} must be at least 1, not {value}")
    return value
