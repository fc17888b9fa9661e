"""Estimate metric 3D poses in your own images and videos with a trained MeTRo/MeTRAbs estimator.

    python run_estimator.py photo.jpg                      # the zoo's estimator on everybody its detector finds
    python run_estimator.py photo.jpg --ckpt runs/metro_tiny --box 0,0,640,480     # your own run, one box
    python run_estimator.py --list-models                  # the zoo, with each model's numbers
    python run_estimator.py a.jpg b.jpg --box 120,40,200,420 --box 1:300,50,180,400 --out poses.npz
    python run_estimator.py frame.png --intrinsics 1145,1144,512,515 --distortion=-0.2,0.25,-0.001,-0.001,-0.003 \\
        --extrinsics 1,0,0,0,0,-1,0,1,0,0,1500,5000 --skeleton lsp_14 --figure poses.png
    python run_estimator.py group.jpg --ckpt EST --detector DET [--rootnet RN] --html group.html   # everybody
    python run_estimator.py clip.mp4 --smooth --out clip.npz --overlay clip_poses.mp4

Boxes are x,y,w,h in pixels (top-left corner, width, height); `--box I:x,y,w,h` applies to image I (0-based) only,
a plain box to every image; with --box, an image without boxes is one box. Camera: --intrinsics fx,fy,cx,cy or
--fov (default 55 deg over the longer side, principal point at the centre); --distortion in OpenCV order;
--extrinsics the world-to-camera R (9, row-major) and t (3, mm) of X_cam = R X_world + t. Output .npz: poses3d
(N, J, 3) mm camera frame (x right, y down, z forward), poses3d_rel (root-relative), poses2d (N, J, 2) image px,
poses3d_world with --extrinsics, boxes, image_index, image_files, the camera, joint_names and a JSON `metadata`
entry.
A list of numbers that starts with a minus sign needs the `=` form: `--box=-20,40,200,420`.

People found by a detector (without --box; --detector, default the zoo's rendered_detector):
`lifting.inference.multiperson.detect_poses` (boxes -> poses -> roots from the estimator, or from --rootnet ->
implausible poses dropped -> 3D non-maximum suppression); the .npz adds each person's detection score. The zoo's
image models are trained on rendered mannequins; for photographs, train on your own data (main_metro.py,
main_detector.py). A video (one .mp4/.avi/.mov/.mkv/.webm file; no --box) is read in
batches of frames, people are tracked across frames on their 2D poses and, with --smooth, filtered in time; the
.npz then holds poses3d (T, K, J, 3) mm camera frame, poses2d (T, K, J, 2) px, boxes (T, K, 4), scores (T, K),
NaN where a track is absent, track_ids (K,) and fps, and --overlay draws the 2D poses on the video.
"""

import json
import sys
from pathlib import Path

import numpy as np

from lifting.cli import CAMERA_FRAME, IMAGE_FRAME, ArgumentParser, add_option, check_output, parse_numbers, run_cli
from lifting.config import opt
from lifting.errors import UserError
from lifting.geometry.keypoint_formats import OUTPUT_FORMATS
from lifting.inference.multiperson import MIN_SCORE as DEFAULT_MIN_SCORE
from lifting.inference.multiperson import PLAUSIBILITY as DEFAULT_PLAUSIBILITY
from lifting.inference.smoothing import DEFAULT_MIN_CUTOFF_HZ, DEFAULT_WINDOW, METHODS
from lifting.options.metro import SCHEMA
from lifting.zoo import RENDERED_LABEL

ESTIMATOR_MODEL, DETECTOR_MODEL = "rendered_metrabs", "rendered_detector"
VIDEO_INPUTS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v")

FOV = opt(float, 55.0, "field of view over the longer side, deg", exclusive_minimum=0, exclusive_maximum=180)
NUM_AUG = opt(int, 1, "test-time augmentations per box (1 = off; 5 = the released MeTRAbs rolls, zooms, mirrors and "
              "brightness, for models trained with augment: true)", minimum=1, maximum=64)
BATCH = opt(int, 32, "crops per forward pass", minimum=1, maximum=4096)
INTRINSICS = opt(float, None, "pinhole intrinsics fx,fy,cx,cy, px", nullable=True, minimum=-1e6, maximum=1e6)
DISTORTION = opt(float, None, "OpenCV lens distortion k1,k2,p1,p2[,k3]", nullable=True, minimum=-1e3, maximum=1e3)
EXTRINSICS = opt(float, None, "world-to-camera rotation (9, row-major) and translation (3, mm): X_cam = R X_world + t",
                 nullable=True, minimum=-1e9, maximum=1e9)
