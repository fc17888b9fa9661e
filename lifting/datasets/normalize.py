"""Standardisation statistics, computed on the training split only and stored with every checkpoint."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _safe_std(std: np.ndarray) -> np.ndarray:
    return np.where(std > 1e-8, std, 1.0)


@dataclass
class Stats:
    """Per-coordinate mean/std of root-centred 2D (px) and 3D (mm) training poses, and mean limb lengths (mm).

    Coordinates with zero spread (the root after centring) standardise to 0, as NaN->0 does in the
    reference implementations.
    """

    mean2d: np.ndarray          # (2J,)
    std2d: np.ndarray           # (2J,)
    mean3d: np.ndarray          # (3J,)
    std3d: np.ndarray           # (3J,)
    avg_limb_lengths: np.ndarray  # (L,)

    @classmethod
    def compute(cls, joints2d_centred: np.ndarray, joints3d_centred: np.ndarray | None,
                limb_lengths: np.ndarray | None = None) -> Stats:
        """(N, J, 2) px and (N, J, 3) mm root-centred poses (3D may be None, e.g. LSP)."""
        x = joints2d_centred.reshape(len(joints2d_centred), -1).astype(np.float64)
        if joints3d_centred is None:
            y = np.zeros((1, 0))
        else:
            y = joints3d_centred.reshape(len(joints3d_centred), -1).astype(np.float64)
        limbs = np.zeros(0) if limb_lengths is None else limb_lengths.mean(0)
        return cls(x.mean(0), x.std(0), y.mean(0), y.std(0), limbs)

    def standardize_2d(self, joints2d_centred: np.ndarray) -> np.ndarray:
        """(N, J, 2) px -> (N, 2J) standardised, zero where the training spread is zero."""
        x = joints2d_centred.reshape(len(joints2d_centred), -1)
        out = (x - self.mean2d) / _safe_std(self.std2d)
        out[:, self.std2d <= 1e-8] = 0.0
        return out.astype(np.float32)

    def to_dict(self) -> dict[str, list[float]]:
        return {k: np.asarray(getattr(self, k), dtype=np.float64).tolist()
                for k in ("mean2d", "std2d", "mean3d", "std3d", "avg_limb_lengths")}

    @classmethod
    def from_dict(cls, d: dict) -> Stats:
        return cls(*(np.asarray(d[k], dtype=np.float64)
                     for k in ("mean2d", "std2d", "mean3d", "std3d", "avg_limb_lengths")))
