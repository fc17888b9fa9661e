"""Frames per second of `run_estimator.py clip.mp4` (read -> detect_poses per batch -> tracking -> smoothing -> .npz
and overlay) on a rendered 640x480 clip of one walking person.

    python bench/video_speed.py [--ckpt EST] [--detector DET] [--rootnet RN] [--frames 50] [--threads 2]

Without --ckpt / --detector it runs the zoo models (run_estimator.py's defaults). The clip is a built-in synthetic
walk (lifting.synth.poses) rendered as a mannequin 4.5 m in front of a camera 1 m above the floor with a 55 deg
field of view (lifting.synth.clips), written to `--clip` (default runs/bench_video/clip.mp4). The whole
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


def render_clip(path: Path, frames: int) -> Path:
    """One synthetic person walking 4.5 m ahead of a camera 1 m up, rendered to an MP4 of `frames` frames."""
    from lifting.geometry.skeletons import convert
    from lifting.synth.clips import make_clip, write_clip
    from lifting.synth.poses import synthetic_sequence

    walk = synthetic_sequence("Walking", frames, np.random.default_rng(0), np.ones(32), extent=0.5)
    clip = make_clip([convert(walk, "h36m_32", "h36m_17")], np.array([[0.0, 4500.0]]), FPS, WIDTH, HEIGHT,
                     camera_height_mm=1000.0, pitch_deg=0.0)
    return write_clip(path, clip)[0]


def run(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/video_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--ckpt", help="estimator: a run directory, checkpoint or zoo name (default: run_estimator.py's)")
    p.add_argument("--detector", help="person detector: run directory, checkpoint or zoo name (default: the zoo's)")
    p.add_argument("--rootnet", help="a RootNet (default: the estimator's own roots)")
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
    command = [str(clip), "--smooth", "--out", str(clip.with_name(clip.stem + "_poses.npz")),
               "--overlay", str(clip.with_name(clip.stem + "_poses.mp4"))]
    for flag in ("ckpt", "detector", "rootnet"):
        command += [f"--{flag}", getattr(args, flag)] if getattr(args, flag) else []
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
