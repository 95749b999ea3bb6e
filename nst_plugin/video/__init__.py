"""Video and animation with temporal consistency (Ruder et al., "Artistic style transfer for
videos", 2016): `flow` (optical flow and where it holds), `frames` (folders and video files
in and out), `chain` (the run, frame after frame, resumable)."""

from __future__ import annotations

from .chain import FrameEvent, VideoResult, stylize_video

__all__ = ["FrameEvent", "VideoResult", "stylize_video"]
