"""What the representation study is: its conditions and lifter rows, the settings only the study knows (frame
strides, predictions files, matched noise) and the estimator it trains when none is given."""

from __future__ import annotations

import argparse
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from lifting.config import load_config, read_yaml
from lifting.experiments.experiment import OPTS, Experiment, Row

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
