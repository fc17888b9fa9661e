"""An interactive 3D viewer: one self-contained HTML page (plotly, with plotly.js embedded: no server, no network).

The page shows the 3D people, which you can rotate and zoom, beside the 2D input and/or the image, with a frame
slider and a play button for sequences. Hovering a joint shows its person, name and coordinates with units. The 3D
view has equal aspect and limits fitted to all people over all frames (fixed, so a sequence does not jump);
camera-frame poses are drawn upright as (x, z, -y) like the static figures (`lifting.viz.upright`), world-frame
poses (Human3.6M: z up) as they are.
"""

from __future__ import annotations

import base64
import io
from pathlib import Path

import numpy as np

from lifting.errors import UserError
from lifting.fileio import atomic_write
from lifting.geometry.skeletons import Skeleton, get_skeleton
from lifting.viz import AXIS_LABELS, fitted_limits, limb_side, plot_coords

SIDE_COLORS = {"left": "#1f77b4", "right": "#d62728", "centre": "#4d4d4d"}  # the static figures' colours
PERSON_COLORS = ("#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f")


def _limb_lines(pose: np.ndarray, skeleton: Skeleton, side: str) -> list[np.ndarray]:
    """Coordinate lists of the limbs of one side, limbs separated by None (plotly's line breaks)."""
    coords: list[list] = [[] for _ in range(pose.shape[-1])]
    for a, b in skeleton.limbs:
        if limb_side(skeleton, (a, b)) == side and np.isfinite(pose[[a, b]]).all():
            for d in range(pose.shape[-1]):
                coords[d] += [pose[a, d], pose[b, d], None]
    return coords


