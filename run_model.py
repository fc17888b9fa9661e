"""Lift 2D keypoints of your own data to 3D with a trained lifter; draw, save and animate them.

    python run_model.py poses.npy --ckpt runs/quickstart --out fig.png --save-3d poses3d.npy
    python run_model.py results.json --format coco_17 --image-size 1920,1080 --save-3d poses3d.npz
    python run_model.py openpose_frames/ --animation walk.gif        # one OpenPose JSON per frame, one person
    python run_model.py ../shared/data/lsp/joints.mat --save-3d lsp3d.npz

Input: .npy (pixels, with an optional confidence per keypoint), COCO-style or OpenPose JSON, LSP joints.mat; any
keypoint format of `lifting.geometry.keypoint_formats` (--format; default: the lifter's own joints for .npy,
coco_17 for COCO-style JSON, openpose_25 for OpenPose JSON, lsp_14 for .mat). Keypoints are converted to
Human3.6M-17 (pelvis, spine, thorax, head synthesised where the format lacks them) and then to the lifter's input
joints. Output: (N, J, 3) mm in the lifter's output joints, root-relative camera frame (x right, y down,
z forward); .npz outputs and a .json beside a .npy output carry the joint names, units and each row's source.
"""

import json
import sys
from pathlib import Path

import numpy as np

from lifting.cli import CAMERA_FRAME, ArgumentParser, add_option, check_output, run_cli
from lifting.config import opt
from lifting.errors import UserError
from lifting.geometry.keypoint_formats import FORMATS

FOCAL = opt(float, None, "focal length of your camera, px: scale the 2D by the training cameras' focal length over "
            "this (people about 5 m away); default: scale every pose to the training data's 2D size", nullable=True,
            exclusive_minimum=0, maximum=1e6)
IMAGE_SIZE = opt(int, None, "image size W,H in px: keypoints more than one image size outside it are an error",
                 nullable=True, minimum=1, maximum=100_000)
MIN_CONFIDENCE = opt(float, 0.1, "keypoints with a lower confidence are missing", minimum=0, maximum=1)
MIN_KEYPOINTS = opt(int, 4, "poses with fewer present keypoints are skipped", minimum=1, maximum=1000)
FPS = opt(float, 10.0, "animation frame rate", exclusive_minimum=0, maximum=1000)
MAX_FIGURE_POSES = opt(int, 4, "poses drawn in the figure", minimum=1, maximum=100)


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="run_model.py", description=__doc__.splitlines()[0])
    p.add_argument("poses", type=Path, nargs="+", help=".npy, .json (COCO-style or OpenPose; a directory: its "
                   "*.json files in name order) or LSP joints.mat keypoint files")
    p.add_argument("--format", default=None, help=f"keypoint format of the input ({', '.join(FORMATS)}); default: "
                   "see above")
    add_option(p, "--focal", FOCAL)
    add_option(p, "--image-size", IMAGE_SIZE, count=2, metavar="W,H")
    add_option(p, "--min-confidence", MIN_CONFIDENCE)
    p.add_argument("--missing", choices=("fill", "error"), default="fill",
                   help="fill: place missing joints on the nearest present joint and skip poses with fewer than "
                   "--min-keypoints keypoints (default); error: stop at the first missing keypoint")
    add_option(p, "--min-keypoints", MIN_KEYPOINTS)
    p.add_argument("--ckpt", type=Path, default=Path("runs/quickstart"),
                   help="run directory (last.pt, else best.pt) or checkpoint file of a trained lifter")
    p.add_argument("--out", type=Path, default=None, help="figure (.png/.pdf/.svg); default <first input>_3d.png")
    p.add_argument("--save-3d", type=Path, default=None,
                   help="write the 3D poses: .npy (plus a .json of metadata beside it) or .npz (with metadata)")
    p.add_argument("--animation", type=Path, default=None,
                   help="animate N frames of one person, 2D beside 3D: .gif (Pillow) or .mp4 (needs ffmpeg)")
    add_option(p, "--fps", FPS)
    add_option(p, "--max-figure-poses", MAX_FIGURE_POSES)
    return p