MIN_SCORE = opt(float, DEFAULT_MIN_SCORE, "--detector: keep detections scoring at least this", minimum=0, maximum=1)
PLAUSIBILITY = opt(float, DEFAULT_PLAUSIBILITY, "--detector: drop poses whose size is off the average person's, or "
                   "with a limb longer for the body than the average person's, by more than a factor 1 + this (none: "
                   "keep every pose)", nullable=True, minimum=1e-3, maximum=100)
FRAME_BATCH = opt(int, 16, "video frames per detection batch", minimum=1, maximum=1024)
SMOOTH_WINDOW = opt(int, DEFAULT_WINDOW, "--smooth savgol: window, frames (odd)", minimum=1, maximum=1001)
SMOOTH_CUTOFF = opt(float, DEFAULT_MIN_CUTOFF_HZ, "--smooth one_euro: minimum cutoff frequency, Hz", exclusive_minimum=0,
                    maximum=1000)


def parse_boxes(texts: list[str], num_images: int) -> list[np.ndarray | None]:
    """--box values -> per image an (n, 4) array, or None where no box applies (the whole image)."""
    per_image: list[list] = [[] for _ in range(num_images)]
    for text in texts:
        target, _, numbers = text.rpartition(":")
        box = parse_numbers(numbers, 4, "--box")
        if target:
            if not target.isdigit() or int(target) >= num_images:
                raise UserError(f"--box {text!r}: image index {target!r} must be 0..{num_images - 1}")
            per_image[int(target)].append(box)
        else:
            for boxes in per_image:
                boxes.append(box)
    return [np.array(b) if b else None for b in per_image]


def parser() -> ArgumentParser:
    p = ArgumentParser(prog="run_estimator.py", description=__doc__.splitlines()[0])
    p.add_argument("images", type=Path, nargs="*", help=f"image files (anything Pillow reads), or one video "
                   f"({', '.join(VIDEO_INPUTS)})")
    p.add_argument("--ckpt", type=Path, default=Path(ESTIMATOR_MODEL),
                   help="run directory (last.pt, else best.pt), checkpoint or zoo model name of a trained estimator "
                   f"(default: the zoo's {ESTIMATOR_MODEL}, {RENDERED_LABEL})")
    p.add_argument("--detector", type=Path, default=None,
                   help="run directory, checkpoint or zoo model name of a trained person detector: estimate "
                   f"everybody it finds (default without --box: the zoo's {DETECTOR_MODEL})")
    p.add_argument("--rootnet", type=Path, default=None,
                   help="with the detector: run directory, checkpoint or zoo model name of a trained RootNet for the "
                   "people's depth (e.g. the zoo's rendered_rootnet; default: the estimator's own roots)")
    p.add_argument("--list-models", action="store_true", help="print the zoo's models with their numbers and exit")
    add_option(p, "--min-score", MIN_SCORE)
    add_option(p, "--plausibility", PLAUSIBILITY)
    p.add_argument("--box", action="append", default=[], metavar="[I:]x,y,w,h", help="person box, px (repeat)")
    camera = p.add_mutually_exclusive_group()
    add_option(camera, "--intrinsics", INTRINSICS, count=4, metavar="fx,fy,cx,cy")
    add_option(camera, "--fov", FOV)
    add_option(p, "--distortion", DISTORTION, count=(4, 5), metavar="k1,k2,p1,p2[,k3]")
    add_option(p, "--extrinsics", EXTRINSICS, count=12, metavar="R(9),t(3)")
    add_option(p, "--num-aug", NUM_AUG)
    p.add_argument("--skeleton", default="h36m_17", help=f"joint set of the outputs ({', '.join(OUTPUT_FORMATS)})")
    add_option(p, "--stride", SCHEMA["test_output_stride"], help="run the backbone at this output stride (default: "
               "the trained one)")
    p.add_argument("--no-antialias", action="store_true", help="sample crops from the full-resolution image")
    add_option(p, "--batch-size", BATCH)
    p.add_argument("--out", type=Path, default=None, help="poses .npz (default <first image>_poses.npz)")
    p.add_argument("--figure", type=Path, default=None,
                   help="figure .png/.pdf/.svg of the 2D and 3D poses (default <first image>_poses.png)")
    p.add_argument("--html", type=Path, default=None, help="interactive 3D viewer page (.html, self-contained)")
    p.add_argument("--overlay", type=Path, default=None,
                   help="video: the 2D poses drawn on the frames, .mp4 or .gif (default <video>_poses.mp4)")
    add_option(p, "--frame-batch", FRAME_BATCH)
    p.add_argument("--smooth", action="store_true", help="video: smooth each track in time")
    p.add_argument("--smooth-method", choices=METHODS, default="savgol",
                   help="savgol: Savitzky-Golay (default; offline) or one_euro (causal)")
    add_option(p, "--smooth-window", SMOOTH_WINDOW)
    add_option(p, "--smooth-cutoff", SMOOTH_CUTOFF)
    return p


