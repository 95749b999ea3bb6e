"""Frame sequences in and out: a folder of frames (sorted by name, written back with the same
names) or a video file, read and written with PyAV (FFmpeg), its audio copied through."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import RequestError
from ..fsutil import atomic_file

FRAME_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff", ".bmp")
VIDEO_SUFFIXES = (".mp4", ".mov", ".m4v", ".mkv", ".webm", ".avi")
DEFAULT_FPS = 24


def is_video(path: str | os.PathLike) -> bool:
    return Path(path).suffix.lower() in VIDEO_SUFFIXES


def _av():
    try:
        import av
    except ImportError:
        raise RequestError(
            "video files need PyAV: pip install 'nst-plugin[video]' (or use a folder of frames)."
        ) from None
    return av


@dataclass
class Frames:
    """A sequence of frames: their output names, size, rate, and where they come from."""

    path: Path
    names: list[str]
    size: tuple[int, int]
    fps: float = DEFAULT_FPS
    files: list[Path] = field(default_factory=list)  # a folder's frames; empty for a video

    def __len__(self) -> int:
        return len(self.names)

    def __iter__(self) -> Iterator[Image.Image]:
        """The frames as RGB images, in order."""
        if self.files:
            for file in self.files:
                with Image.open(file) as im:
                    yield im.convert("RGB")
            return
        av = _av()
        with av.open(str(self.path)) as container:
            for frame in container.decode(video=0):
                yield frame.to_image().convert("RGB")


def open_frames(path: str | os.PathLike) -> Frames:
    """The frames of a folder or a video file; one sentence when there are none, they differ
    in size, or the file is not a readable video."""
    path = Path(path)
    if path.is_dir():
        return _folder(path)
    if not path.is_file():
        raise RequestError(f"{path} does not exist; give a folder of frames or a video file.")
    return _video(path)


def _folder(path: Path) -> Frames:
    files = sorted(p for p in path.iterdir() if p.suffix.lower() in FRAME_SUFFIXES)
    if not files:
        raise RequestError(
            f"{path} holds no frames; put the frames in it as images "
            f"({', '.join(s[1:] for s in FRAME_SUFFIXES)}), named in playing order."
        )
    sizes = {}
    for file in files:
        try:
            with Image.open(file) as im:
                sizes.setdefault(im.size, file)
        except OSError:
            raise RequestError(f"the frame {file} cannot be read as an image.") from None
    if len(sizes) > 1:
        (a, first), (b, other) = list(sizes.items())[:2]
        raise RequestError(
            f"the frames differ in size ({first.name} is {a[0]}x{a[1]}, {other.name} is "
            f"{b[0]}x{b[1]}); give a folder whose frames all have one size."
        )
    return Frames(path, [f.name for f in files], next(iter(sizes)), DEFAULT_FPS, files)


def _video(path: Path) -> Frames:
    av = _av()
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise RequestError(f"{path} has no video stream; give a video file or a folder.")
            stream = container.streams.video[0]
            fps = float(stream.average_rate or DEFAULT_FPS)
            count, size = 0, None
            for frame in container.decode(video=0):
                count += 1
                size = size or (frame.width, frame.height)
    except RequestError:
        raise
    except (av.FFmpegError, OSError, ValueError) as err:
        reason = " ".join(str(err).split())[:80]
        raise RequestError(
            f"{path} cannot be read as a video ({reason}); give an MP4, MOV, MKV, WebM or AVI "
            "file, or a folder of frames."
        ) from None
    if not count or size is None:
        raise RequestError(f"{path} holds no frames; give a video with at least one frame.")
    names = [f"frame-{i:06d}.png" for i in range(1, count + 1)]
    return Frames(path, names, size, fps)


def work_folder(output: Path) -> Path:
    """Where a video output's frames are kept until it is encoded (and a resume finds them)."""
    return output.with_name(output.name + ".nst-frames")


def encode(frames_dir: Path, names: list[str], output: Path, fps: float, audio_from: Path | None):
    """Encode the frames into `output` (H.264 in MP4/MOV/MKV, VP9 in WebM), the audio of
    `audio_from` copied through; written to a temporary name, then moved into place."""
    av = _av()
    codec = "libvpx-vp9" if output.suffix.lower() == ".webm" else "libx264"
    with atomic_file(output, overwrite=False) as fh:
        fmt = {".mkv": "matroska", ".m4v": "mp4"}.get(output.suffix.lower(), output.suffix[1:])
        with av.open(fh, mode="w", format=fmt) as out:
            stream = out.add_stream(codec, rate=round(fps) or DEFAULT_FPS)
            first = Image.open(frames_dir / names[0])
            stream.width, stream.height = (first.width // 2 * 2, first.height // 2 * 2)
            stream.pix_fmt = "yuv420p"
            source = av.open(str(audio_from)) if audio_from is not None else None
            try:
                audio = source.streams.audio[0] if source and source.streams.audio else None
                copied = out.add_stream_from_template(audio) if audio is not None else None
                for name in names:
                    with Image.open(frames_dir / name) as im:
                        rgb = np.asarray(im.convert("RGB"))[: stream.height, : stream.width]
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format="rgb24")
                    for packet in stream.encode(frame):
                        out.mux(packet)
                for packet in stream.encode():
                    out.mux(packet)
                if copied is not None:
                    for packet in source.demux(audio):
                        if packet.dts is None:
                            continue
                        packet.stream = copied
                        out.mux(packet)
            finally:
                if source is not None:
                    source.close()


def extract(seq: Frames, folder: Path) -> list[Path]:
    """The frames of a video written once as PNG files into `folder` (so workers on other
    machines can read any frame by path); a complete `folder` from an earlier run is kept.
    The frames go to a temporary folder first, renamed into place when all are written."""
    paths = [folder / name for name in seq.names]
    if folder.is_dir():
        return paths
    partial = folder.with_name(folder.name + ".partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir(parents=True)
        for image, name in zip(seq, seq.names):
            image.save(partial / name)
        os.replace(partial, folder)
    except OSError as err:
        shutil.rmtree(partial, ignore_errors=True)
        raise RequestError(
            f"the frames of {seq.path} could not be written to {folder} "
            f"({err.strerror or err}); check the free disk space and the folder permissions."
        ) from None
    return paths


def remove_work_folder(folder: Path) -> None:
    """The encoded video's frames, no longer needed."""
    shutil.rmtree(folder, ignore_errors=True)
