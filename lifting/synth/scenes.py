"""Multi-person scenes: several Human3.6M poses placed on one floor in front of a virtual camera, rendered under
one z-buffer, with every person's box, 2D joints, camera-frame 3D and per-joint visibility.

World frame as Human3.6M (mm, z up, floor z = 0). The scene camera stands at the world origin at a random height,
looks along +y, pitched down a little, and has no lens distortion. Each person is a pose of a different frame of
the pool, turned to a random heading and put on the floor at a random ground distance and a random image column
(roots may lie a little outside the image, so some people are cut by the border). People keep a minimum gap on
the floor so that mannequins do not interpenetrate; nearer people hide farther ones exactly.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lifting.datasets.h36m import ACTIONS, find_pose_files, read_pose_file
from lifting.errors import UserError
from lifting.geometry.cameras import default_intrinsics
from lifting.geometry.skeletons import H36M_17, convert
from lifting.synth.render import render_mannequin

MIN_VISIBLE_JOINTS = 6
"""A person with fewer visible joints (of 17) is an ignore region for detection: neither a hit nor a miss."""


@dataclass(frozen=True)
class SceneOptions:
    """How scenes are drawn. Sizes px, distances mm, angles degrees."""

    width: int = 320
    height: int = 240
    people: tuple[int, int] = (1, 4)                 # people per image, inclusive range
    distance_mm: tuple[float, float] = (2000.0, 9000.0)   # ground distance of a root from the camera
    fov_deg: float = 55.0                            # over the longer image side
    camera_height_mm: tuple[float, float] = (1000.0, 2000.0)
    pitch_deg: tuple[float, float] = (0.0, 15.0)     # downward tilt
    outside: float = 0.15                            # roots up to this share of the width beyond each side
    min_gap_mm: float = 600.0                        # between two roots on the floor

    def check(self) -> SceneOptions:
        lo, hi = self.people
        if not 1 <= lo <= hi <= 16:
            raise UserError(f"people per image {lo},{hi}: expected MIN,MAX with 1 <= MIN <= MAX <= 16")
        near, far = self.distance_mm
        if not 500 <= near <= far <= 50_000:
            raise UserError(f"scene distance {near},{far} mm: expected MIN,MAX with 500 <= MIN <= MAX <= 50000")
        return self


@dataclass
class PosePool:
    """World poses to draw people from: joints_world (N, 17, 3) mm, and per row subject/action/subaction/frame."""

    joints_world: np.ndarray
    subject: np.ndarray
    action: np.ndarray
    subaction: np.ndarray
    frame: np.ndarray

    def __len__(self) -> int:
        return len(self.joints_world)


def load_pose_pool(data_dir: str | Path, subjects, stride: int = 1) -> PosePool:
    """Every `stride`-th world pose of the subjects' h5 pose files (the one world pose per frame, no cameras)."""
    parts: dict[str, list] = {k: [] for k in ("joints_world", "subject", "action", "subaction", "frame")}
    for subject, action, subaction, path in find_pose_files(data_dir, [int(s) for s in subjects]):
        world = read_pose_file(path)
        frames = np.arange(0, len(world), int(stride))
        parts["joints_world"].append(convert(world[frames].astype(np.float64), "h36m_32", H36M_17.name))
        parts["subject"].append(np.full(len(frames), subject))
        parts["action"].append(np.full(len(frames), ACTIONS.index(action)))
        parts["subaction"].append(np.full(len(frames), subaction))
        parts["frame"].append(frames)
    return PosePool(**{k: np.concatenate(v) for k, v in parts.items()})


@dataclass
class Scenes:
    """B scenes of up to P people. joints_world / joints_cam (B, P, 17, 3) mm; present (B, P) bool; pose_index
    (B, P) pool row (-1 where absent); K (B, 3, 3) px; R (B, 3, 3), t (B, 3): X_cam = R X_world + t."""

    joints_world: np.ndarray
    joints_cam: np.ndarray
    present: np.ndarray
    pose_index: np.ndarray
    K: np.ndarray
    R: np.ndarray
    t: np.ndarray
    width: int
    height: int


