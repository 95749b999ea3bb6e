"""One stylize job on the VGG19 engine: scales, tiles, targets, the optimizer, the result.

A job runs coarse to fine: each scale starts from the previous scale's result, upsampled.
A scale whose work does not fit the device's free memory (or larger than a `tile_size` set)
runs in overlapping tiles blended with feathered edges; style statistics always come from
the whole style image, so tiles agree on the style.

Keep (`Reporter.keep`) ends the run at the next iteration boundary with the image as the
previews show it: the tiles done so far and the current tile's state blended in, the rest
as the scale started them; kept during a coarse scale, the image is upsampled to the final
size with the photo's fine detail put back, as the next scale would have started.
"""

from __future__ import annotations

import functools
import importlib
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image

from ..errors import RequestError
from ..images import from_array
from ..options import Settings
from ..progress import Reporter
from ..request import Result, StylizeRequest
from . import colors, losses, network, optimize, precision, solvers, tiles, weights
from .targets import content_targets, guides, region_targets, style_targets, temporal_targets

_BACKENDS = {"tensorflow": "backend_tensorflow", "jax": "backend_jax"}
_CACHE_SIZE = 2
MIN_SCALE_EDGE = 128  # automatic multi-scale starts no smaller than this
MIN_SIDE = 16  # VGG19 pools four times before block5: smaller sides vanish
PREVIEW_EDGE = 256


@dataclass
class Network:
    """A loaded, compiled network for one weights source and configuration."""

    content_layers: tuple[str, ...]
    style_layers: tuple[str, ...]
    forward: Callable[[np.ndarray], list]  # content layers' features, then style layers'
    content_forward: Callable[[np.ndarray], list]  # the content layers' only: stops there
    value_and_grad: Callable[..., tuple[float, np.ndarray, np.ndarray]]
    step: Callable[[str], Callable]  # "lbfgs" or "adam" -> compiled f(state, targets)
    backend: Any
    weights: str
    precision: str  # what runs: "float32", or "mixed" (bfloat16 network, float32 losses)


_networks: dict[tuple, Network] = {}


def backend_module():
    """The backend module for Keras's active backend (KERAS_BACKEND)."""
    import keras

    name = keras.backend.backend()
    if name not in _BACKENDS:
        raise RequestError(
            f"the Keras backend {name!r} is not supported; set KERAS_BACKEND to tensorflow or jax."
        )
    return importlib.import_module(f".{_BACKENDS[name]}", __package__)


def get_network(settings: Settings, reporter: Reporter | None = None) -> Network:
    """The network for these settings, built once and kept for the following jobs."""
    try:
        content = tuple(network.layer_name(n) for n in settings.content_layers)
        style = tuple(network.layer_name(n) for n in settings.style_layers)
    except ValueError as err:
        raise RequestError(str(err)) from None
    source = weights.resolve(settings.weights)
    s = settings
    backend = backend_module()
    ran = precision.resolve(s.precision, backend)
    key = (source.label, s.pooling, content, style, s.style_loss, ran, s.xla)
    if key not in _networks:

        def downloaded(done: int, total: int | None) -> None:
            if reporter is not None:
                reporter.progress(done, total or 0, stage="downloading")

        layers = network.conv_layers_up_to(content + style)
        arrays = weights.load(settings.weights, layers, progress=downloaded)
        outputs = list(dict.fromkeys(content + style))
        model = network.build(outputs, arrays, s.pooling, ran)
        order = [outputs.index(n) for n in content + style]
        kind = s.style_loss
        strides = tuple(2 ** (int(name[5]) - 1) for name in style)  # blockN_...: 2^(N-1)

        def loss_fn(features, image, targets):
            return losses.total_loss([features[i] for i in order], image, targets, kind, strides)

        raw_forward = backend.forward(model)
        content_forward = backend.forward(network.truncated(model, content)) if content else None
        compiled: dict[str, Callable] = {}

        def forward(image: np.ndarray) -> list:
            features = raw_forward(image)
            return [features[i] for i in order]

        def step(optimizer: str) -> Callable:
            if optimizer not in compiled:
                fn = solvers.adam_step if optimizer == "adam" else solvers.lbfgs_step
                compiled[optimizer] = backend.compile(model, loss_fn, fn, xla=s.xla)
            return compiled[optimizer]

        if len(_networks) >= _CACHE_SIZE:
            _networks.pop(next(iter(_networks)))
        _networks[key] = Network(
            content,
            style,
            forward,
            content_forward,
            backend.value_and_grad(model, loss_fn, xla=s.xla),
            step,
            backend,
            source.label,
            ran,
        )
    return _networks[key]


