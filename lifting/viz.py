"""Skeleton drawing shared by `run_model.py`, the pose galleries and the paper plots.

2D joints are drawn in image pixels (origin top-left, y down, so the y axis is inverted). 3D joints
in the camera frame (x right, y down, z forward, mm) are drawn upright: the plot axes are
(x, z, -y), so the person stands on the floor and depth runs into the picture. Left limbs, right
limbs and centre limbs have distinct colours. Callers pass matplotlib axes; nothing here creates
figures or files except `save_figure`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lifting.errors import UserError
from lifting.fileio import atomic_write
from lifting.geometry.skeletons import Skeleton, get_skeleton

LEFT_COLOR = "tab:blue"
RIGHT_COLOR = "tab:red"
CENTRE_COLOR = "0.3"


def limb_side(skeleton: Skeleton, limb: tuple[int, int]) -> str:
    """'left', 'right' or 'centre': a limb is sided when either end is a left/right joint
    and neither end is of the other side."""
    names = [skeleton.joint_names[j] for j in limb]
    left = any(n.startswith("left_") for n in names)
    right = any(n.startswith("right_") for n in names)
    if left and not right:
        return "left"
    if right and not left:
        return "right"
    return "centre"


def limb_colors(skeleton: str | Skeleton) -> list[str]:
    """One matplotlib colour per limb of `skeleton.limbs` (left blue, right red, centre grey)."""
    skeleton = get_skeleton(skeleton)
    table = {"left": LEFT_COLOR, "right": RIGHT_COLOR, "centre": CENTRE_COLOR}
    return [table[limb_side(skeleton, limb)] for limb in skeleton.limbs]


def _joints(joints, skeleton: Skeleton, dim: int, what: str) -> np.ndarray:
    arr = np.asarray(joints.detach().cpu().numpy() if hasattr(joints, "detach") else joints, dtype=np.float64)
    if arr.ndim == 1 and arr.size == skeleton.num_joints * dim:
        arr = arr.reshape(skeleton.num_joints, dim)
    if arr.shape != (skeleton.num_joints, dim):
        raise UserError(f"{what}: expected joints of shape ({skeleton.num_joints}, {dim}) for skeleton "
                        f"{skeleton.name}, got {arr.shape}")
    return arr


def draw_pose_2d(ax, joints2d, skeleton: str | Skeleton, visible=None, invert_y: bool = True,
                 linewidth: float = 2.0, markersize: float = 3.0) -> None:
    """Draw one 2D pose `(J, 2)` in pixels on a matplotlib 2D axis.

    `visible` (J,) bool hides limbs touching invisible joints (e.g. LSP joints outside the image).
    With `invert_y` the y axis points down as in the image; aspect is equal.
    """
    skeleton = get_skeleton(skeleton)
    p = _joints(joints2d, skeleton, 2, "draw_pose_2d")
    vis = np.ones(skeleton.num_joints, bool) if visible is None else np.asarray(visible, bool)
    vis = vis & np.isfinite(p).all(-1)
    for (a, b), color in zip(skeleton.limbs, limb_colors(skeleton)):
        if vis[a] and vis[b]:
            ax.plot(p[[a, b], 0], p[[a, b], 1], color=color, linewidth=linewidth)
    ax.plot(p[vis, 0], p[vis, 1], "o", color="k", markersize=markersize)
    ax.set_aspect("equal", adjustable="datalim")
    if invert_y and not ax.yaxis_inverted():
        ax.invert_yaxis()


def upright(joints3d) -> np.ndarray:
    """(..., J, 3) camera frame (x right, y down, z forward) -> plot coordinates (x, z, -y)."""
    j = np.asarray(joints3d, dtype=np.float64)
    return np.stack([j[..., 0], j[..., 2], -j[..., 1]], axis=-1)


def draw_pose_3d(ax, joints3d, skeleton: str | Skeleton, radius: float | None = None,
                 linewidth: float = 2.0, markersize: float = 2.0, label_axes: bool = True) -> None:
    """Draw one 3D pose `(J, 3)` in the camera frame (mm) on a matplotlib 3D axis, upright.

    The view is a cube of half-size `radius` mm (default: enough to hold the pose) centred on the
    root, so the aspect is equal on all three axes.
    """
    skeleton = get_skeleton(skeleton)
    p = upright(_joints(joints3d, skeleton, 3, "draw_pose_3d"))
    finite = np.isfinite(p).all(-1)
    for (a, b), color in zip(skeleton.limbs, limb_colors(skeleton)):
        if finite[a] and finite[b]:
            ax.plot(p[[a, b], 0], p[[a, b], 1], p[[a, b], 2], color=color, linewidth=linewidth)
    ax.plot(p[finite, 0], p[finite, 1], p[finite, 2], "o", color="k", markersize=markersize)
    centre = p[skeleton.root] if finite[skeleton.root] else np.nanmean(p[finite], axis=0)
    if radius is None:
        extent = np.abs(p[finite] - centre).max() if finite.any() else 1.0
        radius = max(float(extent) * 1.1, 1e-6)
    ax.set_xlim(centre[0] - radius, centre[0] + radius)
    ax.set_ylim(centre[1] - radius, centre[1] + radius)
    ax.set_zlim(centre[2] - radius, centre[2] + radius)
    ax.set_box_aspect((1, 1, 1))
    if label_axes:
        ax.set_xlabel("x (mm)")
        ax.set_ylabel("z (mm)")
        ax.set_zlabel("-y (mm)")


def save_figure(fig, path: str | Path, formats: tuple[str, ...] = ("png", "pdf"), dpi: int = 150) -> list[Path]:
    """Write `fig` atomically as `<path>.<fmt>` for every format; returns the written paths."""
    path = Path(path)
    out = []
    for fmt in formats:
        target = path.with_suffix(f".{fmt}")
        atomic_write(target, lambda tmp, fmt=fmt: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight"))
        out.append(target)
    return out


def prediction_grid(joints2d_px, pred3d, gt3d, skeleton: str | Skeleton, titles=None):
    """A figure with one row per sample: 2D input, predicted 3D, ground-truth 3D (or 2 columns without GT).

    joints2d_px (N, J, 2) px; pred3d and gt3d (N, J, 3) mm root-relative camera frame (gt3d may be None);
    `titles` (N,) optional row captions shown over the predicted pose (e.g. the frame's error).
    """
    import matplotlib.pyplot as plt

    skeleton = get_skeleton(skeleton)
    n = len(pred3d)
    cols = 2 if gt3d is None else 3
    fig = plt.figure(figsize=(3.2 * cols, 3.0 * n))
    for i in range(n):
        ax = fig.add_subplot(n, cols, cols * i + 1)
        draw_pose_2d(ax, joints2d_px[i], skeleton)
        ax.set_title("2D input (px)", fontsize=9)
        radius = None
        if gt3d is not None:
            g = upright(gt3d[i])
            radius = float(np.abs(g - g[skeleton.root]).max()) * 1.1
        ax = fig.add_subplot(n, cols, cols * i + 2, projection="3d")
        draw_pose_3d(ax, pred3d[i], skeleton, radius=radius, label_axes=False)
        ax.set_title("prediction" + (f"\n{titles[i]}" if titles is not None else ""), fontsize=9)
        if gt3d is not None:
            ax = fig.add_subplot(n, cols, cols * i + 3, projection="3d")
            draw_pose_3d(ax, gt3d[i], skeleton, radius=radius, label_axes=False)
            ax.set_title("ground truth", fontsize=9)
    fig.tight_layout()
    return fig


def save_prediction_figure(path: str | Path, joints2d_px, pred3d, gt3d, skeleton: str | Skeleton,
                           num: int = 4) -> Path:
    """Draw `num` evenly spread samples (2D input | prediction | GT if given) into one image file, each row
    captioned with its PA-MPJPE (with GT) or its index."""
    import matplotlib.pyplot as plt

    from lifting.metrics import pa_mpjpe_errors

    n = len(pred3d)
    if n == 0:
        raise UserError("save_prediction_figure: no samples to draw")
    pick = np.linspace(0, n - 1, min(num, n)).round().astype(int)
    pred, gt = np.asarray(pred3d)[pick], None if gt3d is None else np.asarray(gt3d)[pick]
    titles = [f"pose {i}" for i in pick] if gt is None else \
        [f"PA-MPJPE {e:.0f} mm" for e in pa_mpjpe_errors(pred, gt).mean(-1)]
    fig = prediction_grid(np.asarray(joints2d_px)[pick], pred, gt, skeleton, titles=titles)
    path = Path(path)
    fmt = path.suffix.lstrip(".") or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=100, bbox_inches="tight"))
    plt.close(fig)
    return path
