"""Training and evaluation of the MeTRo/MeTRAbs image estimator (single process or DistributedDataParallel).

Data come as batches of perspective-correct person crops (the `CropDataset` item contract):
image (B, 3, S, S) in [0, 1], K_crop (B, 3, 3), joints3d_cam (B, 17, 3) mm crop camera frame,
joints2d_px (B, 17, 2) crop px, R_crop_from_orig (B, 3, 3), in_crop (B, 17) bool, plus the keys
subject/action/subaction/camera/frame, from one of the sources in `data.crop_sources`.
Each epoch is a fixed, seeded list of index batches (one slice per rank), so an interrupted run resumes
at the exact step with the same data order and RNG state.
"""

from __future__ import annotations

import math
import time
from typing import Any, Iterator

import numpy as np
import torch

from lifting import metrics
from lifting.engine import core as engine
from lifting.engine.distributed import Dist, any_rank, cleanup_distributed, setup_distributed
from lifting.errors import UserError
from lifting.geometry.skeletons import H36M_17
from lifting.models.metro import MetroNet, absolute_pose, metro_losses, with_stride
from lifting.tasks.crop_sources import CropSource, online_source, rendered_source


# ------------------------------------------------------------------------------------- model + optim
def build_model(cfg: dict[str, Any], stride: int | None = None) -> MetroNet:
    """The configured MetroNet; crop_size must be a multiple of the stride with at least a 2x2 heatmap."""
    for key in ("output_stride", "test_output_stride"):
        s = cfg[key]
        if s is not None and (cfg["crop_size"] % s or cfg["crop_size"] // s < 2):
            raise UserError(f"crop_size {cfg['crop_size']} must be a multiple of {key} {s} giving at least a "
                            f"2x2 heatmap")
    return MetroNet(backbone=cfg["backbone"], stride=stride or cfg["output_stride"], num_joints=H36M_17.num_joints,
                    depth_bins=cfg["depth_bins"], box_size=cfg["box_size"], crop_size=cfg["crop_size"],
                    weights_path=cfg["backbone_weights"])


def lr_factor(step: int, total: int, phase2_fraction: float) -> float:
    """Two-phase exponential decay (MeTRo): (1/3)^(t/T1) for t < T1, then (1/30) * 0.3^((t-T1)/T2)."""
    t2 = max(1, round(total * phase2_fraction))
    t1 = max(1, total - t2)
    if step < t1:
        return (1 / 3) ** (step / t1)
    return (1 / 30) * 0.3 ** ((step - t1) / t2)


def make_optimizer(model: torch.nn.Module, cfg: dict[str, Any], total_steps: int):
    """AdamW whose decoupled decay per step is wd * (eta_t / eta0) / sqrt(T) (torch multiplies it by lr)."""
    decay = cfg["weight_decay"] / (math.sqrt(max(total_steps, 1)) * cfg["lr"])
    opt = torch.optim.AdamW(model.parameters(), lr=cfg["lr"], eps=1e-8, weight_decay=decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total_steps, cfg["phase2_fraction"]))
    return opt, sched


def autocast(cfg: dict[str, Any], device: torch.device):
    """bfloat16 autocast on CUDA when enabled; a no-op context otherwise."""
    enabled = cfg["amp"] and device.type == "cuda"
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16, enabled=enabled)


def _to_device(batch: dict[str, Any], device: torch.device, channels_last: bool) -> dict[str, Any]:
    out = {}
    for k, v in batch.items():
        if torch.is_tensor(v):
            v = v.to(device, non_blocking=True)
            if k == "image" and channels_last:
                v = v.contiguous(memory_format=torch.channels_last)
        out[k] = v
    return out


