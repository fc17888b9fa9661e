"""Rendered clips: people moving as in the motion data, in front of one fixed camera, written as a video with its
ground truth. They stand in for footage where none exists: the README's video path on a fresh machine, the video
benchmark, and tests of tracking through people crossing.

World frame as Human3.6M (mm, z up, floor z = 0); the camera is `scenes.scene_camera` (at the origin, looking along
+y). Each person keeps its own motion, shifted so that its mean root position over the clip stands on a spot on
the floor; appearance and background are drawn once, so they stay the same in every frame.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lifting.errors import UserError
from lifting.fileio import atomic_write
from lifting.geometry.cameras import default_intrinsics, project_joints
from lifting.synth.render import render_mannequin
from lifting.synth.scenes import scene_camera


@dataclass
class Clip:
    """T frames of P people. joints_world / joints_cam (T, P, 17, 3) mm; K (3, 3) px; R (3, 3), t (3,):
    X_cam = R X_world + t; fps frames per second; width, height px."""

    joints_world: np.ndarray
    joints_cam: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    fps: float
    width: int
    height: int


def make_clip(motions: list[np.ndarray], spots_mm: np.ndarray, fps: float, width: int = 640, height: int = 480,
              camera_height_mm: float = 1000.0, pitch_deg: float = 5.0, fov_deg: float = 55.0) -> Clip:
    """motions: P arrays (T, 17, 3) world mm (same T); spots_mm (P, 2): floor (x, y) where each person's mean root
    is put (y = ground distance ahead of the camera)."""
    if not motions or len({len(m) for m in motions}) != 1:
        raise UserError(f"clip: expected one or more motions of equal length, got {[len(m) for m in motions]}")
    spots = np.asarray(spots_mm, dtype=np.float64).reshape(len(motions), 2)
    world = np.stack([m - np.array([*m[:, 0, :2].mean(0) - spot, 0.0])
                      for m, spot in zip(np.asarray(motions, dtype=np.float64), spots)], axis=1)
    R, t = scene_camera(camera_height_mm, pitch_deg)
    return Clip(joints_world=world, joints_cam=world @ R.T + t, K=default_intrinsics(width, height, fov_deg),
                R=R, t=t, fps=float(fps), width=width, height=height)


def clip_frames(clip: Clip, seed: int = 0, device: str | torch.device = "cpu") -> Iterator[np.ndarray]:
    """The clip's frames (H, W, 3) uint8 RGB. The renderer is reseeded per frame so that every frame draws the same
    appearance and background."""
    K = torch.as_tensor(clip.K, dtype=torch.float32, device=device)
    generator = torch.Generator(device=device)
    for joints in clip.joints_cam:
        generator.manual_seed(seed)
        image = render_mannequin(torch.as_tensor(joints[None], dtype=torch.float32, device=device), K,
                                 (clip.height, clip.width), generator, occluder_prob=0.0).image[0]
        yield (image.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()


def write_clip(path: str | Path, clip: Clip, seed: int = 0, device: str | torch.device = "cpu",
               progress: Callable[[int], None] | None = None) -> tuple[Path, Path, Path]:
    """Render `clip` to the video `path` (.mp4 or .gif), its ground truth beside it (same stem, .npz: joints_cam,
    joints_world (T, P, 17, 3) mm, joints2d_px (T, P, 17, 2), K, R, t, fps) and the true 2D alone as keypoints for
    `run_model.py` (<stem>_2d.npy, (T, P, 17, 2) px). Returns the three paths."""
    from lifting.datasets.videos import write_video

    def frames() -> Iterator[np.ndarray]:
        for frame in clip_frames(clip, seed, device):
            yield frame
            if progress:
                progress(1)

    video = write_video(path, frames(), clip.fps, comment="rendered mannequins (lifting.synth.clips)")
    truth = video.with_suffix(".npz")

    def save(tmp: str) -> None:
        with open(tmp, "wb") as f:  # a file object: np.savez would append .npz to the temporary name
            np.savez(f, joints_cam=clip.joints_cam, joints_world=clip.joints_world, joints2d_px=joints2d_px, K=clip.K,
                     R=clip.R, t=clip.t, fps=clip.fps)

    def save_2d(tmp: str) -> None:
        with open(tmp, "wb") as f:
            np.save(f, joints2d_px)

    joints2d_px = project_joints(clip.joints_cam, clip.K)
    keypoints = video.with_name(video.stem + "_2d.npy")
    return video, atomic_write(truth, save), atomic_write(keypoints, save_2d)