def scene_camera(height_mm: float, pitch_deg: float) -> tuple[np.ndarray, np.ndarray]:
    """(R (3, 3), t (3,)) of a camera at (0, 0, height) looking along world +y, tilted down by `pitch_deg`."""
    p = np.radians(pitch_deg)
    right = np.array([1.0, 0.0, 0.0])
    forward = np.array([0.0, np.cos(p), -np.sin(p)])
    down = np.cross(forward, right)
    R = np.stack([right, down, forward])
    return R, -R @ np.array([0.0, 0.0, height_mm])


def sample_scenes(pool: PosePool, count: int, opts: SceneOptions, rng: np.random.Generator) -> Scenes:
    """`count` random scenes (see the module docstring); every person of a scene is a different pool frame."""
    if len(pool) < opts.people[1]:
        raise UserError(f"pose pool has {len(pool)} poses, fewer than the {opts.people[1]} people per image asked")
    P, W, H = opts.people[1], opts.width, opts.height
    K = default_intrinsics(W, H, opts.fov_deg)
    f, cx = K[0, 0], K[0, 2]
    out = {k: [] for k in ("joints_world", "joints_cam", "present", "pose_index", "R", "t")}
    for _ in range(count):
        n = int(rng.integers(opts.people[0], opts.people[1] + 1))
        R, t = scene_camera(rng.uniform(*opts.camera_height_mm), rng.uniform(*opts.pitch_deg))
        rows = rng.choice(len(pool), P, replace=False)
        spots: list[np.ndarray] = []
        for _ in range(20 * P):
            if len(spots) == n:
                break
            depth = rng.uniform(*opts.distance_mm)
            u = rng.uniform(-opts.outside * W, (1 + opts.outside) * W)
            spot = np.array([(u - cx) * depth / f, depth])
            if all(np.linalg.norm(spot - s) >= opts.min_gap_mm for s in spots):
                spots.append(spot)
        world = np.empty((P, H36M_17.num_joints, 3))
        for i, row in enumerate(rows):
            pose = pool.joints_world[row] - np.array([*pool.joints_world[row, 0, :2], 0.0])
            yaw = rng.uniform(0, 2 * np.pi)
            c, s = np.cos(yaw), np.sin(yaw)
            spot = spots[i] if i < len(spots) else np.array([0.0, opts.distance_mm[1]])
            world[i] = pose @ np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]]).T + np.array([*spot, 0.0])
        present = np.arange(P) < len(spots)
        out["joints_world"].append(world)
        out["joints_cam"].append(world @ R.T + t)
        out["present"].append(present)
        out["pose_index"].append(np.where(present, rows, -1))
        out["R"].append(R)
        out["t"].append(t)
    arrays = {k: np.stack(v) for k, v in out.items()}
    return Scenes(K=np.broadcast_to(K, (count, 3, 3)).copy(), width=W, height=H, **arrays)


@dataclass
class SceneImages:
    """Rendered scenes: image (B, 3, H, W) in [0, 1]; per person in_view (B, P) bool: present with at least one
    body pixel in the image (the others are not labelled); boxes (B, P, 4) [x0, y0, x1, y1] px around its visible
    pixels (zeros where not in view); joints2d_px (B, P, 17, 2); joint_visible (B, P, 17) bool: inside the image and
    not hidden by another person."""

    image: torch.Tensor
    in_view: torch.Tensor
    boxes: torch.Tensor
    joints2d_px: torch.Tensor
    joint_visible: torch.Tensor