def run(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    from lifting.geometry.keypoint_formats import get_format

    if args.format is not None:
        get_format(args.format)
    image_size = args.image_size
    first = args.poses[0]
    out = check_output(args.out or first.with_name(first.stem + "_3d.png"), "--out", (".png", ".pdf", ".svg"))
    save_3d = check_output(args.save_3d, "--save-3d", (".npy", ".npz"))
    if save_3d is not None and save_3d.suffix.lower() == ".npy":
        check_output(save_3d.with_suffix(".json"), "--save-3d (its metadata file)", (".json",))
    animation = check_output(args.animation, "--animation", (".gif", ".mp4"))
    if animation is not None and animation.suffix.lower() == ".mp4":
        from matplotlib import animation as mpl_animation

        if not mpl_animation.writers.is_available("ffmpeg"):
            raise UserError(f"--animation {animation}: writing .mp4 needs ffmpeg on the PATH; use a .gif")

    from lifting import fileio
    from lifting.checkpoint import load_trained
    from lifting.datasets.keypoints import prepare_h36m17, read_keypoints
    from lifting.datasets.normalize import Stats
    from lifting.geometry.skeletons import convert, get_skeleton
    from lifting.inference.lifter import REFERENCE_FOCAL_PX, lift, rescale_2d, training_scale_px
    from lifting.models.linear import input_skeleton
    from lifting.viz import save_pose_animation, save_prediction_figure

    trained = load_trained(args.ckpt, "lifter")
    model, stats, cfg = trained.model, Stats.from_dict(trained.task["stats"]), trained.config
    in_skel, out_skel = get_skeleton(input_skeleton(cfg)), get_skeleton(cfg["skeleton"])
    npy_only = all(p.suffix.lower() == ".npy" for p in args.poses)
    fmt = args.format or (in_skel.name if npy_only else None)
    kp = read_keypoints(args.poses, fmt, args.min_confidence)
    joints17, kp = prepare_h36m17(kp, args.missing, args.min_keypoints, image_size)
    if animation is not None and (kp.person > 0).any():
        i = int(np.argmax(kp.person > 0))
        raise UserError(f"--animation needs one person per frame; {kp.where(i)} is not the only one")
    joints2d = convert(joints17, "h36m_17", in_skel)
    poses3d = lift(model, stats, rescale_2d(joints2d, in_skel.root, stats, args.focal), in_skel.root)

    scale = (f"2D scaled by {REFERENCE_FOCAL_PX:.2f} / {args.focal:g} (training cameras' focal / yours)" if args.focal else
             f"each pose's 2D scaled to an RMS joint distance of {training_scale_px(stats):.1f} px from the root")
    meta = {"content": f"3D poses lifted from 2D keypoints by the lifter {args.ckpt}", "units": "mm",
            "frame": f"root-relative {CAMERA_FRAME}; root {out_skel.joint_names[out_skel.root]} at the origin",
            "skeleton": out_skel.name, "joint_names": list(out_skel.joint_names), "input_format": kp.fmt,
            "input_scaling": scale, "shape": list(poses3d.shape)}
    text = f"{meta['content']}; {meta['frame']}; mm; {out_skel.name}"
    if save_3d is not None:
        rows = {"source_file": kp.file, "source_image": kp.image, "source_person": kp.person}
        if save_3d.suffix.lower() == ".npz":
            fileio.save_npz(save_3d, poses3d=poses3d.astype(np.float32), joint_names=np.array(out_skel.joint_names),
                            metadata=np.array(json.dumps(meta)), **rows)
        else:
            fileio.atomic_write(save_3d, lambda tmp: np.save(open(tmp, "wb"), poses3d.astype(np.float32)))
            fileio.write_json(save_3d.with_suffix(".json"), {**meta, "rows": [
                {"file": f, "image": i, "person": int(p)} for f, i, p in zip(*rows.values())]})
        print(f"{save_3d}: {poses3d.shape} mm, {meta['frame']}")
    shown = convert(joints17, "h36m_17", out_skel)
    save_prediction_figure(out, shown, poses3d, None, out_skel, num=args.max_figure_poses, description=text)
    print(f"{out}: 2D input and lifted 3D of {min(len(poses3d), args.max_figure_poses)} of {len(poses3d)} poses")
    if animation is not None:
        save_pose_animation(animation, shown, poses3d, out_skel, args.fps, description=text)
        print(f"{animation}: {len(poses3d)} frames at {args.fps:g} fps")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
