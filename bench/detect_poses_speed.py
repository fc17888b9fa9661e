"""Frames per second of detect_poses (detector -> roots -> poses -> filter -> 3D NMS) on 640x480 images of 3 people.

    python bench/detect_poses_speed.py                                   # untrained models of the tiny configs' sizes
    python bench/detect_poses_speed.py --detector DET --estimator EST --rootnet RN --device cuda

The images are scenes of exactly 3 people rendered from S8 poses (built-in synthetic data unless --data-dir). Without
trained runs the models are random-init at the sizes opts/*_tiny.yaml train (detector: MobileNetV3-Large FCOS,
64 channels; estimator and RootNet: ResNet-18, 128 px crops); the untrained detector runs on every frame but its
boxes are specks, so the people are then cropped from the scene's true boxes (3 per frame, as a trained one finds).
Timing: one warm-up frame, then frame by frame (CUDA synchronised), for the MeTRAbs roots and for RootNet's.
"""

import sys
import time

import numpy as np
import torch

from lifting.checkpoint import select_device
from lifting.cli import ArgumentParser, add_option, run_cli
from lifting.config import opt
from lifting.inference.multiperson import detect_poses
from lifting.models.detector import PersonDetector
from lifting.models.metro import MetroNet
from lifting.models.rootnet import RootNet
from lifting.synth.poses import pose_data_dir
from lifting.synth.scenes import SceneOptions, load_pose_pool, render_scenes, sample_scenes


def models(args, device: torch.device) -> dict[str, torch.nn.Module | str]:
    """The given runs (loaded by detect_poses), or random-init models of the tiny configs' sizes."""
    torch.manual_seed(0)
    out = {"detector": args.detector or PersonDetector("mobilenet_v3_large", 64, (192, 256)),
           "estimator": args.estimator or MetroNet(backbone="resnet18", stride=32, crop_size=128),
           "rootnet": args.rootnet or RootNet(backbone="resnet18", crop_size=128, head_channels=128)}
    return {k: v.to(device).eval() if isinstance(v, torch.nn.Module) else v for k, v in out.items()}


def _main(argv: list[str] | None) -> int:
    p = ArgumentParser(prog="bench/detect_poses_speed.py", description=__doc__.splitlines()[0])
    p.add_argument("--detector", metavar="RUN", help="a main_detector.py run (default: untrained, true boxes)")
    p.add_argument("--estimator", metavar="RUN", help="a main_metro.py run (default: untrained)")
    p.add_argument("--rootnet", metavar="RUN", help="a main_rootnet.py run (default: untrained)")
    p.add_argument("--data-dir", default="synthetic", help="h5-layout poses with S8 (default: the built-in data)")
    p.add_argument("--cache-dir", default="cache", help="where the built-in data is generated (default cache)")
    add_option(p, "--frames", opt(int, 10, "timed frames", minimum=1, maximum=100_000))
    add_option(p, "--threads", opt(int, 2, "CPU threads", minimum=1, maximum=1024))
    p.add_argument("--device", choices=("auto", "cpu", "cuda"), default="cpu")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    device = select_device(args.device)
    opts = SceneOptions(width=640, height=480, people=(3, 3)).check()
    pool = load_pose_pool(pose_data_dir(args.data_dir, args.cache_dir), [8], stride=50)
    scenes = sample_scenes(pool, args.frames + 1, opts, np.random.default_rng(0))
    rendered = render_scenes(scenes, torch.Generator().manual_seed(0))
    images = rendered.image.to(device)
    xyxy = [rendered.boxes[i][rendered.in_view[i]].double().numpy() for i in range(len(images))]
    true_boxes = [np.concatenate([b[:, :2], b[:, 2:] - b[:, :2]], 1) for b in xyxy]
    m = models(args, device)
    trained = args.detector is not None
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    name = torch.cuda.get_device_name(0) if device.type == "cuda" else f"CPU, {args.threads} threads"
    print(f"detect_poses, {args.frames} frames of 640x480 px with 3 people, {name}"
          + ("" if trained else " (untrained: the detector runs, the people are cropped from the true boxes)"))
    for roots in ("metrabs", "rootnet"):
        rootnet = m["rootnet"] if roots == "rootnet" else None
        people = []
        for i in range(len(images)):
            if i == 1:   # after the warm-up frame
                sync()
                t0 = time.perf_counter()
            if trained:
                out = detect_poses(images[i:i + 1], m["detector"], m["estimator"], rootnet, scenes.K[i], roots=roots)
            else:        # an untrained detector's boxes are specks: time it, then crop the true people
                with torch.no_grad():
                    m["detector"](images[i:i + 1])
                out = detect_poses(images[i:i + 1], None, m["estimator"], rootnet, scenes.K[i],
                                   boxes=true_boxes[i:i + 1], roots=roots, plausibility=None, nms_mm=None)
            people.append(len(out[0]["scores"]))
        sync()
        fps = args.frames / (time.perf_counter() - t0)
        print(f"  roots {roots}: {fps:.2f} frames/s ({np.mean(people[1:]):.1f} people per frame)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(_main, argv)


if __name__ == "__main__":
    sys.exit(main())
