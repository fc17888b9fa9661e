"""Lift 2D keypoints of your own data to 3D with a trained lifter; draw, save and animate them.

    python run_model.py poses.npy --out fig.png --save-3d poses3d.npy     # the zoo's h36m_lifter
    python run_model.py poses.npy --ckpt runs/quickstart                     # your own run; --model NAME: a zoo one
    python run_model.py --list-models                                        # the zoo, with each model's numbers
    python run_model.py results.json --format coco_17 --image-size 1920,1080 --save-3d poses3d.npz
    python run_model.py openpose_frames/ --animation walk.gif        # one OpenPose JSON per frame, one person
    python run_model.py people.npy --smooth --save-3d tracks.npz --animation clip.mp4 --html clip.html
    python run_model.py ../shared/data/lsp/joints.mat --save-3d lsp3d.npz

Input: .npy (pixels, with an optional confidence per keypoint), COCO-style or OpenPose JSON, LSP joints.mat; any
keypoint format of `lifting.geometry.keypoint_formats` (--format; default: the lifter's own joints for .npy,
coco_17 for COCO-style JSON, openpose_25 for OpenPose JSON, lsp_14 for .mat). Keypoints are converted to
Human3.6M-17 (pelvis, spine, thorax, head synthesised where the format lacks them) and then to the lifter's input
joints. Output: (N, J, 3) mm in the lifter's output joints, root-relative camera frame (x right, y down,
z forward); .npz outputs and a .json beside a .npy output carry the joint names, units and each row's source.

Sequences: with --sequence or --smooth, or when the input names identities (a (T, P, J, 2|3) .npy, COCO
`track_id`, OpenPose `person_id`), the input is the frames of one clip (a (T, J, 2|3) .npy: one person's T frames;
an OpenPose folder: one file per frame, empty ones included; COCO-style JSON: its image ids). People keep their
identities across frames (the input's, else 2D proximity with Hungarian matching), --smooth filters each track in
time (2D before lifting and 3D after it; default Savitzky-Golay over 9 frames), and the outputs are per track:
poses3d (T, K, J, 3) mm, NaN where a track is absent, with track_ids (K,) and frames (T,).
"""

import json
import logging
import sys
from pathlib import Path

import numpy as np

from lifting.cli import CAMERA_FRAME, ArgumentParser, add_option, check_output, run_cli
from lifting.config import opt
from lifting.errors import UserError
from lifting.geometry.keypoint_formats import FORMATS
from lifting.inference.smoothing import DEFAULT_MIN_CUTOFF_HZ, DEFAULT_WINDOW, METHODS

log = logging.getLogger("lifting")

FOCAL = opt(float, None, "focal length of your camera, px: scale the 2D by the training cameras' focal length over "
            "this (people about 5 m away); default: scale every pose to the training data's 2D size", nullable=True,
            exclusive_minimum=0, maximum=1e6)
IMAGE_SIZE = opt(int, None, "image size W,H in px: keypoints more than one image size outside it are an error",
                 nullable=True, minimum=1, maximum=100_000)
MIN_CONFIDENCE = opt(float, 0.1, "keypoints with a lower confidence are missing", minimum=0, maximum=1)
MIN_KEYPOINTS = opt(int, 4, "poses with fewer present keypoints are skipped", minimum=1, maximum=1000)
FPS = opt(float, 10.0, "frame rate of the input sequence, the animation and the page", exclusive_minimum=0,
          maximum=1000)
SMOOTH_WINDOW = opt(int, DEFAULT_WINDOW, "--smooth savgol: window, frames (odd)", minimum=1, maximum=1001)
SMOOTH_CUTOFF = opt(float, DEFAULT_MIN_CUTOFF_HZ, "--smooth one_euro: minimum cutoff frequency, Hz (lower: smoother, "
                    "more lag)", exclusive_minimum=0, maximum=1000)
