"""MeTRo / MeTRAbs: a `models.backbones` trunk, metric 3D heatmap head + 2D heatmap head, soft-argmax, absolute pose.

Input: RGB crops (B, 3, S, S) in [0, 1] whose camera is the crop camera K_crop (principal point at
the crop centre). Outputs, all float32:
- `pose3d_rel` (B, J, 3) mm, root-relative (root = pelvis, joint 0 of h36m_17), crop camera axes;
- `pose2d` (B, J, 2) crop px from the 2D head.
`absolute_pose` turns both plus K_crop into the absolute pose (B, J, 3) mm in the crop camera frame.

Grid convention (measured, see tests/test_metro.py): the torchvision trunks pad symmetrically, so every
stride-2 layer maps output cell i to input pixel 2i, and output cell i of the backbone is centred at
crop pixel `s * i` (pixel k's centre at coordinate k). Soft-argmax coordinates u in [0, 1] (linspace
grid, both ends included) therefore map to pixels as `x_px = CELL_OFFSET + u * (W - 1) * s` with
CELL_OFFSET = 0. Metric X, Y = x_px * B_box / S; Z = u_z * B_box. The same map is used in training
and at any test stride, so a model trained at s = 32 decodes correctly when dilated to s = 16 or 8.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lifting.models.backbones import build_backbone

CELL_OFFSET = 0.0
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def soft_argmax_3d(logits: torch.Tensor, num_joints: int) -> torch.Tensor:
    """(B, D*J, H, W) depth-major logits (c = d*J + j) -> (B, J, 3) expectations u in [0, 1] (x, y, z).

    Softmax over the whole D x H x W volume per joint, in float32; linspace(0, 1) grids.
    """
    b, c, h, w = logits.shape
    d = c // num_joints
    vol = logits.float().reshape(b, d, num_joints, h, w).permute(0, 2, 1, 3, 4)
    p = torch.softmax(vol.reshape(b, num_joints, -1), dim=-1).reshape(b, num_joints, d, h, w)
    gx = torch.linspace(0, 1, w, device=logits.device)
    gy = torch.linspace(0, 1, h, device=logits.device)
    gz = torch.linspace(0, 1, d, device=logits.device)
    ux = (p.sum((2, 3)) * gx).sum(-1)
    uy = (p.sum((2, 4)) * gy).sum(-1)
    uz = (p.sum((3, 4)) * gz).sum(-1)
    return torch.stack([ux, uy, uz], dim=-1)


def soft_argmax_2d(logits: torch.Tensor) -> torch.Tensor:
    """(B, J, H, W) logits -> (B, J, 2) expectations u in [0, 1] (x, y); 2D softmax in float32."""
    b, j, h, w = logits.shape
    p = torch.softmax(logits.float().reshape(b, j, -1), dim=-1).reshape(b, j, h, w)
    gx = torch.linspace(0, 1, w, device=logits.device)
    gy = torch.linspace(0, 1, h, device=logits.device)
    return torch.stack([(p.sum(2) * gx).sum(-1), (p.sum(3) * gy).sum(-1)], dim=-1)


def grid_to_pixels(u: torch.Tensor, stride: int, grid_size: int, offset: float = CELL_OFFSET) -> torch.Tensor:
    """Normalised grid coordinate u in [0, 1] -> crop px: offset + u * (grid_size - 1) * stride."""
    return offset + u * ((grid_size - 1) * stride)


class MetroNet(nn.Module):
    """Backbone + one 1x1 conv emitting [2D logits (J) | 3D logits (D*J, depth-major)]."""

    def __init__(self, backbone: str = "resnet50", stride: int = 32, num_joints: int = 17,
                 depth_bins: int = 8, box_size: float = 2200.0, crop_size: int = 256, root: int = 0,
                 weights_path: str | Path | None = None, train_stride: int | None = None):
        """train_stride: the output stride the weights were trained at (default `stride`); it fixes the
        field-of-view margin whatever stride the model runs at."""
        super().__init__()
        self.backbone_name, self.stride, self.num_joints = backbone, stride, num_joints
        self.train_stride = train_stride or stride
        self.depth_bins, self.box_size, self.crop_size, self.root = depth_bins, float(box_size), crop_size, root
        self.backbone, channels = build_backbone(backbone, stride, weights_path)
        self.head = nn.Conv2d(channels, num_joints * (1 + depth_bins), kernel_size=1)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def arch(self) -> dict:
        """Constructor arguments (everything except weights) to rebuild this model."""
        return {"backbone": self.backbone_name, "stride": self.stride, "num_joints": self.num_joints,
                "depth_bins": self.depth_bins, "box_size": self.box_size, "crop_size": self.crop_size,
                "root": self.root, "train_stride": self.train_stride}

    def logits(self, images: torch.Tensor) -> torch.Tensor:
        """(B, 3, S, S) in [0, 1] -> raw head output (B, J*(1+D), S/s, S/s), in the autocast dtype."""
        return self.head(self.backbone((images - self.mean) / self.std))

    def decode(self, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """Head output -> pose3d_rel (B, J, 3) mm root-relative and pose2d (B, J, 2) crop px (float32)."""
        j = self.num_joints
        h, w = logits.shape[-2:]
        u2 = soft_argmax_2d(logits[:, :j])
        u3 = soft_argmax_3d(logits[:, j:], j)
        px3 = torch.stack([grid_to_pixels(u3[..., 0], self.stride, w), grid_to_pixels(u3[..., 1], self.stride, h)], -1)
        pose3d = torch.cat([px3 * (self.box_size / self.crop_size), u3[..., 2:] * self.box_size], dim=-1)
        pose2d = torch.stack([grid_to_pixels(u2[..., 0], self.stride, w), grid_to_pixels(u2[..., 1], self.stride, h)], -1)
        return {"pose3d_rel": pose3d - pose3d[:, self.root:self.root + 1], "pose2d": pose2d}

    def forward(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.decode(self.logits(images))

    def in_fov(self, pose2d: torch.Tensor) -> torch.Tensor:
        """(B, J, 2) crop px -> (B, J) bool: the joints the absolute reconstruction trusts (`fov_mask`)."""
        return fov_mask(pose2d, self.train_stride, self.crop_size)


def with_stride(model: MetroNet, stride: int) -> MetroNet:
    """A copy of `model` running at another output stride (dilated), same weights."""
    other = MetroNet(**{**model.arch(), "stride": stride}).to(next(model.parameters()).device)
    other.load_state_dict(model.state_dict())
    return other.train(model.training)


def fov_mask(pose2d: torch.Tensor, train_stride: int, crop_size: int, margin: float = 0.25) -> torch.Tensor:
    """(B, J, 2) crop px -> (B, J) bool: inside the training grid's span shrunk by `margin * train_stride` per side.

    The training grid spans [CELL_OFFSET, CELL_OFFSET + S - s_train]; the MeTRAbs rule keeps joints 0.75 s_train
    from the crop border, i.e. 0.25 s_train inside that span. The bounds are in crop pixels and depend on the
    training stride only, so a model dilated to a finer stride at test time keeps the same field of view.
    """
    lo = CELL_OFFSET + margin * train_stride
    hi = CELL_OFFSET + crop_size - train_stride - margin * train_stride
    return ((pose2d >= lo) & (pose2d <= hi)).all(-1)


def _solve_dtype(x: torch.Tensor) -> torch.dtype:
    """float32 for half/bfloat16/float32 inputs (linalg.solve needs it), float64 kept for float64."""
    return torch.promote_types(x.dtype, torch.float32)


def normalized_coords(pose2d: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    """(B, J, 2) px, (B, 3, 3) intrinsics -> (B, J, 2) normalised image coords K^-1 [x, y, 1]."""
    K = K.to(_solve_dtype(pose2d))
    fx, fy, cx, cy, skew = K[:, 0, 0], K[:, 1, 1], K[:, 0, 2], K[:, 1, 2], K[:, 0, 1]
    y = (pose2d[..., 1] - cy[:, None]) / fy[:, None]
    x = (pose2d[..., 0] - cx[:, None] - skew[:, None] * y) / fx[:, None]
    return torch.stack([x, y], dim=-1)


def root_translation_full(uv: torch.Tensor, pose3d_rel: torch.Tensor, weights: torch.Tensor,
                          ridge: float = 1e-2) -> torch.Tensor:
    """Weighted least-squares root translation t (B, 3) mm under full perspective (float32, or float64 inputs kept).

    For every joint, u_j (Z_j + t_z) = X_j + t_x gives rows [1, 0, -u_j] t = u_j Z_j - X_j (and the same
    for v, Y). Per example the u/v column is divided by its RMS s2 and b by its RMS sb, then the 3x3
    normal equations sum w^2 A^T A + ridge I are solved with torch.linalg.solve (float32).
    uv (B, J, 2) normalised coords; pose3d_rel (B, J, 3) mm; weights (B, J).
    """
    dt = _solve_dtype(uv)
    uv, p, w2 = uv.to(dt), pose3d_rel.to(dt), weights.to(dt) ** 2
    b = uv * p[..., 2:3] - p[..., :2]                                  # (B, J, 2)
    s2 = uv.square().mean((1, 2)).sqrt().clamp_min(1e-8)[:, None, None]
    sb = b.square().mean((1, 2)).sqrt().clamp_min(1e-8)[:, None, None]
    q, bn = uv / s2, b / sb
    sw = w2.sum(1)
    m = torch.zeros(uv.shape[0], 3, 3, device=uv.device, dtype=dt)
    m[:, 0, 0] = sw
    m[:, 1, 1] = sw
    m[:, 0, 2] = m[:, 2, 0] = -(w2 * q[..., 0]).sum(1)
    m[:, 1, 2] = m[:, 2, 1] = -(w2 * q[..., 1]).sum(1)
    m[:, 2, 2] = (w2[..., None] * q.square()).sum((1, 2))
    m = m + ridge * torch.eye(3, device=uv.device, dtype=dt)
    rhs = torch.stack([(w2 * bn[..., 0]).sum(1), (w2 * bn[..., 1]).sum(1),
                       -(w2[..., None] * q * bn).sum((1, 2))], dim=-1)
    r = torch.linalg.solve(m, rhs)
    sb, s2 = sb[:, 0], s2[:, 0]
    return torch.cat([r[:, :2] * sb, r[:, 2:] * sb / s2], dim=-1)


def root_translation_weak(uv: torch.Tensor, pose3d_rel: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Weak-perspective root translation (B, 3) mm: centroid depth = 3D xy spread / 2D spread."""
    dt = _solve_dtype(uv)
    uv, p, w = uv.to(dt), pose3d_rel.to(dt), weights.to(dt)
    wn = (w / w.sum(1, keepdim=True))[..., None]
    mu2, mu3 = (wn * uv).sum(1), (wn * p).sum(1)
    s2 = (wn * (uv - mu2[:, None]).square()).sum((1, 2)).sqrt().clamp_min(1e-5)
    s3 = (wn * (p[..., :2] - mu3[:, None, :2]).square()).sum((1, 2)).sqrt().clamp_min(1e-5)
    depth = s3 / s2
    centroid = torch.cat([mu2 * depth[:, None], depth[:, None]], dim=-1)
    return centroid - mu3


