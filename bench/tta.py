"""Test-time augmentation (MeTRAbs 5-crop schedule) against a single crop on full-size renderings of S8 poses:
MPJPE, PA-MPJPE, MRPE and seconds per image.

    python bench/tta.py --ckpt runs/metro_tiny --data-dir ../shared/data/h36m
    python bench/tta.py --ckpt runs/metro_tiny --data-dir ../shared/data/h36m --images 200 --threads 2 --aug 1,3,5

Every image is a mannequin rendering (seeded background and occluders) of one S8 pose at the full resolution of its
Human3.6M camera (1000 x 1000 / 1002 px, no lens distortion), with the box around the projected joints padded by
12 % of its larger side (as in training). `estimate_poses` runs on one image at a time (its crops in one batch) on
--threads CPU threads; the time per image includes cropping (pyramid, warp) and reconstruction, not rendering.
Errors in mm over all 17 joints (root included), camera frame; MRPE is the absolute root error.
"""

import sys
import time

import numpy as np
import torch

from lifting import metrics
from lifting.checkpoint import load_trained
from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.datasets.crop_sources import evenly_spaced, person_boxes
from lifting.datasets.h36m import load_h36m
from lifting.geometry.calibration import CAMERA_IDS, IMAGE_SIZES
from lifting.inference import estimate_poses
from lifting.synth.poses import pose_data_dir
from lifting.synth.render import project_joints, render_mannequin


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/tta.py", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", required=True, help="estimator run dir or checkpoint (a CPU run such as metro_tiny)")
    p.add_argument("--data-dir", default="synthetic", help="h5-layout poses with S8 (default: the built-in data)")
    add_option(p, "--images", opt(int, 100, "rendered test images, evenly spread over S8", minimum=1,
                                  maximum=100_000))
    add_option(p, "--aug", opt(list, [1, 5], "num_aug values to compare", item=int, nonempty=True, minimum=1,
                               maximum=64))
    add_option(p, "--threads", opt(int, 2, "CPU threads", minimum=1, maximum=256))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    model = load_trained(args.ckpt, "estimator").model
    poses = load_h36m(pose_data_dir(args.data_dir, "cache"), [8], cache_dir="cache")
    poses = poses.subset(evenly_spaced(len(poses), args.images))
    images, boxes, K = [], [], []
    for i in range(len(poses)):
        w, h = IMAGE_SIZES[CAMERA_IDS[int(poses.camera[i]) - 1]]
        k = np.array([[poses.cam_f[i, 0], 0, poses.cam_c[i, 0]], [0, poses.cam_f[i, 1], poses.cam_c[i, 1]], [0, 0, 1]])
        joints = torch.as_tensor(poses.joints3d_cam[i:i + 1]).float()
        kt = torch.as_tensor(k).float()[None]
        images.append(render_mannequin(joints, kt, (h, w), torch.Generator().manual_seed(i)).image[0])
        boxes.append(person_boxes(project_joints(joints.double(), kt.double()))[0].numpy())
        K.append(k)
    gt = poses.joints3d_cam.astype(np.float64)
    print(f"{args.ckpt}: {len(images)} rendered S8 images, crop {model.crop_size} px, {args.threads} CPU threads")
    print("| num_aug | MPJPE | PA-MPJPE | MRPE | s / image |\n|---|---|---|---|---|")
    for n in args.aug:
        pred, seconds = [], []
        with torch.inference_mode():
            for image, box, k in zip(images, boxes, K):
                t0 = time.perf_counter()
                pred.append(estimate_poses(model, [image], [box], k, num_aug=n)["poses3d_abs"][0])
                seconds.append(time.perf_counter() - t0)
        pred = np.stack(pred)
        print(f"| {n} | {metrics.mpjpe_errors(pred, gt).mean():.1f} | {metrics.pa_mpjpe_errors(pred, gt).mean():.1f} "
              f"| {metrics.mrpe(pred[:, 0], gt[:, 0])['mrpe']:.1f} | {np.median(seconds[1:] or seconds):.3f} |")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
