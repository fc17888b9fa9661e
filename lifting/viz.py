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


FRAMES = ("camera", "world")
AXIS_LABELS = {"camera": ("x right (mm)", "z depth (mm)", "-y up (mm)"), "world": ("x (mm)", "y (mm)", "z up (mm)")}


def plot_coords(joints3d, frame: str = "camera") -> np.ndarray:
    """(..., J, 3) mm in `frame` -> upright plot coordinates: camera frame via `upright`, world frame (z up) as is."""
    if frame not in FRAMES:
        raise UserError(f"3D frame {frame!r}: expected one of {', '.join(FRAMES)}")
    return upright(joints3d) if frame == "camera" else np.asarray(joints3d, dtype=np.float64)


def fitted_limits(points, min_share: float = 0.25, pad: float = 0.05) -> tuple[np.ndarray, np.ndarray]:
    """Per-axis ranges (D, 2) around the finite points (..., D), each at least `min_share` of the largest span and
    padded by `pad` of it; and the aspect ratios (D,) that give one millimetre one length on every axis."""
    p = np.asarray(points, dtype=np.float64).reshape(-1, np.shape(points)[-1])
    p = p[np.isfinite(p).all(-1)]
    if not len(p):
        raise UserError("nothing to draw: every joint is missing (NaN)")
    lo, hi = p.min(0), p.max(0)
    span = max(float((hi - lo).max()), 1.0)
    half = np.maximum(hi - lo, min_share * span) / 2 + pad * span
    centre = (hi + lo) / 2
    return np.stack([centre - half, centre + half], -1), half / half.max()


def set_limits_3d(ax, limits) -> None:
    """Set a 3D axis to plot-space `limits` (3, 2) with equal aspect (the box proportional to the ranges)."""
    limits = np.asarray(limits, dtype=np.float64)
    ax.set_xlim(*limits[0])
    ax.set_ylim(*limits[1])
    ax.set_zlim(*limits[2])
    ax.set_box_aspect(np.diff(limits, axis=1).ravel(), zoom=1.1)


def draw_pose_3d(ax, joints3d, skeleton: str | Skeleton, radius: float | None = None, limits=None,
                 frame: str = "camera", linewidth: float = 2.0, markersize: float = 2.0,
                 label_axes: bool = True) -> None:
    """Draw one 3D pose `(J, 3)` mm in `frame` ('camera' or 'world') on a matplotlib 3D axis, upright.

    Limits (equal aspect on all axes): `limits` (3, 2) in plot coordinates (`plot_coords`) as given, e.g. shared by
    panels of one scale; else a cube of half-size `radius` mm around the root; else fitted to the pose.
    """
    skeleton = get_skeleton(skeleton)
    p = plot_coords(_joints(joints3d, skeleton, 3, "draw_pose_3d"), frame)
    finite = np.isfinite(p).all(-1)
    for (a, b), color in zip(skeleton.limbs, limb_colors(skeleton)):
        if finite[a] and finite[b]:
            ax.plot(p[[a, b], 0], p[[a, b], 1], p[[a, b], 2], color=color, linewidth=linewidth)
    ax.plot(p[finite, 0], p[finite, 1], p[finite, 2], "o", color="k", markersize=markersize)
    if limits is None and radius is not None:
        centre = p[skeleton.root] if finite[skeleton.root] else np.nanmean(p[finite], axis=0)
        limits = np.stack([centre - radius, centre + radius], -1)
    set_limits_3d(ax, fitted_limits(p)[0] if limits is None else limits)
    ax.view_init(elev=12, azim=-70)
    ax.locator_params(nbins=3)
    ax.tick_params(labelsize=7, pad=0)
    if label_axes:
        for set_label, text in zip((ax.set_xlabel, ax.set_ylabel, ax.set_zlabel), AXIS_LABELS[frame]):
            set_label(text, fontsize=8, labelpad=0)


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
        # Prediction and ground truth share limits fitted to both, so their scales compare.
        limits = fitted_limits(upright(pred3d[i] if gt3d is None else np.stack([pred3d[i], gt3d[i]])))[0]
        ax = fig.add_subplot(n, cols, cols * i + 2, projection="3d")
        draw_pose_3d(ax, pred3d[i], skeleton, limits=limits, label_axes=False)
        ax.set_title("prediction" + (f"\n{titles[i]}" if titles is not None else ""), fontsize=9)
        if gt3d is not None:
            ax = fig.add_subplot(n, cols, cols * i + 3, projection="3d")
            draw_pose_3d(ax, gt3d[i], skeleton, limits=limits, label_axes=False)
            ax.set_title("ground truth", fontsize=9)
    fig.tight_layout()
    return fig