# ---------------------------------------------------------------------------------------- data order
def epoch_batches(num_samples: int, batch_size: int, epoch: int, seed: int, rank: int, world: int) -> list[list[int]]:
    """Seeded shuffle of all samples for `epoch`, this rank's interleaved slice, cut into full batches."""
    perm = torch.randperm(num_samples, generator=torch.Generator().manual_seed(seed * 100_003 + epoch)).tolist()
    mine = perm[rank::world][: (num_samples // world)]
    n = len(mine) // batch_size
    if n == 0:
        raise UserError(f"batch_size={batch_size} x {world} process(es) exceeds the {num_samples} training samples")
    return [mine[i * batch_size:(i + 1) * batch_size] for i in range(n)]


# ----------------------------------------------------------------------------------------- evaluation
@torch.no_grad()
def predict_crops(model: MetroNet, batch: dict[str, Any], cfg: dict[str, Any], flip_tta: bool) -> dict[str, torch.Tensor]:
    """Model outputs for a crop batch (crop frame): pose3d_rel (B, J, 3) mm, pose2d (B, J, 2) px, pose3d_abs."""
    images = batch["image"]
    with autocast(cfg, images.device):
        out = model(images)
    if flip_tta:
        from lifting.inference import average_flipped

        with autocast(cfg, images.device):
            flipped = model(torch.flip(images, dims=[-1]))
        out = average_flipped(out, flipped, batch["K_crop"])
    out["pose3d_abs"] = absolute_pose(model, out, batch["K_crop"], ridge=cfg["ridge"], mix=cfg["mix_3d_inside_fov"])
    return out


def evaluate(model: MetroNet, batches: Iterator[dict[str, Any]], cfg: dict[str, Any], device: torch.device,
             mean_pose: np.ndarray, flip_tta: bool = False) -> dict[str, Any]:
    """Root-relative and absolute metrics (mm) over test crops. All 17 joints incl. the root; MRPE and
    its axes are measured in the original camera frame (crop rotation undone)."""
    model.eval()
    keep: dict[str, list] = {k: [] for k in ("rel", "abs", "gt", "rot", "in_crop", "action")}
    for batch in batches:
        batch = _to_device(batch, device, cfg["channels_last"] and device.type == "cuda")
        out = predict_crops(model, batch, cfg, flip_tta)
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
           "pck150": metrics.pck(metrics.mpjpe_errors(rel, gt)), "per_action": res.get("per_action", {})}
    from lifting.augment.crops import to_original_frame

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


# ------------------------------------------------------------------------------------------ training
def train(cfg: dict[str, Any], data: CropSource, dist: Dist, resume: bool = False) -> tuple[dict[str, Any], MetroNet]:
    """Train with the config, evaluate, write checkpoints/results (rank 0) -> (results, trained model).

    Results are only computed on rank 0 (other ranks get an empty dict)."""
    if cfg["threads"] > 0:
        torch.set_num_threads(cfg["threads"])
    run = engine.prepare_run(cfg["out_dir"], cfg, resume) if dist.main else engine.RunDir(cfg["out_dir"])
    generator = engine.seed_everything(cfg["seed"] + 7919 * dist.rank)
    model = build_model(cfg).to(dist.device)
    channels_last = cfg["channels_last"] and dist.device.type == "cuda"
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    per_epoch = data.num_train // (cfg["batch_size"] * dist.world)
    if per_epoch == 0:
        raise UserError(f"batch_size={cfg['batch_size']} x {dist.world} process(es) exceeds the "
                        f"{data.num_train} training samples")
    total = cfg["iterations"] if cfg["iterations"] is not None else cfg["epochs"] * per_epoch
    optimizer, scheduler = make_optimizer(model, cfg, total)
    step, epoch, extra = 0, 0, {}
    if resume:
        step, epoch, extra = engine.load_training_state(run.last, model, optimizer, generator)
        scheduler.last_epoch = step
        for group in optimizer.param_groups:
            group["lr"] = cfg["lr"] * lr_factor(step, total, cfg["phase2_fraction"])
    mean_sum = torch.tensor(extra.get("mean_pose_sum", np.zeros((17, 3))), dtype=torch.float64)
    mean_count = int(extra.get("mean_pose_count", 0))
    best = float(extra.get("best_mpjpe", math.inf))
    train_seconds = float(extra.get("train_seconds", 0.0))
    samples_seen = int(extra.get("samples_seen", 0))
    net = model
    if dist.distributed:
        net = torch.nn.parallel.DistributedDataParallel(
            model, device_ids=[dist.device.index] if dist.device.type == "cuda" else None)
    if cfg["compile"]:
        net = torch.compile(net)
    logger = engine.Logger(run, enabled=dist.main)

    def state_extra() -> dict[str, Any]:
        return {"config": cfg, "arch": model.arch(), "mean_pose_sum": mean_sum.numpy().tolist(),
                "mean_pose_count": mean_count, "best_mpjpe": best, "train_seconds": train_seconds,
                "samples_seen": samples_seen}

    def mean_pose() -> np.ndarray:
        return (mean_sum / max(mean_count, 1)).numpy()

    def run_eval(final: bool) -> dict[str, Any]:
        test_stride = cfg["test_output_stride"]
        test_model = model if test_stride in (None, model.stride) else with_stride(model, test_stride)
        res = evaluate(test_model, data.test_batches(False), cfg, dist.device, mean_pose(), cfg["flip_tta"])
        if final:
            res.update(truncated_metrics(evaluate(test_model, data.test_batches(True), cfg, dist.device,
                                                  mean_pose(), cfg["flip_tta"])))
        return res

    deadline = None if cfg["max_train_minutes"] is None else time.monotonic() + 60 * cfg["max_train_minutes"]
    stopped_early = False
    model.train()
    while step < total and not stopped_early:
        batches = epoch_batches(data.num_train, cfg["batch_size"], epoch, cfg["seed"], dist.rank, dist.world)
        start = step - epoch * per_epoch
        stream = data.batches(batches[start:], epoch, step)
        t0 = time.perf_counter()
        for indices, batch in engine.progress(zip(batches[start:], stream), total=len(batches) - start,
                                              desc=f"epoch {epoch}", enabled=dist.main):
            batch = _to_device(batch, dist.device, channels_last)
            gt = batch["joints3d_cam"].double()
            mean_sum += (gt - gt[:, :1]).sum(0).cpu()
            mean_count += len(gt)
            with autocast(cfg, dist.device):
                out = net(batch["image"])
            losses = metro_losses(model, out, batch["K_crop"], batch["joints3d_cam"], batch["joints2d_px"],
                                  batch["in_crop"], step, weak_steps=cfg["weak_steps"], abs_start=cfg["abs_start"],
                                  abs_weight=cfg["abs_weight"], loss2d_weight=cfg["loss2d_weight"], ridge=cfg["ridge"])
            engine.optimizer_step(model, optimizer, losses["total"], cfg["grad_clip"])
            scheduler.step()
            if dist.device.type == "cuda":
                torch.cuda.synchronize(dist.device)
            train_seconds += time.perf_counter() - t0
            samples_seen += len(indices) * dist.world
            step += 1
            if dist.main and (step % cfg["log_every"] == 0 or step == 1):
                for k, v in losses.items():
                    logger.scalar(f"train/loss_{k}", float(v.detach()), step)
                logger.scalar("train/lr", optimizer.param_groups[0]["lr"], step)
            if dist.main and step % cfg["checkpoint_every"] == 0:
                engine.save_training_state(run.last, model, optimizer, step, epoch, generator, state_extra())
            if step == (epoch + 1) * per_epoch:
                epoch += 1
                if dist.main:
                    if epoch % cfg["eval_every"] == 0 and step < total:
                        res = run_eval(final=False)
                        logger.scalar("test/mpjpe", res["mpjpe"], step)
                        if res["mpjpe"] < best:
                            best = res["mpjpe"]
                            engine.save_training_state(run.best, model, optimizer, step, epoch, generator,
                                                       state_extra())
                    engine.save_training_state(run.last, model, optimizer, step, epoch, generator, state_extra())
                dist.barrier()
            if step >= total:
                break
            if deadline is not None and any_rank(time.monotonic() > deadline, dist):
                stopped_early = True
                break
            t0 = time.perf_counter()
    results: dict[str, Any] = {}
    if dist.main:
        res = run_eval(final=True)
        logger.scalar("test/mpjpe", res["mpjpe"], step)
        if res["mpjpe"] < best:
            best = res["mpjpe"]
            engine.save_training_state(run.best, model, optimizer, step, epoch, generator, state_extra())
        engine.save_training_state(run.last, model, optimizer, step, epoch, generator, state_extra())
        results = {**public(res), "best_mpjpe": best, "iterations": step, "planned_iterations": total,
                   "stopped_by_time_limit": stopped_early, "epochs": epoch, "train_seconds": train_seconds,
                   "train_samples_per_s": samples_seen / max(train_seconds, 1e-9), "world_size": dist.world,
                   "device": str(dist.device), "data": data.describe, "out_dir": str(run.root), "config": cfg}
        engine.write_results(run, results, results_markdown(results))
        logger.close()
    dist.barrier()
    return results, model


def results_markdown(r: dict[str, Any]) -> str:
    rows = [("MPJPE (17 joints, root-relative, action-wise)", r["mpjpe"]), ("PA-MPJPE", r["pa_mpjpe"]),
            ("mean-pose MPJPE", r["mean_pose_mpjpe"]), ("MPJPE truncated crops, all joints", r["mpjpe_truncated_all"]),
            ("MPJPE truncated crops, joints in crop", r["mpjpe_truncated_in_crop"]), ("MRPE", r["mrpe"]),
            ("MRPE x / y / z", f"{r['mrpe_x']:.1f} / {r['mrpe_y']:.1f} / {r['mrpe_z']:.1f}")]
    lines = ["# MeTRo results", "", f"{r['num_test_crops']} test crops, {r['iterations']} steps, "
             f"{r['train_seconds']:.0f} s training ({r['train_samples_per_s']:.1f} crops/s).", "",
             "| metric | mm |", "|---|---|"]
    lines += [f"| {name} | {v:.1f} |" if isinstance(v, float) else f"| {name} | {v} |" for name, v in rows]
    return "\n".join(lines) + "\n"


def run(cfg: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Entry point of `main_metro.py`: processes, data source, training, evaluation; results (rank 0)."""
    dist = setup_distributed(cfg["device"])
    try:
        if cfg["threads"] > 0:
            torch.set_num_threads(cfg["threads"])
        data = online_source(cfg, dist) if cfg["data_source"] == "online" else rendered_source(cfg, dist)
        results, _ = train(cfg, data, dist, resume)
        return results
    finally:
        cleanup_distributed()
