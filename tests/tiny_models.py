"""Tiny trained models for the tests of the own-data tools (seconds on one CPU thread): a lifter and an estimator
trained for a moment on the tiny synthetic data set, and a rendered test image."""

from pathlib import Path

import numpy as np
import torch


def train_lifter(out_dir: Path, data_dir: Path, *extra: str) -> Path:
    from lifting.config import load_config
    from lifting.options.h36m import SCHEMA
    from lifting.tasks import run_task

    cfg = load_config(SCHEMA, None, [f"data_dir={data_dir}", f"cache_dir={out_dir.parent / 'cache'}",
                                     f"out_dir={out_dir}", "epochs=1", "linear_size=32", "compile=false", "threads=1",
                                     "train_subjects=[1,5]", "test_subjects=[9]", "tensorboard=false",
                                     "progress=false", *extra])
    run_task("lifting", cfg)
    return out_dir


def train_estimator(out_dir: Path, data_dir: Path) -> Path:
    from lifting.config import load_config
    from lifting.options.metro import SCHEMA
    from lifting.tasks import run_task

    cfg = load_config(SCHEMA, None, [f"data_dir={data_dir}", f"cache_dir={out_dir.parent / 'cache'}",
                                     f"out_dir={out_dir}", "backbone=resnet18", "crop_size=64", "iterations=2",
                                     "batch_size=4", "train_subjects=[1]", "test_subjects=[9]", "max_test_crops=4",
                                     "eval_batch_size=4", "threads=1", "amp=false", "tensorboard=false",
                                     "progress=false"])
    run_task("metro", cfg)
    return out_dir


def sample_poses(data_dir: Path, count: int = 2) -> np.ndarray:
    """(count, 17, 3) camera-frame mm poses of subject 9, camera 1, spread over its frames."""
    from lifting.datasets.h36m import load_h36m

    poses = load_h36m(data_dir, [9], cameras=(1,))
    return poses.joints3d_cam[np.linspace(0, len(poses) - 1, count).round().astype(int)]


def render(joints_cam: np.ndarray, K: np.ndarray, size: tuple[int, int], seed: int = 0, **kw) -> torch.Tensor:
    """(B, 3, H, W) mannequin renderings of (B, 17, 3) poses with intrinsics K (3, 3); size (H, W)."""
    from lifting.synth.render import render_mannequin

    return render_mannequin(torch.as_tensor(joints_cam).float(), torch.as_tensor(K).float(), size,
                            torch.Generator().manual_seed(seed), **kw).image
