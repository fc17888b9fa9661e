"""The absolute-pose experiment (`paper_exps/absolute.py`): where an absolute camera-frame 3D pose best comes from.
RootNet's root (or its distance prior k alone) under the MeTRo root-relative pose, or MeTRAbs' own reconstruction
from the same estimator's 2D and 3D heads, all on the same test persons and partial-body boxes.

    <results>/absolute/estimator/   the MeTRo/MeTRAbs run (opts/metro_tiny.yaml), unless --estimator RUN
    <results>/absolute/rootnet/     the RootNet run (opts/rootnet_tiny.yaml), unless --rootnet RUN
    <results>/absolute/summary.json every row on every test set, full and truncated crops

Missing runs are trained (an interrupted one resumes from its last.pt; a finished one is reused). Test sets: the
given data (the real Human3.6M motion has one canonical skeleton) and, unless that is already the built-in
synthetic data, the synthetic subjects S9/S11 (bone lengths varied per subject). Test crops are rendered online
from the poses with one seed, so both models see the same person, appearance and truncation box; each model gets
its own framing (MeTRo: the person box; RootNet: the processed box). Everything is in the original camera frame.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting import metrics
from lifting.augment.crops import METRO_CROPS, ROOTNET_CROPS, to_original_frame
from lifting.checkpoint import Trained, load_trained, select_device
from lifting.cli import ArgumentParser, add_option
from lifting.config import opt, validate
from lifting.datasets.crop_sources import CropOptions, online_source
from lifting.engine.distributed import Dist
from lifting.engine.launchers import Launcher, add_launcher_args, launcher_from_args
from lifting.errors import UserError
from lifting.experiments.arguments import add_subjects, experiment_main
from lifting.experiments.estimator import Estimator
from lifting.experiments.image_runs import MODELS, model_config
from lifting.experiments.training import ensure_trained
from lifting.fileio import write_json
from lifting.tasks.crop_eval import Reconstruction, predict_crops, to_device
from lifting.tasks.rootnet import predict_roots

log = logging.getLogger("lifting")
NAME = "absolute"
TITLE = "Absolute 3D pose: RootNet root + MeTRo pose vs MeTRAbs reconstruction (MRPE, AP_root, A-MPJPE)"
ROWS = (("prior", "k prior alone (γ = 1) + MeTRo pose"),
        ("prior_calibrated", "k prior × mean training γ + MeTRo pose"),
        ("rootnet", "RootNet root + MeTRo pose"),
        ("metrabs", "MeTRAbs reconstruction"))
ROOT_KEYS = {"prior": "prior_root_cam", "prior_calibrated": "prior_calibrated_root_cam", "rootnet": "root_cam"}
SYNTHETIC_TEST_SUBJECTS = [9, 11]     # never training subjects of the shipped configs
EVAL_SEED = 0


@dataclass(frozen=True)
class TestSet:
    name: str
    label: str
    data_dir: str
    subjects: list[int]
    bone_lengths: str
    synthetic_size: str = "default"


def parse_args(argv=None) -> argparse.Namespace:
    p = ArgumentParser(prog="paper_exps/absolute.py", description=TITLE)
    p.add_argument("--data-dir", help="Human3.6M h5-annotation folder, or 'synthetic' (default: the schemas')")
    add_subjects(p, "--train-subjects", "training subjects of runs trained here (default 1,5,6,7)")
    add_subjects(p, "--test-subjects", "test subjects of --data-dir (default 8)")
    p.add_argument("--estimator", metavar="RUN", help="a trained main_metro.py run dir or checkpoint (default: train "
                                                      "opts/metro_tiny.yaml into <results>/absolute/estimator)")
    p.add_argument("--rootnet", metavar="RUN", help="a trained main_rootnet.py run dir or checkpoint (default: train "
                                                    "opts/rootnet_tiny.yaml into <results>/absolute/rootnet)")
    add_option(p, "--max-test-crops", opt(int, None, "test crops per test set (default: the RootNet config's)",
                                          nullable=True, minimum=1, maximum=10_000_000))
    add_option(p, "--depth-bins", opt(list, list(metrics.DEPTH_BIN_EDGES_MM), "edges (mm) of the true-depth bins, "
                                      "e.g. 3000,4000,5000,6000", item=float, nonempty=True, unique=True, minimum=0,
                                      maximum=1e6))
    p.add_argument("--results-dir", default="results", help="where results/absolute/ goes (default results)")
    p.add_argument("--cache-dir", help="processed-data cache (default: the schemas')")
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), help="device of training and evaluation")
    p.add_argument("--quick", action="store_true", help="tiny data, 2 steps per model, 64 px: a smoke test")
    p.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE",
                   help="config override for the runs trained here (applied to each config that has the key)")
    add_launcher_args(p)
    args = p.parse_args(argv)
    for text in args.set:
        key = text.split("=", 1)[0].strip()
        if "=" not in text or not any(key in MODELS[kind][0] for kind in ("estimator", "rootnet")):
            p.error(f"--set {text!r}: expected KEY=VALUE with a config key of main_metro.py or main_rootnet.py")
    launcher(args)
    return args


def launcher(args: argparse.Namespace) -> Launcher:
    """Where the runs trained here go (`--launcher`); Slurm's scripts and logs in <results>/absolute/slurm."""
    return launcher_from_args(args, Path(args.results_dir) / NAME / "slurm")


