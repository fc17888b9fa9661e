"""RootNet's camera-distance prior k (Moon et al., ICCV 2019; spec §3.1, §3.5) and its intrinsics conventions.

A person of real area A_real at depth Z covers A_img ~ f_x f_y A_real / Z^2 pixels, so the depth that a box of
A_img pixels implies is k = sqrt(f_x f_y A_real / A_img) mm. A_img is the area of the *processed* box (clipped to
the image, made square, x1.25), never the raw detection box; A_real is `bbox_real` (2000 x 2000 mm), in the unit
of the depth (spec §8.3: metres here would scale depth by 1000). Boxes are [x, y, w, h] px with pixel centres at
integer coordinates, so a W x H image spans [-0.5, W - 0.5] x [-0.5, H - 0.5].

Images without intrinsics use the focal-normalised convention: an assumed focal length (1500 px) with the
principal point at the image centre. The depth then scales with sqrt(f_x f_y) / f_assumed once the true focal
length is known (`depth_for_focal`); image pixels stay where they are, so re-back-project them with the true K.

Every function takes numpy arrays or torch tensors (batched over the leading axes) and returns the same kind.
"""

from __future__ import annotations

import numpy as np

from lifting.errors import UserError

BBOX_REAL_MM = (2000.0, 2000.0)
BOX_EXPANSION = 1.25
ASSUMED_FOCAL_PX = 1500.0


def _xp(a):
    if isinstance(a, np.ndarray):
        return np
    import torch

    return torch


def _any(mask) -> bool:
    return bool(mask.any())


def check_bbox_real(bbox_real_mm, where: str = "bbox_real") -> tuple[float, float]:
    """(width, height) of the real-size box in mm, both finite and positive, else a one-line error."""
    values = tuple(float(v) for v in bbox_real_mm)
    if len(values) != 2 or not all(np.isfinite(v) and v > 0 for v in values):
        raise UserError(f"{where}: expected two positive sizes [width, height] in the depth unit (mm: "
                        f"[2000, 2000]), got {list(bbox_real_mm)}")
    return values


def process_bbox(box_px, image_wh=None, aspect: float = 1.0, expansion: float = BOX_EXPANSION):
    """RootNet's `process_bbox`: (..., 4) [x, y, w, h] px -> the processed box (..., 4).

    Clip to the image (`image_wh` (..., 2) px; None: no border, e.g. crops rendered straight from 3D poses),
    enlarge the shorter side about the centre so that w / h = `aspect` (1: square crops), then scale w and h by
    `expansion` about the centre. A box with no area inside the image is a one-line error."""
    xp = _xp(box_px)
    x0, y0, w, h = (box_px[..., i] for i in range(4))
    x1, y1 = x0 + w, y0 + h
    if image_wh is not None:
        right, bottom = image_wh[..., 0] - 0.5, image_wh[..., 1] - 0.5
        x0, x1 = xp.minimum(x0.clip(min=-0.5), right), xp.minimum(x1.clip(min=-0.5), right)
        y0, y1 = xp.minimum(y0.clip(min=-0.5), bottom), xp.minimum(y1.clip(min=-0.5), bottom)
    w, h = x1 - x0, y1 - y0
    empty = ~((w > 0) & (h > 0))
    if _any(empty):
        where = " inside the image" if image_wh is not None else ""
        raise UserError(f"{int(empty.sum())} person box(es) have zero area{where} (width and height must be > 0 px)")
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    w, h = xp.where(w > aspect * h, w, aspect * h), xp.where(w > aspect * h, w / aspect, h)
    w, h = w * expansion, h * expansion
    return xp.stack([cx - w / 2, cy - h / 2, w, h], -1)


def distance_prior(box_px, focal_px, bbox_real_mm=BBOX_REAL_MM):
    """k (...) mm = sqrt(f_x f_y A_real / A_img) of processed boxes (..., 4) px with focal lengths (..., 2) px."""
    real_w, real_h = check_bbox_real(bbox_real_mm)
    area_px = box_px[..., 2] * box_px[..., 3]
    if _any(~(area_px > 0)):
        raise UserError("distance prior: a person box has zero area (width and height must be > 0 px)")
    if _any(~(focal_px > 0)):
        raise UserError("distance prior: focal lengths must be > 0 px")
    return (focal_px[..., 0] * focal_px[..., 1] * (real_w * real_h) / area_px) ** 0.5


def assumed_intrinsics(image_wh, focal_px: float = ASSUMED_FOCAL_PX):
    """(..., 3, 3) pinhole K of images (..., 2) [W, H] px whose intrinsics are unknown: focal `focal_px`, principal
    point at the image centre ((W - 1) / 2, (H - 1) / 2)."""
    if not focal_px > 0:
        raise UserError(f"assumed_focal_px: expected a positive focal length in px, got {focal_px}")
    shape = tuple(image_wh.shape[:-1]) + (3, 3)
    K = np.zeros(shape) if isinstance(image_wh, np.ndarray) else image_wh.new_zeros(shape)
    K[..., 0, 0] = focal_px
    K[..., 1, 1] = focal_px
    K[..., 0, 2] = (image_wh[..., 0] - 1) / 2
    K[..., 1, 2] = (image_wh[..., 1] - 1) / 2
    K[..., 2, 2] = 1
    return K


def intrinsics_or_assumed(K, image_wh, assumed_focal_px: float | None):
    """The images' K (..., 3, 3), or (K None) the focal-normalised K; neither given is a one-line error."""
    if K is not None:
        return K
    if assumed_focal_px is None:
        raise UserError("no camera intrinsics for these images: pass intrinsics, or set assumed_focal_px "
                        f"(e.g. {ASSUMED_FOCAL_PX:g}) for focal-normalised depths")
    return assumed_intrinsics(image_wh, assumed_focal_px)


def depth_for_focal(depth_mm, focal_px, assumed_focal_px: float = ASSUMED_FOCAL_PX):
    """Focal-normalised depth (...) mm -> the depth under the true focal lengths (..., 2) px: k, and so the
    depth, scales with sqrt(f_x f_y)."""
    return depth_mm * (focal_px[..., 0] * focal_px[..., 1]) ** 0.5 / assumed_focal_px