def figure_metadata(path: str | Path, description: str | None) -> dict[str, str] | None:
    """A text description in the form matplotlib's savefig stores for the file type (PNG/SVG text, PDF subject)."""
    fmt = Path(path).suffix.lower().lstrip(".")
    if description is None or fmt not in ("png", "svg", "pdf"):
        return None
    return {"Subject" if fmt == "pdf" else "Description": description}


def _save(fig, path: Path, dpi: int, description: str | None) -> Path:
    fmt = path.suffix.lstrip(".").lower() or "png"
    atomic_write(path, lambda tmp: fig.savefig(tmp, format=fmt, dpi=dpi, bbox_inches="tight",
                                               metadata=figure_metadata(path, description)))
    return path


def save_prediction_figure(path: str | Path, joints2d_px, pred3d, gt3d, skeleton: str | Skeleton,
                           num: int = 4, description: str | None = None) -> Path:
    """Draw `num` evenly spread samples (2D input | prediction | GT if given) into one image file, each row
    captioned with its PA-MPJPE (with GT) or its index; `description` is stored in the file's metadata."""
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
    _save(fig, Path(path), 100, description)
    plt.close(fig)
    return Path(path)


def save_image_poses_figure(path: str | Path, images: list, poses2d_px, poses3d_cam, image_index, boxes,
                            skeleton: str | Skeleton, description: str | None = None) -> Path:
    """One row per image: the image with its boxes and 2D poses | all its 3D poses in one camera-frame scene.

    images: list of (3, H, W) arrays/tensors in [0, 1]; poses2d_px (N, J, 2); poses3d_cam (N, J, 3) mm absolute
    camera frame; image_index (N,) the image of each pose; boxes (N, 4) [x, y, w, h] px."""
    import matplotlib.pyplot as plt

    skeleton = get_skeleton(skeleton)
    poses2d, poses3d = np.asarray(poses2d_px), np.asarray(poses3d_cam)
    image_index, boxes = np.asarray(image_index), np.asarray(boxes)
    fig = plt.figure(figsize=(8.0, 4.0 * len(images)))
    for i, image in enumerate(images):
        pixels = np.asarray(image.detach().cpu() if hasattr(image, "detach") else image).transpose(1, 2, 0)
        rows = np.flatnonzero(image_index == i)
        ax = fig.add_subplot(len(images), 2, 2 * i + 1)
        ax.imshow(pixels.clip(0, 1))
        for r in rows:
            x, y, w, h = boxes[r]
            ax.add_patch(plt.Rectangle((x, y), w, h, fill=False, color="yellow", linewidth=1))
            draw_pose_2d(ax, poses2d[r], skeleton, invert_y=False, linewidth=1.5, markersize=2)
        ax.set_aspect("equal", adjustable="box")
        ax.set_xlim(-0.5, pixels.shape[1] - 0.5)
        ax.set_ylim(pixels.shape[0] - 0.5, -0.5)
        ax.set_title(f"image {i}: {len(rows)} people, 2D (px)", fontsize=9)
        ax.axis("off")
        ax = fig.add_subplot(len(images), 2, 2 * i + 2, projection="3d")
        limits = fitted_limits(upright(poses3d[rows]))[0] if len(rows) else None
        for r in rows:
            draw_pose_3d(ax, poses3d[r], skeleton, limits=limits, label_axes=False)
        ax.set_title("3D, camera frame (mm)", fontsize=9)
    fig.tight_layout()
    _save(fig, Path(path), 100, description)
    plt.close(fig)
    return Path(path)


