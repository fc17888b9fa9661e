"""Task: RootNet, the absolute root from a crop of the processed person box and its distance prior k.

Batches are the estimator's crop batches (`datasets.crop_sources`, cut and augmented by `ROOTNET_CROPS`): the crop
frames the processed box `box` (B, 4) px of the original image with intrinsics `K_orig` (B, 3, 3), from which
k follows (`geometry.root_prior`). Targets: the root's crop pixel in heatmap cells, and its depth (z in the
original camera, mm); the L1 loss (spec §3.4) is gated by the root lying inside the crop. Evaluation is in the
original camera frame, next to the prior alone (gamma = 1) and the prior times the mean training gamma.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting import metrics
from lifting.augment.crops import ROOTNET_CROPS
from lifting.checkpoint import load_trained, load_weights
from lifting.datasets.crop_sources import CropOptions, online_source, rendered_source
from lifting.engine import Dist, TrainPlan
from lifting.errors import UserError
from lifting.geometry.root_prior import check_bbox_real, distance_prior
from lifting.models.rootnet import RootNet, crop_px_to_cells, root_camera
from lifting.tasks.crop_eval import autocast, epoch_crops, steps_per_epoch, to_device

SETS = (("", "RootNet"), ("prior_", "k prior alone (gamma = 1)"),
        ("prior_calibrated_", "k prior x mean training gamma"))


def root_targets(batch: dict[str, Any], bbox_real_mm) -> dict[str, torch.Tensor]:
    """k (B,) mm of the crop's box; the root (joint 0, its own mirror partner) as cells (B, 2), in the original
    camera root_cam (B, 3) mm and its depth (B,); visible (B,) float: the root inside the crop."""
    K = batch["K_orig"].double()
    k = distance_prior(batch["box"].double(), K[:, [0, 1], [0, 1]], bbox_real_mm)
    root_cam = (batch["R_crop_from_orig"].double().transpose(1, 2) @ batch["joints3d_cam"][:, 0, :, None].double())
    root_cam = root_cam[..., 0]
    return {"k": k.float(), "cells": crop_px_to_cells(batch["joints2d_px"][:, 0].float()), "root_cam": root_cam,
            "depth": root_cam[:, 2].float(), "visible": batch["in_crop"][:, 0].float()}


@torch.no_grad()
def predict_roots(model: RootNet, batches, device: torch.device, amp: bool = False, channels_last: bool = False,
                  gamma_prior: float = 1.0) -> dict[str, np.ndarray]:
    """RootNet on test crops -> float64 arrays in the original camera frame: root_cam (N, 3) mm, prior_root_cam
    (gamma = 1) and prior_calibrated_root_cam (gamma = `gamma_prior`) on the same 2D root, gt_cam (N, 3), k (N,),
    gamma (N,)."""
    model.eval()
    keep: dict[str, list] = {f"{p}root_cam": [] for p, _ in SETS}
    keep.update(gt_cam=[], k=[], gamma=[])
    for batch in batches:
        batch = to_device(batch, device, channels_last)
        t = root_targets(batch, model.bbox_real_mm)
        with autocast(amp, device):
            out = model(batch["image"], t["k"])
        k, px = t["k"].double(), out["root2d_px"].double()
        geometry = batch["K_orig"].double(), batch["K_crop"].double(), batch["R_crop_from_orig"].double()
        for (prefix, _), depth in zip(SETS, (out["depth_mm"].double(), k, gamma_prior * k)):
            keep[f"{prefix}root_cam"].append(root_camera(px, depth, *geometry)[1].cpu().numpy())
        keep["gt_cam"].append(t["root_cam"].cpu().numpy())
        keep["k"].append(k.cpu().numpy())
        keep["gamma"].append(out["gamma"].double().cpu().numpy())
    model.train()
    if not keep["k"]:
        raise UserError("evaluation: no test crops (check test_subjects / test_stride)")
    return {name: np.concatenate(parts) for name, parts in keep.items()}


def root_results(pred: dict[str, np.ndarray], edges_mm, suffix: str = "") -> dict[str, Any]:
    """`metrics.evaluate_roots` of RootNet and both priors, keys prefixed by `SETS` and ended by `suffix`."""
    out: dict[str, Any] = {}
    for prefix, _ in SETS:
        for key, value in metrics.evaluate_roots(pred[f"{prefix}root_cam"], pred["gt_cam"], edges_mm).items():
            out[f"{prefix}{key}{suffix}"] = value
    return out


class RootNetTask:
    kind = "rootnet"

    def __init__(self, cfg: dict[str, Any]):
        if cfg["eval_only"] and not cfg["load"]:
            raise UserError("eval_only: needs `load` (a main_rootnet.py run dir or checkpoint to evaluate)")
        self.cfg, self.bbox_real = cfg, check_bbox_real(cfg["bbox_real"])
        self.gamma_sum, self.gamma_count = 0.0, 0

    def setup(self, dist: Dist) -> TrainPlan:
        cfg, self.dist = self.cfg, dist
        self.channels_last = cfg["channels_last"] and dist.device.type == "cuda"
        source = online_source if cfg["data_source"] == "online" else rendered_source
        self.data = source(CropOptions.from_config(cfg), dist, ROOTNET_CROPS)
        self.model = RootNet(cfg["backbone"], cfg["crop_size"], cfg["head_channels"], self.bbox_real,
                             cfg["backbone_weights"]).to(dist.device)
        if cfg["load"]:
            loaded = load_trained(cfg["load"], "rootnet")
            load_weights(self.model, loaded.model.state_dict(), loaded.path)
            self.load_state(loaded.task)
        if self.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.per_epoch = steps_per_epoch(self.data.num_train, cfg["batch_size"], dist.world)
        S = cfg["crop_size"]
        example = (torch.zeros(2, 3, S, S, device=dist.device), torch.full((2,), 5000.0, device=dist.device))
        return TrainPlan(self.model, self.per_epoch, cfg["batch_size"], train=not cfg["eval_only"],
                         example_input=example, best_key="mrpe", curve_keys=("mrpe", "mrpe_z"))

    def batches(self, epoch: int, start: int, generator: torch.Generator):
        return epoch_crops(self.data, self.cfg["batch_size"], self.cfg["seed"], epoch, start, self.per_epoch,
                           self.dist, self.channels_last)

    def loss(self, net: torch.nn.Module, batch: dict[str, Any], step: int):
        """(|dx| + |dy| + |dZ|) / 3 x visible, averaged over the batch; x, y in heatmap cells, Z in mm."""
        t = root_targets(batch, self.bbox_real)
        ratio = (t["depth"] / t["k"]).double()
        self.gamma_sum += float(ratio.sum())
        self.gamma_count += len(ratio)
        with autocast(self.cfg["amp"], self.dist.device):
            out = net(batch["image"], t["k"])
        dxy = (out["root2d_cells"] - t["cells"]).abs().sum(-1)
        dz = (out["depth_mm"] - t["depth"]).abs()
        v, seen = t["visible"], t["visible"].sum().clamp_min(1)
        return ((dxy + dz) * v).mean() / 3, {"xy_cells": (dxy * v).sum().detach() / (2 * seen),
                                             "depth_mm": (dz * v).sum().detach() / seen}

    def evaluate(self, final: bool) -> dict[str, Any]:
        """Root metrics (original camera frame, mm) of RootNet and both priors; on `final` also on truncated
        crops."""
        cfg, gamma = self.cfg, self.gamma_sum / self.gamma_count if self.gamma_count else 1.0
        run = lambda truncated: predict_roots(self.model, self.data.test_batches(truncated), self.dist.device,
                                              cfg["amp"], self.channels_last, gamma)
        pred = run(False)
        res = {**root_results(pred, cfg["depth_bins"]), "gamma_train_mean": gamma,
               "gamma_test_mean": float(pred["gamma"].mean()),
               "gamma_true_test_mean": float((pred["gt_cam"][:, 2] / pred["k"]).mean()),
               "num_test_crops": len(pred["k"])}
        if final:
            truncated = run(True)
            res.update(root_results(truncated, cfg["depth_bins"], "_truncated"),
                       num_truncated_crops=len(truncated["k"]))
        return res

    def state(self) -> dict[str, Any]:
        return {"arch": self.model.arch(), "gamma_sum": self.gamma_sum, "gamma_count": self.gamma_count}

    def load_state(self, state: dict[str, Any]) -> None:
        self.gamma_sum, self.gamma_count = float(state["gamma_sum"]), int(state["gamma_count"])

    def artefacts(self, out_dir: Path) -> None:
        pass

    def report(self, r: dict[str, Any]) -> tuple[dict[str, Any], str]:
        extra = {"best_mrpe": (r["best"] or r)["mrpe"], "data": self.data.describe, "out_dir": self.cfg["out_dir"]}
        lines = ["# RootNet results", "", f"{r['num_test_crops']} test crops, {r['iterations']} steps, "
                 f"{r['train_seconds']:.0f} s training ({r['train_samples_per_s']:.1f} crops/s). Original camera "
                 "frame, mm; AP_root@25cm scores every crop 1 (= squared share within 25 cm).", "",
                 "| roots from | MRPE | x / y / z | AP_root@25cm | within 25 cm | truncated crops MRPE |",
                 "|---|---|---|---|---|---|"]
        for p, name in SETS:
            trunc = r.get(f"{p}mrpe_truncated")
            lines.append(f"| {name} | {r[p + 'mrpe']:.1f} | {r[p + 'mrpe_x']:.1f} / {r[p + 'mrpe_y']:.1f} / "
                         f"{r[p + 'mrpe_z']:.1f} | {100 * r[p + 'ap_root25']:.1f} % | {r[p + 'root_pck250']:.1f} % | "
                         f"{'-' if trunc is None else f'{trunc:.1f}'} |")
        lines += ["", f"Mean gamma: training targets {r['gamma_train_mean']:.3f}, test targets "
                  f"{r['gamma_true_test_mean']:.3f}, predicted {r['gamma_test_mean']:.3f}."]
        return extra, "\n".join(lines) + "\n"
