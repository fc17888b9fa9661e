"""Trained 2D-to-3D lifters: build one from its config, load one from a checkpoint, lift 2D poses with it."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.checkpoint import load_checkpoint, task_state
from lifting.config import validate
from lifting.datasets.normalize import Stats
from lifting.engine.state import load_weights
from lifting.geometry.skeletons import get_skeleton
from lifting.models.linear import LinearModel
from lifting.options.h36m import SCHEMA


def input_skeleton(cfg: dict[str, Any]) -> str:
    return cfg["input_skeleton"] or cfg["skeleton"]


def build_lifter(cfg: dict[str, Any]) -> LinearModel:
    """The residual MLP described by a lifting config (main_human36.py schema)."""
    out = get_skeleton(cfg["skeleton"])
    return LinearModel(get_skeleton(input_skeleton(cfg)).num_joints, out.num_joints, linear_size=cfg["linear_size"],
                       num_stage=cfg["num_stage"], dropout=cfg["dropout"], batch_norm=cfg["batch_norm"],
                       relative=cfg["model"] == "relative", scale_range=cfg["scale_range"],
                       unnorm_init=cfg["unnorm_init"], zero_root=None if cfg["predict_root"] else out.root)


def load_lifter(path: str | Path) -> tuple[LinearModel, Stats, dict[str, Any], dict[str, Any]]:
    """A trained lifter from a Human3.6M or LSP run dir / checkpoint: (model in eval mode, its input statistics,
    its lifting config, the checkpoint dict)."""
    state = load_checkpoint(path)
    task = task_state(state, "lifting", ("stats", "lifter_config"))
    cfg = validate(SCHEMA, task["lifter_config"], f"{state['path']} lifter_config")
    model = build_lifter(cfg)
    load_weights(model, state, state["path"])
    return model.eval(), Stats.from_dict(task["stats"]), cfg, state


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device) -> np.ndarray:
    """(N, 2J) standardised inputs -> (N, J, 3) mm root-relative camera frame, in eval mode, batched."""
    was_training = model.training
    model.eval()
    out = [model(x[i:i + batch_size].to(device))[0].float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.out_joints, 3), np.float32)


def lift(model: LinearModel, stats: Stats, joints2d_px: np.ndarray, root: int, batch_size: int = 8192,
         device: torch.device | str = "cpu") -> np.ndarray:
    """(N, J, 2) image px -> (N, J, 3) mm root-relative camera frame."""
    centred = joints2d_px - joints2d_px[:, root:root + 1]
    return predict(model, torch.from_numpy(stats.standardize_2d(centred)), batch_size, device)
