"""Training and evaluation of the MeTRo/MeTRAbs image estimator (single process or DistributedDataParallel).

Data come as batches of perspective-correct person crops (the `CropDataset` item contract):
image (B, 3, S, S) in [0, 1], K_crop (B, 3, 3), joints3d_cam (B, 17, 3) mm crop camera frame,
joints2d_px (B, 17, 2) crop px, R_crop_from_orig (B, 3, 3), in_crop (B, 17) bool, plus the keys
subject/action/subaction/camera/frame. Two sources produce them:
- 'online': crops rendered on the training device from 3D poses (a `PoseSet`), a fresh mannequin
  appearance and augmentation per step;
- 'rendered': a COCO-layout image dataset read through `ImageDataset` + `CropDataset`.
Each epoch is a fixed, seeded list of index batches (one slice per rank), so an interrupted run resumes
at the exact step with the same data order and RNG state.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

import numpy as np
import torch
import torch.distributed as torch_dist

from . import engine, metrics
from .errors import UserError
from .models.metro import MetroNet, absolute_pose, metro_losses, with_stride
from .skeletons import H36M_17

BatchStream = Callable[[list[list[int]], int, int], Iterator[dict[str, Any]]]


# ----------------------------------------------------------------------------------------- processes
@dataclass
class Dist:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world: int = 1
    device: torch.device = torch.device("cpu")
    distributed: bool = False

    @property
    def main(self) -> bool:
        return self.rank == 0

    def barrier(self) -> None:
        if self.distributed:
            torch_dist.barrier()


def setup_distributed(device_name: str) -> Dist:
    """Join the process group when launched by torchrun (RANK/WORLD_SIZE set, even for one process): nccl on
    CUDA, gloo on CPU. A plain `python main_metro.py` runs single-process without DDP."""
    if "RANK" not in os.environ or "WORLD_SIZE" not in os.environ:
        return Dist(device=engine.select_device(device_name))
    rank, world, local = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"]), int(os.environ.get("LOCAL_RANK", "0"))
    device = engine.select_device(device_name)
    if device.type == "cuda":
        torch.cuda.set_device(local)
        device = torch.device("cuda", local)
    if not torch_dist.is_initialized():
        torch_dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Dist(rank=rank, world=world, device=device, distributed=True)


def cleanup_distributed() -> None:
    if torch_dist.is_initialized():
        torch_dist.destroy_process_group()


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
        from .inference import average_flipped

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
    from .data.crops import to_original_frame

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


def _any_rank(flag: bool, dist: Dist) -> bool:
    """True if `flag` is true on any rank (keeps ranks stepping in lockstep when one hits a time limit)."""
    if not dist.distributed:
        return flag
    t = torch.tensor([float(flag)], device=dist.device)
    torch_dist.all_reduce(t, op=torch_dist.ReduceOp.MAX)
    return bool(t.item())


def public(res: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in res.items() if not k.startswith("_")}


# ------------------------------------------------------------------------------------------ training
@dataclass
class TrainData:
    """What the loop needs from a data source."""

    num_train: int
    batches: BatchStream                                  # (index batches, epoch, first step) -> crop batches
    test_batches: Callable[[bool], Iterator[dict[str, Any]]]   # truncated? -> batches
    describe: str


def train(cfg: dict[str, Any], data: TrainData, dist: Dist, resume: bool = False) -> tuple[dict[str, Any], MetroNet]:
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
        test_model = model if cfg["test_output_stride"] in (None, model.stride) else with_stride(model, cfg["test_output_stride"])
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
            optimizer.zero_grad(set_to_none=True)
            losses["total"].backward()
            if cfg["grad_clip"] is not None:
                torch.nn.utils.clip_grad_norm_(model.parameters(), cfg["grad_clip"])
            optimizer.step()
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
            if deadline is not None and _any_rank(time.monotonic() > deadline, dist):
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


# ------------------------------------------------------------------------------------------- sources
def pose_dir(cfg: dict[str, Any]) -> Path:
    """'synthetic' -> the built-in poses (generated once into cache_dir); otherwise the h5-annotation dir."""
    if cfg["data_dir"] == "synthetic":
        from .data.synthetic import ensure_synthetic_dataset

        return Path(ensure_synthetic_dataset(cfg["cache_dir"], seed=0))
    return Path(cfg["data_dir"])


def load_poses(cfg: dict[str, Any], subjects: list[int], stride: int):
    """PoseSet (h36m_17, all 4 cameras) of the subjects, every `stride`-th frame, cached in cache_dir."""
    from .data.h36m import load_h36m

    return load_h36m(pose_dir(cfg), subjects, stride=stride, skeleton="h36m_17", cache_dir=cfg["cache_dir"])


def evenly_spaced(n: int, limit: int | None) -> np.ndarray:
    """At most `limit` indices spread evenly over range(n)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def person_boxes(joints2d_px: torch.Tensor, pad: float = 0.12) -> torch.Tensor:
    """(B, J, 2) px -> (B, 4) [x, y, w, h] around the joints, padded by `pad` x the larger side on every side
    (roughly the rendered body's extent: joints sit inside the limbs, head and feet)."""
    lo, hi = joints2d_px.amin(1), joints2d_px.amax(1)
    margin = pad * (hi - lo).amax(-1, keepdim=True)
    return torch.cat([lo - margin, hi - lo + 2 * margin], -1)