def _jpeg_uri(image: np.ndarray) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(image).save(buf, format="JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode()


def _check(poses3d, joints2d, images, skeleton: Skeleton, frame: str):
    p3 = np.asarray(poses3d, dtype=np.float64)
    if p3.ndim != 4 or p3.shape[2:] != (skeleton.num_joints, 3) or not np.isfinite(p3).any():
        raise UserError(f"write_html: poses3d must be (T, P, {skeleton.num_joints}, 3) mm for {skeleton.name} with "
                        f"some finite joints, got {p3.shape}")
    p2 = None if joints2d is None else np.asarray(joints2d, dtype=np.float64)
    if p2 is not None and p2.shape != p3.shape[:3] + (2,):
        raise UserError(f"write_html: joints2d must be (T, P, J, 2) px matching poses3d {p3.shape}, got {p2.shape}")
    im = None if images is None else np.asarray(images)
    if im is not None:
        im = im[None] if im.ndim == 3 else im
        if im.dtype != np.uint8 or im.ndim != 4 or im.shape[-1] != 3 or len(im) not in (1, len(p3)):
            raise UserError(f"write_html: images must be (H, W, 3) or (T, H, W, 3) uint8 with T = {len(p3)}, got "
                            f"{np.asarray(images).shape} {np.asarray(images).dtype}")
    return p3, p2, im


def write_html(path: str | Path, poses3d, skeleton: str | Skeleton, joints2d=None, images=None,
               frame: str = "camera", fps: float = 10.0, track_ids=None, frame_labels=None,
               title: str = "3D poses") -> Path:
    """Write the viewer page (module docstring) to `path`, atomically.

    poses3d (T, P, J, 3) mm in `frame` ('camera': OpenCV camera frame, absolute or root-relative; 'world': z up),
    NaN where a person is absent; joints2d (T, P, J, 2) image px; images (H, W, 3) or (T, H, W, 3) uint8 RGB, the
    2D joints drawn on them; track_ids (P,) shown as the people's names; frame_labels (T,) shown on the slider.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    skeleton = get_skeleton(skeleton)
    p3, p2, im = _check(poses3d, joints2d, images, skeleton, frame)
    num_frames, num_people = p3.shape[:2]
    names = [f"person {i}" for i in (range(num_people) if track_ids is None else track_ids)]
    labels = [str(f) for f in (range(num_frames) if frame_labels is None else frame_labels)]
    plot3 = plot_coords(p3, frame)
    has_2d = p2 is not None or im is not None
    fig = make_subplots(rows=1, cols=2 if has_2d else 1, column_widths=[0.4, 0.6] if has_2d else None,
                        specs=[[{"type": "xy"}, {"type": "scene"}]] if has_2d else [[{"type": "scene"}]],
                        subplot_titles=(["2D input (px)"] if has_2d else []) + [f"3D, {frame} frame (mm)"])
    scene_col = 2 if has_2d else 1

    def traces(t: int) -> list:
        """Every trace that changes with the frame, in a fixed order: image, then per person 2D and 3D."""
        out = []
        if im is not None:
            out.append(go.Image(source=_jpeg_uri(im[min(t, len(im) - 1)]), hoverinfo="skip"))
        for k in range(num_people):
            color, group = PERSON_COLORS[k % len(PERSON_COLORS)], names[k]
            if p2 is not None:
                for side, side_color in SIDE_COLORS.items():
                    x, y = _limb_lines(p2[t, k], skeleton, side)
                    out.append(go.Scatter(x=x, y=y, mode="lines", line={"color": side_color, "width": 3},
                                          hoverinfo="skip", legendgroup=group, showlegend=False))
                out.append(go.Scatter(x=p2[t, k, :, 0], y=p2[t, k, :, 1], mode="markers", name=group,
                                      legendgroup=group, showlegend=False, text=skeleton.joint_names,
                                      marker={"color": color, "size": 6},
                                      hovertemplate=f"{group}<br>%{{text}}<br>x %{{x:.1f}} px<br>y %{{y:.1f}} px"
                                                    "<extra></extra>"))
            for side, side_color in SIDE_COLORS.items():
                x, y, z = _limb_lines(plot3[t, k], skeleton, side)
                out.append(go.Scatter3d(x=x, y=y, z=z, mode="lines", line={"color": side_color, "width": 6},
                                        hoverinfo="skip", legendgroup=group, showlegend=False))
            out.append(go.Scatter3d(
                x=plot3[t, k, :, 0], y=plot3[t, k, :, 1], z=plot3[t, k, :, 2], mode="markers", name=group,
                legendgroup=group, text=skeleton.joint_names, customdata=p3[t, k], marker={"color": color, "size": 4},
                hovertemplate=f"{group}<br>%{{text}}<br>x %{{customdata[0]:.0f}} mm<br>y %{{customdata[1]:.0f}} mm<br>"
                              f"z %{{customdata[2]:.0f}} mm ({frame} frame)<extra></extra>"))
        return out

    first = traces(0)
    for trace in first:
        fig.add_trace(trace, row=1, col=1 if isinstance(trace, (go.Image, go.Scatter)) else scene_col)
    ranges, aspect = fitted_limits(plot3)
    fig.update_scenes(aspectmode="manual", aspectratio=dict(zip("xyz", aspect)),
                      camera={"eye": {"x": 0.35, "y": -1.7, "z": 0.45} if frame == "camera" else
                              {"x": 1.25, "y": -1.25, "z": 0.7}, "up": {"x": 0, "y": 0, "z": 1}},
                      **{f"{a}axis": {"range": list(r), "title": {"text": t}}
                         for a, r, t in zip("xyz", ranges, AXIS_LABELS[frame])})
    if has_2d:
        if im is None:
            r2, _ = fitted_limits(p2, min_share=1.0)
            fig.update_xaxes(range=list(r2[0]), row=1, col=1)
            fig.update_yaxes(range=list(r2[1][::-1]), row=1, col=1)
        fig.update_yaxes(scaleanchor="x", scaleratio=1, row=1, col=1)
    fig.update_layout(title=title, height=650, legend={"itemclick": "toggle"}, margin={"l": 20, "r": 20, "b": 20})
    if num_frames > 1:
        play = {"frame": {"duration": 1000.0 / fps, "redraw": True}, "fromcurrent": True,
                "transition": {"duration": 0}}
        fig.frames = [go.Frame(data=traces(t), name=labels[t], traces=list(range(len(first))))
                      for t in range(num_frames)]
        fig.update_layout(
            updatemenus=[{"type": "buttons", "x": 0.0, "y": -0.02, "xanchor": "left", "yanchor": "top",
                          "buttons": [{"label": "play", "method": "animate", "args": [None, play]},
                                      {"label": "pause", "method": "animate",
                                       "args": [[None], {"mode": "immediate", "frame": {"duration": 0}}]}]}],
            sliders=[{"x": 0.12, "len": 0.88, "y": -0.02, "currentvalue": {"prefix": "frame "},
                      "steps": [{"label": labels[t], "method": "animate",
                                 "args": [[labels[t]], {"mode": "immediate", "frame": {"duration": 0, "redraw": True},
                                                        "transition": {"duration": 0}}]}
                                for t in range(num_frames)]}])
    atomic_write(path, lambda tmp: fig.write_html(tmp, include_plotlyjs=True, full_html=True, auto_play=False,
                                                  config={"displaylogo": False}))
    return Path(path)
