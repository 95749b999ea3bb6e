"""Optical flow between frames and what it can be trusted for (Ruder et al. 2016).

OpenCV's DIS flow (Kroeger et al. 2016) does the flow. A flow field is float32 (h, w, 2):
for each pixel of the first frame, how far (dx, dy) it moved in the second.
"""

from __future__ import annotations

import numpy as np

# Ruder et al.'s thresholds, in pixels: a pixel whose forward and backward flows do not cancel
# is occluded; one where the flow changes fast is on a motion boundary.
CONSISTENCY = (0.01, 0.5)
BOUNDARY = (0.01, 0.002)


def _cv2():
    try:
        import cv2
    except ImportError:
        from ..errors import RequestError

        raise RequestError(
            "video needs OpenCV for the optical flow: pip install 'nst-plugin[video]'."
        ) from None
    return cv2


def flow(first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The dense flow from `first` to `second`, uint8 RGB frames of one size."""
    cv2 = _cv2()
    dis = cv2.DISOpticalFlow_create(cv2.DISOPTICAL_FLOW_PRESET_MEDIUM)
    a, b = (cv2.cvtColor(np.ascontiguousarray(f), cv2.COLOR_RGB2GRAY) for f in (first, second))
    return dis.calc(a, b, None)


def warp(image: np.ndarray, field: np.ndarray) -> np.ndarray:
    """`image` sampled at each pixel plus `field`: with the flow from frame t to frame t-1,
    frame t-1's picture moved onto frame t. Edges repeat where the flow points outside."""
    cv2 = _cv2()
    h, w = field.shape[:2]
    xs, ys = np.meshgrid(np.arange(w, dtype=np.float32), np.arange(h, dtype=np.float32))
    return cv2.remap(
        image, xs + field[..., 0], ys + field[..., 1], cv2.INTER_LINEAR, cv2.BORDER_REPLICATE
    )


def reliable(backward: np.ndarray, forward: np.ndarray) -> np.ndarray:
    """Where the previous frame's picture, moved by `backward` (frame t -> t-1), can be
    trusted on frame t: float32 (h, w) of 0 and 1. Out are the pixels whose flows do not
    cancel (occluded: `forward` is t-1 -> t), those on motion boundaries, and those moved
    from outside the previous frame."""
    h, w = backward.shape[:2]
    there = warp(forward, backward)  # the forward flow where each pixel came from
    round_trip = np.sum((backward + there) ** 2, -1)
    a, b = CONSISTENCY
    magnitudes = np.sum(backward**2, -1) + np.sum(there**2, -1)
    occluded = round_trip > a * magnitudes + b
    gy_x, gx_x = np.gradient(backward[..., 0])
    gy_y, gx_y = np.gradient(backward[..., 1])
    a, b = BOUNDARY
    edges = gx_x**2 + gy_x**2 + gx_y**2 + gy_y**2 > a * np.sum(backward**2, -1) + b
    xs, ys = np.meshgrid(np.arange(w), np.arange(h))
    x, y = xs + backward[..., 0], ys + backward[..., 1]
    outside = (x < 0) | (x > w - 1) | (y < 0) | (y > h - 1)
    return (~(occluded | edges | outside)).astype(np.float32)
