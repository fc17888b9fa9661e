"""Martinez et al.'s residual MLP lifter and the relative-depth variant of Ronchi et al.

Input: standardised, root-centred 2D joints `(B, 2J)`. Output: root-relative 3D joints `(B, J, 3)`
in mm, camera frame, plus a positive scale `(B,)` used by the reprojection losses.
The supervised model de-standardises with 3D training statistics held as buffers; the relative model
may not use 3D statistics and instead multiplies by a learned per-coordinate factor (init 100).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import nn

from lifting.geometry.skeletons import get_skeleton


def dropout_mask(shape: tuple[int, ...], p: float, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """Inverted-dropout multipliers: 0 with probability p, else 1 / (1 - p).

    At p = 0.5 (the papers' value) every unit takes one bit of a random 32-bit integer: on a CPU about six times
    cheaper than a uniform draw per unit, which is itself three times cheaper than `bernoulli_` (`nn.Dropout`).
    Other p: uniform draws."""
    if p >= 1:
        return torch.zeros(shape, device=device)
    n = math.prod(shape)
    if p == 0.5 and n % 32 == 0:
        words = torch.empty(n // 32, dtype=torch.int32, device=device).random_(-2**31, 2**31, generator=generator)
        bits = (words[:, None] >> torch.arange(32, dtype=torch.int32, device=device)) & 1
        return bits.reshape(shape).float().mul_(2.0)
    return (torch.rand(shape, generator=generator, device=device) >= p).float().mul_(1.0 / (1.0 - p))


class Dropout(nn.Module):
    """Dropout whose mask comes from `dropout_mask` with the global generator."""

    def __init__(self, p: float):
        super().__init__()
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.p == 0:
            return x
        if self.p >= 1:
            return x * 0.0
        if torch.compiler.is_compiling():  # traceable draws; a compiled graph has its own random stream anyway
            return x * (torch.rand_like(x) >= self.p).to(x.dtype).mul_(1.0 / (1.0 - self.p))
        return x * dropout_mask(x.shape, self.p, device=x.device)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class ResidualBlock(nn.Module):
    """Two Linear-BN-ReLU-Dropout layers with an identity shortcut."""

    def __init__(self, width: int, dropout: float, batch_norm: bool = True):
        super().__init__()
        layers: list[nn.Module] = []
        for _ in range(2):
            layers += [nn.Linear(width, width), nn.BatchNorm1d(width) if batch_norm else nn.Identity(),
                       nn.ReLU(inplace=True), Dropout(dropout)]
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
                                  nn.ReLU(inplace=True), Dropout(dropout))
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


class StackedLinearModel(nn.Module):
    """K `LinearModel`s of one shape as one computation: every weight gains a leading run dimension and each
    linear layer is a batched matrix multiply, so K runs that train on the same data pay one step's overhead.

    Member k computes exactly what its `LinearModel` computes: the same layers, BatchNorm statistics over its own
    batch, and dropout masks drawn from its own generator in the order `Dropout` draws them from the global one
    (so a member reproduces the run it would have been alone, given that run's RNG state). Members may differ in
    kind (supervised / relative), scale range and dropout probability.
    """

    def __init__(self, members: list[LinearModel], dropout: list[float], generators: list[torch.Generator]):
        super().__init__()
        first = members[0]
        shapes = [{n: t.shape for n, t in m.state_dict().items() if n != "unnorm"} for m in members]
        if any(s != shapes[0] for s in shapes) or any(m.zero_root != first.zero_root for m in members):
            raise ValueError("stacked lifters must have one architecture")
        self.num_runs, self.in_joints, self.out_joints = len(members), first.in_joints, first.out_joints
        self.zero_root, self.num_stage = first.zero_root, len(first.blocks)
        self.batch_norm = isinstance(first.stem[1], nn.BatchNorm1d)
        # LinearModel's keys but 'unnorm' (held for every member, below), with '.' -> '_'.
        self.names = [n for n in first.state_dict() if n != "unnorm"]
        params = dict(first.named_parameters())
        # Linear weights are stored transposed, (K, in, out), so that their gradients come out of the batched
        # multiply in the parameter's layout (a transposed view would cost a full copy per layer and step).
        for name in self.names:
            stacked = torch.stack([stacked_layout(m.state_dict()[name].detach()) for m in members]).contiguous()
            key = name.replace(".", "_")
            if name in params:
                self.register_parameter(key, nn.Parameter(stacked))
            else:
                self.register_buffer(key, stacked)
        # Relative members de-standardise with a learned factor, supervised ones with fixed statistics: one
        # factor per member, learned only where the member is relative (a supervised member's entry is unused).
        self.relative = torch.tensor([m.relative for m in members])
        self.unnorm = nn.Parameter(torch.stack([m.unnorm.detach() if m.relative else torch.ones_like(m.out_std)
                                                for m in members]).clone())
        self.scale_range = torch.tensor([float(m.scale_range) for m in members])
        self.dropout, self.generators = list(dropout), generators

    def member_state_dict(self, k: int) -> dict[str, torch.Tensor]:
        """Member k's weights and buffers as its `LinearModel.state_dict()`."""
        out = {name: stacked_layout(getattr(self, name.replace(".", "_"))[k].detach()).contiguous()
               for name in self.names}
        if self.relative[k]:
            out["unnorm"] = self.unnorm[k].detach().clone()
        return out

    def _linear(self, prefix: str, h: torch.Tensor) -> torch.Tensor:
        w, b = getattr(self, f"{prefix}_weight"), getattr(self, f"{prefix}_bias")
        return torch.baddbmm(b[:, None, :], h, w)

    def _norm_relu_drop(self, prefix: str, h: torch.Tensor) -> torch.Tensor:
        k, b, c = h.shape
        if self.batch_norm:
            flat = h.transpose(0, 1).reshape(b, k * c)   # channel (k, c): statistics over member k's batch
            mean, var = getattr(self, f"{prefix}_running_mean"), getattr(self, f"{prefix}_running_var")
            flat = nn.functional.batch_norm(flat, mean.view(-1), var.view(-1), getattr(self, f"{prefix}_weight")
                                            .view(-1), getattr(self, f"{prefix}_bias").view(-1), self.training,
                                            0.1, 1e-5)
            if self.training:
                getattr(self, f"{prefix}_num_batches_tracked").add_(1)
            h = flat.reshape(b, k, c).transpose(0, 1)
        h = torch.relu(h)
        if not self.training:
            return h
        masks = [dropout_mask((b, c), p, g, h.device) if p > 0 else torch.ones(b, c, device=h.device)
                 for p, g in zip(self.dropout, self.generators)]
        return h * torch.stack(masks)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(K, B, 2J_in) standardised 2D -> ((K, B, J_out, 3) mm root-relative camera frame, (K, B) scale)."""
        h = self._norm_relu_drop("stem_1", self._linear("stem_0", x))
        for i in range(self.num_stage):
            r = self._norm_relu_drop(f"blocks_{i}_body_1", self._linear(f"blocks_{i}_body_0", h))
            h = h + self._norm_relu_drop(f"blocks_{i}_body_5", self._linear(f"blocks_{i}_body_4", r))
        out = self._linear("head", h)
        relative = self.relative.to(out.device)[:, None, None]
        out = torch.where(relative, out * self.unnorm[:, None], out * self.out_std[:, None] + self.out_mean[:, None])
        scale = self.scale_range.to(out.device)[:, None] * torch.sigmoid(self._linear("scale_head", h)).squeeze(-1)
        k, b = x.shape[:2]
        if self.zero_root is not None:
            out = out.reshape(k, b, self.out_joints - 1, 3)
            zero = out.new_zeros(k, b, 1, 3)
            return torch.cat([out[:, :, :self.zero_root], zero, out[:, :, self.zero_root:]], 2), scale
        return out.reshape(k, b, self.out_joints, 3), scale

    @torch.no_grad()
    def clip_grad_norm_(self, max_norm: float) -> None:
        """Each member's global gradient-norm clip, as `torch.nn.utils.clip_grad_norm_` does for one model."""
        grads = [p.grad for p in self.parameters() if p.grad is not None]
        # Norm of norms, as torch computes it, so a member's coefficient is its lone run's to the last bit.
        norms = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g.reshape(self.num_runs, -1), dim=1)
                                                      for g in grads]), dim=0)
        coef = torch.clamp(max_norm / (norms + 1e-6), max=1.0)
        for g in grads:
            g.mul_(coef.view(-1, *[1] * (g.dim() - 1)))


def stacked_layout(t: torch.Tensor) -> torch.Tensor:
    """A linear weight (out, in) <-> its stacked layout (in, out); other tensors unchanged."""
    return t.t() if t.dim() == 2 else t


def input_skeleton(cfg: dict[str, Any]) -> str:
    """The joint set a lifting config reads (its input_skeleton, else its output skeleton)."""
    return cfg["input_skeleton"] or cfg["skeleton"]


def build_lifter(cfg: dict[str, Any]) -> LinearModel:
    """The residual MLP described by a lifting config (main_human36.py schema)."""
    out = get_skeleton(cfg["skeleton"])
    return LinearModel(get_skeleton(input_skeleton(cfg)).num_joints, out.num_joints, linear_size=cfg["linear_size"],
                       num_stage=cfg["num_stage"], dropout=cfg["dropout"], batch_norm=cfg["batch_norm"],
                       relative=cfg["model"] == "relative", scale_range=cfg["scale_range"],
                       unnorm_init=cfg["unnorm_init"], zero_root=None if cfg["predict_root"] else out.root)
