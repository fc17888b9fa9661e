"""The representation study: the image estimator's 2D and 3D outputs as inputs, targets and labels of the lifters,
on Human3.6M and on LSP.

Stages; each one is skipped when its output exists, so an interrupted study resumes where it stopped:

1. the estimator: `--estimator RUN`, or one trained into <results>/representations/estimator/ with
   `--estimator-config` (default opts/metro_tiny.yaml on a CPU, opts/metro_r50.yaml on a GPU);
2. images of the lifting frames (training subjects every `--image-stride`-th frame, test subjects every
   `--test-stride`-th, all cameras) rendered once into cache_dir in the parsed-Human3.6M layout, or `--images DIR`;
3. predictions/{train,test,test_truncated}.npz: the estimator's 2D (image px), root-relative and absolute 3D
   for every lifting frame, and for partial-body crops of some test frames;
4. the lifter rows, through the paper-experiment runner (seeds, parallel jobs, resume): supervised and relative
   lifters on GT 2D, GT 2D + noise of the estimator's mean 2D error, estimator 2D at test only / in training and
   test, estimator 3D as targets, depth-order labels from estimator 3D or from the annotator-noise model;
5. evaluation -> summary.json: the estimator's own 3D as a row, 2D input errors (mean px, PCK), the truncated
   slice, LSP (a rendered LSP-layout set or `--lsp-images DIR`) and the data of the galleries.

Evaluation is always against GT 3D; nothing of the test subjects is seen in training. Plots:
paper_plots/representations.py, which reads only these files.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting import fileio
from lifting.config import load_config, read_yaml
from lifting.datasets.samples import (
    KEY_FIELDS,
    PoseSet,
    match_keys,
)
from lifting.errors import UserError, run_cli
from lifting.experiments import runner
from lifting.experiments.estimator import Estimator
from lifting.experiments.representation_eval import (
    estimator_2d,
    estimator_3d,
    h36m_gallery,
    input_pck,
    lsp_gallery,
    lsp_study,
    truncated_slice,
)
from lifting.experiments.runner import OPTS, Experiment, Row
from lifting.geometry.cameras import DEFAULT_FOV_DEG, default_intrinsics
from lifting.geometry.skeletons import H36M_17

log = logging.getLogger("lifting")
NAME = "representations"

LIFTERS = {"sup": "3D Supervised", "rel": "Ours Relative", "estimator": "Estimator"}
# (condition, label, lifters), in table order.
CONDITIONS = (
    ("gt", "GT 2D", ("sup", "rel")),
    ("noise", "GT 2D + matched noise", ("sup", "rel")),
    ("est_test", "estimator 2D at test only", ("sup", "rel")),
    ("est", "estimator 2D", ("sup", "rel")),
    ("est3d", "estimator 3D (no lifter)", ("estimator",)),
    ("est_targets", "estimator 3D as targets", ("sup",)),
    ("est_labels", "pair labels from estimator 3D", ("rel",)),
    ("mturk_labels", "pair labels from annotator model", ("rel",)),
)
TRAIN_PREDICTIONS = ("est", "est_targets", "est_labels", "mturk_labels")    # conditions trained on estimator 2D
TEST_PREDICTIONS = TRAIN_PREDICTIONS + ("est_test",)
LSP_CONDITION = "joints14"


def _row(lifter: str, condition: str, label: str) -> Row:
    return Row(f"{lifter}_{condition}", f"{LIFTERS[lifter]}, {label}", "sup" if lifter == "sup" else "ours",
               load_from=f"{lifter}_gt" if condition == "est_test" else None,
               params={"lifter": lifter, "condition": condition})


EXPERIMENT = Experiment(NAME, "Representation study: the image estimator's 2D and 3D as inputs, targets and labels "
                               "of the lifters", tuple(
    [_row(lifter, c, label) for c, label, lifters in CONDITIONS for lifter in lifters if lifter != "estimator"]
    + [_row(lifter, LSP_CONDITION, "GT 2D, 14 LSP joints") for lifter in ("sup", "rel")]))
# Keys the study sets itself (a --set of them would silently change what the rows are).
STUDY_KEYS = ("stride", "test_stride", "predictions_2d", "train_predictions_2d", "train_targets_3d",
              "pair_labels_from", "save_predictions", "skeleton", "train_noise_amount", "test_noise_amount")

# --quick: every stage on tiny data in well under two minutes (numbers are meaningless).
QUICK_ESTIMATOR = {"iterations": 20, "max_train_minutes": None, "crop_size": 64, "batch_size": 8, "eval_batch_size": 16,
                   "stride": 50, "test_stride": 50, "max_test_crops": 16, "eval_every": 1000, "abs_start": 10,
                   "weak_steps": 5, "log_every": 10, "checkpoint_every": None, "threads": 1, "tensorboard": False,
                   "progress": False}
QUICK = {"render_size": 96, "truncated_frames": 24, "lsp_count": 24}


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--estimator", help="a trained main_metro.py run dir or checkpoint (default: train one)")
    p.add_argument("--estimator-config", help="config of the estimator trained without --estimator (default "
                                               "opts/metro_tiny.yaml, opts/metro_r50.yaml with --device cuda)")
    p.add_argument("--images", help="parsed Human3.6M images (COCO layout) covering the lifting frames (default: "
                                    "rendered by the built-in renderer)")
    p.add_argument("--image-stride", type=runner.positive_int, default=5,
                   help="every n-th training frame gets an image; the lifters train on these frames (default 5)")
    p.add_argument("--test-stride", type=runner.positive_int, default=1, help="every n-th test frame (default 1: all)")
    p.add_argument("--render-size", type=runner.positive_int, default=256,
                   help="longer side of the rendered images, px (default 256)")
    p.add_argument("--truncated-frames", type=runner.positive_int, default=2000,
                   help="test frames of the truncated slice (partial-body crops; default 2000)")
    p.add_argument("--lsp-images", help="an LSP folder: joints.mat and images/im%%04d.jpg (LSP) or im%%05d.jpg "
                                        "(LSP-extended) (default: an LSP-layout set rendered from built-in poses)")
    p.add_argument("--lsp-count", type=runner.positive_int, default=1000,
                   help="images of the rendered LSP-layout set (default 1000)")
    p.add_argument("--pck-px", type=float, default=10.0, help="threshold of the Human3.6M 2D PCK, px (default 10)")
    p.add_argument("--batch-size", type=runner.positive_int, default=64, help="images per estimator batch (default 64)")


def parse_args(argv=None) -> argparse.Namespace:
    p = runner.parser(EXPERIMENT)
    add_arguments(p)
    args = runner.parse_args(EXPERIMENT, argv, p)
    for text in args.set:
        key = text.split("=", 1)[0].strip()
        if key in STUDY_KEYS:
            p.error(f"--set {key}: set by the study itself (lifting frames: --image-stride / --test-stride)")
    if args.test_data_dir:
        p.error("--test-data-dir: the study renders both splits from --data-dir")
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, min(getattr(args, key), value))
    return args


# ---------------------------------------------------------------------------------------------- configuration

def _synthetic(args) -> bool:
    return (args.data_dir or "synthetic") == "synthetic"


def frame_strides(args) -> tuple[int, int]:
    """(training, test) frame stride of the lifting frames; --quick keeps one frame per tiny synthetic sequence, or
    every 250th real frame."""
    if args.quick:
        return (3, 1) if _synthetic(args) else (250, 250)
    return args.image_stride, args.test_stride


def with_strides(args) -> argparse.Namespace:
    """`args` whose --set pins every lifter row to the frames that have images."""
    stride, test_stride = frame_strides(args)
    return argparse.Namespace(**{**vars(args), "set": [*args.set, f"stride={stride}", f"test_stride={test_stride}"]})


def row_runtime(row: Row, files: dict[str, Path], noise_variance: float) -> Row:
    """The row with what only the study knows: the shared settings, its predictions files and noise variance."""
    cfg = read_yaml(OPTS / NAME / "study.yaml")
    condition = row.params["condition"]
    if condition == "noise":
        cfg.update(train_noise_amount=noise_variance, test_noise_amount=noise_variance)
    if condition in TEST_PREDICTIONS:
        cfg["predictions_2d"] = str(files["test"])
    if condition in TRAIN_PREDICTIONS:
        cfg["train_predictions_2d"] = str(files["train"])
    return replace(row, config=cfg)


def estimator_config(args, out: Path, frames: dict[str, Any]) -> dict[str, Any]:
    """The config of the estimator trained without --estimator: the named file (CPU or GPU recipe by device) on the
    lifting split's data and subjects (`frames`: a lifter row's config)."""
    from lifting.options.metro import SCHEMA

    cuda = args.device == "cuda" or (args.device in (None, "auto") and torch.cuda.is_available())
    path = args.estimator_config or OPTS / ("metro_r50.yaml" if cuda else "metro_tiny.yaml")
    extra: dict[str, Any] = {"out_dir": str(out / "estimator"),
                             **{k: frames[k] for k in ("data_dir", "cache_dir", "train_subjects", "test_subjects")}}
    if args.device:
        extra["device"] = args.device
    if args.quick:
        extra.update(QUICK_ESTIMATOR, synthetic_size="tiny")
    return load_config(SCHEMA, path, [], extra)


# ------------------------------------------------------------------------------------------------- stages

def cached_dir(final: Path, build: Callable[[Path], Any], what: str) -> Path:
    """`final`, built once by `build(tmp)` in a temporary sibling and renamed into place (never half-written)."""
    if final.is_dir():
        return final
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=final.parent))
    log.info(f"[{NAME}] {what} -> {final}")
    try:
        build(tmp)
        os.rename(tmp, final)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return final


def _hash(*parts) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()[:16]


def images_dir(data_dir: Path, cfg: dict[str, Any], num_frames: int, render_size: int, cache: Path) -> Path:
    """Where the rendered images of the lifting frames of config `cfg` live (one folder per frame selection)."""
    key = _hash(str(data_dir.resolve()), *(cfg[k] for k in ("train_subjects", "test_subjects", "stride", "test_stride",
                                                            "cameras", "actions")), render_size, num_frames)
    return cache / f"representations_images_{key}"


def render_images(root: Path, data_dir: Path, poses: PoseSet, render_size: int) -> Path:
    """The lifting frames `poses` rendered by the built-in renderer into `root` (parsed-Human3.6M layout)."""
    import sys

    from tqdm import tqdm

    from lifting.geometry.cameras import load_h36m_cameras
    from lifting.synth.writer import write_rendered_dataset

    def build(tmp: Path) -> None:
        with tqdm(total=len(poses), desc="rendering", unit="img", disable=not sys.stderr.isatty()) as bar:
            write_rendered_dataset(tmp, poses, image_size=render_size, stride=1, seed=0,
                                   cameras=load_h36m_cameras(data_dir / "cameras.h5"), progress=bar.update)
    return cached_dir(root, build, f"rendering {len(poses)} images")


def image_rows(dataset, poses: PoseSet) -> np.ndarray:
    """Row of the image dataset of every lifting frame (one-line error naming the folder if one is missing)."""
    keys = {"subject": dataset.subject, "action": dataset.action, "subaction": dataset.subaction,
            "camera": dataset.camera, "frame": dataset.frame}
    return match_keys(poses, keys, f"images {dataset.root}", "image")


def predict_frames(est: Estimator, dataset, rows: np.ndarray, poses: PoseSet, batch_size: int, desc: str,
                   boxes: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The predictions-file arrays for the lifting frames `poses` (image rows `rows`): the estimator's outputs, the
    images' intrinsics (cam_f, cam_c: predictions are in those images' px) and the frame keys."""
    from lifting.datasets.images import read_image

    boxes = dataset.boxes[rows] if boxes is None else boxes
    out = est.predict(lambda i: read_image(dataset.image_paths[rows[i]]), boxes, dataset.K[rows], batch_size, desc)
    out.update({k: poses.arrays()[k] for k in KEY_FIELDS}, cam_f=dataset.f[rows].astype(np.float32),
               cam_c=dataset.c[rows].astype(np.float32), box=boxes.astype(np.float32), skeleton=np.array(H36M_17.name))
    return out


