"""What several test modules share: known poses and cameras (a standing mannequin, posed LSP people with a
predictable depth order, world poses in the Human3.6M layout), and tiny trained models for the tests of the own-data
tools (seconds on one CPU thread) with a rendered test image."""

import contextlib
import importlib.util
import io
import os
from pathlib import Path

import numpy as np
import torch

from lifting.datasets.h36m import samples_from_world
from lifting.datasets.lsp import write_relative_depth_json
from lifting.datasets.samples import PoseSet
from lifting.geometry.cameras import h36m_cameras
from lifting.geometry.skeletons import H36M_17


def train_lifter(out_dir: Path, data_dir: Path, *extra: str) -> Path:
    from lifting.config import load_config
    from lifting.options.h36m import SCHEMA
    from lifting.tasks import run_task

    cfg = load_config(SCHEMA, None, [f"data_dir={data_dir}", f"cache_dir={out_dir.parent / 'cache'}",
                                     f"out_dir={out_dir}", "epochs=1", "linear_size=32", "compile=false", "threads=1",
                                     "train_subjects=[1,5]", "test_subjects=[9]", "tensorboard=false",
                                     "progress=false", *extra])
    run_task("lifting", cfg)
    return out_dir


def train_estimator(out_dir: Path, data_dir: Path) -> Path:
    from lifting.config import load_config
    from lifting.options.metro import SCHEMA
    from lifting.tasks import run_task

    cfg = load_config(SCHEMA, None, [f"data_dir={data_dir}", f"cache_dir={out_dir.parent / 'cache'}",
                                     f"out_dir={out_dir}", "backbone=resnet18", "crop_size=64", "iterations=2",
                                     "batch_size=4", "train_subjects=[1]", "test_subjects=[9]", "max_test_crops=4",
                                     "eval_batch_size=4", "threads=1", "amp=false", "tensorboard=false",
                                     "progress=false"])
    run_task("metro", cfg)
    return out_dir


def sample_poses(data_dir: Path, count: int = 2) -> np.ndarray:
    """(count, 17, 3) camera-frame mm poses of subject 9, camera 1, spread over its frames."""
    from lifting.datasets.h36m import load_h36m

    poses = load_h36m(data_dir, [9], cameras=(1,))
    return poses.joints3d_cam[np.linspace(0, len(poses) - 1, count).round().astype(int)]


def render(joints_cam: np.ndarray, K: np.ndarray, size: tuple[int, int], seed: int = 0, **kw) -> torch.Tensor:
    """(B, 3, H, W) mannequin renderings of (B, 17, 3) poses with intrinsics K (3, 3); size (H, W)."""
    from lifting.synth.render import render_mannequin

    return render_mannequin(torch.as_tensor(joints_cam).float(), torch.as_tensor(K).float(), size,
                            torch.Generator().manual_seed(seed), **kw).image


_POSE = {
    "mid_hip": (0, 0, 0), "right_hip": (-130, 0, 0), "right_knee": (-140, 440, 0), "right_ankle": (-140, 890, 0),
    "left_hip": (130, 0, 0), "left_knee": (140, 440, 0), "left_ankle": (140, 890, 0),
    "mid_spine": (0, -233, 0), "neck": (0, -490, 0), "chin": (0, -610, 0), "head": (0, -725, 0),
    "left_shoulder": (150, -490, 0), "left_elbow": (428, -490, 0), "left_wrist": (680, -490, 0),
    "right_shoulder": (-150, -490, 0), "right_elbow": (-428, -490, 0), "right_wrist": (-680, -490, 0),
}


def standing_pose(depth=4000.0) -> torch.Tensor:
    joints = torch.tensor([_POSE[n] for n in H36M_17.joint_names], dtype=torch.float32)
    return joints + torch.tensor([0.0, 0.0, depth])


def intrinsics(f=500.0, cx=127.5, cy=131.0) -> torch.Tensor:
    return torch.tensor([[f, 0, cx], [0, f, cy], [0, 0, 1.0]])


_BASE = np.array([
    [-100, 900, 0], [-100, 450, 0], [-100, 0, 0], [100, 0, 0], [100, 450, 0], [100, 900, 0],
    [-220, 0, 0], [-210, -250, 0], [-180, -500, 0], [180, -500, 0], [210, -250, 0], [220, 0, 0],
    [0, -520, 0], [0, -760, 0]], dtype=np.float64)