def render_crops(joints_cam: torch.Tensor, K: torch.Tensor, crop_size: int, generator: torch.Generator,
                 device: torch.device, augment: bool, truncation_prob: float = 0.0,
                 truncate_all: bool = False) -> dict[str, torch.Tensor]:
    """Crops rendered straight into the virtual crop camera (no image resampling).

    joints_cam (B, 17, 3) mm original camera; K (B, 3, 3) original pinhole intrinsics. Same crop geometry and
    outputs as `make_crops`; `truncate_all` forces a partial-body box without other augmentation (test crops).
    """
    from .data.crops import (CropAugmentation, augment_appearance, crop_camera, random_partial_box,
                             to_crop_frame)
    from .data.render import project_joints, render_mannequin

    n = len(joints_cam)
    joints_cam, K = joints_cam.double(), K.double()
    boxes = person_boxes(project_joints(joints_cam, K))
    if truncate_all:
        boxes = random_partial_box(boxes, generator)
    elif augment and truncation_prob > 0:
        coin = torch.rand(n, generator=generator) < truncation_prob
        boxes = torch.where(coin[:, None], random_partial_box(boxes, generator), boxes)
    aug = CropAugmentation.sample(n, generator) if augment else CropAugmentation.identity(n)
    K_crop, R = crop_camera(K, boxes, crop_size, aug)
    joints = to_crop_frame(joints_cam, R, aug.flip)
    rendering = render_mannequin(joints.float().to(device), K_crop.float().to(device), (crop_size, crop_size),
                                 generator)
    image = augment_appearance(rendering.image, generator) if augment else rendering.image
    uv = project_joints(joints, K_crop)
    in_crop = (joints[..., 2] > 0) & (uv >= -0.5).all(-1) & (uv <= crop_size - 0.5).all(-1)
    to = lambda t: t.to(device=device, dtype=torch.float32)
    return {"image": image, "K_crop": to(K_crop), "R_crop_from_orig": to(R), "joints3d_cam": to(joints),
            "joints2d_px": to(uv), "in_crop": in_crop.to(device)}


