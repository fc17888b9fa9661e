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


def mpjpe_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean per-joint Euclidean distance in mm, the metric itself (VideoPose3D trains on it): unlike the MSE it
    does not let the few largest errors dominate the gradient. The epsilon keeps the gradient finite at the root,
    where prediction and target are both 0."""
    return ((pred - target).pow(2).sum(-1) + _EPS).sqrt().mean()


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


class RelativeObjective:
    """Ronchi et al.'s weakly supervised objective, shared by Human3.6M and LSP training: ranking loss on one
    labelled joint pair per sample + reprojection + root + limb proportions, weighted."""

    def __init__(self, skeleton, weights: dict[str, float], distance_multiplier: float,
                 reprojection: str = "scaled_orthographic", ref_limbs=None, device: torch.device | str = "cpu"):
        """skeleton: a `Skeleton` (limbs, masked limbs, unit limb, root); weights: relative/reproj/root/symm;
        ref_limbs: (L,) reference lengths mm, or None for per-sample ground-truth lengths ('gt')."""
        self.root, self.unit_limb = skeleton.root, skeleton.unit_limb
        self.weights, self.kappa, self.reprojection = weights, distance_multiplier, reprojection
        self.limbs = torch.tensor(skeleton.limbs, dtype=torch.long, device=device)
        valid = torch.ones(len(skeleton.limbs), dtype=torch.bool)
        valid[list(skeleton.masked_limbs)] = False
        self.valid_limbs = valid.to(device)
        self.ref_limbs = None if ref_limbs is None else torch.as_tensor(ref_limbs, dtype=torch.float32, device=device)

    def __call__(self, pose: torch.Tensor, scale: torch.Tensor, pair_i: torch.Tensor, pair_j: torch.Tensor,
                 labels: torch.Tensor, joints2d_centred: torch.Tensor, focal: torch.Tensor | None = None,
                 target3d: torch.Tensor | None = None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """pose (B, J, 3) mm, scale (B,), pair_i/pair_j (B,) or (B, P) joint indices, labels alike in {-1, 0, 1},
        joints2d_centred (B, J, 2) px, focal (B, 2) px for weak perspective, target3d (B, J, 3) for 'gt' limbs."""
        b = len(pose)
        rows = torch.arange(b, device=pose.device)[:, None]
        depth_i, depth_j = pose[rows, pair_i.reshape(b, -1), 2], pose[rows, pair_j.reshape(b, -1), 2]
        parts = {"relative": relative_depth_loss(depth_i.flatten(), depth_j.flatten(), labels.flatten(), self.kappa)}
        if self.reprojection == "scaled_orthographic":
            parts["reproj"] = scaled_orthographic_reprojection_loss(pose, scale, joints2d_centred)
        elif self.reprojection == "weak_perspective":
            parts["reproj"] = weak_perspective_reprojection_loss(pose, scale, joints2d_centred, focal)
        parts["root"] = root_loss(pose, self.root)
        if self.weights["symm"] > 0:
            ref = self.ref_limbs if self.ref_limbs is not None else \
                torch.linalg.norm(target3d[:, self.limbs[:, 0]] - target3d[:, self.limbs[:, 1]], dim=-1)
            parts["symm"] = limb_ratio_loss(pose, self.limbs, ref, self.unit_limb, self.valid_limbs)
        loss = sum(self.weights[k] * v for k, v in parts.items())
        return loss, {k: v.detach() for k, v in parts.items()}
