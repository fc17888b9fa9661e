"""Mannequin renderer throughput: images/s of render_mannequin, and of render + augmented perspective crop.

    python bench/render_speed.py                 # CPU at 128 px (2 threads); CUDA at 256 px if available
    python bench/render_speed.py --seconds 5 --batch 64

"direct": render straight into the crop camera (K_crop, R from `crop_camera`), the way a training loop can make
crops on the fly. "full+crop": render a full camera view at twice the crop size, then `make_crops` with
training augmentation (resampling, colour jitter, occluders/erasing). Backgrounds and occluders are on.
Timings: one warm-up batch, then whole batches until --seconds have passed (CUDA synchronised).
"""

import math
import sys
import time

import torch

from lifting.augment.crops import CropAugmentation, crop_camera, make_crops, to_crop_frame
from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.geometry.cameras import project_joints
from lifting.geometry.skeletons import H36M_17
from lifting.synth.render import render_mannequin

# A standing person (camera frame at identity rotation: x right, y down, z forward; mm), pelvis at the origin.
_STAND = {
    "mid_hip": (0, 0, 0), "right_hip": (-130, 0, 0), "right_knee": (-140, 440, 0), "right_ankle": (-140, 890, 0),
    "left_hip": (130, 0, 0), "left_knee": (140, 440, 0), "left_ankle": (140, 890, 0),
    "mid_spine": (0, -233, 0), "neck": (0, -490, 0), "chin": (0, -610, -20), "head": (0, -725, -10),
    "left_shoulder": (150, -490, 0), "left_elbow": (170, -210, 0), "left_wrist": (180, 40, -40),
    "right_shoulder": (-150, -490, 0), "right_elbow": (-170, -210, 0), "right_wrist": (-180, 40, -40),
}


def random_people(n: int, generator: torch.Generator) -> torch.Tensor:
    """(n, 17, 3) camera-frame mm: the standing pose turned about the vertical, jittered, 3.5-6 m away."""
    base = torch.tensor([_STAND[name] for name in H36M_17.joint_names], dtype=torch.float32)
    a = 2 * math.pi * torch.rand(n, generator=generator)
    rot = torch.zeros(n, 3, 3)
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 2, 0], rot[:, 2, 2] = a.cos(), a.sin(), -a.sin(), a.cos()
    rot[:, 1, 1] = 1
    joints = base @ rot.transpose(1, 2) + torch.randn(n, 17, 3, generator=generator) * 40
    offset = torch.stack([torch.rand(n, generator=generator) * 1600 - 800, torch.zeros(n),
                          3500 + 2500 * torch.rand(n, generator=generator)], -1)
    return joints + offset[:, None]


def full_camera(size: int, n: int) -> torch.Tensor:
    """Intrinsics of a Human3.6M-like camera (f = 1.15 x image width) scaled to `size` px."""
    K = torch.tensor([[1.15 * size, 0, (size - 1) / 2], [0, 1.15 * size, (size - 1) / 2], [0, 0, 1]])
    return K.expand(n, 3, 3).clone()


def person_boxes(joints: torch.Tensor, K: torch.Tensor) -> torch.Tensor:
    uv = project_joints(joints, K)
    lo, hi = uv.amin(1), uv.amax(1)
    pad = 0.15 * (hi - lo).amax(-1, keepdim=True)
    return torch.cat([lo - pad, hi - lo + 2 * pad], -1)


def timed(step, seconds: float, sync) -> tuple[float, int]:
    step(0)
    sync()
    t0, done = time.perf_counter(), 0
    while time.perf_counter() - t0 < seconds:
        done += step(done + 1)
        sync()
    return done / (time.perf_counter() - t0), done


def bench(device: torch.device, crop: int, batch: int, seconds: float) -> None:
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    g = torch.Generator().manual_seed(0)
    people = [random_people(batch, g) for _ in range(4)]
    cams = full_camera(2 * crop, batch)
    boxes = [person_boxes(p, cams) for p in people]

    def direct(i: int) -> int:
        aug = CropAugmentation.sample(batch, g)
        K_crop, R = crop_camera(cams, boxes[i % 4], crop, aug)
        joints = to_crop_frame(people[i % 4].double(), R, aug.flip).float()
        render_mannequin(joints.to(device), K_crop.float().to(device), (crop, crop), g)
        return batch

    def full_then_crop(i: int) -> int:
        joints = people[i % 4].to(device)
        full = render_mannequin(joints, cams.to(device), (2 * crop, 2 * crop), g)
        make_crops(full.image, cams.to(device), boxes[i % 4].to(device), joints, crop, True, g,
                   truncation_prob=0.2)
        return batch

    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {torch.get_num_threads()} threads"
    for label, step, px in (("direct", direct, crop), ("full+crop", full_then_crop, 2 * crop)):
        rate, count = timed(step, seconds, sync)
        print(f"{name:<28} {label:<10} crop {crop:>3} px (render {px:>3} px)  batch {batch:>3}: "
              f"{rate:8.1f} images/s  ({count} images)")


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/render_speed.py", description=__doc__.splitlines()[0])
    add_option(p, "--seconds", opt(float, 10.0, "timed seconds per configuration", exclusive_minimum=0, maximum=3600))
    add_option(p, "--batch", opt(int, 32, "CPU batch size", minimum=1, maximum=4096))
    add_option(p, "--cuda-batch", opt(int, 128, "CUDA batch size", minimum=1, maximum=65_536))
    add_option(p, "--threads", opt(int, 2, "CPU threads", minimum=1, maximum=256))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    bench(torch.device("cpu"), 128, args.batch, args.seconds)
    if torch.cuda.is_available():
        bench(torch.device("cuda"), 256, args.cuda_batch, args.seconds)
    else:
        print("cuda not available")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