def _distortion(args) -> np.ndarray | None:
    """--distortion as the five OpenCV coefficients k1, k2, p1, p2, k3 (k3 = 0 when four are given)."""
    return None if args.distortion is None else np.array([*args.distortion, 0.0])[:5]


def _check_flags(args, video: bool) -> None:
    """One line for flags that do not go together, before any work."""
    if video and len(args.images) > 1:
        raise UserError(f"{args.images[0]}: a video is processed on its own; got {len(args.images)} inputs")
    if args.rootnet is not None and args.box:
        raise UserError("--rootnet needs --detector (the people's boxes), not --box")
    if args.detector is not None and args.box:
        raise UserError("give --box or --detector, not both")
    if args.rootnet is not None and args.distortion is not None:
        raise UserError("--distortion needs the estimator's own roots: RootNet (--rootnet) assumes a pinhole camera")
    if video:
        if args.box:
            raise UserError(f"{args.images[0]}: --box applies to images; a video's people are found by the detector")
        if args.extrinsics is not None or args.figure is not None:
            raise UserError("--extrinsics and --figure apply to images; a video writes --out, --overlay and --html")
    elif args.overlay is not None or args.smooth:
        raise UserError("--overlay and --smooth apply to a video input")
    if args.smooth and args.smooth_method == "savgol" and args.smooth_window % 2 == 0:
        raise UserError(f"--smooth-window {args.smooth_window}: expected an odd number of frames")


