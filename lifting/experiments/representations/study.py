"""The study's stages in order (the package docstring); each is skipped when its output exists."""

from __future__ import annotations

import argparse
import contextlib
import logging
import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting import fileio
from lifting.cli import run_cli
from lifting.datasets.samples import PoseSet
from lifting.engine.launchers import Launcher
from lifting.errors import UserError
from lifting.experiments import runner
from lifting.experiments.arguments import launcher
from lifting.experiments.estimator import Estimator
from lifting.experiments.experiment import row_config
from lifting.experiments.representations.arguments import parse_args
from lifting.experiments.representations.cache import images_dir, lsp_dir, render_images, render_lsp
from lifting.experiments.representations.design import (
    CONDITIONS,
    EXPERIMENT,
    LIFTERS,
    LSP_CONDITION,
    NAME,
    estimator_config,
    frame_strides,
    row_runtime,
    with_strides,
)
from lifting.experiments.representations.evaluation import (
    estimator_2d,
    estimator_3d,
    h36m_gallery,
    input_pck,
    lsp_gallery,
    lsp_study,
    truncated_slice,
)
from lifting.experiments.representations.predict import (
    image_rows,
    in_crop,
    predict_frames,
    predict_lsp,
    truncated_boxes,
)
from lifting.experiments.training import ensure_trained, finished_results
from lifting.geometry.cameras import DEFAULT_FOV_DEG

log = logging.getLogger("lifting")


class Timer:
    """Wall seconds of every stage that did work, kept across invocations (timing.json), for the README."""

    def __init__(self, path: Path):
        self.path = path
        self.seconds = fileio.read_json(path, "timing file") if path.is_file() else {}

    @contextmanager
    def stage(self, name: str):
        start = time.perf_counter()
        yield
        self.seconds[name] = round(time.perf_counter() - start, 1)
        fileio.write_json(self.path, self.seconds)


@dataclass
class Inputs:
    """Everything the study reads, checked before anything is written: the lifting frames and configs, and the
    optional estimator run, image folders and label file."""

    out: Path
    files: dict[str, Path]
    cfgs: dict[str, dict[str, Any]]
    data_dir: Path
    cache: Path
    train: PoseSet
    test: PoseSet
    device: torch.device
    est_cfg: dict[str, Any]
    estimator: Estimator | None
    images: Any
    lsp: Any
    labels: Any

    def identity(self, args) -> dict[str, Any]:
        """What the results folder is of: rerunning into it with other inputs is refused (`check_identity`)."""
        cfg, est = self.cfgs["sup_gt"], self.est_cfg
        resolved = lambda p: str(Path(p).resolve())
        return {"data_dir": resolved(self.data_dir), "train_subjects": cfg["train_subjects"],
                "test_subjects": cfg["test_subjects"], "frame_strides": [cfg["stride"], cfg["test_stride"]],
                "images": resolved(args.images) if args.images else f"rendered at {args.render_size} px",
                "estimator": resolved(args.estimator) if args.estimator else
                f"trained with {est['backbone']} at {est['crop_size']} px", "quick": bool(args.quick),
                "lsp_images": resolved(args.lsp_images) if args.lsp_images else f"rendered {args.lsp_count}"}


def check_inputs(args: argparse.Namespace) -> Inputs:
    """Resolve and check every input; a bad one is a one-line error before anything is written."""
    from lifting.checkpoint import select_device
    from lifting.datasets.images import ImageDataset
    from lifting.datasets.lsp import load_relative_depth_json, read_lsp_images
    from lifting.synth.poses import pose_data_dir
    from lifting.tasks.lifting import load_split

    out = Path(args.results_dir) / NAME
    files = {k: out / "predictions" / f"{k}.npz" for k in ("train", "test", "test_truncated")}
    cfgs = {row.name: row_config(EXPERIMENT, row_runtime(row, files, 1.0), args, 0) for row in EXPERIMENT.rows}
    cfg = cfgs["sup_gt"]
    cache = Path(cfg["cache_dir"])
    data_dir = pose_data_dir(cfg["data_dir"], cache, cfg["synthetic_size"])
    train, test = load_split(cfg, train=True), load_split(cfg, train=False)
    device = select_device(args.device or "auto")
    images = None
    if args.images:
        images = ImageDataset(args.images, sorted(set(cfg["train_subjects"]) | set(cfg["test_subjects"])))
        for poses in (train, test):
            image_rows(images, poses)
    return Inputs(out, files, cfgs, data_dir, cache, train, test, device, estimator_config(args, out, cfg),
                  Estimator.load(args.estimator, device) if args.estimator else None, images,
                  read_lsp_images(args.lsp_images) if args.lsp_images else None,
                  load_relative_depth_json(args.lsp_json) if args.lsp_json else None)


def check_identity(out: Path, identity: dict[str, Any]) -> None:
    """A results folder belongs to one set of inputs: reusing it with others would mix their numbers."""
    path = out / "study.json"
    if not path.is_file():
        return
    stored = fileio.read_json(path, "study identity file")
    for key, value in identity.items():
        if stored.get(key) != value:
            raise UserError(f"{path}: this study was run with {key} = {stored.get(key)!r}, now {value!r}; pass the "
                            f"same inputs, or another --results-dir")


