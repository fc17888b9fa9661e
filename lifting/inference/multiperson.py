"""Everyone in a picture: `detect_poses` goes from images to the absolute 3D pose of every person in them.

Top-down, as RootNet and MeTRAbs do it: person boxes (the detector's, or given) -> per box an absolute pose, either
MeTRAbs' own reconstruction from the estimator's 2D and 3D heads, or RootNet's root under the estimator's
root-relative (MeTRo) pose, or RootNet's distance prior k alone (gamma = 1) on RootNet's 2D root -> implausible
poses dropped (bone lengths or proportions out of human range) -> non-maximum suppression on the 3D poses (two
detections whose camera-frame poses lie within `nms_mm` of each other are one person; the higher score stays).
Everything runs in Human3.6M-17 joints and is written in the requested output skeleton at the end.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.ops import nms

from lifting.checkpoint import load_trained
from lifting.errors import UserError
from lifting.geometry.cameras import DEFAULT_FOV_DEG, camera_to_world, default_intrinsics, split_extrinsics
from lifting.geometry.keypoint_formats import from_h36m17, output_format
from lifting.geometry.skeletons import H36M_17
from lifting.inference.estimator import estimate_poses
from lifting.inference.rootnet import estimate_roots

ROOT_SOURCES = ("metrabs", "rootnet", "prior")
MM_PER_LIMB_UNIT = 22.0
"""Millimetres per unit of `H36M_17.avg_person_limb_lengths` for an average adult (shank 20 units = 440 mm)."""
MIN_BOX_PX = 2.0   # detector boxes narrower or lower than this hold no person to crop
# Defaults of detect_poses, also those of run_estimator.py and the multi-person benchmark (bench/RESULTS.md: chosen
# on scenes of the training subjects with bench/multiperson_threshold.py).
MIN_SCORE = 0.425
NMS_IOU = 0.5
PLAUSIBILITY = 5.0
NMS_MM = 250.0


def _trained(model, kind: str) -> torch.nn.Module:
    """A model object as it is, or the model of a run directory / checkpoint of `kind` (another kind: one line)."""
    if isinstance(model, (str, Path)):
        return load_trained(model, kind).model
    return model


def implausible(joints_cam: np.ndarray, tolerance: float) -> np.ndarray:
    """(N,) bool: poses (N, 17, 3) mm h36m_17 whose size or proportions are out of human range.

    With ratio_b = limb length / the average person's (`MM_PER_LIMB_UNIT`) and the person's size s = median ratio,
    a pose is implausible if s lies outside [1 / (1 + tolerance), 1 + tolerance] or any ratio_b / s above
    1 + tolerance: a giant, a dwarf, or a 2 m forearm on a normal body. A limb too short is left alone: estimators
    collapse foreshortened or hidden forearms and hips of real people (on rendered scenes of the training subjects,
    every pose the lower bound dropped was a real person's, bench/RESULTS.md), while an over-long one is what a pose
    stretched over two people or the background looks like."""
    if len(joints_cam) == 0:
        return np.zeros(0, bool)
    avg = np.asarray(H36M_17.avg_person_limb_lengths) * MM_PER_LIMB_UNIT
    ratio = H36M_17.limb_lengths(np.asarray(joints_cam, np.float64)) / avg
    size = np.median(ratio, axis=-1)
    lo, hi = 1 / (1 + tolerance), 1 + tolerance
    proportion = ratio / np.maximum(size, 1e-9)[:, None]
    return (size < lo) | (size > hi) | (proportion > hi).any(-1)


def pose_nms(joints_cam: np.ndarray, scores: np.ndarray, threshold_mm: float) -> np.ndarray:
    """Indices kept, by falling score: a pose (N, J, 3) mm whose mean per-joint distance to a kept, higher-scored
    pose is below `threshold_mm` is the same person seen twice."""
    kept: list[int] = []
    for i in np.argsort(-np.asarray(scores), kind="stable"):
        if all(np.linalg.norm(joints_cam[i] - joints_cam[k], axis=-1).mean() >= threshold_mm for k in kept):
            kept.append(int(i))
    return np.asarray(kept, dtype=np.int64)


def _check(name: str, value: float | None, lo: float, hi: float, nullable: bool = False) -> None:
    if value is None and nullable:
        return
    if value is None or not np.isfinite(value) or not lo <= value <= hi:
        raise UserError(f"detect_poses: {name} {value}: expected a number in [{lo:g}, {hi:g}]"
                        + (" or None (off)" if nullable else ""))


@torch.no_grad()
def _detect(detector: torch.nn.Module, images: list[torch.Tensor], min_score: float,
            nms_iou: float | None) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per image (boxes (n, 4) [x, y, w, h] px, scores (n,)) of the detector above `min_score`, after a second
    box NMS at `nms_iou` (None: the detector's own only)."""
    dev = next(detector.parameters()).device
    out = []
    for image in images:
        found = detector.eval()(image[None].to(dev))[0]
        xyxy, score = found["boxes"].double().cpu(), found["scores"].double().cpu()
        if nms_iou is not None:
            kept = nms(xyxy, score, nms_iou)
            xyxy, score = xyxy[kept], score[kept]
        xyxy, score = xyxy.numpy(), score.numpy()
        box = np.concatenate([xyxy[:, :2], xyxy[:, 2:] - xyxy[:, :2]], 1)
        keep = (score >= min_score) & (box[:, 2:] >= MIN_BOX_PX).all(1)
        out.append((box[keep], score[keep]))
    return out


def _given_boxes(boxes, scores, count: int) -> list[tuple[np.ndarray, np.ndarray]]:
    if len(boxes) != count:
        raise UserError(f"detect_poses: {count} images but boxes for {len(boxes)}")
    if scores is not None and len(scores) != count:
        raise UserError(f"detect_poses: {count} images but scores for {len(scores)}")
    out = []
    for i, b in enumerate(boxes):
        b = np.asarray(b, np.float64).reshape(-1, 4)
        s = np.ones(len(b)) if scores is None else np.asarray(scores[i], np.float64).reshape(-1)
        if len(s) != len(b):
            raise UserError(f"detect_poses: image {i} has {len(b)} boxes but {len(s)} scores")
        out.append((b, s))
    return out


def _intrinsics(intrinsics, images: list[torch.Tensor], fov_deg: float) -> np.ndarray:
    """(B, 3, 3) K of every image: the given (3, 3) or (B, 3, 3), else the default for its size and `fov_deg`."""
    B = len(images)
    if intrinsics is None:
        return np.array([default_intrinsics(im.shape[-1], im.shape[-2], fov_deg) for im in images]).reshape(B, 3, 3)
    K = np.asarray(intrinsics, np.float64)
    if K.shape == (3, 3):
        K = np.broadcast_to(K, (B, 3, 3))
    if K.shape != (B, 3, 3) or not np.isfinite(K).all():
        raise UserError(f"detect_poses: intrinsics: expected finite (3, 3) or ({B}, 3, 3), got shape {K.shape}")
    return np.ascontiguousarray(K)


def detect_poses(images, detector, estimator, rootnet=None, intrinsics=None, extrinsics=None, *,
                 boxes=None, scores=None, roots: str | None = None, min_score: float = MIN_SCORE,
                 nms_iou: float | None = NMS_IOU, plausibility: float | None = PLAUSIBILITY,
                 nms_mm: float | None = NMS_MM, fov_deg: float = DEFAULT_FOV_DEG,
                 distortion=None, skeleton: str = "h36m_17", num_aug: int = 1, antialias: bool = True,
                 batch_size: int = 64) -> list[dict[str, np.ndarray]]:
    """The absolute 3D pose of every person in every image.

    images: B (3, H, W) tensors in [0, 1] (sizes may differ) or a (B, 3, H, W) tensor. detector, estimator,
    rootnet: models, or run directories / checkpoints of those kinds. boxes: per image (n_i, 4) [x, y, w, h] px
    used instead of the detector's (detector may then be None), with `scores` per image (default 1). intrinsics
    (3, 3) or (B, 3, 3) (default: `default_intrinsics` with `fov_deg`); extrinsics (3|4, 4) or (B, 3|4, 4)
    world-to-camera [R | t] mm; distortion (5,) or (B, 5) OpenCV lens distortion (MeTRAbs roots only: RootNet's
    crops assume a pinhole camera). num_aug, antialias, batch_size: those of `estimate_poses`. roots: 'metrabs'
    (the estimator's reconstruction), 'rootnet' (RootNet's root + the estimator's root-relative pose) or 'prior'
    (k on RootNet's 2D root, gamma = 1); default 'rootnet' when a RootNet is given, else 'metrabs'. min_score in
    [0, 1]: detections kept; nms_iou in (0, 1]: a box NMS on the detector's boxes (None: its own only);
    plausibility: the tolerance of `implausible` in (0, 100], None keeps every pose;
    nms_mm: the `pose_nms` threshold in [0, 10000] mm, None keeps duplicates.

    Returns one dict per image (empty arrays where nobody is found), people by falling score: boxes (n, 4)
    [x, y, w, h] px, scores (n,), poses2d (n, J, 2) image px (the estimator's 2D head), poses3d (n, J, 3) mm
    camera frame (x right, y down, z forward), poses3d_world (n, J, 3) mm with extrinsics; J joints of `skeleton`
    (a `keypoint_formats.OUTPUT_FORMATS` name).
    """
    _check("min_score", min_score, 0.0, 1.0)
    _check("nms_iou", nms_iou, 1e-3, 1.0, nullable=True)
    _check("plausibility", plausibility, 1e-3, 100.0, nullable=True)
    _check("nms_mm", nms_mm, 0.0, 10_000.0, nullable=True)
    output_format(skeleton)
    roots = roots or ("rootnet" if rootnet is not None else "metrabs")
    if roots not in ROOT_SOURCES:
        raise UserError(f"detect_poses: roots {roots!r}: expected one of {', '.join(ROOT_SOURCES)}")
    if roots != "metrabs" and rootnet is None:
        raise UserError(f"detect_poses: roots {roots!r} needs a RootNet (rootnet=RUN)")
    if distortion is not None and roots != "metrabs":
        raise UserError(f"detect_poses: roots {roots!r} assume a pinhole camera; undistort the images, or use "
                        "roots 'metrabs' with distortion")
    if boxes is None and detector is None:
        raise UserError("detect_poses: needs a detector (detector=RUN) or person boxes")
    estimator = _trained(estimator, "estimator")
    rootnet = None if rootnet is None else _trained(rootnet, "rootnet")
    images = [torch.as_tensor(im).float() for im in images]
    B = len(images)
    K = _intrinsics(intrinsics, images, fov_deg)
    E = None
    if extrinsics is not None:
        E = np.asarray(extrinsics, np.float64)
        E = np.broadcast_to(E, (B, *E.shape)) if E.ndim == 2 else E
        if len(E) != B:
            raise UserError(f"detect_poses: extrinsics for {len(E)} images, expected one (3|4, 4) or {B}")
        E = split_extrinsics(E)
    found = _given_boxes(boxes, scores, B) if boxes is not None else _detect(_trained(detector, "detector"), images,
                                                                            min_score, nms_iou)
    pose = estimate_poses(estimator, images, [b for b, _ in found], K, distortion=distortion, num_aug=num_aug,
                          antialias=antialias, batch_size=batch_size)
    owner, score = pose["image_index"], np.concatenate([s for _, s in found]) if B else np.zeros(0)
    joints = pose["poses3d_abs"]
    if roots != "metrabs" and len(owner):
        net = estimate_roots(rootnet, [images[i] for i in owner], pose["boxes"], K[owner])
        root = net["root_cam"]
        if roots == "prior":   # gamma = 1: the root's ray at depth k (RootNet's depth is gamma k on that ray)
            root = root * (net["k_mm"] / root[:, 2])[:, None]
        joints = pose["poses3d_rel"] - pose["poses3d_rel"][:, :1] + root[:, None]
    keep = np.ones(len(owner), bool) if plausibility is None else ~implausible(joints, plausibility)
    out = []
    for i in range(B):
        mine = np.flatnonzero((owner == i) & keep)
        if nms_mm is not None:
            mine = mine[pose_nms(joints[mine], score[mine], nms_mm)]
        else:
            mine = mine[np.argsort(-score[mine], kind="stable")]
        person = {"boxes": pose["boxes"][mine].reshape(-1, 4), "scores": score[mine],
                  "poses2d": from_h36m17(pose["poses2d"][mine].reshape(-1, 17, 2), skeleton),
                  "poses3d": from_h36m17(joints[mine].reshape(-1, 17, 3), skeleton)}
        if E is not None:
            person["poses3d_world"] = camera_to_world(person["poses3d"], E[0][i], E[1][i])
        out.append(person)
    return out
