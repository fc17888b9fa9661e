"""What the image tasks share: crop batches on the device, seeded epoch order, autocast, and evaluation of an
estimator on test crops (root-relative, absolute and truncated-crop metrics)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

import numpy as np
import torch

from lifting import metrics
from lifting.augment.crops import to_original_frame
from lifting.errors import UserError
from lifting.models.metro import MetroNet, absolute_pose


@dataclass(frozen=True)
class Reconstruction:
    """How test crops are run and the absolute pose reconstructed (the estimator's test-time keys)."""

    amp: bool = False
    channels_last: bool = False
    flip_tta: bool = False
    ridge: float = 1e-2
    mix_3d_inside_fov: float = 0.5

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> Reconstruction:
        return cls(**{f.name: cfg[f.name] for f in fields(cls)})


def autocast(enabled: bool, device: torch.device):
    """bfloat16 autocast on CUDA when enabled; a no-op context otherwise."""
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled and device.type == "cuda")


def to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=True)
            if k == "image" and channels_last:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


def epoch_batches(num_samples: int, batch_size: int, epoch: int, seed: int, rank: int, world: int) -> list[list[int]]:
    """Seeded shuffle of all samples for `epoch`, this rank's interleaved slice, cut into full batches."""
    perm = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    mine = perm[rank::world][: (num_samples // world)]
    n = len(mine) // batch_size
    if n == 0:
        raise UserError(f"batch_size={batch_size} x {world} process(es) exceeds the {num_samples} training samples")
    return [mine[i * batch_size:(i + 1) * batch_size] for i in range(n)]


def steps_per_epoch(num_train: int, batch_size: int, world: int) -> int:
    """Full batches per epoch and process; none is a one-line error."""
    per_epoch = num_train // (batch_size * world)
    if per_epoch == 0:
        raise UserError(f"batch_size={batch_size} x {world} process(es) exceeds the {num_train} training samples")
    return per_epoch


def epoch_crops(data, batch_size: int, seed: int, epoch: int, start: int, per_epoch: int, dist,
                channels_last: bool) -> Iterator[dict[str, Any]]:
    """The crop batches of `epoch` from its `start`-th on, on this process's device: one seeded order per epoch,
    so a resumed run continues on the same data."""
    index = epoch_batches(data.num_train, batch_size, epoch, seed, dist.rank, dist.world)
    for batch in data.batches(index[start:per_epoch], epoch, epoch * per_epoch + start):
        yield to_device(batch, dist.device, channels_last)


@torch.no_grad()
def predict_crops(model: MetroNet, batch: dict[str, Any], rec: Reconstruction) -> dict[str, torch.Tensor]:
    """Model outputs for a crop batch (crop frame): pose3d_rel (B, J, 3) mm, pose2d (B, J, 2) px, pose3d_abs."""
    images = batch["image"]
    with autocast(rec.amp, images.device):
        out = model(images)
    if rec.flip_tta:
        from lifting.inference.estimator import average_flipped

        with autocast(rec.amp, images.device):
            flipped = model(torch.flip(images, dims=[-1]))
        out = average_flipped(out, flipped, batch["K_crop"])
    out["pose3d_abs"] = absolute_pose(model, out, batch["K_crop"], ridge=rec.ridge, mix=rec.mix_3d_inside_fov)
    return out


def evaluate_crops(model: MetroNet, batches: Iterator[dict[str, Any]], rec: Reconstruction, device: torch.device,
                   mean_pose: np.ndarray) -> dict[str, Any]:
    """Root-relative and absolute metrics (mm) over test crops. All 17 joints incl. the root; MRPE and
    its axes are measured in the original camera frame (crop rotation undone)."""
    model.eval()
    keep: dict[str, list] = {k: [] for k in ("rel", "abs", "gt", "rot", "in_crop", "action")}
    for batch in batches:
        batch = to_device(batch, device, rec.channels_last and device.type == "cuda")
        out = predict_crops(model, batch, rec)
        keep["rel"].append(out["pose3d_rel"].cpu().double().numpy())
        keep["abs"].append(out["pose3d_abs"].cpu().double().numpy())
        keep["gt"].append(batch["joints3d_cam"].cpu().double().numpy())
        keep["rot"].append(batch["R_crop_from_orig"].cpu().double().numpy())
        keep["in_crop"].append(batch["in_crop"].cpu().numpy())
        keep["action"].extend(list(batch["action"]))
    if not keep["rel"]:
        raise UserError("evaluation: no test crops (check test_subjects / test_stride)")
    rel, pose_abs, gt, rot = (np.concatenate(keep[k]) for k in ("rel", "abs", "gt", "rot"))
    in_crop, actions = np.concatenate(keep["in_crop"]), np.asarray(keep["action"])
    res = metrics.evaluate_poses(rel, gt, actions)
    mean = np.broadcast_to(mean_pose, gt.shape)
    out = {"mpjpe": res["mpjpe"], "pa_mpjpe": res["pa_mpjpe"], "n_mpjpe": res["n_mpjpe"],
           "mpjpe_framewise": res["mpjpe_framewise"], "pa_mpjpe_framewise": res["pa_mpjpe_framewise"],
           "mean_pose_mpjpe": metrics.evaluate_poses(mean, gt, actions)["mpjpe"],
           "pck150": res["pck150"], "auc": res["auc"], "pck_num_joints": res["pck_num_joints"],
           "num_joints": res["num_joints"], "per_action": res.get("per_action", {})}
    unflipped = torch.zeros(len(rot), dtype=torch.bool)
    back = lambda p: to_original_frame(torch.from_numpy(p), torch.from_numpy(rot), unflipped).numpy()
    out.update(metrics.mrpe(back(pose_abs)[:, 0], back(gt)[:, 0]))
    out["a_mpjpe"] = float(metrics.joint_errors(pose_abs, gt).mean())
    out["num_test_crops"] = int(len(gt))
    errs = metrics.mpjpe_errors(rel, gt)
    out["_joint_errors"], out["_in_crop"] = errs, in_crop
    model.train()
    return out


def truncated_metrics(res: dict[str, Any]) -> dict[str, float]:
    """Error over all joints / over the joints inside the crop, from `evaluate` on truncated crops."""
    errs, inside = res["_joint_errors"], res["_in_crop"]
    return {"mpjpe_truncated_all": float(errs.mean()),
            "mpjpe_truncated_in_crop": float(errs[inside].mean()) if inside.any() else float("nan"),
            "truncated_fraction_in_crop": float(inside.mean()),
            "num_truncated_crops": int(len(errs))}


def public(res: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in res.items() if not k.startswith("_")}
