"""A lifting split ready for a model: 2D inputs after their noise model, root-centred, standardised with the
training statistics, as tensors aligned by sample (the whole split lives in memory; batches are gathers)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from lifting.datasets import noise as noise_lib
from lifting.datasets.normalize import Stats
from lifting.datasets.samples import PoseSet
from lifting.errors import UserError
from lifting.geometry.skeletons import convert, flip_lr, get_skeleton, mirror


@dataclass
class SplitArrays:
    x: torch.Tensor                  # (N, 2J_in) standardised root-centred 2D (input dropout applied)
    joints2d_centred: torch.Tensor   # (N, J_in, 2) px, root-centred (noisy if noise is on)
    joints3d_centred: torch.Tensor   # (N, J, 3) mm, root-relative camera frame
    focal: torch.Tensor              # (N, 2) px
    poses: PoseSet
    x_mirrored: torch.Tensor | None = None   # (N, 2J_in) the standardised input of each sample's mirror image

    def __len__(self) -> int:
        return len(self.x)


def noisy_2d(poses: PoseSet, kind: str, amount: float, detections_dir: str | None,
             rng: np.random.Generator) -> np.ndarray:
    """(N, J, 2) px 2D inputs of a split after its noise model ('npz_detections': the pose set's 2D, which
    `tasks.lifting.load_split` took from the detections file)."""
    if kind == "npz_detections":
        return poses.joints2d_px.astype(np.float32)
    if kind == "detections":
        if not detections_dir:
            raise UserError("noise type 'detections' needs detections_dir (stacked-hourglass detection files)")
        if poses.skeleton != "h36m_16":
            raise UserError("noise type 'detections' needs skeleton: h36m_16 (the detections' joint set)")
        return noise_lib.load_detections(detections_dir, poses).astype(np.float32)
    return noise_lib.add_noise(poses.joints2d_px, kind, amount, rng).astype(np.float32)


def centre(poses: PoseSet, joints2d_px: np.ndarray, input_skeleton: str) -> tuple[np.ndarray, np.ndarray]:
    """Root-centred 2D inputs (N, J_in, 2) px in the input joint set and root-relative 3D targets (N, J, 3) mm."""
    joints2d = convert(joints2d_px, poses.skeleton, input_skeleton)
    r2, r3 = get_skeleton(input_skeleton).root, get_skeleton(poses.skeleton).root
    return (joints2d - joints2d[:, r2:r2 + 1]).astype(np.float32), \
        (poses.joints3d_cam - poses.joints3d_cam[:, r3:r3 + 1]).astype(np.float32)


def make_split(poses: PoseSet, joints2d_centred: np.ndarray, joints3d_centred: np.ndarray, stats: Stats,
               dropout_p: float, rng: np.random.Generator, input_skeleton: str | None = None) -> SplitArrays:
    """`input_skeleton` given: also the standardised inputs of the mirror images (`mirror`), with the same input
    joints dropped."""
    x = stats.standardize_2d(joints2d_centred)
    keep = None
    if dropout_p > 0:
        keep = np.repeat(noise_lib.input_dropout_mask(len(x), joints2d_centred.shape[1], dropout_p, rng), 2, axis=1)
        x = x * keep.astype(np.float32)
    x_mirrored = None
    if input_skeleton is not None:
        x_mirrored = stats.standardize_2d(mirror(joints2d_centred, input_skeleton))
        if keep is not None:
            x_mirrored = x_mirrored * flip_lr(keep.reshape(len(x), -1, 2), input_skeleton).reshape(len(x), -1)
        x_mirrored = torch.from_numpy(np.ascontiguousarray(x_mirrored))
    return SplitArrays(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(joints2d_centred),
                       torch.from_numpy(joints3d_centred), torch.from_numpy(poses.cam_f.astype(np.float32)), poses,
                       x_mirrored)