def posed_people(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """(n, 14, 3) camera-frame poses and their (n, 14, 2) pinhole projections (f=1000, c=500).

    Arms reach towards the camera by a random amount and the body is turned by a yaw in [0, 70]
    degrees (always the same way), so depth order is predictable from the 2D pose.
    """
    rng = np.random.default_rng(seed)
    poses = np.repeat(_BASE[None], n, 0)
    for wrist, elbow in ((6, 7), (11, 10)):
        reach = rng.uniform(0, 450, n)
        poses[:, elbow, 2] -= reach / 2
        poses[:, wrist, 2] -= reach
        poses[:, wrist, 1] -= reach / 2
    yaw = np.deg2rad(rng.uniform(0, 70, n))
    c, s = np.cos(yaw), np.sin(yaw)
    rot = np.zeros((n, 3, 3))
    rot[:, 0, 0], rot[:, 0, 2], rot[:, 1, 1], rot[:, 2, 0], rot[:, 2, 2] = c, s, 1, -s, c
    poses = poses @ rot.transpose(0, 2, 1)
    poses += rng.normal(0, 10, poses.shape)
    poses[..., 2] += 5000 + rng.uniform(-500, 500, (n, 1))
    joints2d = 1000 * poses[..., :2] / poses[..., 2:3] + 500
    return poses, joints2d


FILE_ORDER = ("head", "neck", "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist",
              "right_wrist", "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle")


def write_fixture(path: Path, n_train: int = 240, n_test: int = 60, seed: int = 0):
    poses, joints2d = posed_people(n_train + n_test, seed)
    is_train = np.arange(n_train + n_test) < n_train
    write_relative_depth_json(path, joints2d, poses, is_train, pairs_per_image=5, seed=seed,
                              joint_names=FILE_ORDER)
    return poses, joints2d, is_train


_STAND = {
    "mid_hip": (0, 0, 930), "right_hip": (-130, 0, 930), "right_knee": (-140, 0, 490), "right_ankle": (-140, 0, 40),
    "left_hip": (130, 0, 930), "left_knee": (140, 0, 490), "left_ankle": (140, 0, 40),
    "mid_spine": (0, 0, 1163), "neck": (0, 0, 1420), "chin": (0, -20, 1540), "head": (0, -10, 1655),
    "left_shoulder": (150, 0, 1420), "left_elbow": (170, 0, 1140), "left_wrist": (180, -40, 890),
    "right_shoulder": (-150, 0, 1420), "right_elbow": (-170, 0, 1140), "right_wrist": (-180, -40, 890),
}


def world_poses(n: int, seed: int = 0) -> np.ndarray:
    """(n, 32, 3) world mm: the standing pose turned about z and jittered; unused joints sit on the pelvis."""
    rng = np.random.default_rng(seed)
    base = np.array([_STAND[name] for name in H36M_17.joint_names], dtype=np.float64)
    out = np.repeat(base[None, :1], 32, axis=1).repeat(n, axis=0)
    for i in range(n):
        a = rng.uniform(0, 2 * np.pi)
        rz = np.array([[np.cos(a), -np.sin(a), 0], [np.sin(a), np.cos(a), 0], [0, 0, 1]])
        out[i, H36M_17.h36m32_indices()] = (base + rng.normal(0, 20, base.shape)) @ rz.T
    return out


def pose_set(frames: int = 3, cams=(1, 3)) -> PoseSet:
    cameras = h36m_cameras()
    parts = [samples_from_world(world_poses(frames, seed=s), np.arange(frames), s, "Walking", 1,
                                {c: cameras[(s, c)] for c in cams}, "h36m_17") for s in (1, 5)]
    parts.append(samples_from_world(world_poses(frames, seed=9), np.arange(frames), 1, "Directions", 0,
                                    {1: cameras[(1, 1)]}, "h36m_17"))
    return PoseSet.concat(parts)


ROOT = Path(__file__).resolve().parents[1]


def run_script(script: str, tmp_path: Path, *args) -> tuple[int, str, str]:
    """A top-level script's main(argv) in-process, in `tmp_path` -> (exit code, stdout, stderr)."""
    spec = importlib.util.spec_from_file_location(Path(script).stem, ROOT / script)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out, err, cwd = io.StringIO(), io.StringIO(), os.getcwd()
    os.chdir(tmp_path)
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = module.main([str(a) for a in args])
    finally:
        os.chdir(cwd)
    return code, out.getvalue(), err.getvalue()
