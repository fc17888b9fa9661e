"""Task: the MeTRo/MeTRAbs image estimator (single process or DistributedDataParallel through `torchrun`).

Batches are perspective-correct person crops (the `CropDataset` item contract): image (B, 3, S, S) in [0, 1],
K_crop (B, 3, 3), joints3d_cam (B, 17, 3) mm crop camera frame, joints2d_px (B, 17, 2) crop px,
R_crop_from_orig (B, 3, 3), in_crop (B, 17) bool, from one of the sources in `datasets.crop_sources`. Each epoch
is a fixed, seeded list of index batches (one slice per rank), so an interrupted run resumes at the exact step.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.checkpoint import load_trained, load_weights
from lifting.datasets.crop_sources import CropOptions, online_source, rendered_source
from lifting.engine import Dist, TrainPlan
from lifting.geometry.skeletons import H36M_17
from lifting.models.metro import MetroNet, metro_losses, with_stride
from lifting.tasks.crop_eval import (
    Reconstruction,
    autocast,
    epoch_crops,
    evaluate_crops,
    public,
    steps_per_epoch,
    truncated_metrics,
)


def build_model(cfg: dict[str, Any]) -> MetroNet:
    """The configured MetroNet (the schema's rules made crop_size a multiple of the strides)."""
    return MetroNet(backbone=cfg["backbone"], stride=cfg["output_stride"], num_joints=H36M_17.num_joints,
                    depth_bins=cfg["depth_bins"], box_size=cfg["box_size"], crop_size=cfg["crop_size"],
                    weights_path=cfg["backbone_weights"])


class MetroTask:
    kind = "estimator"

    def __init__(self, cfg: dict[str, Any]):
        """`cfg` passed `lifting.options.metro.SCHEMA` (its rules included)."""
        self.cfg, self.rec = cfg, Reconstruction.from_config(cfg)
        self.mean_sum, self.mean_count = torch.zeros(17, 3, dtype=torch.float64), 0

    def setup(self, dist: Dist) -> TrainPlan:
        cfg, self.dist = self.cfg, dist
        self.rec = Reconstruction.from_config({**cfg, "channels_last": cfg["channels_last"]
                                               and dist.device.type == "cuda"})
        source = online_source if cfg["data_source"] == "online" else rendered_source
        self.data = source(CropOptions.from_config(cfg), dist)
        self.model = build_model(cfg).to(dist.device)
        if cfg["load"]:
            loaded = load_trained(cfg["load"], "estimator")
            load_weights(self.model, loaded.model.state_dict(), loaded.path)
        if self.rec.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.per_epoch = steps_per_epoch(self.data.num_train, cfg["batch_size"], dist.world)
        S = cfg["crop_size"]
        return TrainPlan(self.model, self.per_epoch, cfg["batch_size"], train=not cfg["eval_only"], optimizer="adamw",
                         example_input=(torch.zeros(2, 3, S, S, device=dist.device),),
                         curve_keys=("mpjpe", "pa_mpjpe", "mrpe"))

    def batches(self, epoch: int, start: int, generator: torch.Generator):
        return epoch_crops(self.data, self.cfg["batch_size"], self.cfg["seed"], epoch, start, self.per_epoch,
                           self.dist, self.rec.channels_last)

    def loss(self, net: torch.nn.Module, batch: dict[str, Any], step: int):
        gt = batch["joints3d_cam"].double()
        self.mean_sum += (gt - gt[:, :1]).sum(0).cpu()
        self.mean_count += len(gt)
        with autocast(self.rec.amp, self.dist.device):
            out = net(batch["image"])
        c = self.cfg
        losses = metro_losses(self.model, out, batch["K_crop"], batch["joints3d_cam"], batch["joints2d_px"],
                              batch["in_crop"], step, weak_steps=c["weak_steps"], abs_start=c["abs_start"],
                              abs_weight=c["abs_weight"], loss2d_weight=c["loss2d_weight"], ridge=c["ridge"])
        total = losses.pop("total")
        return total, losses

    def evaluate(self, final: bool) -> dict[str, Any]:
        """All 17 joints incl. the root; MRPE and its axes in the original camera frame; on `final` also the
        truncated test crops."""
        stride = self.cfg["test_output_stride"]
        model = self.model if stride in (None, self.model.stride) else with_stride(self.model, stride)
        mean_pose = (self.mean_sum / max(self.mean_count, 1)).numpy()
        res = evaluate_crops(model, self.data.test_batches(False), self.rec, self.dist.device, mean_pose)
        if final:
            res.update(truncated_metrics(evaluate_crops(model, self.data.test_batches(True), self.rec,
                                                        self.dist.device, mean_pose)))
        self.model.train()
        return public(res)

    def state(self) -> dict[str, Any]:
        return {"arch": self.model.arch(), "mean_pose_sum": self.mean_sum.numpy().tolist(),
                "mean_pose_count": self.mean_count}

    def load_state(self, state: dict[str, Any]) -> None:
        self.mean_sum = torch.tensor(np.asarray(state["mean_pose_sum"]), dtype=torch.float64)
        self.mean_count = int(state["mean_pose_count"])

    def artefacts(self, out_dir: Path) -> None:
        pass

    def report(self, r: dict[str, Any]) -> tuple[dict[str, Any], str]:
        extra = {"best_mpjpe": (r["best"] or r)["mpjpe"], "data": self.data.describe, "out_dir": self.cfg["out_dir"]}
        rows = [("MPJPE (17 joints, root-relative, action-wise)", r["mpjpe"]), ("PA-MPJPE", r["pa_mpjpe"]),
                ("mean-pose MPJPE", r["mean_pose_mpjpe"]),
                ("MPJPE truncated crops, all joints", r["mpjpe_truncated_all"]),
                ("MPJPE truncated crops, joints in crop", r["mpjpe_truncated_in_crop"]), ("MRPE", r["mrpe"]),
                ("MRPE x / y / z", f"{r['mrpe_x']:.1f} / {r['mrpe_y']:.1f} / {r['mrpe_z']:.1f}")]
        lines = ["# MeTRo results", "", f"{r['num_test_crops']} test crops, {r['iterations']} steps, "
                 f"{r['train_seconds']:.0f} s training ({r['train_samples_per_s']:.1f} crops/s).", "",
                 "| metric | mm |", "|---|---|"]
        lines += [f"| {name} | {v:.1f} |" if isinstance(v, float) else f"| {name} | {v} |" for name, v in rows]
        return extra, "\n".join(lines) + "\n"
