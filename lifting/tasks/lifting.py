"""Training and evaluation of the 2D-to-3D lifters on Human3.6M-layout data (supervised or relative-depth).

The whole split lives in memory as tensors, batches are index gathers (no DataLoader, no worker
processes), so the input pipeline never stalls the model step. Checkpoints are written at the end of
every epoch with all RNG state, so a killed run resumed with `--resume` ends with the same numbers.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.config import validate
from lifting.datasets import noise as noise_lib
from lifting.datasets.h36m import load_h36m
from lifting.datasets.normalize import Stats
from lifting.datasets.pairs import PairSampler
from lifting.datasets.samples import PoseSet, replace_2d_from_predictions
from lifting.engine import core as engine
from lifting.errors import UserError
from lifting.fileio import save_npz
from lifting.geometry.skeletons import Skeleton, get_skeleton
from lifting.losses import (
    limb_ratio_loss,
    relative_depth_loss,
    root_loss,
    scaled_orthographic_reprojection_loss,
    supervised_loss,
    weak_perspective_reprojection_loss,
)
from lifting.metrics import evaluate_poses, pa_mpjpe_errors
from lifting.models.linear import LinearModel
from lifting.options.h36m import SCHEMA

# Keys that may change between a run and its --resume without changing what is computed.
_RESUME_FREE_KEYS = {"epochs", "progress", "tensorboard", "num_threads", "figure", "save_predictions", "device"}


# ----------------------------------------------------------------------------------------------- data

def resolve_data_dir(name: str, cfg: dict[str, Any]) -> Path:
    """'synthetic' -> the built-in data (generated once into the cache); otherwise the given directory."""
    if name == "synthetic":
        from lifting.synth.poses import ensure_synthetic_dataset

        return Path(ensure_synthetic_dataset(cfg["cache_dir"], seed=0, size=cfg["synthetic_size"]))
    path = Path(name)
    if not path.is_dir():
        raise UserError(f"data_dir: {path} is not a directory (expected cameras.h5 and S<n>/MyPoses/3D_positions/)")
    return path


def load_split(cfg: dict[str, Any], train: bool) -> PoseSet:
    data_dir = cfg["data_dir"] if train or not cfg["test_data_dir"] else cfg["test_data_dir"]
    return load_h36m(resolve_data_dir(data_dir, cfg),
                     subjects=cfg["train_subjects"] if train else cfg["test_subjects"],
                     actions=cfg["actions"], stride=cfg["stride"] if train else cfg["test_stride"],
                     skeleton=cfg["skeleton"], cameras=tuple(cfg["cameras"]),
                     cache_dir=Path(cfg["cache_dir"]) / "h36m")


@dataclass
class SplitArrays:
    """One split ready for the model: tensors aligned by sample."""

    x: torch.Tensor                  # (N, 2J) standardised root-centred 2D (input dropout applied)
    joints2d_centred: torch.Tensor   # (N, J, 2) px, root-centred (noisy if noise is on)
    joints3d_centred: torch.Tensor   # (N, J, 3) mm, root-relative camera frame
    focal: torch.Tensor              # (N, 2) px
    poses: PoseSet

    def __len__(self) -> int:
        return len(self.x)


def noisy_2d(poses: PoseSet, kind: str, amount: float, detections_dir: str | None,
             rng: np.random.Generator) -> np.ndarray:
    """(N, J, 2) px 2D inputs of a split after its noise model."""
    if kind == "detections":
        if not detections_dir:
            raise UserError("noise type 'detections' needs detections_dir (stacked-hourglass detection files)")
        if poses.skeleton != "h36m_16":
            raise UserError("noise type 'detections' needs skeleton: h36m_16 (the detections' joint set)")
        return noise_lib.load_detections(detections_dir, poses).astype(np.float32)
    return noise_lib.add_noise(poses.joints2d_px, kind, amount, rng).astype(np.float32)


def centre(poses: PoseSet, joints2d: np.ndarray, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray]:
    r = skeleton.root
    return (joints2d - joints2d[:, r:r + 1]).astype(np.float32), \
        (poses.joints3d_cam - poses.joints3d_cam[:, r:r + 1]).astype(np.float32)


def make_split(poses: PoseSet, joints2d_centred: np.ndarray, joints3d_centred: np.ndarray, stats: Stats,
               dropout_p: float, rng: np.random.Generator) -> SplitArrays:
    x = stats.standardize_2d(joints2d_centred)
    if dropout_p > 0:
        keep = noise_lib.input_dropout_mask(len(x), joints2d_centred.shape[1], dropout_p, rng)
        x = x * np.repeat(keep, 2, axis=1).astype(np.float32)
    return SplitArrays(torch.from_numpy(np.ascontiguousarray(x)), torch.from_numpy(joints2d_centred),
                       torch.from_numpy(joints3d_centred), torch.from_numpy(poses.cam_f.astype(np.float32)), poses)


# ---------------------------------------------------------------------------------------------- model

def build_model(cfg: dict[str, Any]) -> LinearModel:
    j = get_skeleton(cfg["skeleton"]).num_joints
    return LinearModel(j, j, linear_size=cfg["linear_size"], num_stage=cfg["num_stage"], dropout=cfg["dropout"],
                       batch_norm=cfg["batch_norm"], relative=cfg["model"] == "relative",
                       scale_range=cfg["scale_range"], unnorm_init=cfg["unnorm_init"])


def load_lifter(path: str | Path) -> tuple[LinearModel, Stats, dict[str, Any]]:
    """A trained lifter from a run dir (best.pt, else last.pt) or checkpoint file: (model in eval mode, stats, config)."""
    from lifting.checkpoint import load_checkpoint

    state = load_checkpoint(path)
    extra = state.get("extra", {}) if isinstance(state, dict) else {}
    if "config" not in extra or "stats" not in extra:
        raise UserError(f"{path}: not a lifting checkpoint (lacks config/stats)")
    cfg = validate(SCHEMA, extra["config"], f"{path} config")
    model = build_model(cfg)
    model.load_state_dict(state["model"])
    model.eval()
    return model, Stats.from_dict(extra["stats"]), cfg


@torch.no_grad()
def lift(model: LinearModel, stats: Stats, joints2d_px: np.ndarray, root: int, batch_size: int = 8192,
         device: torch.device | str = "cpu") -> np.ndarray:
    """(N, J, 2) image px -> (N, J, 3) mm root-relative camera frame (model in eval mode)."""
    centred = joints2d_px - joints2d_px[:, root:root + 1]
    x = torch.from_numpy(stats.standardize_2d(centred))
    return predict(model, x, batch_size, device)


@torch.no_grad()
def predict(model: torch.nn.Module, x: torch.Tensor, batch_size: int, device) -> np.ndarray:
    was_training = model.training
    model.eval()
    out = [model(x[i:i + batch_size].to(device))[0].float().cpu() for i in range(0, len(x), batch_size)]
    model.train(was_training)
    return torch.cat(out).numpy() if out else np.zeros((0, model.out_joints, 3), np.float32)


# ----------------------------------------------------------------------------------------------- loss

class Objective:
    """The training loss of the configured model: supervised MSE or the relative-depth objective."""

    def __init__(self, cfg: dict[str, Any], skeleton: Skeleton, stats: Stats, train: SplitArrays,
                 rng: np.random.Generator, device: torch.device):
        self.cfg, self.skeleton, self.device = cfg, skeleton, device
        self.std3d = torch.tensor(stats.std3d, dtype=torch.float32, device=device)
        self.pairs = None
        if cfg["model"] == "relative":
            if cfg["num_pairs"] is None:
                raise UserError("num_pairs: the relative model needs num_pairs (an integer or 'all')")
            self.pairs = PairSampler(train.joints3d_centred[..., 2].numpy(), cfg["num_pairs"],
                                     cfg["rel_labels_noise_prob"], cfg["tolerance_mm"], rng)
            self.limbs = torch.tensor(skeleton.limbs, dtype=torch.long, device=device)
            valid = torch.ones(len(skeleton.limbs), dtype=torch.bool)
            valid[list(skeleton.masked_limbs)] = False
            self.valid_limbs = valid.to(device)
            self.ref_limbs = self._reference_limbs(cfg["limb_type"], stats)

    def _reference_limbs(self, limb_type: str, stats: Stats) -> torch.Tensor | None:
        if limb_type == "avg_human36":
            ref = stats.avg_limb_lengths
        elif limb_type == "avg_person":
            if self.skeleton.avg_person_limb_lengths is None:
                raise UserError(f"limb_type: 'avg_person' has no reference proportions for {self.skeleton.name}; "
                                "use avg_human36")
            ref = np.asarray(self.skeleton.avg_person_limb_lengths)
        else:
            return None  # 'gt': per-sample lengths from the batch
        return torch.tensor(ref, dtype=torch.float32, device=self.device)

    def __call__(self, model: torch.nn.Module, batch: dict[str, torch.Tensor],
                 generator: torch.Generator) -> tuple[torch.Tensor, dict[str, float]]:
        pose, scale = model(batch["x"])
        target = batch["joints3d"]
        if self.pairs is None:
            std = self.std3d if self.cfg["sup_loss"] == "standardized" else None
            loss = supervised_loss(pose, target, std)
            return loss, {"sup": loss.detach()}
        cfg, sk = self.cfg, self.skeleton
        i, j, label = batch["pair_i"], batch["pair_j"], batch["pair_label"]
        rows = torch.arange(len(pose), device=pose.device)
        parts = {"relative": relative_depth_loss(pose[rows, i, 2], pose[rows, j, 2], label, cfg["distance_multiplier"])}
        if cfg["reprojection"] == "scaled_orthographic":
            parts["reproj"] = scaled_orthographic_reprojection_loss(pose, scale, batch["joints2d"])
        elif cfg["reprojection"] == "weak_perspective":
            parts["reproj"] = weak_perspective_reprojection_loss(pose, scale, batch["joints2d"], batch["focal"])
        parts["root"] = root_loss(pose, sk.root)
        if cfg["loss_symm"] > 0:
            ref = self.ref_limbs if self.ref_limbs is not None else \
                torch.linalg.norm(target[:, self.limbs[:, 0]] - target[:, self.limbs[:, 1]], dim=-1)
            parts["symm"] = limb_ratio_loss(pose, self.limbs, ref, sk.unit_limb, self.valid_limbs)
        weights = {"relative": cfg["loss_relative"], "reproj": cfg["loss_reproj"], "root": cfg["loss_root"],
                   "symm": cfg["loss_symm"]}
        loss = sum(weights[k] * v for k, v in parts.items())
        return loss, {k: v.detach() for k, v in parts.items()}

    def batch(self, data: SplitArrays, index: torch.Tensor, generator: torch.Generator) -> dict[str, torch.Tensor]:
        out = {"x": data.x[index], "joints3d": data.joints3d_centred[index]}
        if self.pairs is not None:
            out["joints2d"] = data.joints2d_centred[index]
            out["focal"] = data.focal[index]
            out["pair_i"], out["pair_j"], out["pair_label"] = self.pairs.sample(index, generator)
        return {k: v.to(self.device, non_blocking=True) for k, v in out.items()}


# ------------------------------------------------------------------------------------------------ run

def evaluate(model: torch.nn.Module, test: SplitArrays, skeleton: Skeleton, cfg: dict[str, Any],
             device: torch.device) -> tuple[dict[str, Any], np.ndarray]:
    pred = predict(model, test.x, cfg["eval_batch_size"], device)
    metrics = evaluate_poses(pred, test.joints3d_centred.numpy(), test.poses.action, root=skeleton.root)
    return metrics, pred


def _results_markdown(res: dict[str, Any], cfg: dict[str, Any]) -> str:
    lines = [f"# {cfg['model']} lifter, {cfg['skeleton']}, test subjects {cfg['test_subjects']}", "",
             "Errors in mm over all joints incl. the root; headline = mean of per-action means.", "",
             "| metric | action-wise | frame-wise |", "|---|---|---|"]
    for k in ("mpjpe", "n_mpjpe", "pa_mpjpe"):
        lines.append(f"| {k.upper().replace('_', '-')} | {res[k]:.1f} | {res[k + '_framewise']:.1f} |")
    lines += ["", f"3DPCK@150mm {res['pck150']:.1f} %, AUC {res['auc']:.1f} %, {res['num_test_frames']} test frames, "
              f"{res['epochs_run']} epochs in {res['train_seconds'] / 60:.1f} min "
              f"({res['train_samples_per_s']:.0f} samples/s).", "",
              "| action | MPJPE | N-MPJPE | PA-MPJPE | frames |", "|---|---|---|---|---|"]
    for a, v in res.get("per_action", {}).items():
        lines.append(f"| {a} | {v['mpjpe']:.1f} | {v['n_mpjpe']:.1f} | {v['pa_mpjpe']:.1f} | {v['num_frames']} |")
    return "\n".join(lines) + "\n"


def _check_resume_config(stored: dict[str, Any], cfg: dict[str, Any]) -> None:
    diff = sorted(k for k in cfg if k not in _RESUME_FREE_KEYS and stored.get(k) != cfg[k])
    if diff:
        raise UserError(f"--resume: config differs from the run in out_dir in {', '.join(diff)}; "
                        "use the same options or a new out_dir")


def run(cfg: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Train (unless eval_only) and evaluate; writes checkpoints and results into cfg['out_dir']."""
    if cfg["num_threads"]:
        torch.set_num_threads(cfg["num_threads"])
    device = engine.select_device(cfg["device"])
    skeleton = get_skeleton(cfg["skeleton"])
    generator = engine.seed_everything(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    if cfg["eval_only"] and not cfg["load"]:
        raise UserError("eval_only: needs `load` (a run dir or checkpoint to evaluate)")
    shared = sorted(set(cfg["train_subjects"]) & set(cfg["test_subjects"]))
    if shared and not cfg["eval_only"] and cfg["test_data_dir"] in (None, cfg["data_dir"]):
        raise UserError(f"train_subjects and test_subjects share S{shared[0]} of data_dir {cfg['data_dir']}: test on "
                        f"other subjects, or set test_data_dir")
    run_dir = engine.prepare_run(cfg["out_dir"], cfg, resume)

    # Data: noise -> root-centring -> training statistics -> standardisation (test uses training stats).
    test_poses = load_split(cfg, train=False)
    if cfg["predictions_2d"]:
        test_poses = replace_2d_from_predictions(test_poses, cfg["predictions_2d"])
    test2d = noisy_2d(test_poses, cfg["test_noise_type"], cfg["test_noise_amount"], cfg["detections_dir"], rng)
    test2d_c, test3d_c = centre(test_poses, test2d, skeleton)

    if cfg["eval_only"]:
        model, stats, _ = load_lifter(cfg["load"])
        model.to(device)
        test = make_split(test_poses, test2d_c, test3d_c, stats, cfg["in_dropout_p"], rng)
        metrics, pred = evaluate(model, test, skeleton, cfg, device)
        results = {**metrics, "train_seconds": 0.0, "train_samples_per_s": 0.0, "epochs_run": 0,
                   "curve": [], "config": cfg}
        _finish(run_dir, results, cfg, test, pred)
        return results

    train_poses = load_split(cfg, train=True)
    if cfg["amt_train_data"] < 1.0:
        keep = np.sort(rng.choice(len(train_poses), int(len(train_poses) * cfg["amt_train_data"]), replace=False))
        train_poses = train_poses.subset(keep)
    if len(train_poses) < 2:
        raise UserError(f"training split has {len(train_poses)} samples; need at least 2 "
                        "(check train_subjects, actions, amt_train_data)")
    train2d = noisy_2d(train_poses, cfg["train_noise_type"], cfg["train_noise_amount"], cfg["detections_dir"], rng)
    train2d_c, train3d_c = centre(train_poses, train2d, skeleton)
    stats = Stats.compute(train2d_c, train3d_c, skeleton.limb_lengths(train3d_c))
    train = make_split(train_poses, train2d_c, train3d_c, stats, cfg["in_dropout_p"], rng)
    test = make_split(test_poses, test2d_c, test3d_c, stats, cfg["in_dropout_p"], rng)

    model = build_model(cfg)
    if cfg["model"] == "supervised":
        model.set_output_stats(torch.tensor(stats.mean3d), torch.tensor(stats.std3d))
    if cfg["load"]:
        loaded, _, _ = load_lifter(cfg["load"])
        model.load_state_dict(loaded.state_dict())
        if cfg["model"] == "supervised":
            model.set_output_stats(torch.tensor(stats.mean3d), torch.tensor(stats.std3d))
    model.to(device)
    objective = Objective(cfg, skeleton, stats, train, rng, device)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"],
                                 fused=True)
    step_model = _maybe_compile(model, cfg)

    steps_per_epoch = len(train) // cfg["batch_size"] or 1
    total_steps = steps_per_epoch * cfg["epochs"]
    start_epoch, step = 0, 0
    history: dict[str, Any] = {"curve": [], "train_seconds": 0.0, "outside_seconds": 0.0, "samples": 0,
                               "best": None, "best_metric": None}
    if resume:
        step, start_epoch, extra = engine.load_training_state(run_dir.last, model, optimizer, generator)
        _check_resume_config(extra.get("config", {}), cfg)
        history = extra["history"]
    logger = engine.Logger(run_dir, cfg["tensorboard"])
    best_key = "mpjpe" if cfg["model"] == "supervised" else "pa_mpjpe"
    metrics: dict[str, Any] | None = None
    pred = None

    for epoch in range(start_epoch, cfg["epochs"]):
        model.train()
        t_epoch = time.perf_counter()
        outside = 0.0
        perm = torch.randperm(len(train), generator=generator)
        for b in engine.progress(range(steps_per_epoch), steps_per_epoch, f"epoch {epoch + 1}", cfg["progress"]):
            t0 = time.perf_counter()
            index = perm[b * cfg["batch_size"]:(b + 1) * cfg["batch_size"]]
            batch = objective.batch(train, index, generator)
            lr = engine.lr_at(step, total_steps, cfg["lr"], cfg["lr_schedule"], cfg["warmup_steps"],
                              cfg["lr_decay"], cfg["lr_decay_steps"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            outside += time.perf_counter() - t0
            loss, parts = objective(step_model, batch, generator)
            engine.optimizer_step(model, optimizer, loss, cfg["grad_clip"])
            step += 1
            if step % 100 == 0:  # reading the loss synchronises a GPU, so only now and then
                if not torch.isfinite(loss):
                    raise UserError(f"training diverged at step {step} (loss {loss.item()}); lower lr or check "
                                    f"the data")
                logger.scalar("train/loss", loss.item(), step)
                logger.scalar("train/lr", lr, step)
                for k, v in parts.items():
                    logger.scalar(f"train/loss_{k}", v.item(), step)
        history["train_seconds"] += time.perf_counter() - t_epoch
        history["outside_seconds"] += outside
        history["samples"] += min(len(train), steps_per_epoch * cfg["batch_size"])

        last_epoch = epoch + 1 == cfg["epochs"]
        if last_epoch or (epoch + 1) % cfg["test_every"] == 0:
            metrics, pred = evaluate(model, test, skeleton, cfg, device)
            history["curve"].append({"epoch": epoch + 1, "minutes": history["train_seconds"] / 60,
                                     "mpjpe": metrics["mpjpe"], "pa_mpjpe": metrics["pa_mpjpe"],
                                     "n_mpjpe": metrics["n_mpjpe"]})
            for k in ("mpjpe", "n_mpjpe", "pa_mpjpe"):
                logger.scalar(f"test/{k}", metrics[k], step)
            print(f"epoch {epoch + 1}/{cfg['epochs']}: MPJPE {metrics['mpjpe']:.1f} mm, "
                  f"N-MPJPE {metrics['n_mpjpe']:.1f}, PA-MPJPE {metrics['pa_mpjpe']:.1f} "
                  f"({history['train_seconds'] / 60:.1f} min)", flush=True)
            improved = history["best_metric"] is None or metrics[best_key] < history["best_metric"]
            if improved:
                history["best_metric"] = metrics[best_key]
                history["best"] = {"epoch": epoch + 1, "mpjpe": metrics["mpjpe"], "pa_mpjpe": metrics["pa_mpjpe"],
                                   "n_mpjpe": metrics["n_mpjpe"]}
        extra = {"config": cfg, "stats": stats.to_dict(), "history": history}
        engine.save_training_state(run_dir.last, model, optimizer, step, epoch + 1, generator, extra)
        if metrics is not None and history["best"] is not None and history["best"]["epoch"] == epoch + 1:
            engine.save_training_state(run_dir.best, model, optimizer, step, epoch + 1, generator, extra)
    logger.close()

    if metrics is None:  # resumed after the last epoch had already finished
        metrics, pred = evaluate(model, test, skeleton, cfg, device)
    seconds = history["train_seconds"]
    results = {**metrics,
               "train_seconds": seconds,
               "train_samples_per_s": history["samples"] / seconds if seconds else 0.0,
               "outside_step_fraction": history["outside_seconds"] / seconds if seconds else 0.0,
               "epochs_run": cfg["epochs"], "num_train_samples": len(train), "best": history["best"],
               "curve": history["curve"], "config": cfg}
    _finish(run_dir, results, cfg, test, pred)
    return results


def _finish(run_dir: engine.RunDir, results: dict[str, Any], cfg: dict[str, Any], test: SplitArrays,
            pred: np.ndarray) -> None:
    engine.write_results(run_dir, results, _results_markdown(results, cfg))
    if cfg["save_predictions"]:
        p = test.poses
        save_npz(run_dir.root / "predictions.npz", pred3d=pred, gt3d=test.joints3d_centred.numpy(),
                 pa_errors=pa_mpjpe_errors(pred, test.joints3d_centred.numpy()).astype(np.float32),
                 joints2d_px=p.joints2d_px, subject=p.subject, action=p.action, subaction=p.subaction,
                 camera=p.camera, frame=p.frame)
    if cfg["figure"] and len(pred):
        import matplotlib.pyplot as plt

        from lifting.viz import prediction_grid, save_figure

        rows = np.linspace(0, len(pred) - 1, 4).astype(int)
        errors = pa_mpjpe_errors(pred[rows], test.joints3d_centred.numpy()[rows]).mean(-1)
        fig = prediction_grid(test.poses.joints2d_px[rows], pred[rows], test.joints3d_centred.numpy()[rows],
                              cfg["skeleton"], titles=[f"PA-MPJPE {e:.0f} mm" for e in errors])
        save_figure(fig, run_dir.root / "figure.png", formats=("png",))
        plt.close(fig)


def _maybe_compile(model: torch.nn.Module, cfg: dict[str, Any]) -> torch.nn.Module:
    if not cfg["compile"]:
        return model
    try:
        compiled = torch.compile(model)
        probe = torch.zeros(2, 2 * model.in_joints, device=next(model.parameters()).device)
        model.eval()
        with torch.no_grad():
            compiled(probe)  # fails fast here if this platform cannot compile
        model.train()
        return compiled
    except Exception as e:  # no C++ compiler, unsupported platform ...
        print(f"warning: torch.compile failed ({e.__class__.__name__}); training eagerly", flush=True)
        return model
