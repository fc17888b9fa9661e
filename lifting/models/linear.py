"""Martinez et al.'s residual MLP lifter and the relative-depth variant of Ronchi et al.

Input: standardised, root-centred 2D joints `(B, 2J)`. Output: root-relative 3D joints `(B, J, 3)`
in mm, camera frame, plus a positive scale `(B,)` used by the reprojection losses.
The supervised model de-standardises with 3D training statistics held as buffers; the relative model
may not use 3D statistics and instead multiplies by a learned per-coordinate factor (init 100).
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """Two Linear-BN-ReLU-Dropout layers with an identity shortcut."""

    def __init__(self, width: int, dropout: float, batch_norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.Linear(width, width), nn.BatchNorm1d(width) if batch_norm else nn.Identity(),
                       nn.ReLU(inplace=True), nn.Dropout(dropout)]
        self.body = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class LinearModel(nn.Module):
    """The lifting MLP: stem, `num_stage` residual blocks, linear output, scale head, optional unnorm layer."""

    def __init__(self, in_joints: int, out_joints: int, linear_size: int = 1024, num_stage: int = 2,
                 dropout: float = 0.5, batch_norm: bool = True, relative: bool = False,
                 scale_range: float = 1.0, unnorm_init: float = 100.0, zero_root: int | None = None):
        """zero_root: index of a root joint the network does not predict (Martinez et al.): it outputs the other
        out_joints - 1 joints and the root is inserted as the origin."""
        super().__init__()
        self.in_joints, self.out_joints, self.relative = in_joints, out_joints, relative
        self.zero_root = zero_root
        predicted = 3 * (out_joints - (zero_root is not None))
        self.scale_range = scale_range
        self.stem = nn.Sequential(nn.Linear(2 * in_joints, linear_size),
                                  nn.BatchNorm1d(linear_size) if batch_norm else nn.Identity(),
                                  nn.ReLU(inplace=True), nn.Dropout(dropout))
        self.blocks = nn.Sequential(*[ResidualBlock(linear_size, dropout, batch_norm) for _ in range(num_stage)])
        self.head = nn.Linear(linear_size, predicted)
        self.scale_head = nn.Linear(linear_size, 1)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
        # Relative model: learned un-normalisation. Supervised model: fixed 3D training statistics.
        self.unnorm = nn.Parameter(torch.full((predicted,), float(unnorm_init))) if relative else None
        self.register_buffer("out_mean", torch.zeros(predicted))
        self.register_buffer("out_std", torch.ones(predicted))

    def set_output_stats(self, mean: torch.Tensor, std: torch.Tensor) -> None:
        """3D training mean/std per coordinate (3 * out_joints, mm) for the supervised model's de-standardisation."""
        keep = self._predicted_coords()
        self.out_mean.copy_(torch.as_tensor(mean, dtype=self.out_mean.dtype)[keep])
        self.out_std.copy_(torch.as_tensor(std, dtype=self.out_std.dtype)[keep])

    def _predicted_coords(self) -> torch.Tensor:
        keep = torch.ones(self.out_joints, 3, dtype=torch.bool)
        if self.zero_root is not None:
            keep[self.zero_root] = False
        return keep.flatten()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, 2J_in) standardised 2D -> ((B, J_out, 3) mm root-relative camera frame, (B,) scale)."""
        h = self.blocks(self.stem(x))
        out = self.head(h)
        if self.relative:
            out = out * self.unnorm
        else:
            out = out * self.out_std + self.out_mean
        scale = self.scale_range * torch.sigmoid(self.scale_head(h)).squeeze(-1)
        if self.zero_root is not None:
            out = out.reshape(x.shape[0], self.out_joints - 1, 3)
            zero = out.new_zeros(x.shape[0], 1, 3)
            return torch.cat([out[:, :self.zero_root], zero, out[:, self.zero_root:]], 1), scale
        return out.reshape(x.shape[0], self.out_joints, 3), scale
