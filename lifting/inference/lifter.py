"""Trained 2D-to-3D lifters (loaded by `lifting.checkpoint.load_trained`): lift 2D poses with one."""

from __future__ import annotations

import numpy as np
import torch

from lifting.datasets.normalize import Stats
from lifting.geometry.calibration import INTRINSICS
from lifting.geometry.skeletons import mirror
from lifting.models.linear import LinearModel

# Every lifter here is trained on 2D from the Human3.6M cameras (real or synthetic data): their mean focal length.
REFERENCE_FOCAL_PX = float(np.mean([intr["f"] for intr in INTRINSICS.values()]))


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device) -> np.ndarray:
    """(N, 2J) standardised inputs -> (N, J, 3) mm root-relative camera frame, in eval mode, batched."""
    was_training = model.training
    model.eval()
    out = [model(x[i:i + batch_size].to(device))[0].float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.out_joints, 3), np.float32)


def predict_flip_averaged(model: torch.nn.Module, x: torch.Tensor, x_mirrored: torch.Tensor, skeleton: str,
                          batch_size: int, device) -> np.ndarray:
    """The mean of the prediction and the mirrored prediction of the mirrored input (`mirror`): (N, J, 3) mm.
    x, x_mirrored: (N, 2J) standardised inputs of the poses and of their mirror images."""
    return 0.5 * (predict(model, x, batch_size, device) + mirror(predict(model, x_mirrored, batch_size, device),
                                                                  skeleton))


def lift(model: LinearModel, stats: Stats, joints2d_px: np.ndarray, root: int, batch_size: int = 8192,
         device: torch.device | str = "cpu") -> np.ndarray:
    """(N, J, 2) image px -> (N, J, 3) mm root-relative camera frame."""
    centred = joints2d_px - joints2d_px[:, root:root + 1]
    return predict(model, torch.from_numpy(stats.standardize_2d(centred)), batch_size, device)


def training_scale_px(stats: Stats) -> float:
    """RMS distance of the training 2D joints from the root, px (from the standardisation statistics)."""
    return float(np.sqrt((np.square(stats.std2d) + np.square(stats.mean2d)).sum() / (len(stats.mean2d) // 2)))


def rescale_2d(joints2d_px: np.ndarray, root: int, stats: Stats, focal_px: float | None = None) -> np.ndarray:
    """(N, J, 2) px of your camera -> (N, J, 2) root-centred px as the lifter's training camera would see them.

    focal_px None: each pose is scaled so that its RMS joint distance from the root equals the training data's
    (`training_scale_px`), which suits images of unknown cameras and distances. focal_px F: every pose is scaled by
    REFERENCE_FOCAL_PX / F, right when the people stand about as far away as in the training data (about 5 m).
    """
    centred = np.asarray(joints2d_px, dtype=np.float64)
    centred = centred - centred[:, root:root + 1]
    if focal_px is not None:
        return centred * (REFERENCE_FOCAL_PX / focal_px)
    rms = np.sqrt(np.square(centred).sum((1, 2)) / centred.shape[1])
    return centred * (training_scale_px(stats) / np.maximum(rms, 1e-9))[:, None, None]
