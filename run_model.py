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
from pathlib import Path

import numpy as np

from lifting.cli import CAMERA_FRAME, check_output, parse_numbers
from lifting.config import ArgumentParser
from lifting.errors import UserError, run_cli


def main() -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("poses", type=Path, nargs="+", help=".npy, .json (COCO-style or OpenPose; a directory: its "
                        "*.json files in name order) or LSP joints.mat keypoint files")
    parser.add_argument("--format", default=None, help="keypoint format of the input (h36m_17, h36m_16, coco_17, "
                        "openpose_25, mpii_16, lsp_14); default: see above")
    parser.add_argument("--focal", type=float, default=None,
                        help="focal length of your camera, px: scale the 2D by the training cameras' focal length "
                        "over this (people about 5 m away); default: scale every pose to the training data's 2D size")
    parser.add_argument("--image-size", default=None, metavar="W,H",
                        help="image size in px: keypoints more than one image size outside it are an error")
    parser.add_argument("--min-confidence", type=float, default=0.1,
                        help="keypoints with a lower confidence are missing (default 0.1)")
    parser.add_argument("--missing", choices=("fill", "error"), default="fill",
                        help="fill: place missing joints on the nearest present joint and skip poses with fewer than "
                        "--min-keypoints keypoints (default); error: stop at the first missing keypoint")
    parser.add_argument("--min-keypoints", type=int, default=4, help="poses with fewer present keypoints are skipped")
    parser.add_argument("--ckpt", type=Path, default=Path("runs/quickstart"),
                        help="run directory (last.pt, else best.pt) or checkpoint file of a trained lifter")
    parser.add_argument("--out", type=Path, default=None, help="figure (.png/.pdf/.svg); default <first input>_3d.png")
    parser.add_argument("--save-3d", type=Path, default=None,
                        help="write the 3D poses: .npy (plus a .json of metadata beside it) or .npz (with metadata)")
    parser.add_argument("--animation", type=Path, default=None,
                        help="animate N frames of one person, 2D beside 3D: .gif (Pillow) or .mp4 (needs ffmpeg)")
    parser.add_argument("--fps", type=float, default=10.0, help="animation frame rate (default 10)")
    parser.add_argument("--max-figure-poses", type=int, default=4, help="poses drawn in the figure")
    args = parser.parse_args()

    from lifting.geometry.keypoint_formats import get_format

    if args.format is not None:
        get_format(args.format)
    image_size = parse_numbers(args.image_size, 2, "--image-size") if args.image_size else None
    if image_size is not None and min(image_size) <= 0:
        raise UserError(f"--image-size {args.image_size}: width and height must be positive")
    if args.focal is not None and not args.focal > 0:
        raise UserError(f"--focal {args.focal}: expected a positive focal length in px")
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
    from lifting.datasets.keypoints import prepare_h36m17, read_keypoints
    from lifting.geometry.skeletons import convert, get_skeleton
    from lifting.inference.lifter import REFERENCE_FOCAL_PX, lift, load_lifter, rescale_2d, training_scale_px
    from lifting.models.linear import input_skeleton
    from lifting.viz import save_pose_animation, save_prediction_figure

    model, stats, cfg, _ = load_lifter(args.ckpt)
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


if __name__ == "__main__":
    run_cli(main)