def run(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)
    if args.list_models:
        from lifting.zoo import listing

        print(listing())
        return 0
    if not args.images:
        raise UserError("run_estimator.py: expected image files or one video (or --list-models)")

    from lifting.geometry.keypoint_formats import from_h36m17, output_format

    names = output_format(args.skeleton).joint_names
    first = args.images[0]
    video = first.suffix.lower() in VIDEO_INPUTS
    _check_flags(args, video)
    if args.detector is None and not args.box:
        args.detector = Path(DETECTOR_MODEL)
    out = check_output(args.out or first.with_name(first.stem + "_poses.npz"), "--out", (".npz",))
    html = check_output(args.html, "--html", (".html",))
    if video:
        overlay = check_output(args.overlay or first.with_name(first.stem + "_poses.mp4"), "--overlay",
                               (".mp4", ".gif"))
        return _run_video(args, out, overlay, html)
    figure = check_output(args.figure or first.with_name(first.stem + "_poses.png"), "--figure",
                          (".png", ".pdf", ".svg"))
    distortion = _distortion(args)
    extrinsics = None
    if args.extrinsics is not None:
        values = args.extrinsics
        extrinsics = np.concatenate([np.reshape(values[:9], (3, 3)), np.reshape(values[9:], (3, 1))], 1)

    from lifting import fileio
    from lifting.datasets.images import read_image
    from lifting.geometry.cameras import default_intrinsics, split_extrinsics
    from lifting.inference.estimator import estimate_poses, image_boxes
    from lifting.inference.multiperson import detect_poses
    from lifting.viz import save_image_poses_figure

    if extrinsics is not None:
        split_extrinsics(extrinsics, "--extrinsics")
    model, detector, rootnet = _models(args)
    for path in args.images:
        if not path.is_file():
            raise UserError(f"{path}: image file not found")
    images = [read_image(p) for p in args.images]
    sizes = [(int(im.shape[-1]), int(im.shape[-2])) for im in images]
    boxes = image_boxes(parse_boxes(args.box, len(images)), sizes)
    if args.intrinsics is not None:
        fx, fy, cx, cy = args.intrinsics
        if fx <= 0 or fy <= 0:
            raise UserError(f"--intrinsics {','.join(map(str, args.intrinsics))}: focal lengths must be positive")
        K = np.tile(np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]]), (len(images), 1, 1))
    else:
        K = np.stack([default_intrinsics(w, h, args.fov) for w, h in sizes])

    if detector is None:
        res = estimate_poses(model, images, boxes, K, distortion=distortion, extrinsics=extrinsics,
                             num_aug=args.num_aug, antialias=not args.no_antialias, batch_size=args.batch_size)
        found = "one row per box"
    else:
        people = detect_poses(images, detector, model, rootnet, K, extrinsics, min_score=args.min_score,
                              plausibility=args.plausibility, distortion=distortion, num_aug=args.num_aug,
                              antialias=not args.no_antialias, batch_size=args.batch_size)
        res = {"boxes": np.concatenate([p["boxes"] for p in people]),
               "scores": np.concatenate([p["scores"] for p in people]),
               "image_index": np.concatenate([np.full(len(p["scores"]), i) for i, p in enumerate(people)]),
               "poses2d": np.concatenate([p["poses2d"] for p in people]),
               "poses3d_abs": np.concatenate([p["poses3d"] for p in people])}
        res["poses3d_rel"] = res["poses3d_abs"] - res["poses3d_abs"][:, :1]
        if extrinsics is not None:
            res["poses3d_world"] = np.concatenate([p["poses3d_world"] for p in people])
        found = (f"one row per person found by the detector {args.detector}"
                 + (f", roots from the RootNet {args.rootnet}" if rootnet is not None else ""))
    meta = {"content": f"3D and 2D poses estimated by {args.ckpt} (MeTRo/MeTRAbs), {found}",
            "skeleton": args.skeleton, "joint_names": list(names), "units": "mm (3D), px (2D)",
            "poses3d": f"absolute, {CAMERA_FRAME}", "poses3d_rel": f"root-relative, {CAMERA_FRAME} axes",
            "poses2d": f"{IMAGE_FRAME}; lens distortion applied",
            "camera": "intrinsics (B, 3, 3) px per image" + ("" if args.intrinsics else f", from a {args.fov:g} deg FOV"),
            "num_aug": args.num_aug, "crop_size": model.crop_size, "stride": model.stride}
    arrays = {k: from_h36m17(res[k], args.skeleton).astype(np.float32) for k in ("poses3d_abs", "poses3d_rel",
                                                                                  "poses2d")}
    extra = {}
    if extrinsics is not None:
        extra = {"poses3d_world": from_h36m17(res["poses3d_world"], args.skeleton).astype(np.float32),
                 "extrinsics": extrinsics}
        meta["poses3d_world"] = ("world frame of --extrinsics, X_world = R^T (X_cam - t), mm (Human3.6M "
                                 "calibrations: z up, floor at z = 0)")
    if distortion is not None:
        extra["distortion"] = distortion
    if detector is not None:
        extra["scores"] = res["scores"]
    fileio.save_npz(out, poses3d=arrays["poses3d_abs"], poses3d_rel=arrays["poses3d_rel"], poses2d=arrays["poses2d"],
                    boxes=res["boxes"], image_index=res["image_index"], image_files=np.array([str(p) for p in
                                                                                            args.images]),
                    intrinsics=K, joint_names=np.array(names), metadata=np.array(json.dumps(meta)), **extra)
    print(f"{out}: {len(res['boxes'])} people in {len(images)} images; poses3d mm {CAMERA_FRAME}, "
          f"poses2d px, {args.skeleton}")
    save_image_poses_figure(figure, images, res["poses2d"], res["poses3d_abs"], res["image_index"], res["boxes"],
                            "h36m_17", description=f"{meta['content']}; 3D in mm, {CAMERA_FRAME}")
    print(f"{figure}: 2D poses on the images and the 3D poses, camera frame")
    if html is not None:
        _image_page(html, images, res, args)
    return 0


def _models(args):
    """The estimator (at --stride), and the detector and RootNet if given."""
    from lifting.checkpoint import load_trained
    from lifting.models.metro import with_stride

    model = load_trained(args.ckpt, "estimator").model
    if args.stride not in (None, model.stride):
        model = with_stride(model, args.stride)
    detector = None if args.detector is None else load_trained(args.detector, "detector").model
    rootnet = None if args.rootnet is None else load_trained(args.rootnet, "rootnet").model
    return model, detector, rootnet


