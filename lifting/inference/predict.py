"""`--predict` of the image entry points (main_metro.py, main_rootnet.py): a trained estimator or RootNet on every
annotated person of a COCO-layout dataset, written as one .npz aligned with the dataset's frames."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from lifting.checkpoint import load_trained
from lifting.cli import add_option, check_output
from lifting.config import opt
from lifting.errors import UserError
from lifting.options.common import SUBJECT_LIST

SUBJECTS = opt(list, None, "subjects to predict (default: all with annotations in DATASET_DIR)", nullable=True,
               **SUBJECT_LIST)


def add_predict_args(parser: argparse.ArgumentParser, what: str) -> None:
    """--predict DATASET_DIR, --subjects S,S and --out FILE.npz."""
    parser.add_argument("--predict", metavar="DATASET_DIR", type=Path, default=None,
                        help=f"write {what} for every annotated person of a COCO-layout dataset (needs load=RUN_DIR)")
    add_option(parser, "--subjects", SUBJECTS, metavar="S,S")
    parser.add_argument("--out", metavar="FILE.npz", type=Path, default=None, help="predictions file for --predict")


def check_predict(args: argparse.Namespace, cfg: dict[str, Any]) -> bool:
    """Whether the run predicts (else it trains); checked before any work: --out and --subjects only with
    --predict, which needs `load` and a writable --out .npz."""
    if args.predict is None:
        if args.out is not None or args.subjects is not None:
            raise UserError("--out and --subjects go with --predict DATASET_DIR (training writes into out_dir)")
        return False
    if cfg["load"] is None or args.out is None:
        raise UserError("--predict needs --set load=RUN_DIR (a trained run or checkpoint) and --out FILE.npz")
    check_output(args.out, "--out", (".npz",))
    if not args.predict.is_dir():
        raise UserError(f"--predict {args.predict}: dataset directory not found")
    return True


def predict_to_file(kind: str, cfg: dict[str, Any], dataset: Path, out: Path, subjects: list[int] | None) -> str:
    """The trained `kind` ('estimator' or 'rootnet') in `cfg["load"]` on the dataset -> `out`; returns what was
    written, in one line."""
    model = load_trained(cfg["load"], kind, cfg["device"]).model
    if kind == "estimator":
        from lifting.inference.estimator import predict_dataset
        from lifting.models.metro import with_stride

        stride = cfg["test_output_stride"]
        model = model if stride in (None, model.stride) else with_stride(model, stride)
        n = predict_dataset(model, dataset, out, subjects=subjects, batch_size=cfg["eval_batch_size"],
                            flip_tta=cfg["flip_tta"], mix=cfg["mix_3d_inside_fov"], ridge=cfg["ridge"])
        return f"{out}: predictions for {n} persons (joints2d_px image px, joints3d_cam camera mm, h36m_17)"
    from lifting.inference.rootnet import predict_roots_dataset

    n = predict_roots_dataset(model, dataset, out, subjects=subjects, batch_size=cfg["eval_batch_size"],
                              assumed_focal_px=cfg["assumed_focal_px"])
    frame = "focal-normalised" if cfg["assumed_focal_px"] else "camera"
    return f"{out}: roots of {n} persons (root_cam {frame} mm, root2d_px image px, h36m_17 pelvis)"
