"""Lift 2D poses from a .npy file to 3D with a trained lifter and draw them.

    python run_model.py pose.npy --ckpt runs/quickstart --out fig.png --save-3d pose3d.npy

Input: float array (J, 2), (N, J, 2) or (N, 2J) of image pixels (x right, y down) in the checkpoint's
joint order (Human3.6M-17 for the default models). Output: (N, J, 3) mm, root-relative camera frame.
"""

from pathlib import Path

import numpy as np

from lifting.config import ArgumentParser
from lifting.errors import UserError, run_cli


def read_poses(path: Path, num_joints: int) -> np.ndarray:
    """(N, J, 2) float64 px from a .npy file, with one-line errors for every malformed input."""
    if not path.is_file():
        raise UserError(f"{path}: file not found (expected a .npy array of 2D poses)")
    with open(path, "rb") as f:
        if f.read(6) != b"\x93NUMPY":
            raise UserError(f"{path}: not a readable .npy file (expected a NumPy array saved with np.save)")
    try:
        arr = np.load(path, allow_pickle=False)
    except ValueError:
        raise UserError(f"{path}: holds pickled objects; expected a plain numeric .npy array") from None
    except (OSError, EOFError):
        raise UserError(f"{path}: not a readable .npy file") from None
    if not isinstance(arr, np.ndarray) or not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise UserError(f"{path}: expected a numeric array, got dtype {getattr(arr, 'dtype', type(arr))}")
    j = num_joints
    if arr.shape == (j, 2):
        arr = arr[None]
    elif arr.ndim == 2 and arr.shape[1] == 2 * j:
        arr = arr.reshape(len(arr), j, 2)
    elif not (arr.ndim == 3 and arr.shape[1:] == (j, 2)):
        raise UserError(f"{path}: shape {arr.shape} not understood; expected ({j}, 2), (N, {j}, 2) or (N, {2 * j}) pixels")
    if len(arr) == 0:
        raise UserError(f"{path}: contains no poses")
    if not np.isfinite(arr).all():
        raise UserError(f"{path}: contains NaN or infinite coordinates")
    return arr.astype(np.float64)


def main() -> int:
    parser = ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("poses", type=Path, help=".npy file of 2D poses in pixels")
    parser.add_argument("--ckpt", type=Path, default=Path("runs/quickstart"),
                        help="run directory (last.pt, else best.pt) or checkpoint file of a trained lifter")
    parser.add_argument("--out", type=Path, default=None, help="figure path (PNG); default: <poses>_3d.png")
    parser.add_argument("--save-3d", type=Path, default=None, help="write the (N, J, 3) mm poses to this .npy")
    parser.add_argument("--max-figure-poses", type=int, default=4, help="poses drawn in the figure")
    args = parser.parse_args()

    from lifting.fileio import atomic_write
    from lifting.geometry.skeletons import get_skeleton
    from lifting.lifter import input_skeleton, lift, load_lifter
    from lifting.viz import save_prediction_figure

    model, stats, cfg, _ = load_lifter(args.ckpt)
    skeleton = get_skeleton(input_skeleton(cfg))
    poses2d = read_poses(args.poses, skeleton.num_joints)
    poses3d = lift(model, stats, poses2d, skeleton.root)
    if args.save_3d is not None:
        atomic_write(args.save_3d, lambda tmp: np.save(open(tmp, "wb"), poses3d.astype(np.float32)))
        print(f"{args.save_3d}: {poses3d.shape} mm, root-relative camera frame")
    out = args.out or args.poses.with_name(args.poses.stem + "_3d.png")
    save_prediction_figure(out, poses2d, poses3d, None, cfg["skeleton"], num=args.max_figure_poses)
    print(f"{out}: 2D input and lifted 3D of {min(len(poses3d), args.max_figure_poses)} of {len(poses3d)} poses")
    return 0


if __name__ == "__main__":
    run_cli(main)
