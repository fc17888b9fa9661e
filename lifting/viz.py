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


def _scene_limits(ax, points: np.ndarray) -> None:
    """Equal-aspect cube around all finite plot-space points (P, 3)."""
    points = points[np.isfinite(points).all(-1)]
    centre = (points.max(0) + points.min(0)) / 2
    radius = max(float((points.max(0) - points.min(0)).max()) / 2 * 1.1, 1.0)
    ax.set_xlim(centre[0] - radius, centre[0] + radius)
    ax.set_ylim(centre[1] - radius, centre[1] + radius)
    ax.set_zlim(centre[2] - radius, centre[2] + radius)
    ax.set_box_aspect((1, 1, 1))


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
        for r in rows:
            draw_pose_3d(ax, poses3d[r], skeleton, label_axes=False)
        if len(rows):
            _scene_limits(ax, upright(poses3d[rows]).reshape(-1, 3))
        ax.set_title("3D, camera frame (mm)", fontsize=9)
    fig.tight_layout()
    _save(fig, Path(path), 100, description)
    plt.close(fig)
    return Path(path)


def save_pose_animation(path: str | Path, joints2d_px, poses3d, skeleton: str | Skeleton, fps: float = 10.0,
                        description: str | None = None) -> Path:
    """N frames of one person, the 2D input beside the 3D pose: a GIF (Pillow, `description` as its comment) or
    an MP4 (needs ffmpeg; `description` as its comment tag). joints2d_px (N, J, 2) px; poses3d (N, J, 3) mm,
    root-relative camera frame. Axis limits are fixed over the sequence."""
    import matplotlib.pyplot as plt
    from matplotlib import animation

    skeleton = get_skeleton(skeleton)
    j2d, j3d = np.asarray(joints2d_px, dtype=np.float64), np.asarray(poses3d, dtype=np.float64)
    path = Path(path)
    fig = plt.figure(figsize=(7.0, 3.5))
    ax2, ax3 = fig.add_subplot(1, 2, 1), fig.add_subplot(1, 2, 2, projection="3d")
    lo, hi = np.nanmin(j2d, (0, 1)), np.nanmax(j2d, (0, 1))
    pad = 0.05 * float((hi - lo).max()) + 1.0
    radius = float(np.nanmax(np.abs(upright(j3d - j3d[:, skeleton.root:skeleton.root + 1])))) * 1.1

    def draw(k: int) -> None:
        ax2.clear()
        ax3.clear()
        draw_pose_2d(ax2, j2d[k], skeleton, invert_y=False)
        ax2.set_aspect("equal", adjustable="box")
        ax2.set_xlim(lo[0] - pad, hi[0] + pad)
        ax2.set_ylim(hi[1] + pad, lo[1] - pad)
        ax2.set_title(f"2D input, frame {k}", fontsize=9)
        draw_pose_3d(ax3, j3d[k], skeleton, radius=radius, label_axes=False)
        ax3.set_title("3D (mm)", fontsize=9)

    if path.suffix.lower() == ".gif":
        from PIL import Image

        frames = []
        for k in range(len(j2d)):
            draw(k)
            fig.canvas.draw()
            frames.append(Image.fromarray(np.asarray(fig.canvas.buffer_rgba())[..., :3]).quantize(colors=128))
        atomic_write(path, lambda tmp: frames[0].save(tmp, format="GIF", save_all=True, append_images=frames[1:],
                                                      duration=int(round(1000 / fps)), loop=0,
                                                      comment=(description or "").encode()))
    else:
        writer = animation.FFMpegWriter(fps=fps, metadata={"comment": description or ""},
                                        extra_args=["-f", path.suffix.lower().lstrip(".")])
        anim = animation.FuncAnimation(fig, draw, frames=len(j2d))
        atomic_write(path, lambda tmp: anim.save(tmp, writer=writer))
    plt.close(fig)
    return path