def reconstruct_absolute(pose2d: torch.Tensor, pose3d_rel: torch.Tensor, K: torch.Tensor, in_fov: torch.Tensor,
                         weak: bool = False, ridge: float = 1e-2, mix: float | torch.Tensor = 0.5) -> torch.Tensor:
    """Absolute pose (B, J, 3) mm in the crop camera frame from the 2D head, the 3D head and K_crop.

    pose2d (B, J, 2) crop px; pose3d_rel (B, J, 3) mm; K (B, 3, 3); in_fov (B, J) bool (2D prediction
    inside the usable field of view). Joint weights are in_fov + 1e-4. Inside the FOV the joint is
    (1-m) * ray(u_j) * (Z_j + t_z) + m * (P_j + t); outside it is P_j + t. `mix` m: float or (B,).
    """
    dt = _solve_dtype(pose2d)
    uv = normalized_coords(pose2d.to(dt), K)
    weights = in_fov.to(dt) + 1e-4
    t = (root_translation_weak(uv, pose3d_rel, weights) if weak
         else root_translation_full(uv, pose3d_rel, weights, ridge))
    placed = pose3d_rel.to(dt) + t[:, None]
    ray = torch.cat([uv, torch.ones_like(uv[..., :1])], dim=-1) * placed[..., 2:3]
    m = torch.as_tensor(mix, dtype=dt, device=pose2d.device).reshape(-1, 1, 1)
    inside = (1 - m) * ray + m * placed
    return torch.where(in_fov[..., None], inside, placed)


