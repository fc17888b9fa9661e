"""RootNet (Moon et al., ICCV 2019; spec §3.2-3.3): absolute root position from a person crop and its distance
prior k (`lifting.geometry.root_prior`).

Input: RGB crops (B, 3, S, S) in [0, 1] of the processed person box, and k (B,) mm. Two branches share a ResNet
or MobileNetV3 backbone (`models.backbones`, output stride 32):
- xy: three stride-2 transposed convolutions (4x4, BN, ReLU) take the S/32 map to S/4 cells (64 x 64 at S = 256,
  32 x 32 at 128 px), a 1x1 conv gives one logit map, a softmax over all cells and a soft-argmax the root in cell
  units (integer cell indices 0 .. S/4 - 1);
- depth: global average pooling and a linear layer give an unconstrained scalar gamma; the root depth is gamma * k.

Cell convention: cell j covers crop pixels S/4 * j .. S/4 * (j + 1) - 1 (pixel centres at integer coordinates), so
crop px = (cell + 0.5) * S/4 - 0.5. The spec's reference maps px = cell * S/4; the centred map makes a horizontal
flip of the crop exactly a flip of the heatmap and puts a uniform map at the crop centre (the principal point).

`root_camera` takes the crop-pixel root back to original-image pixels through the crop homography and
back-projects it at the predicted depth into the original camera frame (mm).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from lifting.augment.crops import crop_homography
from lifting.errors import UserError
from lifting.geometry.root_prior import BBOX_REAL_MM, check_bbox_real
from lifting.models.backbones import build_backbone
from lifting.models.metro import IMAGENET_MEAN, IMAGENET_STD, soft_argmax_2d

BACKBONE_STRIDE = 32
HEATMAP_STRIDE = 4       # three stride-2 transposed convolutions after the stride-32 backbone
INIT_STD = 1e-3          # deconvolution, 1x1 and linear weights ~ N(0, 0.001^2), zero biases (spec §3.2)


def crop_px_to_cells(px: torch.Tensor) -> torch.Tensor:
    """Crop px (..., 2) -> heatmap cell units (the loss target)."""
    return (px + 0.5) / HEATMAP_STRIDE - 0.5


def cells_to_crop_px(cells: torch.Tensor) -> torch.Tensor:
    """Heatmap cell units (..., 2) -> crop px."""
    return (cells + 0.5) * HEATMAP_STRIDE - 0.5


class RootNet(nn.Module):
    """Backbone + xy branch (deconvolutions, 1 logit map) + depth branch (GAP, linear -> gamma)."""

    def __init__(self, backbone: str = "resnet50", crop_size: int = 256, head_channels: int = 256,
                 bbox_real_mm=BBOX_REAL_MM, weights_path: str | Path | None = None):
        """bbox_real_mm: the A_real (width, height) its k is computed with (callers compute k; the model keeps
        the value so a trained model is used with the prior it learnt)."""
        super().__init__()
        self.bbox_real_mm = check_bbox_real(bbox_real_mm)
        if crop_size % BACKBONE_STRIDE or crop_size < BACKBONE_STRIDE:
            raise UserError(f"crop_size {crop_size}: RootNet needs a positive multiple of {BACKBONE_STRIDE} px")
        if head_channels < 1:
            raise UserError(f"head_channels {head_channels}: expected a positive channel count")
        self.backbone_name, self.crop_size, self.head_channels = backbone, crop_size, head_channels
        self.backbone, channels = build_backbone(backbone, BACKBONE_STRIDE, weights_path)
        layers, c_in = [], channels
        for _ in range(3):
            layers += [nn.ConvTranspose2d(c_in, head_channels, 4, stride=2, padding=1, bias=False),
                       nn.BatchNorm2d(head_channels), nn.ReLU(inplace=True)]
            c_in = head_channels
        self.deconv = nn.Sequential(*layers)
        self.xy_head = nn.Conv2d(head_channels, 1, kernel_size=1)
        self.depth_head = nn.Linear(channels, 1)
        for m in [*self.deconv, self.xy_head, self.depth_head]:
            if isinstance(m, (nn.ConvTranspose2d, nn.Conv2d, nn.Linear)):
                nn.init.normal_(m.weight, std=INIT_STD)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False)

    def arch(self) -> dict:
        """Constructor arguments (everything except weights) to rebuild this model."""
        return {"backbone": self.backbone_name, "crop_size": self.crop_size, "head_channels": self.head_channels,
                "bbox_real_mm": list(self.bbox_real_mm)}

    @property
    def heatmap_size(self) -> int:
        return self.crop_size // HEATMAP_STRIDE

    def logits(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 3, S, S) in [0, 1] -> (xy logits (B, 1, S/4, S/4), gamma (B,)), in the autocast dtype."""
        features = self.backbone((images - self.mean) / self.std)
        return self.xy_head(self.deconv(features)), self.depth_head(features.mean((2, 3)))[:, 0]

    def decode(self, xy_logits: torch.Tensor, gamma: torch.Tensor, k_mm: torch.Tensor) -> dict[str, torch.Tensor]:
        """Branch outputs + k (B,) mm -> root2d_cells (B, 2), root2d_px (B, 2) crop px, gamma (B,), depth_mm (B,),
        all float32 (softmax and soft-argmax over every cell)."""
        cells = soft_argmax_2d(xy_logits.float())[:, 0] * (self.heatmap_size - 1)
        gamma = gamma.float()
        return {"root2d_cells": cells, "root2d_px": cells_to_crop_px(cells), "gamma": gamma,
                "depth_mm": gamma * k_mm.float()}

    def forward(self, images: torch.Tensor, k_mm: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.decode(*self.logits(images), k_mm)


def root_camera(root2d_crop_px: torch.Tensor, depth_mm: torch.Tensor, K_orig: torch.Tensor, K_crop: torch.Tensor,
                R_crop_from_orig: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Crop-pixel root (B, 2) at depth (B,) mm (original camera z) -> (root2d_px (B, 2) original image px,
    root_cam (B, 3) original camera mm): x_img = H^-1 x_crop with H = K_crop R K_orig^-1, then
    X = (x_img - c_x) Z / f_x, Y = (y_img - c_y) Z / f_y (float64 inside)."""
    H = crop_homography(K_orig, K_crop, R_crop_from_orig)
    ray = torch.cat([root2d_crop_px.double(), torch.ones_like(root2d_crop_px[:, :1]).double()], -1)
    uvw = (torch.linalg.inv(H) @ ray[..., None])[..., 0]
    image_px = uvw[:, :2] / uvw[:, 2:]
    K = K_orig.double()
    y = (image_px[:, 1] - K[:, 1, 2]) / K[:, 1, 1]
    x = (image_px[:, 0] - K[:, 0, 2] - K[:, 0, 1] * y) / K[:, 0, 0]
    z = depth_mm.double()
    return image_px.to(root2d_crop_px.dtype), torch.stack([x * z, y * z, z], -1).to(root2d_crop_px.dtype)
