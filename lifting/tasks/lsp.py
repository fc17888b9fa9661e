"""Task: relative-depth lifting on LSP (Ronchi et al.): train from scratch or fine-tune an H36M `lsp_14` run on
crowd depth-order labels, evaluated by pairwise depth-order accuracy on the LSP test images.

One training item is one annotated pair of one image (images with 5 pairs appear 5 times per epoch). Inputs
are neck-centred 2D poses z-scored with the statistics of the LSP training images, also for models loaded from
Human3.6M. A fine-tuned run continues the loaded run's optimiser state and step count (its LR position).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.checkpoint import load_trained
from lifting.config import validate
from lifting.datasets.lsp import RelativeDepthSet, load_relative_depth_json
from lifting.datasets.normalize import Stats
from lifting.engine import Dist, TrainPlan
from lifting.errors import UserError
from lifting.fileio import save_npz
from lifting.geometry.skeletons import LSP_14
from lifting.inference.lifter import predict
from lifting.losses import RelativeObjective
from lifting.metrics import pair_accuracy
from lifting.models.linear import build_lifter
from lifting.options import h36m as h36m_options
from lifting.tasks.common import reference_limbs


def scratch_lifter_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The network description (H36M lifting schema) of a relative lsp_14 model trained from scratch."""
    return validate(h36m_options.SCHEMA, {
        "skeleton": "lsp_14", "model": "relative", "linear_size": cfg["linear_size"], "num_stage": cfg["num_stage"],
        "dropout": cfg["dropout"], "unnorm_init": cfg["unnorm_init"], "scale_range": cfg["scale_range"]})