GROUND_TRUTH_MODEL, DETECTED_MODEL = "h36m_lifter", "h36m_lifter_detected"
MAX_FIGURE_POSES = opt(int, 4, "poses drawn in the figure", minimum=1, maximum=100)


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="run_model.py", description=__doc__.splitlines()[0])
    p.add_argument("poses", type=Path, nargs="*", help=".npy, .json (COCO-style or OpenPose; a directory: its "
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
    model = p.add_mutually_exclusive_group()
    model.add_argument("--ckpt", type=Path, default=None,
                       help="run directory (last.pt, else best.pt), checkpoint file or zoo model name of a trained "
                       f"lifter; default: the zoo's {GROUND_TRUTH_MODEL} for .npy and .mat inputs, "
                       f"{DETECTED_MODEL} (trained on detected 2D) for JSON ones")
    model.add_argument("--model", default=None, metavar="NAME", help="a lifter of the zoo (--list-models)")
    p.add_argument("--list-models", action="store_true", help="print the zoo's models with their numbers and exit")
    p.add_argument("--out", type=Path, default=None, help="figure (.png/.pdf/.svg); default <first input>_3d.png")
    p.add_argument("--save-3d", type=Path, default=None,
                   help="write the 3D poses: .npy (plus a .json of metadata beside it) or .npz (with metadata)")
    p.add_argument("--animation", type=Path, default=None,
                   help="animate the frames, 2D beside 3D (.gif or .mp4): a sequence's tracks, else N frames of one "
                   "person")
    p.add_argument("--html", type=Path, default=None,
                   help="interactive 3D viewer page (.html, self-contained): rotate the 3D, a slider over the frames")
    p.add_argument("--sequence", action="store_true",
                   help="the input is the frames of one clip (see Sequences above)")
    p.add_argument("--smooth", action="store_true", help="smooth each track in time (implies --sequence)")
    p.add_argument("--smooth-method", choices=METHODS, default="savgol",
                   help="savgol: Savitzky-Golay (default; offline) or one_euro (causal)")
    add_option(p, "--smooth-window", SMOOTH_WINDOW)
    add_option(p, "--smooth-cutoff", SMOOTH_CUTOFF)
    add_option(p, "--fps", FPS)
    add_option(p, "--max-figure-poses", MAX_FIGURE_POSES)
    return p


def run(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    if args.list_models:
        from lifting.zoo import listing

        print(listing())
        return 0
    if not args.poses:
        raise UserError("run_model.py: expected at least one keypoint file (or --list-models)")
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
    html = check_output(args.html, "--html", (".html",))
    if args.smooth and args.smooth_method == "savgol" and args.smooth_window % 2 == 0:
        raise UserError(f"--smooth-window {args.smooth_window}: expected an odd number of frames")

    from lifting import fileio
    from lifting.checkpoint import load_trained
    from lifting.datasets.keypoints import prepare_h36m17, read_keypoints
    from lifting.datasets.normalize import Stats
    from lifting.geometry.skeletons import convert, get_skeleton
    from lifting.inference.lifter import REFERENCE_FOCAL_PX, lift, rescale_2d, training_scale_px
    from lifting.models.linear import input_skeleton
    from lifting.viz import save_prediction_figure
    from lifting.zoo import resolve

    detected = any(p.is_dir() or p.suffix.lower() == ".json" for p in args.poses)
    ckpt = args.ckpt or args.model or (DETECTED_MODEL if detected else GROUND_TRUTH_MODEL)
    trained = load_trained(args.ckpt or resolve(ckpt), "lifter")
    model, stats, cfg = trained.model, Stats.from_dict(trained.task["stats"]), trained.config
    in_skel, out_skel = get_skeleton(input_skeleton(cfg)), get_skeleton(cfg["skeleton"])
    npy_only = all(p.suffix.lower() == ".npy" for p in args.poses)
    fmt = args.format or (in_skel.name if npy_only else None)
    sequence = args.sequence or args.smooth
    kp = read_keypoints(args.poses, fmt, args.min_confidence, sequence=sequence)
    sequence = sequence or bool((kp.track >= 0).any())
    joints17, kp = prepare_h36m17(kp, args.missing, args.min_keypoints, image_size)
    if animation is not None and not sequence and (kp.person > 0).any():
        i = int(np.argmax(kp.person > 0))
        raise UserError(f"--animation needs one person per frame or --sequence; {kp.where(i)} is not the only one")

    def lift_px(j17: np.ndarray) -> np.ndarray:
        """(N, 17, 2) Human3.6M-17 px -> (N, J, 3) mm root-relative camera frame."""
        joints2d = convert(j17, "h36m_17", in_skel)
        return lift(model, stats, rescale_2d(joints2d, in_skel.root, stats, args.focal), in_skel.root)

    if sequence:
        from lifting.inference.sequences import describe_smoothing, lift_tracks

        tracks, smoothing = _tracks(joints17, kp, args)
        tracks17, seq3d = lift_tracks(tracks.joints, lift_px, smoothing)
        here = tracks.rows >= 0
        poses3d, joints17 = seq3d[here], tracks17[here]
        kp = kp.subset(tracks.rows[here])
    else:
        poses3d = lift_px(joints17)

    scale = (f"2D scaled by {REFERENCE_FOCAL_PX:.2f} / {args.focal:g} (training cameras' focal / yours)" if args.focal else
             f"each pose's 2D scaled to an RMS joint distance of {training_scale_px(stats):.1f} px from the root")
    meta = {"content": f"3D poses lifted from 2D keypoints by the lifter {ckpt}", "units": "mm",
            "frame": f"root-relative {CAMERA_FRAME}; root {out_skel.joint_names[out_skel.root]} at the origin",
            "skeleton": out_skel.name, "joint_names": list(out_skel.joint_names), "input_format": kp.fmt,
            "input_scaling": scale, "shape": list(poses3d.shape)}
    if sequence:
        meta.update(shape=list(seq3d.shape), sequence=f"{len(tracks.frames)} frames x {len(tracks.ids)} tracks at "
                    f"{args.fps:g} fps; NaN where a track is absent", track_ids=tracks.ids.tolist(),
                    smoothing=describe_smoothing(smoothing))
    text = f"{meta['content']}; {meta['frame']}; mm; {out_skel.name}"
    if save_3d is not None:
        if sequence:
            rows = {"track_ids": tracks.ids, "frames": tracks.frames.astype(str),
                    "joints2d": convert(tracks17, "h36m_17", out_skel).astype(np.float32)}
            saved = seq3d
        else:
            rows = {"source_file": kp.file, "source_image": kp.image, "source_person": kp.person}
            saved = poses3d
        if save_3d.suffix.lower() == ".npz":
            fileio.save_npz(save_3d, poses3d=saved.astype(np.float32), joint_names=np.array(out_skel.joint_names),
                            metadata=np.array(json.dumps(meta)), **rows)
        else:
            fileio.atomic_write(save_3d, lambda tmp: np.save(open(tmp, "wb"), saved.astype(np.float32)))
            listed = {"frames": tracks.frames.tolist()} if sequence else {"rows": [
                {"file": f, "image": i, "person": int(p)} for f, i, p in zip(*rows.values())]}
            fileio.write_json(save_3d.with_suffix(".json"), {**meta, **listed})
        print(f"{save_3d}: {saved.shape} mm, {meta['frame']}")
    shown = convert(joints17, "h36m_17", out_skel)
    save_prediction_figure(out, shown, poses3d, None, out_skel, num=args.max_figure_poses, description=text)
    print(f"{out}: 2D input and lifted 3D of {min(len(poses3d), args.max_figure_poses)} of {len(poses3d)} poses")
    if sequence:
        shown, labels, ids = convert(tracks17, "h36m_17", out_skel), tracks.frames, tracks.ids
        views = _side_by_side(seq3d, shown, out_skel.root)
    else:
        shown, views, labels, ids = shown[:, None], poses3d[:, None], kp.image, None
    if animation is not None:
        from lifting.viz import save_pose_animation

        save_pose_animation(animation, shown, views, out_skel, args.fps, description=text)
        print(f"{animation}: {len(views)} frames at {args.fps:g} fps")
    if html is not None:
        from lifting.viewer import write_html

        write_html(html, views, out_skel, joints2d=shown, fps=args.fps, track_ids=ids, frame_labels=labels,
                   title=f"3D poses lifted by {ckpt} ({out_skel.name}, root-relative camera frame, mm"
                   + ("; people placed by their image position, depth unknown)" if views.shape[1] > 1 else ")"))
        print(f"{html}: interactive 3D viewer of {len(views)} frames")
    return 0


def _side_by_side(poses3d: np.ndarray, joints2d: np.ndarray, root: int) -> np.ndarray:
    """Root-relative per-track 3D (T, K, J, 3) mm moved, for the views only, to where each person's root is in the
    image: its 2D root offset from the median root, in mm at the people's median mm-per-px scale (depth stays
    unknown), so that several people do not stand on top of each other."""
    if poses3d.shape[1] < 2:
        return poses3d
    rel3d = np.sqrt(np.square(poses3d - poses3d[..., root:root + 1, :]).sum(-1).mean(-1))
    rel2d = np.sqrt(np.square(joints2d - joints2d[..., root:root + 1, :]).sum(-1).mean(-1))
    mm_per_px = np.nanmedian(rel3d / np.maximum(rel2d, 1e-9))
    offset = (joints2d[..., root, :] - np.nanmedian(joints2d[..., root, :].reshape(-1, 2), 0)) * mm_per_px
    return poses3d + np.concatenate([offset, np.zeros(offset.shape[:-1] + (1,))], -1)[..., None, :]


def _tracks(joints17: np.ndarray, kp, args):
    """Per-track Human3.6M-17 2D of a sequence (the input's identities when every pose has one) and the
    smoothing arguments of `smooth_tracks` (None without --smooth)."""
    from lifting.inference.tracking import track_poses

    labels, counts = np.unique(kp.frames, return_counts=True)
    if (counts > 1).any():
        raise UserError(f"frame {labels[np.argmax(counts > 1)]!r} appears in several input files; a sequence is one "
                        ".npy or .json file, or one OpenPose folder")
    ids = kp.track if (kp.track >= 0).all() else None
    if ids is None and (kp.track >= 0).any():
        log.warning("%d of %d poses have no identity; tracking all of them by 2D proximity", (kp.track < 0).sum(),
                    len(kp))
    tracks = track_poses(joints17, kp.image, ids=ids, frames=kp.frames)
    if not args.smooth:
        return tracks, None
    params = {"window": args.smooth_window} if args.smooth_method == "savgol" else {"min_cutoff": args.smooth_cutoff}
    return tracks, {"method": args.smooth_method, "fps": args.fps, **params}


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
