"""People's identities across the frames of a sequence: poses per frame -> per-track arrays.

Input is a flat list of N poses `joints (N, J, D)` (2D px or 3D mm; NaN = missing joint) with the frame each
belongs to. Where the input carries identities (`ids`, e.g. a COCO `track_id` or the person axis of a
(T, P, J, 2) array) they are kept. Otherwise each frame's poses are matched to the live tracks by the Hungarian
algorithm (scipy.optimize.linear_sum_assignment) on the mean joint distance, in units of the track's size (its
bounding-box diagonal), to where each track is predicted to be: its last pose moved to the centroid that a
straight-line fit through its last few sightings gives, so two people whose paths cross keep their identities and
one misplaced detection does not throw a track off. Where each pose's distance from the camera is known (`depths`,
e.g. the mean joint depth of absolute 3D poses), the log ratio to the track's median recent depth is added to the
cost: two people who overlap in the image at 4 and 6 m are told apart by it. A match farther than `max_distance`
track sizes, or `max_depth_change` (relative) in depth, is refused; an unmatched pose starts a new track; a track
unseen for more than `max_gap` frames has ended.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from lifting.errors import UserError

DEFAULT_MAX_DISTANCE = 0.5
DEFAULT_MAX_GAP = 10
DEFAULT_MAX_DEPTH_CHANGE = 0.5
HISTORY = 5   # sightings a track's predicted centroid and depth are taken from


@dataclass
class Tracks:
    """K tracks over T frames. joints (T, K, J, D), NaN where a track is absent; frames (T,) the frame labels in
    order; ids (K,) the track ids (the input's where it has them, else 0..K-1 by first appearance); rows (T, K)
    the input row of each track's pose, -1 where absent."""

    joints: np.ndarray
    frames: np.ndarray
    ids: np.ndarray
    rows: np.ndarray


def _natural_key(label) -> list:
    """'frame_10' after 'frame_9'; numeric labels in numeric order."""
    return [(0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(label)) if t]


def frame_order(frame_labels, frames=None) -> tuple[np.ndarray, np.ndarray]:
    """(T,) the frames of the sequence and (N,) each row's frame index. `frames` None: the distinct labels in
    natural order (frames without poses are then not counted: pass all frames where the input lists them)."""
    labels = np.asarray(frame_labels)
    if frames is None:
        frames = sorted(set(labels.tolist()), key=_natural_key)
    frames = np.asarray(frames)
    index = {f: t for t, f in enumerate(frames.tolist())}
    unknown = set(labels.tolist()) - set(index)
    if unknown:
        raise UserError(f"tracking: pose frame {sorted(unknown)[0]!r} is not among the sequence's frames")
    return frames, np.array([index[f] for f in labels.tolist()], dtype=np.int64)


def _size(pose: np.ndarray) -> float:
    """Bounding-box diagonal of the finite joints of one pose (J, D)."""
    p = pose[np.isfinite(pose).all(-1)]
    return float(np.linalg.norm(p.max(0) - p.min(0))) if len(p) else 0.0


def _distance(a: np.ndarray, b: np.ndarray) -> float:
    """Mean distance over the joints finite in both poses (J, D); inf when none is."""
    both = np.isfinite(a).all(-1) & np.isfinite(b).all(-1)
    return float(np.linalg.norm(a[both] - b[both], axis=-1).mean()) if both.any() else np.inf


class _Track:
    def __init__(self, t: int, pose: np.ndarray, depth: float):
        self.seen = [(t, pose, depth)]

    def predict(self, t: int) -> np.ndarray:
        """The last pose moved to the centroid at frame t of a least-squares line through the recent sightings'
        centroids (the last pose itself after one sighting)."""
        recent = self.seen[-HISTORY:]
        last = recent[-1][1]
        if len(recent) == 1:
            return last
        times = np.array([s[0] for s in recent], np.float64)
        centroids = np.array([np.nanmean(s[1], 0) for s in recent])
        slope, offset = np.polyfit(times - times[-1], centroids, 1)
        return last - centroids[-1] + offset + slope * (t - times[-1])

    def depth(self) -> float:
        """Median depth of the recent sightings (NaN where depths are not known)."""
        return float(np.median([s[2] for s in self.seen[-HISTORY:]]))


def _assign(joints: np.ndarray, depths: np.ndarray, frame: np.ndarray, num_frames: int, max_distance: float,
            max_depth_change: float, max_gap: int) -> np.ndarray:
    """(N,) track index of each row by Hungarian matching frame by frame."""
    track_of = np.full(len(joints), -1, dtype=np.int64)
    tracks: list[_Track] = []
    max_log_depth = np.log1p(max_depth_change)
    for t in range(num_frames):
        rows = np.flatnonzero(frame == t)
        live = [k for k, tr in enumerate(tracks) if t - tr.seen[-1][0] <= max_gap + 1]
        cost = np.full((len(live), len(rows)), np.inf)
        for i, k in enumerate(live):
            predicted = tracks[k].predict(t)
            size = max(_size(tracks[k].seen[-1][1]), 1e-9)
            depth = tracks[k].depth()
            for j, r in enumerate(rows):
                d = _distance(predicted, joints[r]) / size
                dz = abs(np.log(depths[r] / depth)) if np.isfinite(depth) and np.isfinite(depths[r]) else 0.0
                if d <= max_distance and dz <= max_log_depth:
                    cost[i, j] = d + dz
        matched = set()
        if len(live) and len(rows):
            big = 1e6 * (1 + np.nanmax(np.where(np.isfinite(cost), cost, 0)))
            for i, j in zip(*linear_sum_assignment(np.where(np.isfinite(cost), cost, big))):
                if np.isfinite(cost[i, j]):
                    track_of[rows[j]] = live[i]
                    tracks[live[i]].seen.append((t, joints[rows[j]], depths[rows[j]]))
                    matched.add(j)
        for j, r in enumerate(rows):
            if j not in matched:
                track_of[r] = len(tracks)
                tracks.append(_Track(t, joints[r], depths[r]))
    return track_of


def track_poses(joints, frame_labels, ids=None, frames=None, depths=None, max_distance: float = DEFAULT_MAX_DISTANCE,
                max_gap: int = DEFAULT_MAX_GAP, max_depth_change: float = DEFAULT_MAX_DEPTH_CHANGE) -> Tracks:
    """Per-track arrays from the poses `joints (N, J, D)` of frames `frame_labels (N,)` (see the module
    docstring); `ids (N,)` the input's identities, if it has them; `frames (T,)` every frame of the sequence in
    order, if the input lists frames without poses (see `frame_order`); `depths (N,)` mm each pose's distance
    from the camera, if known."""
    joints = np.asarray(joints, dtype=np.float64)
    if joints.ndim != 3 or len(frame_labels) != len(joints):
        raise UserError(f"tracking: expected poses (N, J, D) with one frame label each, got {joints.shape} poses "
                        f"and {len(frame_labels)} labels")
    if not max_distance > 0 or max_gap < 0 or not max_depth_change > 0:
        raise UserError(f"tracking: max_distance {max_distance} and max_depth_change {max_depth_change} must be > 0 "
                        f"and max_gap {max_gap} >= 0 frames")
    depths = np.full(len(joints), np.nan) if depths is None else np.asarray(depths, np.float64).reshape(-1)
    if len(depths) != len(joints) or (depths <= 0).any():
        raise UserError(f"tracking: expected one positive depth (mm) per pose, got {len(depths)} for "
                        f"{len(joints)} poses")
    frames, frame = frame_order(frame_labels, frames)
    if ids is None:
        track_of = _assign(joints, depths, frame, len(frames), max_distance, max_depth_change, max_gap)
        track_ids = np.arange(track_of.max() + 1 if len(track_of) else 0)
    else:
        track_ids, track_of = np.unique(np.asarray(ids), return_inverse=True)
        first = np.array([frame[track_of == k].min() for k in range(len(track_ids))])
        order = np.argsort(first, kind="stable")
        track_ids, track_of = track_ids[order], np.argsort(order)[track_of.ravel()]
    pair = frame * len(track_ids) + track_of
    if len(np.unique(pair)) < len(pair):
        dup = np.flatnonzero(np.bincount(pair) > 1)[0]
        raise UserError(f"tracking: frame {frames[dup // len(track_ids)]} has two poses of person id "
                        f"{track_ids[dup % len(track_ids)]}; ids must be unique within a frame")
    out = np.full((len(frames), len(track_ids), *joints.shape[1:]), np.nan)
    rows = np.full((len(frames), len(track_ids)), -1, dtype=np.int64)
    out[frame, track_of] = joints
    rows[frame, track_of] = np.arange(len(joints))
    return Tracks(out, frames, track_ids, rows)