class LspTask:
    kind = "lifter"

    def __init__(self, cfg: dict[str, Any]):
        """`cfg` passed `lifting.options.lsp.SCHEMA` (its rules included)."""
        self.cfg, self.training = cfg, not cfg["eval_only"] and cfg["epochs"] > 0

    def setup(self, dist: Dist) -> TrainPlan:
        cfg, self.device = self.cfg, dist.device
        data = load_relative_depth_json(cfg["rel_depth_json"])
        self.train, self.test = data.split(train=True), data.split(train=False)
        if self.test.num_pairs == 0:
            raise UserError(f"{cfg['rel_depth_json']}: no annotated pairs on test images (is_train false)")
        if self.train.num_images == 0:
            raise UserError(f"{cfg['rel_depth_json']}: no training images (is_train true); they define the input "
                            "statistics")
        if cfg["amt_train_data"] < 1.0:
            rng = np.random.default_rng(cfg["seed"])
            keep = np.zeros(self.train.num_images, bool)
            n = max(1, int(self.train.num_images * cfg["amt_train_data"]))
            keep[rng.choice(self.train.num_images, n, replace=False)] = True
            self.train = self.train.subset(keep)
        if self.training and self.train.num_pairs == 0:
            raise UserError(f"{cfg['rel_depth_json']}: the training images have no annotated pairs")
        self.stats = Stats.compute(self.train.centred(), None)
        self.x_train = torch.from_numpy(self.stats.standardize_2d(self.train.centred()))
        self.x_test = torch.from_numpy(self.stats.standardize_2d(self.test.centred()))
        self.h36m_stats, loaded = None, None
        if cfg["load"]:
            loaded = load_trained(cfg["load"], "lifter")
            self.model, self.lifter_cfg, task = loaded.model, loaded.config, loaded.task
            if self.lifter_cfg["skeleton"] != "lsp_14":
                raise UserError(f"load: {cfg['load']} is a {self.lifter_cfg['skeleton']} model; LSP needs a 14-joint "
                                "model (train main_human36.py with skeleton=lsp_14)")
            # an LSP run keeps its H36M ancestor's statistics for later fine-tuning
            self.h36m_stats = task["h36m_stats"] if "rel_depth" in task else task["stats"]
        else:
            self.lifter_cfg = scratch_lifter_config(cfg)
            self.model = build_lifter(self.lifter_cfg)
        self.model.to(self.device).train(self.training)  # a loaded model comes in eval mode; `predict` evaluates
        keys = {"best_key": "pair_accuracy", "best_mode": "max", "curve_keys": ("pair_accuracy", "train_pair_accuracy")}
        if not self.training:
            return TrainPlan(self.model, 1, 0, train=False, **keys)
        avg = None if self.h36m_stats is None else np.asarray(self.h36m_stats["avg_limb_lengths"])
        ref = reference_limbs(cfg["limb_type"], LSP_14, avg) if cfg["loss_symm"] > 0 else None
        self.objective = RelativeObjective(LSP_14, {k: cfg[f"loss_{k}"] for k in ("relative", "reproj", "root", "symm")},
                                           cfg["distance_multiplier"], "scaled_orthographic", ref, self.device)
        resumed = loaded is not None and loaded.checkpoint.get("optimizer") is not None
        return TrainPlan(self.model, max(1, self.train.num_pairs // cfg["batch_size"]), cfg["batch_size"],
                         start_step=int(loaded.checkpoint.get("step", 0)) if resumed else 0,
                         optimizer_state=loaded.checkpoint["optimizer"] if resumed else None, **keys)

    def batches(self, epoch: int, start: int, generator: torch.Generator):
        perm = torch.randperm(self.train.num_pairs, generator=generator)
        centred = torch.from_numpy(self.train.centred())
        image, pairs, labels = (torch.from_numpy(a) for a in (self.train.ann_image, self.train.ann_pairs,
                                                               self.train.ann_labels))
        bs = self.cfg["batch_size"]
        for b in range(start, max(1, self.train.num_pairs // bs)):
            idx = perm[b * bs:(b + 1) * bs]
            img = image[idx]
            yield {k: v.to(self.device) for k, v in {"x": self.x_train[img], "joints2d": centred[img],
                                                     "pairs": pairs[idx], "labels": labels[idx]}.items()}

    def loss(self, net: torch.nn.Module, batch: dict[str, torch.Tensor], step: int):
        pose, scale = net(batch["x"])
        return self.objective(pose, scale, batch["pairs"][:, 0], batch["pairs"][:, 1], batch["labels"],
                              batch["joints2d"])

    def _accuracy(self, data: RelativeDepthSet, x: torch.Tensor) -> tuple[float, np.ndarray]:
        pred = predict(self.model, x, self.cfg["eval_batch_size"], self.device)
        if data.num_pairs == 0:
            return float("nan"), pred
        return pair_accuracy(pred[data.ann_image, :, 2], data.ann_pairs, data.ann_labels), pred

    def evaluate(self, final: bool) -> dict[str, Any]:
        acc, self.pred = self._accuracy(self.test, self.x_test)
        train_acc, _ = self._accuracy(self.train, self.x_train)
        return {"pair_accuracy": acc, "pair_error": 1.0 - acc, "train_pair_accuracy": train_acc,
                "num_test_images": self.test.num_images, "num_test_pairs": self.test.num_pairs,
                "num_train_images": self.train.num_images, "num_train_pairs": self.train.num_pairs}

    def state(self) -> dict[str, Any]:
        return {"stats": self.stats.to_dict(), "lifter_config": self.lifter_cfg, "h36m_stats": self.h36m_stats,
                "rel_depth": self.cfg["rel_depth_json"]}

    def load_state(self, state: dict[str, Any]) -> None:
        pass

    def artefacts(self, out_dir: Path) -> None:
        """predictions.npz of the last evaluation (`save_predictions`), with whether each annotated pair is right."""
        if self.cfg["save_predictions"]:
            t, rows = self.test, self.test.ann_image
            correct = np.where(self.pred[rows, t.ann_pairs[:, 0], 2] < self.pred[rows, t.ann_pairs[:, 1], 2],
                               -1.0, 1.0) == t.ann_labels
            save_npz(out_dir / "predictions.npz", pred3d=self.pred, joints2d_px=t.joints2d_px,
                     image_file=t.image_files, occluded=t.occluded, ann_image=t.ann_image, ann_pairs=t.ann_pairs,
                     ann_labels=t.ann_labels, ann_correct=correct)

    def report(self, res: dict[str, Any]) -> tuple[dict[str, Any], str]:
        best = res["best"] or {"pair_accuracy": res["pair_accuracy"], "epoch": 0}
        extra = {"best_pair_accuracy": best["pair_accuracy"], "best_epoch": best["epoch"],
                 "loaded_from": self.cfg["load"]}
        res = {**res, **extra}
        return extra, "\n".join([
            "# LSP relative depth", "", "Depth-order accuracy over annotated test pairs (per annotation).", "",
            "| metric | value |", "|---|---|",
            f"| test pair accuracy (last epoch) | {100 * res['pair_accuracy']:.1f} % |",
            f"| best test pair accuracy | {100 * res['best_pair_accuracy']:.1f} % (epoch {res['best_epoch']}) |",
            f"| train pair accuracy | {100 * res['train_pair_accuracy']:.1f} % |",
            f"| test images / pairs | {res['num_test_images']} / {res['num_test_pairs']} |",
            f"| training time | {res['train_seconds'] / 60:.1f} min |", ""])
