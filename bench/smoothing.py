"""Benchmark: temporal smoothing of lifted sequences with noisy 2D, MPJPE and MPJVE with and without it.

    python bench/smoothing.py --data-dir DIR [--ckpt RUN | --epochs 6] [--noise 10] [--window 5,7,9 --order 2]

Human3.6M S8 sequences (one per action recording and camera) at `--fps` (the shared data holds every 5th frame of
the 50 Hz capture: 10 fps; `--stride` thins it further), Gaussian noise of `--noise` px on each
2D coordinate, lifted frame by frame by a lifter trained on S1,5,6,7 (opts/h36.yaml with `--epochs`, trained here
unless `--ckpt` names a run), then smoothed in time (lifting.inference.smoothing) either on the 3D output or on the 2D
input. Prints MPJPE (mm, action-wise mean, root-relative camera frame) and MPJVE (VideoPose3D's mean per-joint
velocity error, mm per frame, frame-wise mean) for each.
"""

import sys

import numpy as np

from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import load_config, opt
from lifting.options.h36m import SCHEMA


def sequences(poses) -> list[np.ndarray]:
    """Row indices of each (subject, action, subaction, camera) sequence, in frame order."""
    keys = np.stack([poses.subject.astype(str), poses.action, poses.subaction.astype(str),
                     poses.camera.astype(str)], 1)
    _, seq = np.unique(keys, axis=0, return_inverse=True)
    return [np.flatnonzero(seq.ravel() == s)[np.argsort(poses.frame[seq.ravel() == s])] for s in range(seq.max() + 1)]


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/smoothing.py", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True)
    p.add_argument("--ckpt", default=None, help="a trained lifting run (default: train one on S1,5,6,7 here)")
    add_option(p, "--epochs", SCHEMA["epochs"], default=6)
    p.add_argument("--out", default="runs/bench_smoothing")
    add_option(p, "--fps", opt(float, 10.0, "frame rate of the data dir's sequences", exclusive_minimum=0,
                               maximum=10_000))
    add_option(p, "--stride", SCHEMA["stride"], help="keep every n-th frame of each sequence")
    add_option(p, "--noise", opt(float, 10.0, "2D noise std, px", minimum=0, maximum=10_000))
    add_option(p, "--seed", SCHEMA["seed"])
    add_option(p, "--window", opt(list, None, "Savitzky-Golay windows to try, frames", nullable=True, item=int,
                                  nonempty=True, minimum=1, maximum=100_001))
    add_option(p, "--order", opt(int, None, "Savitzky-Golay polynomial order", nullable=True, minimum=0,
                                 maximum=100_000))
    add_option(p, "--min-cutoff", opt(list, None, "One-Euro min cutoffs to try, Hz", nullable=True, item=float,
                                      nonempty=True, exclusive_minimum=0, maximum=10_000))
    add_option(p, "--beta", opt(float, None, "One-Euro speed coefficient", nullable=True, minimum=0, maximum=1e6))
    a = p.parse_args(argv)

    from lifting.checkpoint import load_trained
    from lifting.datasets.h36m import load_h36m
    from lifting.datasets.normalize import Stats
    from lifting.geometry.skeletons import get_skeleton
    from lifting.inference import smoothing
    from lifting.inference.lifter import lift
    from lifting.metrics import evaluate_poses, mpjve_errors

    ckpt = a.ckpt
    if ckpt is None:
        from lifting.tasks import run_task

        cfg = load_config(SCHEMA, "opts/h36.yaml", [f"data_dir={a.data_dir}", "train_subjects=[1,5,6,7]",
                                                    "test_subjects=[8]", f"epochs={a.epochs}", f"out_dir={a.out}",
                                                    "progress=false", "threads=1"])
        run_task("lifting", cfg)
        ckpt = a.out
    trained = load_trained(ckpt, "lifter")
    model, stats = trained.model, Stats.from_dict(trained.task["stats"])
    skeleton = get_skeleton(trained.config["skeleton"])
    root = skeleton.root
    poses = load_h36m(a.data_dir, [8], stride=a.stride, skeleton=skeleton.name)
    fps = a.fps / a.stride
    rng = np.random.default_rng(a.seed)
    noisy = poses.joints2d_px + rng.normal(0.0, a.noise, poses.joints2d_px.shape)
    gt = poses.joints3d_cam - poses.joints3d_cam[:, root:root + 1]
    seqs = sequences(poses)
    lifted = lift(model, stats, noisy, root)
    print(f"lifter {ckpt}; S8 at {fps:g} fps: {len(seqs)} sequences, {len(gt)} frames; 2D noise {a.noise:g} px")

    def report(name: str, pred: np.ndarray) -> None:
        mpjpe = evaluate_poses(pred, gt, poses.action, root)["mpjpe"]
        vel = np.concatenate([mpjve_errors(pred[s], gt[s]).ravel() for s in seqs])
        print(f"{name:<40} MPJPE {mpjpe:6.1f} mm   MPJVE {np.nanmean(vel):6.2f} mm/frame")

    def per_sequence(x: np.ndarray, method: str, **params) -> np.ndarray:
        out = x.copy()
        for s in seqs:
            out[s] = smoothing.smooth(x[s], method, fps, **params)
        return out

    report("no smoothing", lifted)
    sg = {} if a.order is None else {"order": a.order}
    for w in a.window or [smoothing.DEFAULT_WINDOW]:
        report(f"savgol window {w} (3D output)", per_sequence(lifted, "savgol", window=w, **sg))
        smoothed_in = lift(model, stats, per_sequence(noisy, "savgol", window=w, **sg), root)
        report(f"savgol window {w} (2D input)", smoothed_in)
        report(f"savgol window {w} (2D input and 3D output)", per_sequence(smoothed_in, "savgol", window=w, **sg))
    oe = {} if a.beta is None else {"beta": a.beta}
    for c in a.min_cutoff or [smoothing.DEFAULT_MIN_CUTOFF_HZ]:
        report(f"one_euro min_cutoff {c:g} Hz (3D output)", per_sequence(lifted, "one_euro", min_cutoff=c, **oe))
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
