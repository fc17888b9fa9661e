"""Task: the 2D-to-3D lifters on Human3.6M-layout data, 3D-supervised (Martinez et al.) or trained from
depth-order pairs (Ronchi et al.). The whole split lives in memory as tensors and batches are index gathers,
so the input pipeline never stalls the model step."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.optim.swa_utils import AveragedModel

from lifting.checkpoint import load_trained, load_weights
from lifting.datasets.h36m import load_h36m
from lifting.datasets.lifting_split import SplitArrays, centre, make_split, noisy_2d
from lifting.datasets.noise import detector_like
from lifting.datasets.normalize import Stats
from lifting.datasets.pairs import PairSampler
from lifting.datasets.samples import PoseSet, replace_2d_from_predictions, replace_3d_from_predictions
from lifting.datasets.videopose3d import load_npz_detections, load_videopose3d
from lifting.engine import Dist, TrainPlan
from lifting.errors import UserError
from lifting.fileio import save_npz
from lifting.geometry.skeletons import get_skeleton, mirror
from lifting.inference.lifter import predict, predict_flip_averaged
from lifting.losses import RelativeObjective, mpjpe_loss, supervised_loss
from lifting.metrics import evaluate_poses, pa_mpjpe_errors
from lifting.models.linear import build_lifter, input_skeleton
from lifting.synth.poses import pose_data_dir
from lifting.tasks.common import reference_limbs
from lifting.viz import save_prediction_figure


def load_split(cfg: dict[str, Any], train: bool) -> PoseSet:
    data_dir = cfg["data_dir"] if train or not cfg["test_data_dir"] else cfg["test_data_dir"]
    if cfg["data_format"] == "videopose3d":
        load, source = load_videopose3d, data_dir
    else:
        load, source = load_h36m, pose_data_dir(data_dir, cfg["cache_dir"], cfg["synthetic_size"])
    poses = load(source, subjects=cfg["train_subjects"] if train else cfg["test_subjects"], actions=cfg["actions"],
                 stride=cfg["stride"] if train else cfg["test_stride"], skeleton=cfg["skeleton"],
                 cameras=tuple(cfg["cameras"]), cache_dir=Path(cfg["cache_dir"]) / "h36m")
    if cfg["train_noise_type" if train else "test_noise_type"] == "npz_detections":
        if not cfg["detections_file"]:
            raise UserError("noise type 'npz_detections' needs detections_file (a VideoPose3D positions_2d .npz)")
        poses = poses.with_joints2d(load_npz_detections(cfg["detections_file"], poses))
    return poses


def debiased_ema(decay: float):
    """`AveragedModel`'s update for an exponential moving average with Adam's bias correction: after n + 1 steps
    the average weights step s by decay^(n - s) over their sum, so a slow decay (a long window) does not keep a
    large share of the first step's weights as torch's plain EMA does. The step's weight stays a tensor on the
    model's device (no host sync per step). Integer buffers take the model's value."""
    @torch.no_grad()
    def update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged: torch.Tensor) -> None:
        if not averaged[0].is_floating_point():
            for a, c in zip(averaged, current):
                a.copy_(c)
            return
        d = torch.tensor(decay, dtype=torch.float64, device=n_averaged.device)
        weight = ((1 - d) / (1 - d ** (n_averaged + 1))).to(averaged[0].dtype)
        step = torch._foreach_sub(current, averaged)
        torch._foreach_mul_(step, weight)
        torch._foreach_add_(averaged, step)
    return update


class LiftingTask:
    kind = "lifter"

    def __init__(self, cfg: dict[str, Any]):
        """`cfg` passed `lifting.options.h36m.SCHEMA` (its rules included)."""
        self.cfg, self.skeleton, self.lifter_cfg = cfg, get_skeleton(cfg["skeleton"]), cfg
        self.flip_perm = torch.tensor(self.skeleton.flip_perm)   # joint index -> its mirror's, for pair labels
        self.train: SplitArrays | None = None
        self.perm_state = self.averaged = self.drawn_epoch = None

    def setup(self, dist: Dist) -> TrainPlan:
        """Noise -> root-centring -> training statistics -> standardisation (the test split uses the training
        statistics); then the network (and its weight average)."""
        cfg, self.device = self.cfg, dist.device
        rng = np.random.default_rng(cfg["seed"])
        test_poses = load_split(cfg, train=False)
        gt_test2d = test_poses.joints2d_px
        if cfg["predictions_2d"]:
            test_poses = replace_2d_from_predictions(test_poses, cfg["predictions_2d"])
        test2d = noisy_2d(test_poses, cfg["test_noise_type"], cfg["test_noise_amount"], cfg["detections_dir"], rng)
        self.test_2d = {"input2d_px": test2d, "gt2d_px": gt_test2d}
        test2d_c, test3d_c = centre(test_poses, test2d, input_skeleton(cfg))
        if cfg["eval_only"]:
            loaded = load_trained(cfg["load"], "lifter")
            self.model, self.stats, self.lifter_cfg = loaded.model, Stats.from_dict(loaded.task["stats"]), loaded.config
            self.model.to(self.device)
            self.test = make_split(test_poses, test2d_c, test3d_c, self.stats, cfg["in_dropout_p"], rng,
                                   self._mirrored("flip_test"))
            return TrainPlan(self.model, 1, 0, train=False)
        train_poses = load_split(cfg, train=True)
        if cfg["amt_train_data"] < 1.0:
            n = int(len(train_poses) * cfg["amt_train_data"])
            train_poses = train_poses.subset(np.sort(rng.choice(len(train_poses), n, replace=False)))
        if len(train_poses) < 2:
            raise UserError(f"training split has {len(train_poses)} samples; need at least 2 "
                            "(check train_subjects, actions, amt_train_data)")
        gt_train2d, label_poses = train_poses.joints2d_px, train_poses
        if cfg["train_predictions_2d"]:
            train_poses = replace_2d_from_predictions(train_poses, cfg["train_predictions_2d"])
            if "predictions" in (cfg["train_targets_3d"], cfg["pair_labels_from"]):
                estimated = replace_3d_from_predictions(train_poses, cfg["train_predictions_2d"])
                train_poses = estimated if cfg["train_targets_3d"] == "predictions" else train_poses
                label_poses = estimated if cfg["pair_labels_from"] == "predictions" else label_poses
        train2d = self._train_2d(train_poses, rng)
        self.train_input2d_error = float(np.linalg.norm(train2d - gt_train2d, axis=-1).mean())
        train2d_c, train3d_c = centre(train_poses, train2d, input_skeleton(cfg))
        self.stats = Stats.compute(train2d_c, train3d_c, self.skeleton.limb_lengths(train3d_c))
        self.train = make_split(train_poses, train2d_c, train3d_c, self.stats, cfg["in_dropout_p"], rng,
                                self._mirrored("flip_augment"))
        self.test = make_split(test_poses, test2d_c, test3d_c, self.stats, cfg["in_dropout_p"], rng,
                               self._mirrored("flip_test"))

        self.model = build_lifter(cfg)
        if cfg["load"]:
            loaded = load_trained(cfg["load"], "lifter")
            load_weights(self.model, loaded.model.state_dict(), loaded.path)
        if cfg["model"] == "supervised":
            self.model.set_output_stats(torch.tensor(self.stats.mean3d), torch.tensor(self.stats.std3d))
        self.model.to(self.device)
        self.std3d = torch.tensor(self.stats.std3d, dtype=torch.float32, device=self.device)
        self.pairs = self.objective = None
        if cfg["model"] == "relative":
            label_depth = centre(label_poses, label_poses.joints2d_px, input_skeleton(cfg))[1][..., 2]
            self.pairs = PairSampler(label_depth, cfg["num_pairs"], cfg["rel_labels_noise_prob"], cfg["tolerance_mm"],
                                     rng)
            self.objective = RelativeObjective(
                self.skeleton, {k: cfg[f"loss_{k}"] for k in ("relative", "reproj", "root", "symm")},
                cfg["distance_multiplier"], cfg["reprojection"], reference_limbs(
                    cfg["limb_type"], self.skeleton, self.stats.avg_limb_lengths), self.device)
        if cfg["weight_average"] is not None:
            self.averaged = AveragedModel(self.model, multi_avg_fn=debiased_ema(cfg["weight_average"]),
                                          use_buffers=True)
        return TrainPlan(self.model, len(self.train) // cfg["batch_size"] or 1, cfg["batch_size"],
                         optimizer="adam_fused", example_input=(torch.zeros(2, 2 * self.model.in_joints,
                                                                            device=self.device),),
                         step_hook=None if self.averaged is None else lambda: self.averaged.update_parameters(
                             self.model),
                         best_key="mpjpe" if cfg["model"] == "supervised" else "pa_mpjpe",
                         curve_keys=("mpjpe", "n_mpjpe", "pa_mpjpe"))

    def _train_2d(self, poses: PoseSet, rng: np.random.Generator) -> np.ndarray:
        """(N, J, 2) px training inputs: the noise model, then the detector-like corruption (missing keypoints,
        COCO-17 share) where configured; the `train_clean_p` share of poses keeps its exact 2D, COCO-17 conversion
        aside (a perfect detector's COCO output)."""
        cfg = self.cfg
        joints2d = noisy_2d(poses, cfg["train_noise_type"], cfg["train_noise_amount"], cfg["detections_dir"], rng)
        clean = np.zeros(len(joints2d), bool)
        if cfg["train_clean_p"]:
            clean = rng.random(len(joints2d)) < cfg["train_clean_p"]
        joints2d[clean] = poses.joints2d_px[clean]
        if cfg["train_missing_joints"] or cfg["train_coco17_p"]:
            for rows, missing in ((~clean, cfg["train_missing_joints"]), (clean, 0)):
                if rows.any():
                    joints2d[rows] = detector_like(joints2d[rows], missing, cfg["train_coco17_p"], rng)
        return joints2d

    def _redraw(self, epoch: int) -> None:
        """`train_redraw`: the epoch's inputs from a generator seeded by (seed, epoch), so a resumed run redraws them
        identically; the standardisation statistics stay those of the first draw."""
        cfg, poses = self.cfg, self.train.poses
        rng = np.random.default_rng([cfg["seed"], epoch])
        train2d_c, train3d_c = centre(poses, self._train_2d(poses, rng), input_skeleton(cfg))
        self.train = make_split(poses, train2d_c, train3d_c, self.stats, cfg["in_dropout_p"], rng,
                                self._mirrored("flip_augment"))
        self.drawn_epoch = epoch

    def _mirrored(self, key: str) -> str | None:
        """The input joint set to mirror inputs in when `key` (flip_augment / flip_test) is on."""
        return input_skeleton(self.cfg) if self.cfg[key] else None

    def batches(self, epoch: int, start: int, generator: torch.Generator):
        """Shuffled index gathers; the generator state at the epoch's start is kept, so a resumed run draws the
        same permutation mid-epoch while its pair draws continue from the checkpointed state."""
        if self.cfg["train_redraw"] and epoch != self.drawn_epoch:
            self._redraw(epoch)
        if start == 0:
            self.perm_state = generator.get_state()
            perm = torch.randperm(len(self.train), generator=generator)
        else:
            perm = torch.randperm(len(self.train), generator=torch.Generator().set_state(self.perm_state))
        bs, data = self.cfg["batch_size"], self.train
        for b in range(start, len(self.train) // bs or 1):
            index = perm[b * bs:(b + 1) * bs]
            out = {"x": data.x[index], "joints3d": data.joints3d_centred[index]}
            if self.pairs is not None:
                out["joints2d"], out["focal"] = data.joints2d_centred[index], data.focal[index]
                out["pair_i"], out["pair_j"], out["pair_label"] = self.pairs.sample(index, generator,
                                                                                     self.cfg["pairs_per_step"])
            if self.cfg["flip_augment"]:
                self._flip(out, data, index, torch.rand(len(index), generator=generator) < 0.5)
            yield {k: v.to(self.device, non_blocking=True) for k, v in out.items()}

    def _flip(self, out: dict[str, torch.Tensor], data: SplitArrays, index: torch.Tensor, flip: torch.Tensor) -> None:
        """Replace the samples where `flip` by their mirror images (inputs, 3D targets, 2D, pair joints)."""
        out["x"] = torch.where(flip[:, None], data.x_mirrored[index], out["x"])
        out["joints3d"] = torch.where(flip[:, None, None], mirror(out["joints3d"], self.skeleton), out["joints3d"])
        if "joints2d" in out:
            out["joints2d"] = torch.where(flip[:, None, None], mirror(out["joints2d"], input_skeleton(self.cfg)),
                                          out["joints2d"])
            pair_flip = flip.reshape(-1, *[1] * (out["pair_i"].dim() - 1))
            for k in ("pair_i", "pair_j"):
                out[k] = torch.where(pair_flip, self.flip_perm[out[k]], out[k])

    def loss(self, net: torch.nn.Module, batch: dict[str, torch.Tensor], step: int):
        return self.loss_of(*net(batch["x"]), batch)

    def loss_of(self, pose: torch.Tensor, scale: torch.Tensor, batch: dict[str, torch.Tensor]):
        """(loss, parts) of the network's output: pose (B, J, 3) mm, scale (B,)."""
        if self.objective is None:
            if self.cfg["sup_loss"] == "mpjpe":
                loss = mpjpe_loss(pose, batch["joints3d"])
            else:
                loss = supervised_loss(pose, batch["joints3d"], self.std3d if self.cfg["sup_loss"] == "standardized"
                                       else None)
            return loss, {"sup": loss.detach()}
        return self.objective(pose, scale, batch["pair_i"], batch["pair_j"], batch["pair_label"], batch["joints2d"],
                              batch["focal"], batch["joints3d"])

    def evaluate(self, final: bool) -> dict[str, Any]:
        bs, test = self.cfg["eval_batch_size"], self.test
        model = self.model if self.averaged is None else self.averaged.module
        self.pred = predict_flip_averaged(model, test.x, test.x_mirrored, self.cfg["skeleton"], bs, self.device) \
            if self.cfg["flip_test"] else predict(model, test.x, bs, self.device)
        return evaluate_poses(self.pred, self.test.joints3d_centred.numpy(), self.test.poses.action,
                              root=self.skeleton.root)

    def state(self) -> dict[str, Any]:
        """`averaged_model`: the weight average, which `load_trained` loads instead of the trained weights."""
        out = {"stats": self.stats.to_dict(), "lifter_config": self.lifter_cfg, "perm_state": self.perm_state}
        if self.averaged is not None:
            out["averaged_model"] = self.averaged.module.state_dict()
            out["averaged_steps"] = self.averaged.n_averaged.clone()
        return out

    def load_state(self, state: dict[str, Any]) -> None:
        self.perm_state = state["perm_state"]
        if self.averaged is not None:
            self.averaged.module.load_state_dict(state["averaged_model"])
            self.averaged.n_averaged.copy_(state["averaged_steps"])

    def artefacts(self, out_dir: Path) -> None:
        """predictions.npz (`save_predictions`) and figure.png (`figure`) of the last evaluation."""
        cfg, test = self.cfg, self.test
        if cfg["save_predictions"]:
            p, gt = test.poses, test.joints3d_centred.numpy()
            save_npz(out_dir / "predictions.npz", pred3d=self.pred, gt3d=gt,
                     pa_errors=pa_mpjpe_errors(self.pred, gt).astype(np.float32), joints2d_px=p.joints2d_px,
                     subject=p.subject, action=p.action, subaction=p.subaction, camera=p.camera, frame=p.frame,
                     **self.test_2d)
        if cfg["figure"] and len(self.pred):
            save_prediction_figure(out_dir / "figure.png", test.poses.joints2d_px, self.pred,
                                   test.joints3d_centred.numpy(), cfg["skeleton"])

    def report(self, res: dict[str, Any]) -> tuple[dict[str, Any], str]:
        cfg = self.cfg
        extra = {"num_train_samples": len(self.train) if self.train is not None else 0,
                 # How far the 2D the lifter saw (after predictions and noise) is from the GT 2D, mean px over joints.
                 "input2d_error_px": float(np.linalg.norm(self.test_2d["input2d_px"] - self.test_2d["gt2d_px"],
                                                          axis=-1).mean())}
        if self.train is not None:
            extra["train_input2d_error_px"] = self.train_input2d_error
        lines = [f"# {cfg['model']} lifter, {cfg['skeleton']}, test subjects {cfg['test_subjects']}", "",
                 f"Errors in mm over {res['num_joints']} joints incl. the root; headline = mean of per-action means.",
                 "", "| metric | action-wise | frame-wise |", "|---|---|---|"]
        lines += [f"| {k.upper().replace('_', '-')} | {res[k]:.1f} | {res[k + '_framewise']:.1f} |"
                  for k in ("mpjpe", "n_mpjpe", "pa_mpjpe")]
        lines += ["", f"3DPCK@150mm {res['pck150']:.1f} %, AUC {res['auc']:.1f} % (over the "
                  f"{res['pck_num_joints']} non-root joints), depth order of joint pairs "
                  f"{100 * res['depth_order_accuracy']:.1f} % right, {res['num_test_frames']} test frames, "
                  f"{res['epochs_run']} epochs in {res['train_seconds'] / 60:.1f} min "
                  f"({res['train_samples_per_s']:.0f} samples/s).", "",
                  "| action | MPJPE | N-MPJPE | PA-MPJPE | frames |", "|---|---|---|---|---|"]
        lines += [f"| {a} | {v['mpjpe']:.1f} | {v['n_mpjpe']:.1f} | {v['pa_mpjpe']:.1f} | {v['num_frames']} |"
                  for a, v in res.get("per_action", {}).items()]
        return extra, "\n".join(lines) + "\n"