def output_size(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """(width, height) with the long edge at `long_edge` and the aspect ratio kept."""
    w, h = size
    scale = long_edge / max(w, h)
    return max(1, round(w * scale)), max(1, round(h * scale))


def at_least(size: tuple[int, int], side: int) -> tuple[int, int]:
    """`size`, enlarged with its aspect ratio kept until its short side is at least `side`."""
    w, h = size
    if min(w, h) >= side:
        return w, h
    return output_size(size, -(-max(w, h) * side // min(w, h)))


def style_size(size: tuple[int, int], long_edge: int) -> tuple[int, int]:
    """A style image's size: long edge `long_edge`, short side at least 2 * MIN_SIDE."""
    return at_least(output_size(size, long_edge), 2 * MIN_SIDE)


def to_array(image: Image.Image, size: tuple[int, int]) -> np.ndarray:
    """An RGB image resized to `size`, as float32 (1, h, w, 3) in 0..255."""
    if image.size != size:
        image = image.resize(size, Image.Resampling.LANCZOS)
    return np.asarray(image.convert("RGB"), dtype=np.float32)[None]


def resize_array(x: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Resize a float (1, h, w, 3) image to `size` = (width, height), bicubic, no rounding."""
    if (x.shape[2], x.shape[1]) == size:
        return x
    channels = [
        Image.fromarray(x[0, :, :, c], "F").resize(size, Image.Resampling.BICUBIC) for c in range(3)
    ]
    return np.clip(np.stack([np.asarray(c) for c in channels], -1)[None], 0, 255)


def schedule(final: tuple[int, int], s: Settings) -> list[tuple[tuple[int, int], int]]:
    """The scales of a run, coarse to fine, each with its share of the iterations.

    Automatic: halve the long edge while it stays at least 128 px, at most 3 scales (from a
    quarter of the target size). The iterations are spread evenly, the first scales
    taking the remainder.
    """
    n = s.scales
    if n is None:
        n = 1
        while n < 3 and max(final) / 2**n >= MIN_SCALE_EDGE:
            n += 1
    sizes = [output_size(final, round(max(final) / 2 ** (n - 1 - k))) for k in range(n)]
    sizes = [size for size in sizes if min(size) >= MIN_SIDE] or [final]
    n = len(sizes)
    base, extra = divmod(int(s.iterations), n)
    return [(size, max(1, base + (k < extra))) for k, size in enumerate(sizes)]


def content_array(request: StylizeRequest, size: tuple[int, int]) -> np.ndarray:
    """The photo at `size` as the optimization sees it (its luminance with preserve_colors)."""
    content = to_array(request.content, size)
    if request.settings.preserve_colors:
        content = colors.luminance_only(content, content)[0]
    return content


def upsampled(x: np.ndarray, content: np.ndarray) -> np.ndarray:
    """A coarser result at `content`'s size, with the photo's detail it could not hold."""
    size = (content.shape[2], content.shape[1])
    coarse = (x.shape[2], x.shape[1])
    detail = content - resize_array(resize_array(content, coarse), size)
    return np.clip(resize_array(x, size) + detail, 0, 255)


def prepare_images(request: StylizeRequest, size: tuple[int, int]):
    """Content and style arrays for one scale, with the colour options applied."""
    s = request.settings
    content = to_array(request.content, size)
    edge = round(max(size) * s.style_scale)
    styles = [to_array(im, style_size(im.size, edge)) for im in request.styles]
    if s.match_colors:
        styles = [colors.match_colors(st, content) for st in styles]
    if s.preserve_colors:
        pairs = [colors.luminance_only(content, st) for st in styles]
        content = pairs[0][0] if pairs else colors.luminance_only(content, content)[0]
        styles = [st for _, st in pairs]
    return content, styles


def starting_image(request: StylizeRequest, content: np.ndarray, size: tuple[int, int]):
    """Where the optimization starts: the photo, noise, or the fast engine's result."""
    s = request.settings
    if s.init == "noise":
        return np.random.default_rng(s.seed).uniform(0, 255, content.shape).astype(np.float32)
    if s.init != "fast":
        return content.copy()
    from .. import engines

    quick = StylizeRequest(
        request.content,
        request.styles,
        s.replace(size=max(size), init="content"),
        "fast",
        request.job_id,
        style_masks=request.style_masks,
        strength_map=request.strength_map,
    )
    x = to_array(engines.get("fast").stylize(quick, Reporter()).image, size)
    return colors.luminance_only(x, x)[0] if s.preserve_colors else x


class Budget:
    """Deadlines per scale for --time-budget: each scale's share follows its pixel count."""

    def __init__(self, started: float, seconds: float | None, plan: list) -> None:
        self.end = None if seconds is None else started + seconds
        pixels = [w * h for (w, h), _ in plan]
        cumulative = np.cumsum(pixels) / sum(pixels)
        self.deadlines = [None if seconds is None else started + seconds * c for c in cumulative]

    def over(self, scale: int) -> bool:
        deadline = self.deadlines[scale]
        return deadline is not None and time.monotonic() >= deadline

    def eta(self) -> float | None:
        return None if self.end is None else max(0.0, self.end - time.monotonic())


def run(request: StylizeRequest, reporter: Reporter) -> Result:
    """Stylize `request` and return the result image (the core saves it)."""
    s = request.settings
    started = time.monotonic()
    reporter.stage("preparing")
    net = get_network(s, reporter)
    reporter.check_cancel()  # cancel works while preparing too, between its steps
    final = output_size(request.content.size, s.size)
    plan = schedule(at_least(final, MIN_SIDE), s)  # below the network's minimum: enlarge the work
    if s.time_budget is not None:  # time, not iterations, ends each scale
        plan = [(size, 10**6) for size, _ in plan]
    job = _Run(request, reporter, net, plan, Budget(started, s.time_budget, plan))
    x = resize_array(job.scales(), final)
    if s.preserve_colors:
        x = colors.restore_colors(x, to_array(request.content, final))
    return Result(
        image=from_array(x),
        iterations=job.step,
        seconds=time.monotonic() - started,
        losses=job.history,
        engine="vgg19",
        backend=net.backend.NAME,
        device=net.backend.device(),
        weights=net.weights,
        precision=net.precision,
    )


class _Run:
    """One run through its scales and tiles: the image so far, the step count, the losses."""

    def __init__(
        self, request: StylizeRequest, reporter: Reporter, net: Network, plan: list, budget: Budget
    ) -> None:
        self.request, self.s, self.reporter, self.net = request, request.settings, reporter, net
        self.plan, self.budget = plan, budget
        self.tile_sizes = self._tile_sizes(plan)
        self.layout = [
            tiles.boxes(w, h, tile, self.s.tile_overlap)
            for ((w, h), _), tile in zip(plan, self.tile_sizes)
        ]
        self.total = (
            0 if self.s.time_budget else sum(n * len(b) for (_, n), b in zip(plan, self.layout))
        )
        self.blend = request.style_weights()
        self.step = 0
        self.kept = False  # keep was asked: the run ended with the image it had
        self.history: list[float] = []
        self.x: np.ndarray | None = None
        self.guided = request.style_masks is not None or request.strength_map is not None
        self.guide: tuple[np.ndarray, np.ndarray] | None = None  # the scale's (weights, keep)
        self.hold: dict | None = None  # a video frame's pull towards the previous result

    def _tile_sizes(self, plan: list) -> list[int]:
        """Each scale's tile size: the one set, or one that fits the device's free memory
        (read once per run); a resumed scale keeps the size its checkpoint was tiled with."""
        s, resume = self.s, self.request.resume or {}
        if s.tile_size is not None:
            return [s.tile_size for _ in plan]
        free = self.net.backend.free_memory()
        sizes = [
            tiles.size_for(w, h, free, self.net.precision, s.tile_overlap) for (w, h), _ in plan
        ]
        if "tile_size" in resume and 0 <= resume.get("scale", -1) < len(sizes):
            sizes[resume["scale"]] = int(resume["tile_size"])
        return sizes

    def scales(self) -> np.ndarray:
        """Run every scale, coarse to fine (from the checkpoint's tile when resuming)."""
        resume = self.request.resume or {}
        for scale, ((size, iterations), boxes) in enumerate(zip(self.plan, self.layout)):
            if scale < resume.get("scale", 0):
                self.step += iterations * len(boxes)
                continue
            self.reporter.check_cancel()
            if self._keeping(self.step):
                break
            content, styles = prepare_images(self.request, size)
            self.reporter.check_cancel()
            if self.guided:  # regions: per-style targets, the masks at this scale's size
                per_style = self.request.style_masks is not None
                targets = region_targets(self.net, styles, self.blend, self.s, per_style)
                self.guide = guides(self.request.style_masks, self.request.strength_map, size)
            else:
                targets = style_targets(self.net, styles, self.blend, self.s)
            self.reporter.check_cancel()
            if self.request.temporal is not None and self.s.temporal_weight > 0:
                self.hold = temporal_targets(self.request.temporal, self.s, size)
            start_tile, start_step = self._start(scale, size, iterations, content, resume)
            self.reporter.stage("optimizing", self.total, self.step)
            for t in range(start_tile, len(boxes)):
                if self._keeping(self.step):
                    break
                box = boxes[t]
                mask = tiles.feather(box, *size, self.s.tile_overlap) if len(boxes) > 1 else None
                done = start_step if t == start_tile else 0
                self._optimize(_Tile(scale, t, box, mask, done), iterations, targets, content)
        assert self.x is not None
        finest = self.plan[-1][0]
        if self.kept and (self.x.shape[2], self.x.shape[1]) != finest:
            self.x = upsampled(self.x, content_array(self.request, finest))
        return self.x

    def _keeping(self, at: int) -> bool:
        """Whether to end the run now because keep was asked: only once there is an image
        (after the first iteration) and while iterations remain."""
        if self.kept:
            return True
        if self.x is None or at == 0 or (self.total and at >= self.total):
            return False
        self.kept = self.reporter.keep_now()
        return self.kept

    def _start(
        self, scale: int, size: tuple[int, int], iterations: int, content: np.ndarray, resume: dict
    ) -> tuple[int, int]:
        """Set the image a scale starts from; return the tile and the step it resumes at."""
        if scale == resume.get("scale", -1):
            self.x = resize_array(np.asarray(resume["image"], np.float32), size)
            start_tile, start_step = resume.get("tile", 0), resume.get("tile_step", 0)
            self.step += start_tile * iterations + start_step
            return start_tile, start_step
        if self.x is None:
            self.x = starting_image(self.request, content, size)
            if self.hold is not None:  # a video frame starts from the previous one's strokes
                keep = self.hold["hold_keep"]
                self.x = keep * self.hold["hold"] + (1.0 - keep) * self.x
        else:  # upsample, then put back the content detail the coarser scale could not hold
            self.x = upsampled(self.x, content)
        return 0, 0

    def _optimize(self, tile: _Tile, iterations: int, targets: dict, content: np.ndarray) -> None:
        """Run the rest of a tile's iterations and put the tile into the image."""
        assert self.x is not None
        x0, y0, x1, y1 = tile.box
        crop = (slice(None), slice(y0, y1), slice(x0, x1))
        tile_targets = {**targets, **content_targets(self.net, content[crop], self.s)}
        if self.guide is not None:  # the regions' weights cropped like the tile
            weights, keep = self.guide
            tile_targets.update(guide=weights[crop], keep=keep[crop], photo=content[crop])
        if self.hold is not None:
            hold = self.hold
            tile_targets.update(
                hold=hold["hold"][crop],
                hold_keep=hold["hold_keep"][crop],
                hold_weight=hold["hold_weight"],
            )
        first = not self.history
        xt, tile_history = optimize.run(
            self.net,
            self.s,
            tile_targets,
            self.x[crop],
            iterations - tile.done,
            functools.partial(self._on_iteration, tile),
            self.reporter.check_cancel,
        )
        if first:
            self.history.insert(0, tile_history[0])  # the loss the run started from
        self.step += len(tile_history) - 1
        self.x = tile.into(self.x, xt)

    def _on_iteration(
        self, tile: _Tile, k: int, loss: float, image: Callable[[], np.ndarray]
    ) -> bool:
        """Progress, previews and snapshots after iteration `k` of a tile; True stops the
        scale (its time is up)."""
        s, at = self.s, self.step + k
        self.history.append(loss)
        preview = None
        if s.preview_every and at % s.preview_every == 0:
            preview = from_array(self._whole(tile, image()))
            preview.thumbnail((PREVIEW_EDGE, PREVIEW_EDGE))
        self.reporter.progress(at, self.total, loss, preview, eta=self.budget.eta())
        if (s.save_every and at % s.save_every == 0) or (
            s.checkpoint_every and at % s.checkpoint_every == 0
        ):
            state = {
                "scale": tile.scale,
                "tile": tile.index,
                "tile_step": tile.done + k,
                "tile_size": self.tile_sizes[tile.scale],
            }
            self.reporter.snapshot(at, {**state, "image": self._whole(tile, image())})
        self.reporter.check_cancel()
        return self.budget.over(tile.scale) or self._keeping(at)

    def _whole(self, tile: _Tile, xt: np.ndarray) -> np.ndarray:
        """The whole image with the tile's current state in it (the image is left as it is)."""
        assert self.x is not None
        return tile.into(self.x.copy(), xt)


@dataclass
class _Tile:
    """A tile of one scale: where it is, how it blends in, the iterations it already ran."""

    scale: int
    index: int
    box: tiles.Box
    mask: np.ndarray | None  # feathered blend weights; None: the scale's only tile, the whole
    done: int  # iterations run before a resume

    def into(self, image: np.ndarray, xt: np.ndarray) -> np.ndarray:
        """`image` with the tile's pixels `xt` blended in (in place), or `xt` for a whole."""
        if self.mask is None:
            return xt
        tiles.blend(image, xt, self.box, self.mask)
        return image