def estimator_stage(inp: Inputs, timer: Timer, launch: Launcher) -> Estimator | None:
    """The given estimator, or the one trained (once, through `launch`) into <results>/representations/estimator/;
    None after a dry run."""
    if inp.estimator is not None:
        return inp.estimator
    cfg = inp.est_cfg
    run = Path(cfg["out_dir"])
    stage = contextlib.nullcontext() if finished_results(run) else timer.stage("estimator_training")
    with stage:
        if ensure_trained("metro", cfg, f"[{NAME}] estimator", launch) is None:
            return None
    return Estimator.load(run, inp.device)


def images_stage(args, inp: Inputs, timer: Timer):
    """The image dataset of the lifting frames: the user's, or rendered once into cache_dir."""
    from lifting.datasets.images import ImageDataset

    if inp.images is not None:
        return inp.images
    poses = PoseSet.concat([inp.train, inp.test])
    root = images_dir(inp.data_dir, inp.cfgs["sup_gt"], len(poses), args.render_size, inp.cache)
    if not root.is_dir():
        with timer.stage("rendering"):
            render_images(root, inp.data_dir, poses, args.render_size)
    return ImageDataset(root, sorted(set(poses.subject.tolist())))


def predictions_stage(args, inp: Inputs, est: Estimator, images, timer: Timer) -> dict[str, np.ndarray]:
    """predictions/{train,test,test_truncated}.npz (each written once, atomically); returns the image row of every
    training and test frame."""
    rows = {"train": image_rows(images, inp.train), "test": image_rows(images, inp.test)}
    pick = np.unique(np.linspace(0, len(inp.test) - 1, min(args.truncated_frames, len(inp.test))).round().astype(int))
    for split in ("train", "test", "test_truncated"):
        if inp.files[split].is_file():
            continue
        with timer.stage(f"predicting_{split}"):
            if split == "test_truncated":
                r = rows["test"][pick]
                boxes = truncated_boxes(images, r)
                arrays = predict_frames(est, images, r, inp.test.subset(pick), args.batch_size, "truncated", boxes)
                arrays["in_crop"] = in_crop(images, r, boxes, est.model.crop_size)
            else:
                arrays = predict_frames(est, images, rows[split], getattr(inp, split), args.batch_size, split)
            fileio.save_npz(inp.files[split], **arrays)
        log.info(f"[{NAME}] {inp.files[split]}: {len(arrays['frame'])} frames")
    return rows


def lifter_stage(args, inp: Inputs, noise_variance: float, timer: Timer) -> dict[str, Any]:
    """Every lifter row x seed through the paper runner (finished runs are skipped, interrupted ones resumed)."""
    experiment = replace(EXPERIMENT, rows=tuple(row_runtime(r, inp.files, noise_variance) for r in EXPERIMENT.rows))
    selected = [r for r in experiment.rows if not args.rows or r.name in args.rows]
    pending = any(not (inp.out / r.name / f"seed_{k}" / "results.json").is_file()
                  for r in selected for k in range(args.seeds))
    if not pending:
        return runner.run_experiment(experiment, args)
    with timer.stage("lifters"):
        return runner.run_experiment(experiment, args)


def lsp_stage(args, inp: Inputs, est: Estimator, timer: Timer):
    """(LSP images, depth-order labels or None, estimator predictions on them), predicted once."""
    from lifting.datasets.lsp import RELATIVE_DEPTH_FILE, load_relative_depth_json, read_lsp_images

    lsp, labels = inp.lsp, inp.labels
    if lsp is None:
        root = lsp_dir(args, inp.cache)
        if not root.is_dir():
            with timer.stage("rendering_lsp"):
                render_lsp(args, inp.cache, root)
        lsp = read_lsp_images(root)
        labels = labels if labels is not None else load_relative_depth_json(root / RELATIVE_DEPTH_FILE)
    path = inp.out / "lsp" / "predictions.npz"
    if not path.is_file():
        with timer.stage("predicting_lsp"):
            fileio.save_npz(path, **predict_lsp(est, lsp, args.batch_size))
    pred = fileio.read_npz(path, "LSP predictions", ("joints2d_px", "joints3d_rootrel", "box"))
    return lsp, labels, pred