def overlay_poses(image, poses2d_px, skeleton: str | Skeleton, linewidth: int = 3) -> np.ndarray:
    """The image (H, W, 3) uint8 with the 2D poses (P, J, 2) px drawn on it (left/right/centre limb colours, NaN
    joints skipped): a video frame's overlay."""
    from matplotlib.colors import to_rgb
    from PIL import Image, ImageDraw

    skeleton = get_skeleton(skeleton)
    canvas = Image.fromarray(np.asarray(image, dtype=np.uint8))
    draw = ImageDraw.Draw(canvas)
    colors = [tuple(int(255 * c) for c in to_rgb(name)) for name in limb_colors(skeleton)]
    for pose in np.asarray(poses2d_px, dtype=np.float64).reshape(-1, skeleton.num_joints, 2):
        for (a, b), color in zip(skeleton.limbs, colors):
            if np.isfinite(pose[[a, b]]).all():
                draw.line([tuple(pose[a]), tuple(pose[b])], fill=color, width=linewidth)
    return np.asarray(canvas)


def _figure_pixels(fig) -> np.ndarray:
    fig.canvas.draw()
    return np.asarray(fig.canvas.buffer_rgba())[..., :3].copy()


def save_pose_animation(path: str | Path, joints2d_px, poses3d, skeleton: str | Skeleton, fps: float = 10.0,
                        frame: str = "camera", description: str | None = None) -> Path:
    """A sequence, the 2D input beside the 3D view, as an MP4 or GIF (`lifting.datasets.videos.write_video`,
    `description` as its comment). joints2d_px (T, J, 2) or (T, P, J, 2) px; poses3d (T, J, 3) or (T, P, J, 3) mm
    in `frame`, NaN where a person is absent. Limits are fitted to everybody over the whole sequence and fixed."""
    import matplotlib.pyplot as plt

    from lifting.datasets.videos import write_video

    skeleton = get_skeleton(skeleton)
    j2d, j3d = np.asarray(joints2d_px, dtype=np.float64), np.asarray(poses3d, dtype=np.float64)
    if j2d.ndim == 3:
        j2d, j3d = j2d[:, None], j3d[:, None]
    if j2d.ndim != 4 or j2d.shape[:3] != j3d.shape[:3]:
        raise UserError(f"{path}: expected 2D (T, [P,] J, 2) and 3D (T, [P,] J, 3) of the same people, got "
                        f"{np.shape(joints2d_px)} and {np.shape(poses3d)}")
    limits2d, limits3d = fitted_limits(j2d, min_share=1.0)[0], fitted_limits(plot_coords(j3d, frame))[0]
    fig = plt.figure(figsize=(7.0, 3.5), dpi=100)
    ax2, ax3 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2, projection="3d")

    def frames():
        for t in range(len(j2d)):
            ax2.clear()
            ax3.clear()
            people = np.flatnonzero(np.isfinite(j3d[t]).any((1, 2)) | np.isfinite(j2d[t]).any((1, 2)))
            for k in people:
                draw_pose_2d(ax2, j2d[t, k], skeleton, invert_y=False)
                draw_pose_3d(ax3, j3d[t, k], skeleton, limits=limits3d, frame=frame, label_axes=False)
            ax2.set_aspect("equal", adjustable="box")
            ax2.set_xlim(*limits2d[0])
            ax2.set_ylim(*limits2d[1][::-1])
            ax2.set_title(f"2D input (px), frame {t}", fontsize=9)
            set_limits_3d(ax3, limits3d)
            ax3.set_title(f"3D, {frame} frame (mm)", fontsize=9)
            yield _figure_pixels(fig)

    try:
        write_video(path, frames(), fps, comment=description)
    finally:
        plt.close(fig)
    return Path(path)
