"""Run a model exported by export.py (ONNX or TorchScript) on 2D keypoints or an image, without the lifting package.

    python run_exported.py lifter.onnx poses.npy --out poses3d.npz            # (N, J, 2) px in the lifter's joints
    python run_exported.py estimator.onnx photo.jpg --box 120,40,200,420 --fov 55 --out pose.npz

Needs NumPy plus onnxruntime (.onnx) or torch (.pt/.ts TorchScript); Pillow to read image files (a .npy image,
(H, W, 3) uint8 or float in [0, 1], needs nothing else). The lifter's 2D is scaled as in run_model.py (each pose
to the training data's 2D size, or by the training focal length over --focal); the estimator crops one box (the
whole image by default) through a virtual camera, without test-time augmentation or lens distortion, and solves
the absolute pose. Output .npz: 3D in mm in the camera frame (x right, y down, z forward; the lifter's
root-relative), 2D in image px, joint_names and the model's metadata (JSON).
"""

import argparse
import json
import os
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np


class InputError(Exception):
    """Bad input: printed as one line, exit code 2."""


# What NumPy's and Pillow's readers raise for a truncated, foreign or oddly typed file.
READ_ERRORS = (OSError, ValueError, TypeError, EOFError, MemoryError, SyntaxError)
REQUIRED = {"lifter": ("input", "output", "root", "scaling"), "estimator": ("crop_size", "reconstruction", "joint_names")}


def load(path: Path):
    """(run: array -> list of arrays, metadata dict) of an exported file."""
    if not path.is_file():
        raise InputError(f"{path}: model file not found")
    if path.suffix == ".onnx":
        try:
            import onnxruntime
        except ImportError:
            raise InputError("running .onnx files needs onnxruntime (pip install onnxruntime)") from None
        try:
            session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        except Exception as e:
            raise InputError(f"{path}: not a readable ONNX model ({type(e).__name__})") from None
        meta = session.get_modelmeta().custom_metadata_map.get("lifting")
        name = session.get_inputs()[0].name
        return (lambda x: session.run(None, {name: x.astype(np.float32)})), _metadata(path, meta)
    try:
        import torch
    except ImportError:
        raise InputError("running TorchScript files needs torch") from None
    extra = {"lifting.json": ""}
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")                   # TorchScript's deprecation note
            module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    except Exception as e:
        raise InputError(f"{path}: not a readable TorchScript model ({type(e).__name__})") from None

    def run(x):
        with torch.no_grad():
            out = module(torch.from_numpy(x.astype(np.float32)))
        return [o.numpy() for o in (out if isinstance(out, tuple) else (out,))]

    return run, _metadata(path, extra["lifting.json"])


def _metadata(path: Path, text) -> dict:
    try:
        meta = json.loads(text)
    except (TypeError, ValueError, RecursionError):
        raise InputError(f"{path}: no export metadata (not written by export.py)") from None
    kind = meta.get("kind") if isinstance(meta, dict) else None
    if not isinstance(kind, str) or kind not in REQUIRED or any(k not in meta for k in REQUIRED[kind]):
        raise InputError(f"{path}: export metadata is not a lifter's or an estimator's (not written by export.py?)")
    return meta


MAX_PX = 1e6  # larger than any image coordinate or focal length in pixels


def numbers(flag: str, *ranges: tuple[float, float, str]) -> Callable[[str], float | list[float]]:
    """An argparse type for a flag of len(ranges) comma-separated numbers: value i must lie in ranges[i] = (lo,
    hi, ends), ends '[]', '(]', '[)' or '()' saying which ends are included. A bad value is an InputError naming the
    flag (argparse lets it through to main, which prints it as one line)."""

    def parse(text: str) -> float | list[float]:
        try:
            values = [float(v) for v in text.split(",")]
        except ValueError:
            values = []
        if len(values) != len(ranges):
            raise InputError(f"{flag} {text!r}: expected {len(ranges)} comma-separated numbers")
        for i, (v, (lo, hi, ends)) in enumerate(zip(values, ranges)):
            above = v > lo if ends[0] == "(" else v >= lo
            below = v < hi if ends[1] == ")" else v <= hi
            if not (above and below):  # NaN fails both
                which = f"value {i + 1} ({v:g})" if len(values) > 1 else f"{v:g}"
                raise InputError(f"{flag} {text!r}: {which} must be in {ends[0]}{lo:g}, {hi:g}{ends[1]}")
        return values if len(values) > 1 else values[0]

    parse.count = len(ranges)
    return parse


