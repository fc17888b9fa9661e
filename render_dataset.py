"""Render a COCO-style image dataset of the mannequin posed by Human3.6M 3D poses: one person per camera view
(parsed-Human3.6M layout), or with --scenes N, N scenes of several people each (MuCo-3DHP-like layout), or with
--clip OUT.mp4 a video of people moving as in the motion data (ground truth beside it in OUT.npz, the 2D in
OUT_2d.npy).

    python render_dataset.py --data-dir ../shared/data/h36m --subjects 1,5,6,7,8 --stride 50 --out data/h36m_rendered
    python render_dataset.py --data-dir synthetic --subjects 1,5 --stride 20 --size 256 --out data/synthetic_rendered
    python render_dataset.py --data-dir ../shared/data/h36m --subjects 8 --stride 10 --scenes 500 \\
        --people-per-image 1,4 --scene-size 640,480 --split test --out data/scenes
    python render_dataset.py --data-dir synthetic --subjects 9 --clip clip.mp4 --clip-people 2
"""

import sys

from lifting.cli import ArgumentParser, add_option, check_output, run_cli
from lifting.config import AT_LEAST_ONE, NON_NEGATIVE, PROBABILITY, opt
from lifting.datasets.h36m import ACTIONS
from lifting.errors import UserError
from lifting.fileio import check_output_dir
from lifting.options.common import CAMERA_LIST, MAX_STRIDE, SUBJECT_LIST

# Scene mode (comma-separated MIN,MAX and WIDTH,HEIGHT values, typed and range-checked as they are parsed).
SCENES = opt(int, 0, "render this many multi-person scenes instead of one image per camera view (0: off)",
             **NON_NEGATIVE, maximum=10 ** 7)
PEOPLE = opt(list, [1, 4], "MIN,MAX people per scene", item=int, nonempty=True, minimum=1, maximum=16)
DISTANCE = opt(list, [2000.0, 9000.0], "MIN,MAX ground distance of a person from the camera, mm", item=float,
               nonempty=True, minimum=500, maximum=50_000)
SCENE_SIZE = opt(list, [640, 480], "WIDTH,HEIGHT of a scene image, px", item=int, nonempty=True, minimum=32,
                 maximum=8192)
CLIP_PEOPLE = opt(int, 1, "clip mode: people in the clip, each from another recording of --clip-action", minimum=1,
                  maximum=8)
CLIP_FRAMES = opt(int, 100, "clip mode: frames in the clip (every --stride-th frame of the recordings)", minimum=2,
                  maximum=100_000)
CLIP_FPS = opt(float, 10.0, "clip mode: frame rate of the motion data after --stride (the shared set: 10)",
               minimum=0.1, maximum=1000)


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="render_dataset.py", description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", required=True,
                   help="h5-annotation data directory (cameras.h5 + S<s>/MyPoses/3D_positions), or 'synthetic'")
    add_option(p, "--subjects", opt(list, [1, 5, 6, 7, 8], "subjects whose poses are rendered", **SUBJECT_LIST),
               metavar="S,S")
    add_option(p, "--stride", opt(int, None, "keep frames 0, N, 2N ... of every recording (default 10; 1 with --clip)",
                                  nullable=True, **AT_LEAST_ONE, maximum=MAX_STRIDE))
    add_option(p, "--cameras", opt(list, [1, 2, 3, 4], "cameras (single-person mode)", **CAMERA_LIST), metavar="C,C")
    add_option(p, "--size", opt(int, 256, "longer side of the rendered full camera image, px (single-person mode)",
                                minimum=16, maximum=8192))
    p.add_argument("--out", help="output dataset root (images/, annotations/); not with --clip")
    add_option(p, "--seed", opt(int, 0, "seed of the renderer (appearance, occluders, scene layout)", **NON_NEGATIVE,
                                maximum=2 ** 32 - 1))
    add_option(p, "--batch-size", opt(int, 16, "images rendered at once", **AT_LEAST_ONE, maximum=4096))
    add_option(p, "--occluder-prob", opt(float, 0.3, "share of images with an occluder (single-person mode)",
                                         **PROBABILITY))
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--synthetic-size", default="default", choices=["default", "tiny"])
    p.add_argument("--cache-dir", default="cache", help="where the synthetic poses and pose caches live")
    add_option(p, "--threads", opt(int, 2, "CPU threads for rendering", **AT_LEAST_ONE, maximum=1024))
    add_option(p, "--scenes", SCENES)
    add_option(p, "--people-per-image", PEOPLE, count=2)
    add_option(p, "--distance", DISTANCE, count=2)
    add_option(p, "--scene-size", SCENE_SIZE, count=2)
    p.add_argument("--clip", help="render a video (.mp4 or .gif) of --clip-people people instead of a dataset")
    p.add_argument("--clip-action", default="Walking", choices=ACTIONS, help="clip mode: the motion (default Walking)")
    add_option(p, "--clip-people", CLIP_PEOPLE)
    add_option(p, "--clip-frames", CLIP_FRAMES)
    add_option(p, "--fps", CLIP_FPS)
    p.add_argument("--split", default=None,
                   help="scene mode: name of the annotation file and image folder (default: S<subjects>, e.g. S8)")
    return p


