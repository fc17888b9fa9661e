"""Random pixel fields and shape masks shared by the renderer (backgrounds, occluders) and crop augmentation
(synthetic occlusion)."""

from __future__ import annotations

import torch


def uniform_field(generator: torch.Generator, shape, device) -> torch.Tensor:
    """U(0, 1) per-pixel noise drawn on `device` by a generator seeded from `generator`: reproducible, and a CPU
    generator driving CUDA rendering does not have to produce and copy millions of numbers."""
    seed = int(torch.randint(0, 2 ** 62, (1,), generator=generator, device=generator.device))
    local = torch.Generator(device=device).manual_seed(seed)
    return torch.rand(*shape, generator=local, device=device)


def shape_masks(x: torch.Tensor, y: torch.Tensor, centre, half, is_ellipse):
    """Yield (B, H, W) masks of K rectangles/ellipses, one shape at a time (painter's order).

    x: (1, W), y: (H, 1) pixel coordinates; centre, half: (B, K, 2) in the same units; is_ellipse: (B, K)."""
    for k in range(centre.shape[1]):
        dx = (x[None] - centre[:, k, 0, None, None]) / half[:, k, 0, None, None]
        dy = (y[None] - centre[:, k, 1, None, None]) / half[:, k, 1, None, None]
        ellipse = dx * dx + dy * dy <= 1
        box = (dx.abs() <= 1) & (dy.abs() <= 1)
        yield torch.where(is_ellipse[:, k, None, None], ellipse, box)
