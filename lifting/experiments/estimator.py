"""The image estimator over whole image sets, for experiments that feed its outputs to the lifters.

`Estimator` is a trained MeTRo/MeTRAbs run with the test-time options it was trained with; `predict` runs it
batched (with a progress bar on a terminal) over any list of images, person boxes and intrinsics, and returns
the three outputs a lifting experiment needs: 2D in image px, root-relative 3D and absolute 3D (camera mm).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lifting.checkpoint import Trained, load_trained
from lifting.inference.estimator import predict_images
from lifting.models.metro import MetroNet, with_stride


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
        """A main_metro.py run dir or checkpoint; another kind is a one-line error naming both."""
        return cls.from_trained(load_trained(path, "estimator"), device)

    @classmethod
    def from_trained(cls, trained: Trained, device: str | torch.device = "cpu") -> Estimator:
        """The loaded estimator at the output stride its config tests at."""
        cfg, model = trained.config, trained.model
        stride = cfg.get("test_output_stride")
        if stride is not None and stride != model.stride:
            model = with_stride(model, stride)
        return cls(model.to(device).eval(), str(trained.path), bool(cfg.get("flip_tta", False)),
                   float(cfg.get("mix_3d_inside_fov", 0.5)), float(cfg.get("ridge", 1e-2)))

    def predict(self, read_image: Callable[[int], torch.Tensor], boxes: np.ndarray, K: np.ndarray,
                batch_size: int, desc: str) -> dict[str, np.ndarray]:
        """`inference.estimator.predict_images` with this run's test-time options, with a progress bar."""
        return predict_images(self.model, read_image, boxes, K, batch_size, self.flip_tta, self.mix, self.ridge, desc)