def run(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    for flag, values in (("--people-per-image", args.people_per_image), ("--distance", args.distance)):
        if values[0] > values[1]:
            raise UserError(f"{flag} {values[0]},{values[1]}: expected MIN,MAX with MIN <= MAX")
    if args.device not in ("cpu", "cuda") and not args.device.startswith("cuda:"):
        raise UserError(f"--device {args.device!r}: expected cpu, cuda or cuda:N")
    split = args.split or "S" + "_".join(str(s) for s in args.subjects)
    if not split.replace("_", "").replace("-", "").isalnum():
        raise UserError(f"--split {split!r}: expected letters, digits, '_' or '-' (it names a file and a folder)")
    if (args.out is None) == (args.clip is None):
        raise UserError("expected exactly one of --out DIR (a dataset) and --clip OUT.mp4 (a video)")
    if args.clip is not None:
        check_output(args.clip, "--clip", (".mp4", ".gif"))
    else:
        check_output_dir(args.out, "--out")
    check_output_dir(args.cache_dir, "--cache-dir")
    stride = args.stride or (1 if args.clip else 10)

    import torch  # the heavy imports only once the arguments are known to be usable
    from tqdm import tqdm

    from lifting.synth.poses import pose_data_dir

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"--device {args.device}: cuda not available")
    torch.set_num_threads(args.threads)
    data_dir = pose_data_dir(args.data_dir, args.cache_dir, args.synthetic_size)
    if args.clip:
        return _clip(args, data_dir, stride)
    if args.scenes:
        from lifting.synth.scenes import SceneOptions, load_pose_pool
        from lifting.synth.writer import write_scene_dataset

        options = SceneOptions(width=args.scene_size[0], height=args.scene_size[1],
                               people=tuple(args.people_per_image), distance_mm=tuple(args.distance)).check()
        pool = load_pose_pool(data_dir, args.subjects, stride)
        with tqdm(total=args.scenes, desc="rendering scenes", unit="img") as bar:
            images, people = write_scene_dataset(args.out, split, pool, args.scenes, options, seed=args.seed,
                                                 batch_size=args.batch_size, device=args.device, progress=bar.update)
        print(f"wrote {images} scenes with {people} people (poses of subjects {args.subjects}) to {args.out}: "
              f"annotations/{split}.json")
        return 0

    from lifting.datasets.h36m import load_h36m
    from lifting.geometry.cameras import load_h36m_cameras
    from lifting.synth.writer import write_rendered_dataset

    poses = load_h36m(data_dir, args.subjects, stride=stride, cameras=args.cameras, cache_dir=args.cache_dir)
    cameras = load_h36m_cameras(data_dir / "cameras.h5")
    with tqdm(total=len(poses), desc="rendering", unit="img") as bar:
        count = write_rendered_dataset(args.out, poses, image_size=args.size, stride=1, seed=args.seed,
                                       cameras=cameras, batch_size=args.batch_size, device=args.device,
                                       occluder_prob=args.occluder_prob, progress=bar.update)
    print(f"wrote {count} images and annotations for subjects {args.subjects} to {args.out}")
    return 0


def _clip(args, data_dir, stride: int) -> int:
    """One recording of --clip-action per person, side by side on the floor 5 m ahead (people in a row 1.2 m apart,
    alternately 0.8 m nearer and farther), so their paths may cross."""
    import numpy as np
    from tqdm import tqdm

    from lifting.datasets.h36m import find_pose_files, read_pose_file
    from lifting.geometry.skeletons import convert
    from lifting.synth.clips import make_clip, write_clip

    files = find_pose_files(data_dir, args.subjects, [args.clip_action])
    n, frames = args.clip_people, args.clip_frames
    if len(files) < n:
        raise UserError(f"--clip-people {n}: the subjects {args.subjects} have only {len(files)} recordings of "
                        f"{args.clip_action}")
    motions = [read_pose_file(path)[::stride][:frames] for *_, path in files[:n]]
    length = min(len(m) for m in motions)
    if length < 2:
        raise UserError(f"--stride {stride}: the {args.clip_action} recordings keep fewer than 2 frames")
    motions = [convert(m[:length].astype(np.float64), "h36m_32", "h36m_17") for m in motions]
    x = np.linspace(-600.0 * (n - 1), 600.0 * (n - 1), n)
    spots = np.stack([x, 5000.0 + 800.0 * (np.arange(n) % 2 - 0.5) * (n > 1)], -1)
    clip = make_clip(motions, spots, args.fps / 1.0)
    with tqdm(total=length, desc="rendering clip", unit="frame") as bar:
        video, truth, keypoints = write_clip(args.clip, clip, seed=args.seed, device=args.device,
                                             progress=bar.update)
    print(f"wrote {video} ({length} frames, {n} {'person' if n == 1 else 'people'}, {args.fps:g} fps), its ground "
          f"truth {truth} and the true 2D keypoints {keypoints} ((T, P, 17, 2) px, for run_model.py)")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