def check_output(path: Path | None) -> None:
    """Refuse an --out that is not a writable .npz file name, before any work."""
    if path is None:
        return
    if path.is_dir() or path.suffix != ".npz":
        raise InputError(f"--out {path}: expected a .npz file name")
    folder = Path(os.path.abspath(path)).parent
    while not folder.exists():
        folder = folder.parent
    if not folder.is_dir() or not os.access(folder, os.W_OK):
        raise InputError(f"--out {path}: {folder} is not a writable directory")


def lift(run, meta: dict, path: Path, focal: float | None) -> dict:
    j = meta["input"]["shape"][1]
    try:
        poses = np.load(path, allow_pickle=False).astype(np.float64)
    except READ_ERRORS:
        raise InputError(f"{path}: not a readable numeric .npy file") from None
    if poses.shape == (j, 2):
        poses = poses[None]
    if poses.ndim == 2 and poses.shape[1] == 2 * j:
        poses = poses.reshape(-1, j, 2)
    if poses.ndim != 3 or poses.shape[1:] != (j, 2) or not np.isfinite(poses).all():
        raise InputError(f"{path}: expected finite ({j}, 2), (N, {j}, 2) or (N, {2 * j}) px in the joint order "
                         f"{', '.join(meta['input']['joint_names'])}")
    root = meta["root"]
    centred = poses - poses[:, root:root + 1]
    scale = meta["scaling"]
    if focal is not None:
        centred = centred * (scale["reference_focal_px"] / focal)
    else:
        rms = np.sqrt(np.square(centred).sum((1, 2)) / j)
        centred = centred * (scale["train_scale_px"] / np.maximum(rms, 1e-9))[:, None, None]
    return {"poses3d": run(centred)[0], "joint_names": meta["output"]["joint_names"]}


def read_image(path: Path) -> np.ndarray:
    """(H, W, 3) float64 RGB in [0, 1]."""
    if path.suffix == ".npy":
        try:
            image = np.load(path, allow_pickle=False)
            pixels = image / 255.0 if image.dtype == np.uint8 else image.astype(np.float64)
        except READ_ERRORS:
            raise InputError(f"{path}: not a readable numeric .npy image") from None
        if pixels.ndim != 3 or pixels.shape[2] != 3 or not np.isfinite(pixels).all():
            raise InputError(f"{path}: expected a finite (H, W, 3) image array, got shape {pixels.shape}")
        return pixels
    try:
        from PIL import Image
    except ImportError:
        raise InputError("reading image files needs Pillow (or pass an (H, W, 3) .npy)") from None
    try:
        with Image.open(path) as im:
            return np.asarray(im.convert("RGB"), dtype=np.float64) / 255.0
    except READ_ERRORS + (Image.DecompressionBombError,):
        raise InputError(f"{path}: not a readable image") from None


def crop_camera(K: np.ndarray, box: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray]:
    """(K_crop, R): a camera turned towards the box centre (no roll) whose focal length makes the larger of the
    box's spans between opposite side midpoints `size` px, principal point at the crop centre."""
    x, y, w, h = box
    K_inv = np.linalg.inv(K)
    z = K_inv @ [x + w / 2, y + h / 2, 1.0]
    z /= np.linalg.norm(z)
    right = np.cross(z, [0.0, -1.0, 0.0])
    right /= np.linalg.norm(right)
    R = np.stack([right, np.cross(z, right), z])
    mids = np.array([[x + w / 2, y, 1], [x + w / 2, y + h, 1], [x, y + h / 2, 1], [x + w, y + h / 2, 1]])
    rays = mids @ K_inv.T @ R.T
    xy = rays[:, :2] / rays[:, 2:]
    focal = size / max(np.linalg.norm(xy[0] - xy[1]), np.linalg.norm(xy[2] - xy[3]))
    return np.array([[focal, 0, (size - 1) / 2], [0, focal, (size - 1) / 2], [0, 0, 1]]), R