def ensure_run(kind: str, args: argparse.Namespace, launch: Launcher) -> tuple[str, Trained | None]:
    """(run dir or checkpoint, the trained model): the given run, or the one trained/resumed/reused here (through
    `launch`; None after a dry run, which only writes the training job's script)."""
    given = getattr(args, kind)
    if given is None:
        cfg = model_config(kind, args, Path(args.results_dir) / NAME / kind)
        given = cfg["out_dir"]
        if ensure_trained(MODELS[kind][2], cfg, f"[{NAME}] {kind}", launch) is None:
            return given, None
    return given, load_trained(given, kind)


def test_sets(args: argparse.Namespace, root_cfg: dict[str, Any]) -> list[TestSet]:
    """The given data's test subjects, and the synthetic subjects S9/S11 unless the given data is synthetic."""
    data_dir = args.data_dir or root_cfg["data_dir"]
    subjects = args.test_subjects or root_cfg["test_subjects"]
    size = "tiny" if args.quick else "default"
    names = lambda s: ",".join(map(str, s))
    synthetic = lambda s: TestSet("synthetic", f"synthetic S{names(s)}, bone lengths varied per subject", "synthetic",
                                  s, "varied", size)
    if data_dir == "synthetic":
        return [synthetic(subjects)]
    return [TestSet("main", f"{Path(data_dir).name} S{names(subjects)}, one canonical skeleton", data_dir, subjects,
                    "canonical"), synthetic(SYNTHETIC_TEST_SUBJECTS)]


def test_streams(ts: TestSet, root_cfg: dict[str, Any], crop_sizes: tuple[int, int], max_crops: int | None,
                 device: torch.device, truncated: bool):
    """(MeTRo test batches, RootNet test batches) of the same persons, appearances and truncation boxes."""
    options = dict(data_dir=ts.data_dir, cache_dir=root_cfg["cache_dir"], train_subjects=ts.subjects,
                   test_subjects=ts.subjects, stride=10 ** 6, test_stride=root_cfg["test_stride"], seed=EVAL_SEED,
                   max_test_crops=max_crops, eval_batch_size=root_cfg["eval_batch_size"],
                   synthetic_size=ts.synthetic_size)
    dist = Dist(device=device)
    return tuple(online_source(CropOptions(crop_size=size, **options), dist, recipe).test_batches(truncated)
                 for size, recipe in zip(crop_sizes, (METRO_CROPS, ROOTNET_CROPS)))


def estimator_poses(model, batches, rec: Reconstruction, device: torch.device) -> dict[str, np.ndarray]:
    """MeTRo root-relative and MeTRAbs absolute poses and the ground truth (N, 17, 3) mm, original camera frame."""
    keep: dict[str, list] = {"rel": [], "abs": [], "gt": []}
    for batch in batches:
        batch = to_device(batch, device, False)
        out = predict_crops(model, batch, rec)
        R, unflipped = batch["R_crop_from_orig"].double(), torch.zeros(len(batch["image"]), dtype=torch.bool)
        for key, pose in (("rel", out["pose3d_rel"]), ("abs", out["pose3d_abs"]), ("gt", batch["joints3d_cam"])):
            keep[key].append(to_original_frame(pose.double(), R, unflipped).cpu().numpy())
    return {k: np.concatenate(v) for k, v in keep.items()}


