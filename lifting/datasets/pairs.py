"""Relative depth pairs simulated from ground-truth depth (Ronchi et al.): fixed pair subsets and label noise.

For every sample a subset of `num_pairs` joint pairs and one error sign per pair are drawn once. Each
time a sample is drawn, one of its pairs is picked at random and its order swapped with probability
1/2. Label +1 means the first joint is farther from the camera, -1 nearer, 0 within the tolerance.
"""

from __future__ import annotations

import numpy as np
import torch

from lifting.errors import UserError


def all_pairs(num_joints: int) -> np.ndarray:
    """(P, 2) every unordered joint pair i < j."""
    i, j = np.triu_indices(num_joints, k=1)
    return np.stack([i, j], axis=1)


def flip_probability(depth_gap_mm: np.ndarray, noise: float | str) -> np.ndarray:
    """Probability that an annotator gets a pair wrong: constant, or 'mturk' (chance at 0 cm, perfect beyond 40 cm)."""
    if noise == "mturk":
        return 1.0 - np.minimum(0.5 + 0.0125 * (np.abs(depth_gap_mm) / 10.0), 1.0)
    if isinstance(noise, str) or not 0.0 <= float(noise) <= 1.0:
        raise UserError(f"rel_labels_noise_prob: expected a probability in [0, 1] or 'mturk', got {noise!r}")
    return np.full(depth_gap_mm.shape, float(noise))


class PairSampler:
    """Holds each sample's kept pairs and error signs; draws one labelled pair per sample on request."""

    def __init__(self, depth_mm: np.ndarray, num_pairs: int | str, noise: float | str = 0.0,
                 tolerance_mm: float = 0.0, rng: np.random.Generator | None = None):
        """depth_mm: (N, J) ground-truth camera-frame depth of every joint."""
        rng = rng or np.random.default_rng(0)
        n, j = depth_mm.shape
        self.pairs = torch.from_numpy(all_pairs(j))
        total = len(self.pairs)
        if num_pairs == "all":
            p = total
        elif isinstance(num_pairs, int) and not isinstance(num_pairs, bool) and 1 <= num_pairs <= total:
            p = num_pairs
        else:
            raise UserError(f"num_pairs: expected an integer in 1..{total} or 'all', got {num_pairs!r}")
        if tolerance_mm > 0 and noise != 0.0:
            raise UserError("tolerance_mm and rel_labels_noise_prob cannot be combined; set one of them to 0")
        # A random subset per sample: argsort of uniform noise gives independent permutations.
        keep = np.argsort(rng.random((n, total)), axis=1)[:, :p] if p < total else np.tile(np.arange(total), (n, 1))
        pair_ij = all_pairs(j)[keep]                                   # (N, P, 2)
        gap = np.take_along_axis(depth_mm, pair_ij[..., 0], 1) - np.take_along_axis(depth_mm, pair_ij[..., 1], 1)
        flip = rng.random(gap.shape) < flip_probability(gap, noise)
        self.keep = torch.from_numpy(keep.astype(np.int16))
        self.sign = torch.from_numpy(np.where(flip, -1, 1).astype(np.int8))
        self.depth = torch.from_numpy(depth_mm.astype(np.float32))
        self.tolerance = float(tolerance_mm)
        self.num_pairs = p

    def sample(self, index: torch.Tensor, generator: torch.Generator | None = None, per_sample: int = 1):
        """index (B,) -> (i, j, label float in {-1, 0, 1}), each (B,), or (B, per_sample) for several pairs of each
        sample (drawn with replacement from its kept pairs)."""
        b, shape = len(index), (len(index),) if per_sample == 1 else (len(index), per_sample)
        rows = index if per_sample == 1 else index[:, None]
        k = torch.randint(self.num_pairs, shape, generator=generator)
        ij = self.pairs[self.keep[rows, k].long()]
        swap = torch.rand(shape, generator=generator) < 0.5
        i = torch.where(swap, ij[..., 1], ij[..., 0])
        j = torch.where(swap, ij[..., 0], ij[..., 1])
        z = self.depth[index].reshape(b, -1)
        gap = z.gather(1, i.reshape(b, -1)) - z.gather(1, j.reshape(b, -1))
        label = torch.where(gap > self.tolerance, 1.0, torch.where(gap < -self.tolerance, -1.0, 0.0))
        return i, j, label.reshape(shape) * self.sign[rows, k].float()