def render_scenes(scenes: Scenes, generator: torch.Generator, device: str | torch.device = "cpu",
                  occluder_prob: float = 0.0) -> SceneImages:
    """All people of each scene under one z-buffer, with their labels from the rendered person map."""
    H, W = scenes.height, scenes.width
    present = torch.as_tensor(scenes.present, device=device)
    out = render_mannequin(torch.tensor(scenes.joints_cam, dtype=torch.float32, device=device),
                           torch.tensor(scenes.K, dtype=torch.float32, device=device), (H, W), generator,
                           present=present, occluder_prob=occluder_prob)
    B, P = present.shape
    who = out.person.cpu()
    mine = who[:, None] == torch.arange(P)[None, :, None, None]                       # (B, P, H, W)
    rows, cols = mine.any(3), mine.any(2)                                             # (B, P, H), (B, P, W)
    first = lambda m: m.float().argmax(-1).float()
    last = lambda m: (m.shape[-1] - 1 - m.flip(-1).float().argmax(-1)).float()
    pixel_box = torch.stack([first(cols), first(rows), last(cols) + 1, last(rows) + 1], -1) - 0.5
    pixel_box = pixel_box.clamp(min=0).minimum(torch.tensor([W, H, W, H], dtype=pixel_box.dtype))
    in_view = mine.any(3).any(2)
    boxes = torch.where(in_view[..., None], pixel_box, 0.0)
    uv = out.joints2d_px.cpu()                                                         # (B, P, 17, 2)
    limit = torch.tensor([W - 1.0, H - 1.0])
    inside = ((uv >= 0) & (uv <= limit)).all(-1)
    px = torch.round(uv.clamp(min=torch.zeros(2), max=limit)).long()
    seen = torch.stack([who[b, px[b, ..., 1], px[b, ..., 0]] for b in range(B)])     # (B, P, 17)
    own = torch.arange(P)[None, :, None]
    visible = inside & ((seen == own) | (seen < 0)) & in_view[..., None]
    return SceneImages(image=out.image, in_view=in_view, boxes=boxes, joints2d_px=uv, joint_visible=visible)


def place_beside(target_world: torch.Tensor, others_world: torch.Tensor, R: torch.Tensor,
                 generator: torch.Generator, lateral_mm: tuple[float, float] = (500.0, 1300.0),
                 depth_mm: tuple[float, float] = (-600.0, 1500.0), min_gap_mm: float = 600.0) -> torch.Tensor:
    """Other people moved next to a target as in a scene, so that a crop of the target shows them at its edges or
    partly in front of it.

    target_world (B, 17, 3) and others_world (B, P, 17, 3) mm in world frames (z up, floor z = 0); R (B, 3, 3) the
    target camera's world-to-camera rotation. Each other person keeps its height above the floor, is turned to a
    random heading and put with its root `lateral_mm` to the side of the target's root along the camera's floor
    right axis (person k on the side opposite to person k - 1) and `depth_mm` along its floor viewing direction
    (negative: nearer the camera), at least `min_gap_mm` from the target's root on the floor. -> (B, P, 17, 3) world.
    """
    B, P = others_world.shape[:2]
    dt = target_world.dtype
    yaw = 2 * torch.pi * torch.rand(B, P, generator=generator, dtype=dt)
    side = torch.where(torch.rand(B, 1, generator=generator) < 0.5, -1.0, 1.0).to(dt)
    side = side * (-1.0) ** torch.arange(P, dtype=dt)
    lateral = side * (lateral_mm[0] + (lateral_mm[1] - lateral_mm[0]) * torch.rand(B, P, generator=generator,
                                                                                   dtype=dt))
    depth = depth_mm[0] + (depth_mm[1] - depth_mm[0]) * torch.rand(B, P, generator=generator, dtype=dt)
    offset = torch.stack([lateral, depth], -1)                                          # (B, P, 2) floor mm
    offset = offset * (min_gap_mm / offset.norm(dim=-1, keepdim=True).clamp_min(1e-6)).clamp_min(1.0)
    floor_axes = R.transpose(1, 2)[:, :2, [0, 2]].to(dt)           # camera x and z axes in the world, xy parts
    floor_axes = floor_axes / floor_axes.norm(dim=1, keepdim=True).clamp_min(1e-6)     # (B, 2, 2) columns
    spot = target_world[:, None, 0, :2] + offset @ floor_axes.transpose(1, 2)          # (B, P, 2)
    c, s = torch.cos(yaw), torch.sin(yaw)
    turn = torch.stack([torch.stack([c, -s], -1), torch.stack([s, c], -1)], -2)        # (B, P, 2, 2)
    xy = (others_world[..., :2] - others_world[:, :, :1, :2]) @ turn.transpose(-1, -2) + spot[:, :, None]
    return torch.cat([xy, others_world[..., 2:]], -1)