def _batch_generator(*seeds: int) -> torch.Generator:
    state = np.random.SeedSequence([int(s) for s in seeds]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


def _intrinsics(poses) -> torch.Tensor:
    K = torch.zeros(len(poses), 3, 3, dtype=torch.float64)
    K[:, [0, 1], [0, 1]] = torch.as_tensor(poses.cam_f, dtype=torch.float64)
    K[:, :2, 2] = torch.as_tensor(poses.cam_c, dtype=torch.float64)
    K[:, 2, 2] = 1
    return K


def online_data(cfg: dict[str, Any], dist: Dist) -> TrainData:
    """Crops rendered on the training device from the PoseSet poses of the train/test subjects."""
    train_poses = load_poses(cfg, cfg["train_subjects"], cfg["stride"])
    test_poses = load_poses(cfg, cfg["test_subjects"], cfg["test_stride"])
    test_poses = test_poses.subset(evenly_spaced(len(test_poses), cfg["max_test_crops"]))
    train_joints, train_K = torch.as_tensor(train_poses.joints3d_cam), _intrinsics(train_poses)
    test_joints, test_K = torch.as_tensor(test_poses.joints3d_cam), _intrinsics(test_poses)
    S = cfg["crop_size"]

    def batches(index_batches, epoch, step):
        for k, idx in enumerate(index_batches):
            g = _batch_generator(cfg["seed"], dist.rank, step + k)
            yield render_crops(train_joints[idx], train_K[idx], S, g, dist.device, cfg["augment"],
                               cfg["truncation_prob"])

    def test_batches(truncated):
        bs = cfg["test_batch_size"]
        for k, start in enumerate(range(0, len(test_poses), bs)):
            idx = slice(start, start + bs)
            g = _batch_generator(cfg["seed"], 999_983, int(truncated), k)
            batch = render_crops(test_joints[idx], test_K[idx], S, g, dist.device, augment=False,
                                 truncate_all=truncated)
            batch["action"] = test_poses.action[idx].tolist()
            yield batch

    return TrainData(len(train_poses), batches, test_batches,
                     f"online crops of {len(train_poses)} train poses (S{cfg['train_subjects']}), "
                     f"{len(test_poses)} test poses (S{cfg['test_subjects']})")


class TruncatedCrops(torch.utils.data.Dataset):
    """Test crops of an image dataset through a seeded partial-body sub-box, no other augmentation
    (same item dict as `CropDataset`)."""

    def __init__(self, images, crop_size: int, seed: int):
        self.images, self.crop_size, self.seed = images, crop_size, seed

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> dict:
        from .data.crops import make_crops, random_partial_box
        from .data.images import read_image

        rec = self.images[i]
        image = read_image(rec.image_path)[None]
        K = torch.tensor(rec.K)[None]
        box = random_partial_box(torch.tensor(rec.bbox)[None], _batch_generator(self.seed, i))
        out = make_crops(image, K, box, torch.tensor(rec.joints3d_cam)[None], self.crop_size, augment=False)
        item = {k: v[0] for k, v in out.items()}
        item.update(K_orig=K[0].float(), subject=rec.subject, action=rec.action, subaction=rec.subaction,
                    camera=rec.camera, frame=rec.frame, index=int(i))
        return item


def rendered_root(cfg: dict[str, Any], dist: Dist) -> Path:
    """The COCO-layout dataset: image_dir, or (image_dir null) one rendered once into cache_dir by rank 0 from the
    configured poses (train subjects every `stride`-th frame, test subjects every `test_stride`-th)."""
    import hashlib
    import json

    if cfg["image_dir"] is not None:
        root = Path(cfg["image_dir"])
        if not (root / "annotations").is_dir():
            raise UserError(f"image_dir {root}: no annotations/ directory (expected a COCO-style image dataset; "
                            f"set image_dir: null to render one into cache_dir)")
        return root
    else:
        key = json.dumps([str(pose_dir(cfg).resolve()), cfg["train_subjects"], cfg["stride"], cfg["test_subjects"],
                          cfg["test_stride"], cfg["render_size"]])
        root = Path(cfg["cache_dir"]) / f"metro_images_{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if not (root / "annotations").is_dir():
        if dist.main:
            from .data.images import write_rendered_dataset
            from .data.samples import PoseSet

            poses = PoseSet.concat([load_poses(cfg, cfg["train_subjects"], cfg["stride"]),
                                    load_poses(cfg, cfg["test_subjects"], cfg["test_stride"])])
            print(f"rendering {len(poses)} images ({cfg['render_size']} px) into {root} ...", flush=True)
            write_rendered_dataset(root, poses, image_size=cfg["render_size"], seed=cfg["seed"],
                                   device=str(dist.device))
        dist.barrier()
    return root


def rendered_data(cfg: dict[str, Any], dist: Dist) -> TrainData:
    """Crops of a COCO-layout image dataset (`ImageDataset` + `CropDataset`), read by DataLoader workers."""
    from torch.utils.data import DataLoader, Subset

    from .data.crops import CropDataset
    from .data.images import ImageDataset

    root = rendered_root(cfg, dist)
    S = cfg["crop_size"]
    train_set = CropDataset(ImageDataset(root, cfg["train_subjects"]), S, cfg["augment"], cfg["truncation_prob"],
                            seed=cfg["seed"] * 1000 + dist.rank)
    test_images = ImageDataset(root, cfg["test_subjects"])
    test_images = Subset(test_images, evenly_spaced(len(test_images), cfg["max_test_crops"]).tolist())
    test_sets = {False: CropDataset(test_images, S, augment=False),
                 True: TruncatedCrops(test_images, S, seed=cfg["seed"])}
    workers = cfg["num_workers"]

    def batches(index_batches, epoch, step):
        train_set.set_epoch(epoch)
        return iter(DataLoader(train_set, batch_sampler=index_batches, num_workers=workers,
                               persistent_workers=False, pin_memory=dist.device.type == "cuda"))

    def test_batches(truncated):
        return iter(DataLoader(test_sets[truncated], batch_size=cfg["test_batch_size"], num_workers=workers))

    return TrainData(len(train_set), batches, test_batches,
                     f"rendered images {root}: {len(train_set)} train crops (S{cfg['train_subjects']}), "
                     f"{len(test_images)} test crops (S{cfg['test_subjects']})")


def run(cfg: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Entry point of `main_metro.py`: processes, data source, training, evaluation; results (rank 0)."""
    dist = setup_distributed(cfg["device"])
    try:
        if cfg["threads"] > 0:
            torch.set_num_threads(cfg["threads"])
        data = online_data(cfg, dist) if cfg["data_source"] == "online" else rendered_data(cfg, dist)
        results, _ = train(cfg, data, dist, resume)
        return results
    finally:
        cleanup_distributed()
