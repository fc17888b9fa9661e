"""The image estimator over whole image sets, for experiments that feed its outputs to the lifters.

`Estimator` is a trained MeTRo/MeTRAbs run with the test-time options it was trained with; `predict` runs it
batched (with a progress bar on a terminal) over any list of images, person boxes and intrinsics, and returns
the three outputs a lifting experiment needs: 2D in image px, root-relative 3D and absolute 3D (camera mm).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lifting.checkpoint import load_checkpoint, task_state
from lifting.engine.run_dir import progress
from lifting.inference import estimate_poses, load_model
from lifting.models.metro import MetroNet


@dataclass
class Estimator:
    """A trained estimator and its test-time options (from the run's config)."""

    model: MetroNet
    path: str
    flip_tta: bool
    mix: float
    ridge: float

    @classmethod
    def load(cls, path: str | Path, device: str | torch.device = "cpu") -> Estimator:
        """A main_metro.py run dir or checkpoint; anything else is a one-line error naming it."""
        state = load_checkpoint(path)
        task_state(state, "MeTRo estimator (main_metro.py)", ("arch",))
        cfg = state["extra"]["config"]
        model = load_model(path, cfg.get("test_output_stride"), device)
        return cls(model, state["path"], bool(cfg.get("flip_tta", False)), float(cfg.get("mix_3d_inside_fov", 0.5)),
                   float(cfg.get("ridge", 1e-2)))

    def predict(self, read_image: Callable[[int], torch.Tensor], boxes: np.ndarray, K: np.ndarray,
                batch_size: int, desc: str) -> dict[str, np.ndarray]:
        """Images 0..N-1 (`read_image(i)` -> (3, H, W) in [0, 1]), one person box (N, 4) [x, y, w, h] px and pinhole
        K (N, 3, 3) each -> joints2d_px (N, 17, 2) image px, joints3d_rootrel and joints3d_cam (N, 17, 3) camera mm
        (root-relative head output; absolute reconstruction), float32, h36m_17."""
        n = len(boxes)
        out: dict[str, list[np.ndarray]] = {"joints2d_px": [], "joints3d_rootrel": [], "joints3d_cam": []}
        for start in progress(range(0, n, batch_size), total=math.ceil(n / batch_size), desc=desc):
            idx = list(range(start, min(start + batch_size, n)))
            res = estimate_poses(self.model, [read_image(i) for i in idx], boxes[idx], K[idx], flip_tta=self.flip_tta,
                                 mix=self.mix, ridge=self.ridge)
            out["joints2d_px"].append(res["poses2d"])
            out["joints3d_rootrel"].append(res["poses3d_rel"])
            out["joints3d_cam"].append(res["poses3d_abs"])
        return {k: np.concatenate(v).astype(np.float32) if v else np.zeros((0, 17, 3 if "3d" in k else 2), np.float32)
                for k, v in out.items()}