def run_study(args: argparse.Namespace) -> dict[str, Any]:
    """Every stage of the study (module docstring); returns the summary written to summary.json."""
    args = with_strides(args)
    inp = check_inputs(args)
    check_identity(inp.out, inp.identity(args))
    fileio.write_json(inp.out / "study.json", inp.identity(args))
    timer = Timer(inp.out / "timing.json")
    launch = launcher(NAME, args)
    est = estimator_stage(inp, timer, launch)
    if est is None:
        return {"experiment": NAME, "dry_run": [str(p) for p in sorted((launch.folder / "dry_run").glob("*.sbatch"))]}
    torch.set_num_threads(1 if args.quick else max(1, os.cpu_count() or 1))
    images = images_stage(args, inp, timer)
    rows = predictions_stage(args, inp, est, images, timer)

    est2d = {split: estimator_2d(getattr(inp, split), inp.files[split], args.pck_px) for split in ("train", "test")}
    # Rayleigh: the mean length of isotropic Gaussian 2D noise of per-axis variance s^2 is s sqrt(pi / 2).
    variance = (est2d["test"]["error_px"] / math.sqrt(math.pi / 2)) ** 2
    log.info(f"[{NAME}] estimator 2D error: {est2d['test']['error_px']:.2f} px on the test frames, "
             f"{est2d['train']['error_px']:.2f} px on the training frames; matched noise variance {variance:.2f} px^2")
    summary = lifter_stage(args, inp, variance, timer)
    if "dry_run" in summary:
        return summary
    lsp, labels, lsp_pred = lsp_stage(args, inp, est, timer)

    with timer.stage("evaluation"):
        runs = {name: [inp.out / name / d for d in row.get("run_dirs", [])] for name, row in summary["rows"].items()
                if row["status"] == "done"}
        for name, row in summary["rows"].items():
            row["input2d_pck"] = input_pck(runs.get(name, []), args.pck_px)
        summary["rows"]["estimator_est3d"] = {
            "label": f"{LIFTERS['estimator']}, estimator 3D (no lifter)", "entry": "estimator", "status": "done",
            "headline_metric": "pa_mpjpe", "units": "mm", "params": {"lifter": "estimator", "condition": "est3d"},
            **estimator_3d(inp.test, inp.files["test"]), **{f"{k}_std": 0.0 for k in ("mpjpe", "n_mpjpe", "pa_mpjpe")},
            "num_seeds": 1}
        summary["order"] = [n for c, _, lifters in CONDITIONS for lifter in lifters
                            for n in [f"{lifter}_{c}"] if n in summary["rows"]] \
            + [n for n in summary["order"] if n.endswith(LSP_CONDITION)]
        trained_on = {"gt": "GT 2D", "est": "estimator 2D"}
        summary["truncated"] = truncated_slice(
            {f"{lf}_{c}": (f"{LIFTERS[lf]} (trained on {on}) fed estimator 2D", runs[f"{lf}_{c}"])
             for lf in ("sup", "rel") for c, on in trained_on.items() if f"{lf}_{c}" in runs},
            inp.test, inp.files["test"], inp.files["test_truncated"])
        drawn = [(n, summary["rows"][n]["label"], runs[n][0] if n in runs else None) for n in summary["order"]
                 if not n.endswith(LSP_CONDITION) and (n in runs or n == "estimator_est3d")]
        fileio.save_npz(inp.out / "gallery.npz", **h36m_gallery(drawn, images, rows["test"], inp.test,
                                                                 inp.files["test"]))
        lsp_res, lsp_drawn = lsp_study({lf: (LIFTERS[lf], runs[f"{lf}_{LSP_CONDITION}"]) for lf in ("sup", "rel")
                                        if f"{lf}_{LSP_CONDITION}" in runs}, lsp, labels, lsp_pred)
        if labels is not None and not lsp_res["num_pairs"]:
            log.warning(f"[{NAME}] no labelled pair of the relative-depth file is on a fully annotated image of "
                        f"{lsp.root} (images are matched by file name)")
        fileio.save_npz(inp.out / "lsp" / "gallery.npz", **lsp_gallery(lsp, lsp_pred["box"], lsp_drawn))
    lsp_res.update(images=str(lsp.root), rendered=not args.lsp_images, fov_deg=DEFAULT_FOV_DEG,
                   labels=args.lsp_json or (None if args.lsp_images else "rendered set, true depth order"))
    stride, test_stride = frame_strides(args)
    summary.update(
        pck_px=args.pck_px, conditions=[{"key": c, "label": label, "lifters": list(lifters)}
                                        for c, label, lifters in CONDITIONS],
        estimator={"run": est.path, "trained": not args.estimator, "test_2d": est2d["test"], "train_2d": est2d["train"],
                   "matched_noise_variance_px2": variance, "crop_size": est.model.crop_size},
        images={"root": str(images.root), "rendered": not args.images, "num_train_frames": len(inp.train),
                "num_test_frames": len(inp.test), "stride": stride, "test_stride": test_stride,
                "render_size": None if args.images else args.render_size},
        lsp=lsp_res, timing_s=timer.seconds, files={"gallery": "gallery.npz", "lsp_gallery": "lsp/gallery.npz"})
    fileio.write_json(inp.out / "summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    def _main(argv: list[str] | None) -> int:
        args = parse_args(argv)
        summary = run_study(args)
        if "dry_run" in summary:
            return 0
        failed = {n: r["reason"] for n, r in summary["rows"].items() if r.get("status") == "failed"}
        for name, reason in failed.items():
            log.error(f"[{NAME}] {name}: FAILED: {reason}")
        log.info(f"[{NAME}] summary: {Path(args.results_dir) / NAME / 'summary.json'}")
        return 1 if failed else 0

    return run_cli(_main, argv)
