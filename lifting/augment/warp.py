"""Perspective-correct crops of whole images for inference: the crop camera of `augment.crops`, lens distortion
undone inside the warp, and a gamma-correct 2x2 box-filter pyramid so crops much smaller than their box do not
alias. Pixels are decoded to linear light (x^2.2) before resampling and re-encoded with the crop's gamma."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from lifting.augment.crops import CropAugmentation, crop_camera, warp_to_crop
from lifting.errors import UserError
from lifting.geometry.cameras import undistort_opencv

DISPLAY_GAMMA = 2.2


def _pyramid_level(zoom: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Pyramid level per crop: floor(-log2 zoom), so the residual zoom lies in (0.5, 1]; 0 when magnifying."""
    top = max(int(math.log2(max(min(height, width), 2))) - 1, 0)
    return torch.floor(-torch.log2(zoom)).clamp(0, top).long()


def _halve(image: torch.Tensor) -> torch.Tensor:
    """2x2 box filter of a (3, H, W) image (odd sizes: the last row/column repeated)."""
    padded = F.pad(image[None], (0, image.shape[-1] % 2, 0, image.shape[-2] % 2), mode="replicate")
    return F.avg_pool2d(padded, 2)[0]


def _level_intrinsics(K: torch.Tensor, level: int) -> torch.Tensor:
    """Intrinsics of pyramid level `level` (pixel centres at integers: x_l = a x + (a - 1) / 2, a = 2^-level)."""
    a = 0.5 ** level
    A = torch.tensor([[a, 0, (a - 1) / 2], [0, a, (a - 1) / 2], [0, 0, 1]], dtype=K.dtype, device=K.device)
    return A @ K


def undistort_boxes(boxes: torch.Tensor, K: torch.Tensor, coeffs: torch.Tensor) -> torch.Tensor:
    """(N, 4) [x, y, w, h] boxes of distorted images -> boxes of the pinhole views: centred on the undistorted box
    centre, w and h the distances between the undistorted side midpoints. K (N, 3, 3), coeffs (N, 5) OpenCV."""
    x, y, w, h = boxes.unbind(-1)
    cx, cy = x + w / 2, y + h / 2
    pts = torch.stack([torch.stack(p, -1) for p in ((cx, cy), (cx, y), (cx, y + h), (x, cy), (x + w, cy))], 1)
    rays = torch.cat([pts, torch.ones_like(pts[..., :1])], -1) @ torch.linalg.inv(K).transpose(1, 2)
    xy = undistort_opencv(rays[..., :2], coeffs)
    px = xy @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]
    size = torch.stack([(px[:, 3] - px[:, 4]).norm(dim=-1), (px[:, 1] - px[:, 2]).norm(dim=-1)], -1)
    return torch.cat([px[:, 0] - size / 2, size], -1)


def crop_images(images, boxes, intrinsics, crop_size: int, device: torch.device, aug: CropAugmentation | None = None,
                distortion=None, gamma=None, antialias: bool = True):
    """Perspective-correct crops of one person per box -> (crops (N, 3, S, S), K, K_crop, R_crop_from_orig).

    images: N (3, H, W) tensors in [0, 1], one per box (repeat the same tensor for several boxes of one image: its
    pyramid is built once) or a (N, 3, H, W) tensor; boxes (N, 4) [x, y, w, h] px; intrinsics (N, 3, 3) of the
    original images; aug: per-crop roll/zoom/mirror (default none); distortion (N, 5) OpenCV coefficients or None
    (the boxes are then boxes of the distorted image, see `undistort_boxes`);
    gamma (N,) brightness gamma of each crop (default 1); antialias: sample from a pyramid level when the crop is
    more than 2x smaller than the box.
    """
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    K = torch.as_tensor(np.asarray(intrinsics, dtype=np.float64).reshape(-1, 3, 3))
    if not len(boxes) == len(K) == len(images):
        raise UserError(f"estimate_poses: {len(images)} images, {len(boxes)} boxes and {len(K)} intrinsics differ")
    n = len(boxes)
    dist = None if distortion is None else torch.as_tensor(np.asarray(distortion, np.float64).reshape(n, 5))
    K_crop, R = crop_camera(K, boxes if dist is None else undistort_boxes(boxes, K, dist), crop_size, aug)
    gamma = torch.ones(n) if gamma is None else torch.as_tensor(gamma, dtype=torch.float32).reshape(n)
    zoom = (K_crop[:, 0, 0] * K_crop[:, 1, 1] / (K[:, 0, 0] * K[:, 1, 1])).sqrt()
    crops = torch.empty(n, 3, crop_size, crop_size, device=device)
    groups: dict[int, list[int]] = {}
    for i in range(n):
        groups.setdefault(id(images[i]), []).append(i)
    for rows in groups.values():
        image = images[rows[0]].float().to(device)
        levels = _pyramid_level(zoom[rows], *image.shape[-2:]) if antialias else torch.zeros(len(rows), dtype=torch.long)
        pyramid = [image.clamp(0, 1) ** DISPLAY_GAMMA]
        while len(pyramid) <= int(levels.max()):
            pyramid.append(_halve(pyramid[-1]))
        for level in levels.unique().tolist():
            sel = [r for r, lv in zip(rows, levels.tolist()) if lv == level]
            src = pyramid[level][None].expand(len(sel), -1, -1, -1)
            warped = warp_to_crop(src, _level_intrinsics(K[sel], level).to(device), K_crop[sel].to(device),
                                  R[sel].to(device), crop_size, None if dist is None else dist[sel])
            crops[sel] = warped.clamp_min(0) ** (gamma[sel].to(device)[:, None, None, None] / DISPLAY_GAMMA)
    return crops, K.to(device).float(), K_crop.to(device).float(), R.to(device).float()
