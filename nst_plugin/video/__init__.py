"""Video and animation with temporal consistency (Ruder et al., "Artistic style transfer for
videos", 2016): `flow` (optical flow and where it holds), `frames` (folders and video files
in and out), `chain` (the run, frame after frame, resumable); on Ray (`nst video --ray`):
`chunks` (overlapping chunks and their seams), `chunk_worker` (one chunk's chain on a Ray
worker), `on_ray` (the run over the cluster)."""

from __future__ import annotations

from .chain import FrameEvent, VideoResult, stylize_frames, stylize_video
from .on_ray import ChunkedResult, VideoProgress, stylize_video_on_ray

__all__ = [
    "ChunkedResult",
    "FrameEvent",
    "VideoProgress",
    "VideoResult",
    "stylize_frames",
    "stylize_video",
    "stylize_video_on_ray",
]
