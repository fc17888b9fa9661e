"""Lifters on detector-like 2D: S8 lifted from clean GT 2D, with Gaussian noise, with two joints missing and from
COCO-17 keypoints; MPJPE and PA-MPJPE of each lifter as a markdown table.

    python bench/detected_inputs.py --data-dir ../shared/data/h36m --ckpt runs/zoo/h36m_lifter_s1567 \
        runs/zoo/h36m_lifter_detected
    python bench/detected_inputs.py --data-dir ../shared/data/h36m --ckpt RUN_A RUN_B --stride 5

Inputs: the Human3.6M-17 GT 2D of S8 (every frame of every camera, or every --stride-th frame), as is; with
Gaussian noise of std 5, 10 and 15 px per coordinate; with two random joints of each pose missing and placed on
the nearest present joint (`fill_missing`, as run_model.py fills missing keypoints); as the COCO-17 keypoints of
each pose (no eyes or ears) converted back as run_model.py converts COCO keypoints (`to_h36m17`). Every lifter gets
the same perturbed inputs (--seed), in its own input joint set, and predicts as its training run evaluated
(flip-averaged where its config has flip_test). Errors in mm over the lifter's joints, root included, after root
alignment; headline = action-wise mean (mean of per-action means), as results.json reports. Compare lifters that
did not train on S8 (the zoo's h36m_lifter did; its recipe on S1,5,6,7 is the fair baseline).
"""

import sys

import numpy as np
import torch

from lifting.checkpoint import load_trained
from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.datasets.h36m import load_h36m
from lifting.datasets.noise import add_noise, detector_like, random_missing
from lifting.datasets.normalize import Stats
from lifting.geometry.keypoint_formats import fill_missing
from lifting.geometry.skeletons import convert, get_skeleton, mirror
from lifting.inference.lifter import predict, predict_flip_averaged
from lifting.metrics import evaluate_poses
from lifting.models.linear import input_skeleton
from lifting.synth.poses import pose_data_dir

NOISE_STD_PX = (5, 10, 15)
MISSING = 2


def perturbed_inputs(joints2d_px: np.ndarray, seed: int) -> dict[str, np.ndarray]:
    """(N, 17, 2) Human3.6M-17 px -> {input name: (N, 17, 2) px}, each drawn from its own seeded generator."""
    rng = {name: np.random.default_rng([seed, i]) for i, name in enumerate(("noise", "missing", "coco"))}
    out = {"clean GT 2D": joints2d_px}
    for std in NOISE_STD_PX:
        out[f"noise {std} px"] = add_noise(joints2d_px, "normal", std ** 2, rng["noise"])
    present = np.ones(joints2d_px.shape[:2], bool)
    missing = random_missing(present, np.full(len(joints2d_px), MISSING), rng["missing"])
    out[f"{MISSING} joints missing"] = fill_missing(joints2d_px, ~missing).astype(joints2d_px.dtype)
    out["COCO-17"] = detector_like(joints2d_px, 0, 1.0, rng["coco"])
    return out


def lift_errors(ckpt: str, inputs: dict[str, np.ndarray], joints3d_cam: np.ndarray, actions: np.ndarray,
                batch_size: int = 8192) -> dict[str, dict]:
    """{input name: evaluate_poses result} of one lifter; joints3d_cam (N, 17, 3) mm, Human3.6M-17."""
    trained = load_trained(ckpt, "lifter")
    model, stats, cfg = trained.model, Stats.from_dict(trained.task["stats"]), trained.config
    in_skel, out_skel = get_skeleton(input_skeleton(cfg)), get_skeleton(cfg["skeleton"])
    gt = convert(joints3d_cam, "h36m_17", out_skel)
    gt = gt - gt[:, out_skel.root:out_skel.root + 1]
    out = {}
    for name, joints17 in inputs.items():
        joints2d = convert(joints17, "h36m_17", in_skel)
        centred = joints2d - joints2d[:, in_skel.root:in_skel.root + 1]
        x = torch.from_numpy(stats.standardize_2d(centred))
        if cfg["flip_test"]:
            x_mirrored = torch.from_numpy(stats.standardize_2d(mirror(centred, in_skel)))
            pred = predict_flip_averaged(model, x, x_mirrored, out_skel, batch_size, "cpu")
        else:
            pred = predict(model, x, batch_size, "cpu")
        out[name] = evaluate_poses(pred, gt, actions, root=out_skel.root)
    return out


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/detected_inputs.py", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", nargs="+", required=True, metavar="RUN_OR_NAME",
                   help="lifter run directories, checkpoint files or zoo names, compared column by column")
    p.add_argument("--data-dir", default="synthetic", help="h5-layout poses with S8 (default: the built-in data)")
    add_option(p, "--stride", opt(int, 1, "keep every n-th S8 frame of each sequence", minimum=1, maximum=100_000))
    add_option(p, "--seed", opt(int, 0, "seed of the noise and of the missing joints", minimum=0,
                                maximum=2 ** 32 - 1))
    add_option(p, "--threads", opt(int, 2, "CPU threads", minimum=1, maximum=256))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    poses = load_h36m(pose_data_dir(args.data_dir, "cache"), [8], stride=args.stride, cache_dir="cache/h36m")
    inputs = perturbed_inputs(poses.joints2d_px.astype(np.float32), args.seed)
    results = {ckpt: lift_errors(ckpt, inputs, poses.joints3d_cam, poses.action) for ckpt in args.ckpt}
    print(f"S8, {len(poses)} poses (stride {args.stride}, 4 cameras), seed {args.seed}; MPJPE / PA-MPJPE in mm, "
          "root included, action-wise mean\n")
    print("| input | " + " | ".join(args.ckpt) + " |\n|---|" + "---|" * len(args.ckpt))
    for name in inputs:
        print(f"| {name} | " + " | ".join(f"{results[c][name]['mpjpe']:.1f} / {results[c][name]['pa_mpjpe']:.1f}"
                                          for c in args.ckpt) + " |")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