def sample_bilinear(image: np.ndarray, px: np.ndarray) -> np.ndarray:
    """image (H, W, C) at pixel positions px (..., 2) (centres at integers), zero outside."""
    H, W, _ = image.shape
    x0, y0 = np.floor(px[..., 0]).astype(int), np.floor(px[..., 1]).astype(int)
    fx, fy = px[..., 0] - x0, px[..., 1] - y0
    out = 0.0
    for dx, dy, wt in ((0, 0, (1 - fx) * (1 - fy)), (1, 0, fx * (1 - fy)), (0, 1, (1 - fx) * fy), (1, 1, fx * fy)):
        xi, yi = x0 + dx, y0 + dy
        ok = (xi >= 0) & (xi < W) & (yi >= 0) & (yi < H)
        out = out + np.where(ok[..., None], image[yi.clip(0, H - 1), xi.clip(0, W - 1)], 0.0) * wt[..., None]
    return out


def make_crop(image: np.ndarray, K: np.ndarray, K_crop: np.ndarray, R: np.ndarray, size: int) -> np.ndarray:
    """(3, S, S) crop in [0, 1]: linear-light bilinear samples of a 2x2 box-filter pyramid level chosen so the
    residual zoom is in (0.5, 1]."""
    linear = image.clip(0, 1) ** 2.2
    zoom = np.sqrt(K_crop[0, 0] * K_crop[1, 1] / (K[0, 0] * K[1, 1]))
    level = int(np.clip(np.floor(-np.log2(zoom)), 0, max(int(np.log2(max(min(image.shape[:2]), 2))) - 1, 0)))
    for _ in range(level):
        linear = np.pad(linear, ((0, linear.shape[0] % 2), (0, linear.shape[1] % 2), (0, 0)), mode="edge")
        linear = linear.reshape(linear.shape[0] // 2, 2, linear.shape[1] // 2, 2, 3).mean((1, 3))
    a = 0.5 ** level
    K_level = np.array([[a, 0, (a - 1) / 2], [0, a, (a - 1) / 2], [0, 0, 1]]) @ K
    v, u = np.mgrid[0:size, 0:size].astype(np.float64)
    src = np.stack([u, v, np.ones_like(u)], -1) @ (K_level @ R.T @ np.linalg.inv(K_crop)).T
    crop = sample_bilinear(linear, src[..., :2] / src[..., 2:])
    return (crop.clip(0, None) ** (1 / 2.2)).transpose(2, 0, 1)


def absolute_pose(pose3d_rel: np.ndarray, pose2d: np.ndarray, K_crop: np.ndarray, rec: dict) -> np.ndarray:
    """The metadata's reconstruction rule: (J, 3) crop-camera mm from the root-relative pose and the 2D pose."""
    lo, hi = rec["fov_px"]
    inside = ((pose2d >= lo) & (pose2d <= hi)).all(-1)
    w2 = (inside + 1e-4) ** 2
    uv = (pose2d - K_crop[:2, 2]) / K_crop[[0, 1], [0, 1]]
    b = uv * pose3d_rel[:, 2:3] - pose3d_rel[:, :2]
    s2 = max(np.sqrt(np.mean(uv ** 2)), 1e-8)
    sb = max(np.sqrt(np.mean(b ** 2)), 1e-8)
    q, bn = uv / s2, b / sb
    m = np.zeros((3, 3))
    m[0, 0] = m[1, 1] = w2.sum()
    m[0, 2] = m[2, 0] = -(w2 * q[:, 0]).sum()
    m[1, 2] = m[2, 1] = -(w2 * q[:, 1]).sum()
    m[2, 2] = (w2[:, None] * q ** 2).sum()
    rhs = np.array([(w2 * bn[:, 0]).sum(), (w2 * bn[:, 1]).sum(), -(w2[:, None] * q * bn).sum()])
    r = np.linalg.solve(m + rec["ridge"] * np.eye(3), rhs)
    t = np.array([r[0] * sb, r[1] * sb, r[2] * sb / s2])
    placed = pose3d_rel + t
    ray = np.concatenate([uv, np.ones_like(uv[:, :1])], -1) * placed[:, 2:3]
    mix = rec["mix"]
    return np.where(inside[:, None], (1 - mix) * ray + mix * placed, placed)


def estimate(run, meta: dict, path: Path, box: list[float] | None, intrinsics: list[float] | None,
             fov: float) -> dict:
    image = read_image(path)
    H, W = image.shape[:2]
    if intrinsics:
        fx, fy, cx, cy = intrinsics
    else:
        fx = fy = max(W, H) / (2 * np.tan(np.radians(fov) / 2))
        cx, cy = (W - 1) / 2, (H - 1) / 2
    K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]])
    b = np.array(box if box else [-0.5, -0.5, W, H])
    if b[2] <= 0 or b[3] <= 0 or b[0] >= W - 0.5 or b[1] >= H - 0.5 or b[0] + b[2] <= -0.5 or b[1] + b[3] <= -0.5:
        raise InputError(f"--box {box}: needs w, h > 0 and must overlap the {W}x{H} image")
    S = meta["crop_size"]
    K_crop, R = crop_camera(K, b, S)
    rel, p2d = (o[0].astype(np.float64) for o in run(make_crop(image, K, K_crop, R, S)[None]))
    pose_abs = absolute_pose(rel, p2d, K_crop, meta["reconstruction"])
    rays = np.concatenate([p2d, np.ones_like(p2d[:, :1])], -1) @ (K @ R.T @ np.linalg.inv(K_crop)).T
    return {"poses3d": (pose_abs @ R)[None], "poses3d_rel": (rel @ R)[None],
            "poses2d": (rays[:, :2] / rays[:, 2:])[None], "box": b, "intrinsics": K, "joint_names": meta["joint_names"]}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_exported.py", description=__doc__.splitlines()[0])
    p.add_argument("model", type=Path, help=".onnx or TorchScript (.pt/.ts) file written by export.py")
    p.add_argument("input", type=Path, help="lifter: .npy of 2D poses (px); estimator: an image or (H, W, 3) .npy")
    p.add_argument("--focal", type=numbers("--focal", (0, MAX_PX, "(]")), default=None,
                   help="lifter: your camera's focal length, px")
    p.add_argument("--box", type=numbers("--box", *[(-MAX_PX, MAX_PX, "[]")] * 2, *[(0, MAX_PX, "(]")] * 2),
                   default=None, metavar="x,y,w,h", help="estimator: person box, px (default: the whole image)")
    p.add_argument("--intrinsics", type=numbers("--intrinsics", *[(0, MAX_PX, "(]")] * 2, *[(-MAX_PX, MAX_PX, "[]")] * 2),
                   default=None, metavar="fx,fy,cx,cy", help="estimator: camera intrinsics, px")
    p.add_argument("--fov", type=numbers("--fov", (0, 180, "()")), default=55.0,
                   help="estimator: horizontal field of view in degrees without --intrinsics (default 55)")
    p.add_argument("--out", type=Path, default=None, help="write the results to this .npz")
    return p


