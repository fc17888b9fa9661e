"""Estimate metric 3D poses in your own images with a trained MeTRo/MeTRAbs estimator.

    python run_estimator.py photo.jpg --ckpt runs/metro_tiny                       # whole image, 55 deg FOV
    python run_estimator.py a.jpg b.jpg --box 120,40,200,420 --box 1:300,50,180,400 --out poses.npz
    python run_estimator.py frame.png --intrinsics 1145,1144,512,515 --distortion=-0.2,0.25,-0.001,-0.001,-0.003 \\
        --extrinsics 1,0,0,0,0,-1,0,1,0,0,1500,5000 --skeleton lsp_14 --figure poses.png

Boxes are x,y,w,h in pixels (top-left corner, width, height); `--box I:x,y,w,h` applies to image I (0-based) only,
a plain box to every image; an image without boxes is one box. Camera: --intrinsics fx,fy,cx,cy or --fov (default
55 deg over the longer side, principal point at the centre); --distortion in OpenCV order; --extrinsics the
world-to-camera R (9, row-major) and t (3, mm) of X_cam = R X_world + t. Output .npz: poses3d (N, J, 3) mm camera
frame (x right, y down, z forward), poses3d_rel (root-relative), poses2d (N, J, 2) image px, poses3d_world with
--extrinsics, boxes, image_index, image_files, the camera, joint_names and a JSON `metadata` entry.
A list of numbers that starts with a minus sign needs the `=` form: `--box=-20,40,200,420`.
"""

import json
import sys
from pathlib import Path

import numpy as np

from lifting.cli import CAMERA_FRAME, IMAGE_FRAME, ArgumentParser, add_option, check_output, parse_numbers, run_cli
from lifting.config import opt
from lifting.errors import UserError
from lifting.geometry.keypoint_formats import OUTPUT_FORMATS
from lifting.options.metro import SCHEMA

FOV = opt(float, 55.0, "field of view over the longer side, deg", exclusive_minimum=0, exclusive_maximum=180)
NUM_AUG = opt(int, 1, "test-time augmentations per box (1 = off; 5 = the released MeTRAbs rolls, zooms, mirrors and "
              "brightness, for models trained with augment: true)", minimum=1, maximum=64)
BATCH = opt(int, 32, "crops per forward pass", minimum=1, maximum=4096)
INTRINSICS = opt(float, None, "pinhole intrinsics fx,fy,cx,cy, px", nullable=True, minimum=-1e6, maximum=1e6)
DISTORTION = opt(float, None, "OpenCV lens distortion k1,k2,p1,p2[,k3]", nullable=True, minimum=-1e3, maximum=1e3)
EXTRINSICS = opt(float, None, "world-to-camera rotation (9, row-major) and translation (3, mm): X_cam = R X_world + t",
                 nullable=True, minimum=-1e9, maximum=1e9)


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
    p.add_argument("images", type=Path, nargs="+", help="image files (anything Pillow reads)")
    p.add_argument("--ckpt", type=Path, default=Path("runs/metro_tiny"),
                   help="run directory (last.pt, else best.pt) or checkpoint of a trained estimator")
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
    return p


def run(argv: list[str] | None) -> int:
    args = parser().parse_args(argv)

    from lifting.geometry.keypoint_formats import from_h36m17, output_format

    names = output_format(args.skeleton).joint_names
    first = args.images[0]
    out = check_output(args.out or first.with_name(first.stem + "_poses.npz"), "--out", (".npz",))
    figure = check_output(args.figure or first.with_name(first.stem + "_poses.png"), "--figure",
                          (".png", ".pdf", ".svg"))
    distortion = None if args.distortion is None else np.array([*args.distortion, 0.0])[:5]
    extrinsics = None
    if args.extrinsics is not None:
        values = args.extrinsics
        extrinsics = np.concatenate([np.reshape(values[:9], (3, 3)), np.reshape(values[9:], (3, 1))], 1)

    from lifting import fileio
    from lifting.checkpoint import load_trained
    from lifting.datasets.images import read_image
    from lifting.geometry.cameras import default_intrinsics, split_extrinsics
    from lifting.inference.estimator import estimate_poses, image_boxes
    from lifting.models.metro import with_stride
    from lifting.viz import save_image_poses_figure

    if extrinsics is not None:
        split_extrinsics(extrinsics, "--extrinsics")
    model = load_trained(args.ckpt, "estimator").model
    if args.stride not in (None, model.stride):
        model = with_stride(model, args.stride)
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

    res = estimate_poses(model, images, boxes, K, distortion=distortion, extrinsics=extrinsics,
                         num_aug=args.num_aug, antialias=not args.no_antialias, batch_size=args.batch_size)
    meta = {"content": f"3D and 2D poses estimated by {args.ckpt} (MeTRo/MeTRAbs), one row per box",
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
    fileio.save_npz(out, poses3d=arrays["poses3d_abs"], poses3d_rel=arrays["poses3d_rel"], poses2d=arrays["poses2d"],
                    boxes=res["boxes"], image_index=res["image_index"], image_files=np.array([str(p) for p in
                                                                                            args.images]),
                    intrinsics=K, joint_names=np.array(names), metadata=np.array(json.dumps(meta)), **extra)
    print(f"{out}: {len(res['boxes'])} people in {len(images)} images; poses3d mm {CAMERA_FRAME}, "
          f"poses2d px, {args.skeleton}")
    save_image_poses_figure(figure, images, res["poses2d"], res["poses3d_abs"], res["image_index"], res["boxes"],
                            "h36m_17", description=f"{meta['content']}; 3D in mm, {CAMERA_FRAME}")
    print(f"{figure}: 2D poses on the images and the 3D poses, camera frame")
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_cli(run, argv)


if __name__ == "__main__":
    sys.exit(main())
