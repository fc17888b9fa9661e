"""Frames per second of `run_estimator.py clip.mp4` (read -> detect_poses per batch -> tracking -> smoothing -> .npz
and overlay) on a rendered 640x480 clip of one walking person.

    python bench/video_speed.py --ckpt EST --detector DET [--rootnet RN] [--frames 50] [--threads 2]

The clip is a built-in synthetic walk (lifting.synth.poses) rendered as mannequins 4.5 m in front of a camera 1 m
above the floor with a 55 deg field of view, written to `--clip` (default runs/bench_video/clip.mp4). The whole
command is timed, model loading and the overlay video included, in-process on `--threads` CPU threads; run it on an
otherwise idle machine.
"""

import importlib.util
import sys
import time
from pathlib import Path

import numpy as np
import torch

from lifting.cli import ArgumentParser, add_option, check_output, run_cli
from lifting.config import opt

FRAMES = opt(int, 50, "frames in the clip", minimum=2, maximum=10_000)
THREADS = opt(int, 2, "CPU threads", minimum=1, maximum=256)
FPS = 25.0
WIDTH, HEIGHT = 640, 480
# World (z up, floor at z = 0) -> camera (x right, y down, z forward): a camera 1 m up, the walker 4.5 m ahead.
R_WORLD_TO_CAM = np.array([[1.0, 0, 0], [0, 0, -1.0], [0, 1.0, 0]])
T_WORLD_TO_CAM = np.array([0.0, 1000.0, 4500.0])


def render_clip(path: Path, frames: int) -> Path:
    """One synthetic person walking, rendered to an MP4 of `frames` frames at 640x480."""
    from lifting.datasets.videos import write_video
    from lifting.geometry.cameras import default_intrinsics
    from lifting.geometry.skeletons import convert
    from lifting.synth.poses import synthetic_sequence
    from lifting.synth.render import render_mannequin

    rng = np.random.default_rng(0)
    world = convert(synthetic_sequence("Walking", frames, rng, np.ones(32), extent=0.5), "h36m_32", "h36m_17")
    cam = world @ R_WORLD_TO_CAM.T + T_WORLD_TO_CAM
    K = torch.as_tensor(default_intrinsics(WIDTH, HEIGHT), dtype=torch.float32)
    generator = torch.Generator().manual_seed(0)

    def images():
        for i in range(0, frames, 16):
            batch = render_mannequin(torch.as_tensor(cam[i:i + 16], dtype=torch.float32), K, (HEIGHT, WIDTH),
                                     generator, occluder_prob=0.0).image
            yield from (batch.permute(0, 2, 3, 1).clamp(0, 1) * 255).round().byte().numpy()

    return write_video(path, images(), FPS)


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/video_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", type=Path, required=True, help="a trained estimator (run directory or checkpoint)")
    p.add_argument("--detector", type=Path, required=True, help="a trained person detector")
    p.add_argument("--rootnet", type=Path, default=None, help="a trained RootNet (default: the estimator's roots)")
    p.add_argument("--clip", type=Path, default=Path("runs/bench_video/clip.mp4"), help="where the clip is written")
    add_option(p, "--frames", FRAMES)
    add_option(p, "--threads", THREADS)
    args = p.parse_args(argv)
    clip = check_output(args.clip, "--clip", (".mp4",))
    torch.set_num_threads(args.threads)
    render_clip(clip, args.frames)
    spec = importlib.util.spec_from_file_location("run_estimator", Path(__file__).resolve().parents[1] /
                                                  "run_estimator.py")
    run_estimator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_estimator)
    command = [str(clip), "--ckpt", str(args.ckpt), "--detector", str(args.detector), "--smooth",
               "--out", str(clip.with_suffix(".npz")), "--overlay", str(clip.with_name(clip.stem + "_poses.mp4"))]
    command += ["--rootnet", str(args.rootnet)] if args.rootnet else []
    start = time.perf_counter()
    code = run_estimator.main(command)
    seconds = time.perf_counter() - start
    if code:
        return code
    print(f"run_estimator.py on {args.frames} frames of {WIDTH}x{HEIGHT}, one person, {args.threads} CPU threads: "
          f"{seconds:.1f} s, {args.frames / seconds:.1f} frames per second (model loading and overlay included)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