def evaluate(estimator, rootnet, rec: Reconstruction, gamma: float, streams, device: torch.device,
             edges_mm) -> dict[str, Any]:
    """Every row's root and absolute-pose metrics on one test set's crops (full or truncated)."""
    poses = estimator_poses(estimator, streams[0], rec, device)
    roots = predict_roots(rootnet, streams[1], device, rec.amp, False, gamma)
    gap = float(np.abs(roots["gt_cam"] - poses["gt"][:, 0]).max())
    if gap > 1.0:
        raise UserError(f"absolute: the two models' test crops show different persons ({gap:.1f} mm apart)")
    rel = poses["rel"] - poses["rel"][:, :1]
    rows = {}
    for name, _ in ROWS:
        pose = poses["abs"] if name == "metrabs" else rel + roots[ROOT_KEYS[name]][:, None]
        rows[name] = {**metrics.evaluate_roots(pose[:, 0], poses["gt"][:, 0], edges_mm),
                      **metrics.absolute_pose_metrics(pose, poses["gt"])}
    return {"num_crops": len(rel), "metro_mpjpe": float(metrics.mpjpe_errors(rel, poses["gt"]).mean()),
            "gamma_true_mean": float((roots["gt_cam"][:, 2] / roots["k"]).mean()), "rows": rows}


def run(args: argparse.Namespace) -> dict[str, Any]:
    launch = launcher(args)
    (est_run, est), (root_run, root) = ensure_run("estimator", args, launch), ensure_run("rootnet", args, launch)
    if launch.dry_run:
        return {"experiment": NAME, "dry_run": sorted(str(p) for p in (launch.folder / "dry_run").glob("*.sbatch"))}
    est_cfg = validate(MODELS["estimator"][0], est.config, str(est.path))
    root_cfg = validate(MODELS["rootnet"][0], root.config, str(root.path))
    device = select_device(args.device or root_cfg["device"])
    estimator, rootnet = Estimator.from_trained(est, device).model, root.model.to(device)
    gamma = root.task["gamma_sum"] / root.task["gamma_count"] if root.task.get("gamma_count") else 1.0
    rec = Reconstruction.from_config({**est_cfg, "channels_last": False})
    max_crops = args.max_test_crops or root_cfg["max_test_crops"]
    sets = []
    for ts in test_sets(args, root_cfg):
        crops = {}
        for kind, truncated in (("full", False), ("truncated", True)):
            streams = test_streams(ts, root_cfg, (estimator.crop_size, rootnet.crop_size), max_crops, device,
                                   truncated)
            crops[kind] = evaluate(estimator, rootnet, rec, gamma, streams, device, args.depth_bins)
            rows = crops[kind]["rows"]
            log.info("[%s] %s %s: %s", NAME, ts.name, kind,
                     ", ".join(f"{n} MRPE {rows[n]['mrpe']:.0f} mm" for n, _ in ROWS))
        sets.append({"name": ts.name, "label": ts.label, "data_dir": ts.data_dir, "subjects": ts.subjects,
                     "bone_lengths": ts.bone_lengths, "crops": crops})
    summary = {"experiment": NAME, "title": TITLE, "quick": bool(args.quick),
               "models": {"estimator": est_run, "rootnet": root_run, "gamma_train_mean": gamma,
                          "estimator_crop_size": estimator.crop_size, "rootnet_crop_size": rootnet.crop_size},
               "depth_bin_edges_mm": sorted(args.depth_bins), "order": [n for n, _ in ROWS],
               "rows": {n: {"label": label, "status": "done"} for n, label in ROWS}, "test_sets": sets}
    write_json(Path(args.results_dir) / NAME / "summary.json", summary)
    return summary


def main(argv: list[str] | None = None) -> int:
    return experiment_main(NAME, parse_args, run, argv)
