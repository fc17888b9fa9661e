"""Relative-depth lifting on LSP (Ronchi et al.): train from scratch or fine-tune an H36M `lsp_14` run on
crowd depth-order labels, and evaluate by pairwise depth-order accuracy on the LSP test images.

One training item is one annotated pair of one image (images with 5 pairs appear 5 times per
epoch). Inputs are neck-centred 2D poses z-scored with the statistics of the LSP training images,
also for models loaded from Human3.6M. The objective is the relative model's: ranking loss on the
annotated pair + scaled-orthographic reprojection + root (neck) + limb proportions.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting.checkpoint import load_checkpoint
from lifting.config import validate
from lifting.datasets.lsp import RelativeDepthSet, load_relative_depth_json
from lifting.datasets.normalize import Stats
from lifting.engine import core as engine
from lifting.errors import UserError
from lifting.fileio import save_npz
from lifting.geometry.skeletons import LSP_14
from lifting.losses import limb_ratio_loss, relative_depth_loss, root_loss, scaled_orthographic_reprojection_loss
from lifting.metrics import pair_accuracy
from lifting.models.linear import LinearModel
from lifting.options import h36m as h36m_options
from lifting.tasks.lifting import build_model, predict

_RESUME_FREE_KEYS = {"epochs", "progress", "tensorboard", "num_threads", "save_predictions", "device"}


def scratch_lifter_config(cfg: dict[str, Any]) -> dict[str, Any]:
    """The network description (H36M lifting schema) of a relative lsp_14 model trained from scratch."""
    return validate(h36m_options.SCHEMA, {
        "skeleton": "lsp_14", "model": "relative", "linear_size": cfg["linear_size"], "num_stage": cfg["num_stage"],
        "dropout": cfg["dropout"], "unnorm_init": cfg["unnorm_init"], "scale_range": cfg["scale_range"]})


def load_lsp_lifter(path: str | Path) -> tuple[LinearModel, dict[str, Any], dict[str, Any]]:
    """A 14-joint lifter from an LSP run or an H36M `lsp_14` run: (model, lifter config, checkpoint).

    The checkpoint dict holds `model`, `optimizer`, `step` and `extra` (config, stats, ...).

    A directory resolves to its last.pt (the run's final weights), else best.pt.
    """
    path = Path(path)
    if path.is_dir() and (path / "last.pt").is_file():
        path = path / "last.pt"
    state = load_checkpoint(path)
    extra = state.get("extra", {}) if isinstance(state, dict) else {}
    if "lifter_config" in extra:
        lifter_cfg = validate(h36m_options.SCHEMA, extra["lifter_config"], f"{path} lifter_config")
    elif "config" in extra and "stats" in extra:
        lifter_cfg = validate(h36m_options.SCHEMA, extra["config"], f"{path} config")
    else:
        raise UserError(f"{path}: not a lifting checkpoint (lacks its config)")
    if lifter_cfg["skeleton"] != "lsp_14":
        raise UserError(f"load: {path} is a {lifter_cfg['skeleton']} model; LSP needs a 14-joint model "
                        "(train main_human36.py with skeleton=lsp_14)")
    model = build_model(lifter_cfg)
    try:
        model.load_state_dict(state["model"])
    except (KeyError, RuntimeError) as e:
        raise UserError(f"{path}: checkpoint does not fit its own config ({str(e).splitlines()[0][:120]})") from None
    return model, lifter_cfg, state


def _h36m_stats(loaded_extra: dict[str, Any] | None) -> dict | None:
    """The Human3.6M statistics a loaded checkpoint carries: its own for an H36M run, the ones kept from its
    H36M ancestor for an LSP run (marked by `lifter_config`), none for an LSP run trained from scratch."""
    extra = loaded_extra or {}
    return extra.get("h36m_stats") if "lifter_config" in extra else extra.get("stats")


def _reference_limbs(cfg: dict[str, Any], loaded_extra: dict[str, Any] | None) -> np.ndarray:
    if cfg["limb_type"] == "avg_person":
        return np.asarray(LSP_14.avg_person_limb_lengths, dtype=np.float64)
    stats = _h36m_stats(loaded_extra)
    if stats is None or len(stats.get("avg_limb_lengths", [])) != len(LSP_14.limbs):
        raise UserError("limb_type: 'avg_human36' needs `load` = an H36M lsp_14 run (its average limb lengths); "
                        "use avg_person to train from scratch")
    return np.asarray(stats["avg_limb_lengths"], dtype=np.float64)


def depth_accuracy(model: torch.nn.Module, data: RelativeDepthSet, x: torch.Tensor, batch_size: int,
                   device: torch.device) -> tuple[float, np.ndarray]:
    """Fraction of annotated pairs whose depth order the model gets right (per annotation), and the
    predicted (M, 14, 3) poses of the images."""
    pred = predict(model, x, batch_size, device)
    if data.num_pairs == 0:
        return float("nan"), pred
    return pair_accuracy(pred[data.ann_image, :, 2], data.ann_pairs, data.ann_labels), pred


def _results_markdown(res: dict[str, Any]) -> str:
    return "\n".join([
        "# LSP relative depth", "",
        "Depth-order accuracy over annotated test pairs (per annotation).", "",
        "| metric | value |", "|---|---|",
        f"| test pair accuracy (last epoch) | {100 * res['pair_accuracy']:.1f} % |",
        f"| best test pair accuracy | {100 * res['best_pair_accuracy']:.1f} % (epoch {res['best_epoch']}) |",
        f"| train pair accuracy | {100 * res['train_pair_accuracy']:.1f} % |",
        f"| test images / pairs | {res['num_test_images']} / {res['num_test_pairs']} |",
        f"| training time | {res['train_seconds'] / 60:.1f} min |", ""])


def run(cfg: dict[str, Any], resume: bool = False) -> dict[str, Any]:
    """Train (unless eval_only) and evaluate on LSP; writes checkpoints, results.json, predictions.npz."""
    if cfg["num_threads"]:
        torch.set_num_threads(cfg["num_threads"])
    if cfg["eval_only"] and not cfg["load"]:
        raise UserError("eval_only: needs `load` (an H36M lsp_14 run or an LSP run to evaluate)")
    device = engine.select_device(cfg["device"])
    data = load_relative_depth_json(cfg["rel_depth_json"])
    train_set, test_set = data.split(train=True), data.split(train=False)
    if test_set.num_pairs == 0:
        raise UserError(f"{cfg['rel_depth_json']}: no annotated pairs on test images (is_train false)")
    if train_set.num_images == 0:
        raise UserError(f"{cfg['rel_depth_json']}: no training images (is_train true); they define the input statistics")
    generator = engine.seed_everything(cfg["seed"])
    rng = np.random.default_rng(cfg["seed"])
    if cfg["amt_train_data"] < 1.0:
        n = max(1, int(train_set.num_images * cfg["amt_train_data"]))
        keep = np.zeros(train_set.num_images, bool)
        keep[rng.choice(train_set.num_images, n, replace=False)] = True
        train_set = train_set.subset(keep)
    run_dir = engine.prepare_run(cfg["out_dir"], cfg, resume)

    stats = Stats.compute(train_set.centred(), None)
    x_train = torch.from_numpy(stats.standardize_2d(train_set.centred()))
    x_test = torch.from_numpy(stats.standardize_2d(test_set.centred()))
    loaded_extra = None
    if cfg["load"]:
        model, lifter_cfg, loaded_state = load_lsp_lifter(cfg["load"])
        loaded_extra = loaded_state.get("extra", {})
    else:
        lifter_cfg = scratch_lifter_config(cfg)
        model, loaded_state = build_model(lifter_cfg), None
    model.to(device)
    training = not cfg["eval_only"] and cfg["epochs"] > 0
    ref_limbs = _reference_limbs(cfg, loaded_extra) if training and cfg["loss_symm"] > 0 else None

    optimizer = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    step, start_epoch = 0, 0
    if loaded_state is not None and training and loaded_state.get("optimizer") is not None:
        # Fine-tuning continues the loaded run's optimiser state and step count (its lr schedule position).
        optimizer.load_state_dict(loaded_state["optimizer"])
        step = int(loaded_state.get("step", 0))
    history: dict[str, Any] = {"curve": [], "train_seconds": 0.0, "samples": 0, "best_accuracy": None,
                               "best_epoch": 0, "start_step": step}
    if resume:
        step, start_epoch, extra = engine.load_training_state(run_dir.last, model, optimizer, generator)
        diff = sorted(k for k in cfg if k not in _RESUME_FREE_KEYS and extra.get("config", {}).get(k) != cfg[k])
        if diff:
            raise UserError(f"--resume: config differs from the run in out_dir in {', '.join(diff)}; "
                            "use the same options or a new out_dir")
        history = extra["history"]

    logger = engine.Logger(run_dir, cfg["tensorboard"] and training)
    limbs = torch.tensor(LSP_14.limbs, dtype=torch.long, device=device)
    valid = torch.ones(len(LSP_14.limbs), dtype=torch.bool)
    valid[list(LSP_14.masked_limbs)] = False
    valid = valid.to(device)
    ref = None if ref_limbs is None else torch.tensor(ref_limbs, dtype=torch.float32, device=device)
    centred_train = torch.from_numpy(train_set.centred())
    ann_image = torch.from_numpy(train_set.ann_image)
    ann_pairs = torch.from_numpy(train_set.ann_pairs)
    ann_labels = torch.from_numpy(train_set.ann_labels)
    num_items = train_set.num_pairs
    if training and num_items == 0:
        raise UserError(f"{cfg['rel_depth_json']}: the training images have no annotated pairs")
    steps_per_epoch = max(1, num_items // cfg["batch_size"]) if training else 0
    epochs = cfg["epochs"] if training else 0
    extra_base = {"config": cfg, "lifter_config": lifter_cfg, "stats": stats.to_dict()}
    if _h36m_stats(loaded_extra) is not None:  # kept (avg limb lengths) for later fine-tuning
        extra_base["h36m_stats"] = _h36m_stats(loaded_extra)

    for epoch in range(start_epoch, epochs):
        model.train()
        t0 = time.perf_counter()
        perm = torch.randperm(num_items, generator=generator)
        for b in engine.progress(range(steps_per_epoch), steps_per_epoch, f"epoch {epoch + 1}", cfg["progress"]):
            idx = perm[b * cfg["batch_size"]:(b + 1) * cfg["batch_size"]]
            img = ann_image[idx]
            x, x2d = x_train[img].to(device), centred_train[img].to(device)
            pairs, labels = ann_pairs[idx].to(device), ann_labels[idx].to(device)
            lr = engine.lr_at(step, 0, cfg["lr"], "staircase", 0, cfg["lr_decay"], cfg["lr_decay_steps"])
            for group in optimizer.param_groups:
                group["lr"] = lr
            pose, scale = model(x)
            rows = torch.arange(len(pose), device=device)
            parts = {"relative": relative_depth_loss(pose[rows, pairs[:, 0], 2], pose[rows, pairs[:, 1], 2],
                                                     labels, cfg["distance_multiplier"]),
                     "reproj": scaled_orthographic_reprojection_loss(pose, scale, x2d),
                     "root": root_loss(pose, LSP_14.root)}
            if ref is not None:
                parts["symm"] = limb_ratio_loss(pose, limbs, ref, LSP_14.unit_limb, valid)
            weights = {"relative": cfg["loss_relative"], "reproj": cfg["loss_reproj"], "root": cfg["loss_root"],
                       "symm": cfg["loss_symm"]}
            loss = sum(weights[k] * v for k, v in parts.items())
            engine.optimizer_step(model, optimizer, loss, cfg["grad_clip"])
            step += 1
            if not torch.isfinite(loss):
                raise UserError(f"training diverged at step {step} (loss {loss.item()}); lower lr or check the labels")
            if step % 10 == 0:
                logger.scalar("train/loss", loss.item(), step)
                for k, v in parts.items():
                    logger.scalar(f"train/loss_{k}", v.item(), step)
        history["train_seconds"] += time.perf_counter() - t0
        history["samples"] += steps_per_epoch * cfg["batch_size"]
        acc, _ = depth_accuracy(model, test_set, x_test, cfg["eval_batch_size"], device)
        train_acc, _ = depth_accuracy(model, train_set, x_train, cfg["eval_batch_size"], device)
        history["curve"].append({"epoch": epoch + 1, "minutes": history["train_seconds"] / 60,
                                 "pair_accuracy": acc, "train_pair_accuracy": train_acc, "loss": loss.item()})
        logger.scalar("test/pair_accuracy", acc, step)
        logger.scalar("train/pair_accuracy", train_acc, step)
        print(f"epoch {epoch + 1}/{epochs}: test pair accuracy {100 * acc:.1f} %, train {100 * train_acc:.1f} % "
              f"({history['train_seconds'] / 60:.1f} min)", flush=True)
        improved = history["best_accuracy"] is None or acc > history["best_accuracy"]
        if improved:
            history["best_accuracy"], history["best_epoch"] = acc, epoch + 1
        extra = {**extra_base, "history": history}
        engine.save_training_state(run_dir.last, model, optimizer, step, epoch + 1, generator, extra)
        if improved:
            engine.save_training_state(run_dir.best, model, optimizer, step, epoch + 1, generator, extra)
    logger.close()

    acc, pred = depth_accuracy(model, test_set, x_test, cfg["eval_batch_size"], device)
    train_acc, _ = depth_accuracy(model, train_set, x_train, cfg["eval_batch_size"], device)
    if not training:
        engine.save_training_state(run_dir.last, model, None, step, 0, generator, {**extra_base, "history": history})
    seconds = history["train_seconds"]
    best = history["best_accuracy"] if history["best_accuracy"] is not None else acc
    results = {"pair_accuracy": acc, "pair_error": 1.0 - acc, "best_pair_accuracy": best,
               "best_epoch": history["best_epoch"], "train_pair_accuracy": train_acc,
               "num_test_images": test_set.num_images, "num_test_pairs": test_set.num_pairs,
               "num_train_images": train_set.num_images, "num_train_pairs": train_set.num_pairs,
               "epochs_run": epochs, "train_seconds": seconds,
               "train_samples_per_s": history["samples"] / seconds if seconds else 0.0,
               "curve": history["curve"], "loaded_from": cfg["load"], "config": cfg}
    engine.write_results(run_dir, results, _results_markdown(results))
    if cfg["save_predictions"]:
        rows = test_set.ann_image
        correct = np.where(pred[rows, test_set.ann_pairs[:, 0], 2] < pred[rows, test_set.ann_pairs[:, 1], 2],
                           -1.0, 1.0) == test_set.ann_labels
        save_npz(run_dir.root / "predictions.npz", pred3d=pred, joints2d_px=test_set.joints2d_px,
                 image_file=test_set.image_files, occluded=test_set.occluded, ann_image=test_set.ann_image,
                 ann_pairs=test_set.ann_pairs, ann_labels=test_set.ann_labels, ann_correct=correct)
    return results
