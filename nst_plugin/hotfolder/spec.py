"""What is asked for: the watcher's options (`WatchConfig`) and each file's job (`JobSpec`).

A file's style comes from its sidecar's "style", else from its style subfolder, else from
--style; a style is a name in --styles-dir or a path. Its settings are the command line's,
with the sidecar's options applied and validated by the options schema. Its output is
--output-name with {stem} and {style} filled in.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import ImageError, RequestError
from ..options import Settings
from .inbox import RESCAN_S, SIDECAR, is_job_name

if TYPE_CHECKING:
    from PIL import Image

DEFAULT_NAME = "{stem}-{style}.png"


@dataclass
class WatchConfig:
    """What `nst watch` was asked to do."""

    inbox: Path
    style: str | None = None  # default style: a path, or a name in styles_dir
    styles_dir: Path | None = None
    out: Path | None = None  # default INBOX/out
    settle: float = 2.0
    polling: bool = False
    poll_interval: float = 1.0
    once: bool = False
    name: str = DEFAULT_NAME  # output file name; {stem} and {style} are filled in
    engine: str = "vgg19"
    settings: Settings = field(default_factory=Settings)
    rescan: float = RESCAN_S

    @property
    def inbox_path(self) -> Path:
        return Path(self.inbox).absolute()

    @property
    def out_path(self) -> Path:
        return Path(self.out).absolute() if self.out else self.inbox_path / "out"

    def check(self) -> None:
        """Raise RequestError, one sentence, for options that cannot work."""
        from ..images import SUPPORTED_OUTPUT

        if self.settle < 0 or self.poll_interval <= 0:
            raise RequestError(
                "--settle must not be negative and --poll-interval must be positive."
            )
        if not self.inbox_path.is_dir():
            raise RequestError(
                f"{self.inbox_path} is not a folder; create it first or check the path."
            )
        if self.styles_dir is not None and not Path(self.styles_dir).is_dir():
            raise RequestError(f"the styles folder {self.styles_dir} does not exist.")
        if self.out_path.resolve() == self.inbox_path.resolve():
            raise RequestError(
                "--out must not be the inbox itself, or results would be taken as new files."
            )
        try:
            example = self.name.format(stem="photo", style="style")
        except (KeyError, IndexError, ValueError) as err:
            raise RequestError(
                f"--output-name {self.name!r} is not a valid template ({err}); "
                "use {stem} and {style}."
            ) from None
        if (
            "/" in example
            or os.sep in example
            or Path(example).suffix.lower() not in SUPPORTED_OUTPUT
        ):
            raise RequestError(
                f"--output-name {self.name!r} must be a file name ending in one of "
                f"{', '.join(sorted(SUPPORTED_OUTPUT))}."
            )
        if self.style is None and self.styles_dir is None:
            raise RequestError(
                "give --style (a style image), or --styles-dir for style subfolders."
            )


@dataclass
class JobSpec:
    """One file's job: resolved from the watcher's options, its style folder and its sidecar."""

    styles: list[Path]
    label: str
    settings: Settings
    engine: str
    output: Path  # the wanted output path; a counter is added when it is taken


class Specs:
    """Resolves each file's JobSpec; knows the style names and keeps decoded style images."""

    def __init__(self, config: WatchConfig) -> None:
        self.config = config
        self.inbox = config.inbox_path
        self.out = config.out_path
        self.names: dict[str, Path] = {}  # style name in --styles-dir -> its file
        self._default: str | None = None
        self._images: dict[Path, tuple[tuple[int, int], Image.Image]] = {}

    def __contains__(self, name: object) -> bool:
        return name in self.names

    def load_default(self) -> None:
        """Read --styles-dir and check --style (a name stays a name, a path is fixed)."""
        self.refresh()
        style = self.config.style
        if style is not None:
            path = self.resolve(style, Path.cwd())
            self._default = style if style in self.names else str(path.absolute())
            try:
                self.image(path)
            except ImageError as err:
                raise RequestError(str(err)) from None

    def refresh(self, wanted: str | None = None) -> bool:
        """Re-read --styles-dir; True when `wanted` is now a style name."""
        names: dict[str, Path] = {}
        if self.config.styles_dir is not None:
            with contextlib.suppress(OSError):
                for entry in sorted(os.scandir(self.config.styles_dir), key=lambda e: e.name):
                    if is_job_name(entry.name) and entry.is_file():
                        names.setdefault(Path(entry.name).stem, Path(entry.path))
        self.names = names
        return wanted in names

    def resolve(self, value: str, base: Path) -> Path:
        """A style name in --styles-dir, or a path (relative to `base`)."""
        if value in self.names or self.refresh(value):
            return self.names[value]
        path = Path(value).expanduser()
        path = path if path.is_absolute() else base / path
        if not path.is_file():
            if self.config.styles_dir is None:
                raise RequestError(f"the style {value!r} is not a file; check the path.")
            raise RequestError(
                f"the style {value!r} is neither a file nor a style in "
                f"{self.config.styles_dir}; check the name."
            )
        return path

    def image(self, path: Path) -> Image.Image:
        """A style image, decoded once and kept until its file changes."""
        from ..images import load_image

        try:
            st = path.stat()
        except OSError:
            raise ImageError(f"{path} does not exist; check the style's path.") from None
        key = (st.st_size, st.st_mtime_ns)
        cached = self._images.get(path)
        if cached is None or cached[0] != key:
            cached = self._images[path] = (key, load_image(path).rgb)
        return cached[1]

    def for_file(self, folder: Path, rel: str) -> JobSpec:
        """The job for `folder/rel` (its sidecar beside it); RequestError, one sentence, if
        wrong."""
        c = self.config
        options: dict[str, Any] = {}
        sidecar = folder / (rel + SIDECAR)
        if os.path.lexists(sidecar):
            options = read_sidecar(sidecar, rel + SIDECAR)
        style = options.pop("style", None)
        engine = options.pop("engine", c.engine)
        if style is None:
            style = rel.split("/")[0] if "/" in rel else self._default
        if style is None:
            raise RequestError(
                f"{rel} has no style; put it in a style subfolder or name one in {rel}{SIDECAR}."
            )
        try:  # (from_dict, not settings_with: a key such as "self" must not clash with arguments)
            settings = (
                Settings.from_dict({**c.settings.to_dict(), **options}) if options else c.settings
            )
        except RequestError as err:
            raise RequestError(f"{rel}{SIDECAR}: {err}") from None
        names = style if isinstance(style, list) else [style]
        if not names or not all(isinstance(n, str) for n in names):
            raise RequestError(
                f'{rel}{SIDECAR}: "style" must be a name or a path, or a list of them.'
            )
        base = (self.inbox / rel).parent
        styles = [self.resolve(n, base) for n in names]
        guides = {  # a sidecar's mask and map paths are relative to the photo's folder
            k: v
            for k, v in {
                "style_masks": options.get("style_masks")
                and tuple(str(base / p) for p in settings.style_masks),
                "strength_map": options.get("strength_map") and str(base / settings.strength_map),
            }.items()
            if v
        }
        if guides:
            settings = settings.replace(**guides)
        label = "+".join(re.sub(r"[^\w.-]+", "_", p.stem) for p in styles)
        output = self.out / c.name.format(stem=Path(rel).stem, style=label)
        return JobSpec(styles, label, settings, str(engine), output)


def read_sidecar(path: Path, name: str) -> dict[str, Any]:
    """A sidecar's options, with dashes in keys read as underscores."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise RequestError(f"{name} is not UTF-8 text; save it again as UTF-8 JSON.") from None
    except ValueError as err:
        where = f" at line {err.lineno}" if hasattr(err, "lineno") else ""
        raise RequestError(
            f"{name} is not valid JSON ({getattr(err, 'msg', err)}{where}); "
            "fix it and drop both files again."
        ) from None
    if not isinstance(data, dict):
        raise RequestError(
            f'{name} must hold a JSON object such as {{"style": "wave", "size": 256}}.'
        )
    return {str(k).replace("-", "_"): v for k, v in data.items()}
