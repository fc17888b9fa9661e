"""People over the frames of a sequence: per-track arrays lifted and smoothed, and a video's people frame by frame.

Per-track arrays are `(T, K, J, D)`: T frames, K tracks (identities), NaN where a track is absent
(`lifting.inference.tracking.Tracks`). Smoothing follows the measured default of bench/smoothing.py: the 2D is
filtered before lifting and the 3D again after it, each track on its own (`smooth_tracks`), so a gap never pulls a
pose towards another time. `smoothing` arguments are the keyword arguments of `smooth_tracks` (method, fps and the
filter's parameters), or None for none.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lifting.datasets.videos import read_frames, video_info, write_video
from lifting.inference.smoothing import DEFAULT_MIN_CUTOFF_HZ, DEFAULT_WINDOW, smooth_tracks
from lifting.inference.tracking import DEFAULT_MAX_DISTANCE, DEFAULT_MAX_GAP, track_poses


def per_track(values: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Rows `values (N, ...)` laid out per track by `rows (T, K)` (the input row of each track's pose, -1 where
    absent) -> (T, K, ...), NaN where absent."""
    out = np.full(rows.shape + values.shape[1:], np.nan)
    out[rows >= 0] = values[rows[rows >= 0]]
    return out


def lift_tracks(joints2d_px: np.ndarray, lift: Callable[[np.ndarray], np.ndarray],
                smoothing: dict | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Per-track 2D `(T, K, J, 2)` px -> (the 2D as lifted, smoothed if asked; the 3D `(T, K, J', 3)` mm), NaN where a
    track is absent. `lift` maps present poses (N, J, 2) px to (N, J', 3) mm."""
    if smoothing is not None:
        joints2d_px = smooth_tracks(joints2d_px, **smoothing)
    here = np.isfinite(joints2d_px).all((-1, -2))
    lifted = lift(joints2d_px[here])
    poses3d = np.full(here.shape + lifted.shape[1:], np.nan)
    poses3d[here] = lifted
    if smoothing is not None:
        poses3d = smooth_tracks(poses3d, **smoothing)
    return joints2d_px, poses3d


def describe_smoothing(smoothing: dict | None) -> str:
    """The `smoothing` arguments in words, for a file's metadata."""
    if smoothing is None:
        return "none"
    if smoothing["method"] == "savgol":
        return f"Savitzky-Golay over {smoothing.get('window', DEFAULT_WINDOW)} frames, on the 2D and on the 3D"
    return (f"One-Euro, minimum cutoff {smoothing.get('min_cutoff', DEFAULT_MIN_CUTOFF_HZ):g} Hz at "
            f"{smoothing['fps']:g} fps, on the 2D and on the 3D")


@dataclass
class VideoPoses:
    """Everyone in a video, per track: poses3d (T, K, J, 3) mm camera frame, poses2d (T, K, J, 2) image px,
    boxes (T, K, 4) [x, y, w, h] px, scores (T, K) detection scores, NaN where a track is absent; track_ids (K,);
    fps the video's frame rate; size (W, H) px."""

    poses3d: np.ndarray
    poses2d: np.ndarray
    boxes: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    fps: float
    size: tuple[int, int]


def video_poses(path: str | Path, detect: Callable[[torch.Tensor], list[dict]], batch_size: int = 16,
                smoothing: dict | None = None, max_distance: float = DEFAULT_MAX_DISTANCE,
                max_gap: int = DEFAULT_MAX_GAP) -> VideoPoses:
    """Read the video in batches of `batch_size` frames, run `detect` on each batch ((B, 3, H, W) float in [0, 1]
    -> per frame a dict of boxes, scores, poses2d, poses3d as `detect_poses` returns), track the people on their 2D
    poses and depths (`track_poses`) and smooth each track's 2D and 3D if asked."""
    info = video_info(path)
    found: dict[str, list] = {k: [] for k in ("poses2d", "poses3d", "boxes", "scores")}
    frame: list[int] = []
    t = 0
    for batch in read_frames(path, batch_size):
        images = torch.from_numpy(batch).permute(0, 3, 1, 2).float() / 255.0
        for people in detect(images):
            for k in found:
                found[k].append(np.asarray(people[k], np.float64))
            frame += [t] * len(people["scores"])
            t += 1
    rows = {k: np.concatenate(v) for k, v in found.items()}
    tracks = track_poses(rows["poses2d"], np.array(frame, dtype=np.int64), frames=np.arange(t),
                         depths=rows["poses3d"][..., 2].mean(1).clip(min=1.0), max_distance=max_distance,
                         max_gap=max_gap)
    out = {k: per_track(v, tracks.rows) for k, v in rows.items()}
    if smoothing is not None:
        for k in ("poses2d", "poses3d"):
            out[k] = smooth_tracks(out[k], **smoothing)
    return VideoPoses(out["poses3d"], out["poses2d"], out["boxes"], out["scores"], tracks.ids, info.fps,
                      (info.width, info.height))


def write_overlay(path: str | Path, video: str | Path, poses2d_px: np.ndarray, skeleton: str, fps: float,
                  comment: str | None = None) -> Path:
    """The video's frames with the per-track 2D poses `(T, K, J, 2)` px drawn on them, as an MP4 or GIF; the video
    is read again frame by frame rather than kept in memory."""
    from lifting.viz import overlay_poses

    def frames():
        t = 0
        for batch in read_frames(video):
            for image in batch:
                yield overlay_poses(image, poses2d_px[t], skeleton)
                t += 1

    return write_video(path, frames(), fps, comment=comment)