def _image_page(html: Path, images, res, args) -> None:
    """The viewer page: one slider step per image, its people (NaN-padded to the most people in an image)."""
    from lifting.viewer import write_html

    counts = np.bincount(res["image_index"], minlength=len(images))
    if not counts.any():
        raise UserError(f"--html {html}: nobody found in the images, nothing to show")
    poses3d, poses2d = np.full((len(images), counts.max(), 17, 3), np.nan), np.full((len(images), counts.max(), 17, 2),
                                                                                    np.nan)
    for i in range(len(images)):
        rows = np.flatnonzero(res["image_index"] == i)
        poses3d[i, :len(rows)], poses2d[i, :len(rows)] = res["poses3d_abs"][rows], res["poses2d"][rows]
    pixels = None
    if len({tuple(im.shape) for im in images}) == 1:
        pixels = np.stack([(im.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().numpy() for im in images])
    write_html(html, poses3d, "h36m_17", joints2d=poses2d, images=pixels, frame_labels=[p.name for p in args.images],
               title=f"3D poses estimated by {args.ckpt} (camera frame, mm)")
    print(f"{html}: interactive 3D viewer of {len(images)} images")


def _run_video(args, out: Path, overlay: Path, html: Path | None) -> int:
    """A video: detect_poses on batches of frames, tracks, smoothing, the .npz, the overlay and the page."""
    from functools import partial

    from lifting import fileio
    from lifting.datasets.videos import video_info
    from lifting.geometry.cameras import default_intrinsics
    from lifting.geometry.keypoint_formats import from_h36m17, output_format
    from lifting.inference.multiperson import detect_poses
    from lifting.inference.sequences import describe_smoothing, video_poses, write_overlay

    path = args.images[0]
    info = video_info(path)
    if args.intrinsics is not None:
        fx, fy, cx, cy = args.intrinsics
        if fx <= 0 or fy <= 0:
            raise UserError(f"--intrinsics {','.join(map(str, args.intrinsics))}: focal lengths must be positive")
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    else:
        K = default_intrinsics(info.width, info.height, args.fov)
    model, detector, rootnet = _models(args)
    detect = partial(detect_poses, detector=detector, estimator=model, rootnet=rootnet, intrinsics=K,
                     min_score=args.min_score, plausibility=args.plausibility, distortion=_distortion(args),
                     num_aug=args.num_aug, antialias=not args.no_antialias, batch_size=args.batch_size)
    smoothing = None
    if args.smooth:
        params = ({"window": args.smooth_window} if args.smooth_method == "savgol" else
                  {"min_cutoff": args.smooth_cutoff})
        smoothing = {"method": args.smooth_method, "fps": info.fps, **params}
    res = video_poses(path, detect, args.frame_batch, smoothing)
    T, num_tracks = res.poses3d.shape[:2]
    meta = {"content": f"3D and 2D poses of the people in {path} estimated by {args.ckpt} (MeTRo/MeTRAbs) on the "
                       f"detector {args.detector}'s boxes" + (f", roots from the RootNet {args.rootnet}" if rootnet
                                                              is not None else ""),
            "skeleton": args.skeleton, "joint_names": list(output_format(args.skeleton).joint_names),
            "units": "mm (3D), px (2D)", "poses3d": f"absolute, {CAMERA_FRAME}", "poses2d": IMAGE_FRAME,
            "sequence": f"{T} frames x {num_tracks} tracks at {info.fps:g} fps; NaN where a track is absent",
            "track_ids": res.track_ids.tolist(), "smoothing": describe_smoothing(smoothing),
            "camera": "intrinsics (3, 3) px" + ("" if args.intrinsics else f", from a {args.fov:g} deg FOV")}
    fileio.save_npz(out, poses3d=from_h36m17(res.poses3d, args.skeleton).astype(np.float32),
                    poses2d=from_h36m17(res.poses2d, args.skeleton).astype(np.float32),
                    boxes=res.boxes.astype(np.float32), scores=res.scores.astype(np.float32), track_ids=res.track_ids,
                    fps=np.array(info.fps), intrinsics=K, joint_names=np.array(meta["joint_names"]),
                    metadata=np.array(json.dumps(meta)))
    print(f"{out}: {num_tracks} tracks over {T} frames; poses3d mm {CAMERA_FRAME}, poses2d px, {args.skeleton}")
    write_overlay(overlay, path, res.poses2d, "h36m_17", info.fps, comment=meta["content"])
    print(f"{overlay}: the 2D poses drawn on the {T} frames")
    if html is not None:
        if not num_tracks:
            raise UserError(f"--html {html}: nobody found in the video, nothing to show")
        from lifting.viewer import write_html

        write_html(html, res.poses3d, "h36m_17", joints2d=res.poses2d, fps=info.fps, track_ids=res.track_ids,
                   title=f"3D poses in {path.name} (camera frame, mm)")
        print(f"{html}: interactive 3D viewer of {T} frames")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