def truncated_boxes(dataset, rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """A seeded partial-body sub-box (MeTRo's truncation, `random_partial_box`) of every frame's person box."""
    from lifting.augment.crops import random_partial_box, seeded_generator

    return np.concatenate([random_partial_box(torch.tensor(dataset.boxes[r])[None],
                                              seeded_generator(seed, int(r))).numpy() for r in rows])


def in_crop(dataset, rows: np.ndarray, boxes: np.ndarray, crop_size: int) -> np.ndarray:
    """(N, 17) bool: GT joint inside the crop the estimator saw for `boxes` (and in front of its camera)."""
    from lifting.augment.crops import crop_camera
    from lifting.geometry.cameras import project_joints

    K_crop, R = crop_camera(torch.tensor(dataset.K[rows]), torch.tensor(boxes, dtype=torch.float64), crop_size)
    joints = torch.tensor(dataset.joints3d_cam[rows]) @ R.transpose(1, 2)
    uv = project_joints(joints, K_crop)
    return ((joints[..., 2] > 0) & (uv >= -0.5).all(-1) & (uv <= crop_size - 0.5).all(-1)).numpy()


def lsp_boxes(xy: np.ndarray, visible: np.ndarray, size_wh: np.ndarray) -> np.ndarray:
    """(N, 4) person box of every LSP image: the visible joints' extent with a margin (the whole image if none)."""
    from lifting.datasets.crop_sources import person_boxes

    boxes = np.zeros((len(xy), 4))
    for i in range(len(xy)):
        pts = xy[i][visible[i]]
        boxes[i] = person_boxes(torch.tensor(pts, dtype=torch.float64)[None])[0].numpy() if len(pts) >= 2 \
            else [0, 0, *size_wh[i]]
    return boxes


def predict_lsp(est: Estimator, lsp, batch_size: int) -> dict[str, np.ndarray]:
    from PIL import Image

    from lifting.datasets.images import read_image

    sizes = np.array([Image.open(p).size for p in lsp.image_paths], dtype=np.float64)
    # No intrinsics are known for LSP photos: the MeTRAbs default field of view, principal point at the centre.
    boxes = lsp_boxes(lsp.joints2d_px, lsp.visible, sizes)
    K = np.stack([default_intrinsics(w, h, DEFAULT_FOV_DEG) for w, h in sizes.astype(int)])
    out = est.predict(lambda i: read_image(lsp.image_paths[i]), boxes, K, batch_size, "LSP")
    out.update(box=boxes.astype(np.float32), K=K.astype(np.float32), image_size=sizes.astype(np.int64))
    return out


# ---------------------------------------------------------------------------------------------------- study

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
    from lifting.datasets.images import ImageDataset
    from lifting.datasets.lsp import load_relative_depth_json, read_lsp_images
    from lifting.engine.state import select_device
    from lifting.synth.poses import pose_data_dir
    from lifting.tasks.lifting import load_split

    out = Path(args.results_dir) / NAME
    files = {k: out / "predictions" / f"{k}.npz" for k in ("train", "test", "test_truncated")}
    cfgs = {row.name: runner.row_config(EXPERIMENT, row_runtime(row, files, 1.0), args, 0) for row in EXPERIMENT.rows}
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


def estimator_stage(inp: Inputs, timer: Timer) -> Estimator:
    """The given estimator, or the one trained (once) into <results>/representations/estimator/."""
    from lifting.tasks import run_task

    if inp.estimator is not None:
        return inp.estimator
    cfg = inp.est_cfg
    run = Path(cfg["out_dir"])
    if (run / "results.json").is_file():
        log.info(f"[{NAME}] estimator: already trained ({run})")
    else:
        resume = (run / "last.pt").is_file()
        log.info(f"[{NAME}] estimator: {'resuming' if resume else 'training'} in {run} ({cfg['backbone']}, "
                 f"{cfg['crop_size']} px crops)")
        with timer.stage("estimator_training"):
            run_task("metro", cfg, resume=resume)
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
    est = estimator_stage(inp, timer)
    torch.set_num_threads(1 if args.quick else max(1, os.cpu_count() or 1))
    images = images_stage(args, inp, timer)
    rows = predictions_stage(args, inp, est, images, timer)

    est2d = {split: estimator_2d(getattr(inp, split), inp.files[split], args.pck_px) for split in ("train", "test")}
    # Rayleigh: the mean length of isotropic Gaussian 2D noise of per-axis variance s^2 is s sqrt(pi / 2).
    variance = (est2d["test"]["error_px"] / math.sqrt(math.pi / 2)) ** 2
    log.info(f"[{NAME}] estimator 2D error: {est2d['test']['error_px']:.2f} px on the test frames, "
             f"{est2d['train']['error_px']:.2f} px on the training frames; matched noise variance {variance:.2f} px^2")
    summary = lifter_stage(args, inp, variance, timer)
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


def lsp_dir(args, cache: Path) -> Path:
    """Where the default LSP-layout set of this size lives in cache_dir."""
    return cache / f"representations_lsp_{_hash('tiny' if args.quick else 'default', args.lsp_count)}"


def render_lsp(args, cache: Path, root: Path) -> Path:
    """The default LSP-layout set: built-in synthetic poses of subjects the lifters never see (S9, S11), framed
    like LSP photos and rendered by the built-in renderer, with true-depth pair labels."""
    from lifting.datasets.h36m import load_h36m
    from lifting.synth.poses import ensure_synthetic_dataset
    from lifting.synth.writer import write_rendered_lsp

    def build(tmp: Path) -> None:
        data = ensure_synthetic_dataset(cache, size="tiny" if args.quick else "default")
        poses = load_h36m(data, [9, 11], cache_dir=cache / "h36m")
        pick = np.unique(np.linspace(0, len(poses) - 1, min(args.lsp_count, len(poses))).round().astype(int))
        write_rendered_lsp(tmp, poses.joints3d_cam[pick], seed=0)
    return cached_dir(root, build, f"rendering an LSP-layout set of {args.lsp_count} images")


def main() -> None:
    def _main() -> int:
        args = parse_args()
        summary = run_study(args)
        failed = {n: r["reason"] for n, r in summary["rows"].items() if r.get("status") == "failed"}
        for name, reason in failed.items():
            log.error(f"[{NAME}] {name}: FAILED: {reason}")
        log.info(f"[{NAME}] summary: {Path(args.results_dir) / NAME / 'summary.json'}")
        return 1 if failed else 0

    run_cli(_main)
