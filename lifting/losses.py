"""Training losses of the lifters. Poses are (B, J, 3) mm, root-relative camera frame; 2D is (B, J, 2) px, root-centred."""

from __future__ import annotations

import torch

_EPS = 1e-8


def supervised_loss(pred: torch.Tensor, target: torch.Tensor, std: torch.Tensor | None = None) -> torch.Tensor:
    """MSE in mm^2, or on standardised coordinates when `std` (3J,) is given (zero-spread coordinates ignored)."""
    diff = (pred - target).reshape(len(pred), -1)
    if std is None:
        return diff.pow(2).mean()
    valid = std > 1e-8
    return (diff[:, valid] / std[valid]).pow(2).mean()


def relative_depth_loss(depth_i: torch.Tensor, depth_j: torch.Tensor, labels: torch.Tensor,
                        distance_multiplier: float = 2.5) -> torch.Tensor:
    """Pairwise ranking loss on predicted depths (B,), labels in {-1, 0, +1} (+1: joint i farther).

    Depth gaps are divided by the batch's mean absolute gap (scale-free; gradients flow through it),
    then log(1 + exp(-kappa r d)) for ordered pairs and d^2 for 'equal' pairs.
    """
    delta = depth_i - depth_j
    d = delta / delta.abs().mean().clamp_min(1e-6)
    ranked = torch.nn.functional.softplus(torch.clamp(-distance_multiplier * labels * d, max=85.0))
    loss = torch.where(labels != 0, ranked, d * d)
    return loss.mean()


def scaled_orthographic_reprojection_loss(pose3d: torch.Tensor, scale: torch.Tensor,
                                          joints2d_centred: torch.Tensor) -> torch.Tensor:
    """Mean joint distance (px) between s * (X, Y) and the root-centred 2D input."""
    proj = scale[:, None, None] * pose3d[..., :2]
    return torch.sqrt((proj - joints2d_centred).pow(2).sum(-1) + _EPS).mean()


def weak_perspective_reprojection_loss(pose3d: torch.Tensor, inv_root_depth: torch.Tensor,
                                       joints2d_centred: torch.Tensor, focal: torch.Tensor) -> torch.Tensor:
    """Perspective with known focal lengths (B, 2) px and a predicted root depth 1/inv_root_depth (mm)."""
    z = pose3d[..., 2] + 1.0 / inv_root_depth.clamp_min(1e-9)[:, None]
    proj = focal[:, None, :] * pose3d[..., :2] / z[..., None]
    return torch.sqrt((proj - joints2d_centred).pow(2).sum(-1) + _EPS).mean()


def root_loss(pose3d: torch.Tensor, root: int) -> torch.Tensor:
    """Distance of the predicted root joint from the origin (mm)."""
    return torch.sqrt(pose3d[:, root].pow(2).sum(-1) + _EPS).mean()


def limb_ratio_loss(pose3d: torch.Tensor, limbs: torch.Tensor, ref_lengths: torch.Tensor, unit_limb: int,
                    valid: torch.Tensor | None = None) -> torch.Tensor:
    """Limb-length proportions: |l / l_unit - L / L_unit| over valid limbs. limbs (L, 2), ref_lengths (L,) or (B, L)."""
    lengths = torch.sqrt((pose3d[:, limbs[:, 0]] - pose3d[:, limbs[:, 1]]).pow(2).sum(-1) + _EPS)   # (B, L)
    ratio = lengths / lengths[:, unit_limb:unit_limb + 1]
    ref = ref_lengths if ref_lengths.dim() == 2 else ref_lengths[None]
    ref_ratio = ref / ref[:, unit_limb:unit_limb + 1]
    err = torch.sqrt((ratio - ref_ratio).pow(2) + _EPS)
    if valid is not None:
        err = err[:, valid]
    return err.mean()