def main(argv: list[str] | None = None) -> int:
    """The command: its exit code (2 with one 'error: ...' line for bad input), callable in-process."""
    p = parser()
    p.error = lambda message: p.exit(2, f"error: run_exported.py: {message}\n")
    try:
        args = p.parse_args(argv)
        check_output(args.out)
        if not args.input.is_file():
            raise InputError(f"{args.input}: input file not found")
        run, meta = load(args.model)
        if meta["kind"] == "lifter":
            res = lift(run, meta, args.input, args.focal)
        else:
            res = estimate(run, meta, args.input, args.box, args.intrinsics, args.fov)
    except InputError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except SystemExit as e:  # argparse: a usage error (its line is printed) or --help
        return e.code if isinstance(e.code, int) else 2
    print(f"{args.model.name}: {meta['kind']} -> poses3d {res['poses3d'].shape} mm, camera frame")
    if args.out is not None:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        tmp = args.out.with_name(f".{args.out.name}.tmp")
        with open(tmp, "wb") as f:
            np.savez(f, **{k: np.asarray(v) for k, v in res.items()}, metadata=np.array(json.dumps(meta)))
        os.replace(tmp, args.out)                       # a crash never leaves a half-written file
    return 0


if __name__ == "__main__":
    sys.exit(main())
