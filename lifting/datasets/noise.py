"""2D input corruptions for robustness experiments: synthetic pixel noise, input joint dropout, detector-like
inputs (missing joints, COCO-17 keypoints) made as `run_model.py` makes them, and stacked-hourglass detections
swapped in for the GT 2D.

Noise is drawn once per (sample, joint) from the caller's generator, so a seeded generator gives
the same corrupted data set every run.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lifting.datasets.samples import PoseSet, key_codes
from lifting.errors import UserError
from lifting.fileio import read_h5_dataset
from lifting.geometry.calibration import CAMERA_IDS
from lifting.geometry.keypoint_formats import fill_missing, h36m17_to_format, to_h36m17

NOISE_KINDS = ("none", "uniform_linear", "uniform_radial", "normal", "normal_random_sigma")
DETECTIONS_SUBDIR = "StackedHourglassFineTuned240"


def add_noise(joints2d_px: np.ndarray, kind: str, amount: float, rng: np.random.Generator) -> np.ndarray:
    """(..., J, 2) px -> noisy copy, same shape and dtype. Per joint displacement by `kind`:

    none: 0.
    uniform_linear: dx, dy independent integers in {0, ..., A} (one-sided, non-negative).
    uniform_radial: length exactly A in a direction of uniform integer degrees 0..359.
    normal: N(0, A I); A is the VARIANCE in px^2 (std sqrt(A)).
    normal_random_sigma: N(0, s^2 I) with one std s per pose drawn uniformly in [0, A] px, so that one data set
        holds clean and noisy poses (a detector's error varies from image to image).
    """
    if kind not in NOISE_KINDS:
        raise UserError(f"unknown 2D noise kind {kind!r}; expected one of {', '.join(NOISE_KINDS)}")
    if amount < 0:
        raise UserError(f"2D noise amount must be >= 0, got {amount}")
    joints2d_px = np.asarray(joints2d_px)
    shape = joints2d_px.shape
    if kind == "none":
        delta = np.zeros(shape)
    elif kind == "uniform_linear":
        if float(amount) != int(amount):
            raise UserError(f"uniform_linear noise amount must be a whole number of px, got {amount}")
        delta = rng.integers(0, int(amount) + 1, size=shape)
    elif kind == "uniform_radial":
        theta = np.deg2rad(rng.integers(0, 360, size=shape[:-1]))
        delta = amount * np.stack([np.cos(theta), np.sin(theta)], axis=-1)
    elif kind == "normal":
        delta = rng.normal(0.0, np.sqrt(amount), size=shape)
    else:
        delta = rng.normal(0.0, 1.0, size=shape) * rng.uniform(0.0, amount, size=(*shape[:-2], 1, 1))
    return (joints2d_px + delta).astype(joints2d_px.dtype)


def input_dropout_mask(n: int, num_joints: int, p: float, rng: np.random.Generator) -> np.ndarray:
    """(n, J) bool keep mask: each joint of each sample is dropped independently with probability p."""
    if not 0 <= p <= 1:
        raise UserError(f"input dropout probability must be in [0, 1], got {p}")
    return rng.random((n, num_joints)) >= p


def detector_like(joints17_px: np.ndarray, max_missing: int, coco_p: float, rng: np.random.Generator) -> np.ndarray:
    """(N, 17, 2) Human3.6M-17 px -> (N, 17, 2) px as `run_model.py` would lift them had a detector given them:
    a share `coco_p` of the poses becomes COCO-17 keypoints (the joints COCO has; no eyes or ears) and goes back
    through `to_h36m17`; then 0..max_missing random keypoints of each pose (of the format it is in) are missing and
    `fill_missing` places every Human3.6M joint left without a rule on the nearest present joint."""
    joints = np.asarray(joints17_px, dtype=np.float64)
    n, out = len(joints), np.empty(joints.shape)
    coco = rng.random(n) < coco_p if coco_p > 0 else np.zeros(n, bool)
    for rows, fmt in ((np.flatnonzero(~coco), "h36m_17"), (np.flatnonzero(coco), "coco_17")):
        keypoints, present = h36m17_to_format(joints[rows], fmt)
        if max_missing > 0:
            present &= ~random_missing(present, rng.integers(0, max_missing + 1, size=len(rows)), rng)
        out[rows] = fill_missing(*to_h36m17(keypoints, present, fmt))
    return out.astype(np.asarray(joints17_px).dtype)


def random_missing(present: np.ndarray, count: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """(N, J) bool: `count[i]` of row i's present keypoints, chosen uniformly without replacement."""
    order = np.where(present, rng.random(present.shape), np.inf).argsort(1)
    missing = np.zeros(present.shape, bool)
    np.put_along_axis(missing, order, np.arange(present.shape[1]) < count[:, None], axis=1)
    return missing & present


def detection_file(det_dir: str | Path, subject: int, action: str, subaction: int, camera: int) -> Path:
    """`<det_dir>/S<s>/StackedHourglassFineTuned240/<Action>[_<n>].<camera id>.h5`."""
    stem = action if subaction == 0 else f"{action}_{subaction}"
    return Path(det_dir) / f"S{subject}" / DETECTIONS_SUBDIR / f"{stem}.{CAMERA_IDS[camera - 1]}.h5"


def _read_detections(path: Path) -> np.ndarray:
    if not path.is_file():
        raise UserError(f"{path}: detection file not found")
    poses = read_h5_dataset(path, "poses", "detection")
    if poses.ndim != 3 or poses.shape[1:] != (16, 2):
        raise UserError(f"{path}: dataset 'poses' has shape {poses.shape}, expected (N, 16, 2)")
    return poses


def load_detections(det_dir: str | Path, poseset: PoseSet) -> np.ndarray:
    """Stacked-hourglass 2D detections for every row of `poseset`: (N, 16, 2) px, h36m_16 order.

    One file per (subject, action, subaction, camera); row `frame` of its `poses` dataset is the
    detection of that frame. Convert the pose set to h36m_16 to pair the result with its 3D.
    """
    arrays = poseset.arrays()
    (group_codes,) = key_codes({**arrays, "frame": np.zeros(len(poseset), dtype=np.int64)})
    _, first, inverse, counts = np.unique(group_codes, return_index=True, return_inverse=True,
                                          return_counts=True)
    rows_of_group = np.split(np.argsort(inverse.ravel(), kind="stable"), np.cumsum(counts)[:-1])
    out = np.empty((len(poseset), 16, 2), dtype=np.float32)
    for row, rows in zip(first, rows_of_group):
        path = detection_file(det_dir, int(poseset.subject[row]), str(poseset.action[row]),
                              int(poseset.subaction[row]), int(poseset.camera[row]))
        poses = _read_detections(path)
        frames = poseset.frame[rows]
        if frames.max() >= len(poses):
            raise UserError(f"{path}: has {len(poses)} frames, but frame {int(frames.max())} is needed")
        out[rows] = poses[frames]
    return out