def absolute_pose(model: MetroNet, out: dict[str, torch.Tensor], K: torch.Tensor, weak: bool = False,
                  ridge: float = 1e-2, mix: float | torch.Tensor = 0.5) -> torch.Tensor:
    """`reconstruct_absolute` for a model's outputs, with the FOV taken from its 2D head."""
    return reconstruct_absolute(out["pose2d"], out["pose3d_rel"], K, model.in_fov(out["pose2d"]), weak, ridge, mix)


def metro_losses(model: MetroNet, out: dict[str, torch.Tensor], K: torch.Tensor, joints3d_cam: torch.Tensor,
                 joints2d_px: torch.Tensor, in_crop: torch.Tensor, step: int, weak_steps: int = 500,
                 abs_start: int = 5000, abs_weight: float = 0.1, loss2d_weight: float = 1.0,
                 ridge: float = 1e-2) -> dict[str, torch.Tensor]:
    """MeTRo/MeTRAbs training losses in metres (float32) -> dict with 'total' and each term.

    rel: L1 of root-relative 3D (mean over joints and axes) / 1000.
    2d: L1 of the 2D head vs GT crop px over joints inside the crop, times B_box / (S * 1000).
    abs: per-axis L1 of the reconstructed absolute pose over joints with z_true > 300 mm, depth error
         down-weighted by min(1, 1e4 / z_true); weight 0 before `abs_start`, `abs_weight` after.
    Absolute reconstruction uses weak perspective for the first `weak_steps` steps and a random
    3D-inside-FOV mix m ~ U(0, 1) per example.
    joints3d_cam (B, J, 3) mm crop camera; joints2d_px (B, J, 2) crop px; in_crop (B, J) bool.
    """
    gt = joints3d_cam.float()
    gt_rel = gt - gt[:, model.root:model.root + 1]
    rel = (out["pose3d_rel"] - gt_rel).abs().mean() / 1000
    mask2d = in_crop.float()[..., None]
    err2d = ((out["pose2d"] - joints2d_px.float()).abs() * mask2d).sum() / (2 * mask2d.sum()).clamp_min(1)
    l2d = err2d * model.box_size / (model.crop_size * 1000)
    mix = torch.rand(gt.shape[0], device=gt.device)
    pose_abs = absolute_pose(model, out, K, weak=step < weak_steps, ridge=ridge, mix=mix)
    z = gt[..., 2]
    valid = (z > 300).float()
    rho = (1e4 / z.abs().clamp_min(1)).clamp(max=1)
    d = (pose_abs - gt).abs()
    per_joint = (d[..., 0] + d[..., 1] + rho * d[..., 2]) / 3
    labs = (per_joint * valid).sum() / valid.sum().clamp_min(1) / 1000
    total = rel + loss2d_weight * l2d
    if step >= abs_start and abs_weight > 0:          # skipped, not multiplied by 0, so a bad early solve can't NaN
        total = total + abs_weight * labs
    return {"total": total, "rel": rel.detach(), "2d": l2d.detach(), "abs": labs.detach()}
