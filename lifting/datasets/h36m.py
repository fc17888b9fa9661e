"""Human3.6M reader for the h5-annotation layout -> `PoseSet` (GT 2D px + camera-frame 3D mm).

Layout under `data_dir`: `cameras.h5` and `S<s>/MyPoses/3D_positions/<Action>.h5` /
`<Action> 1.h5`, each with one dataset `3D_positions` (96, N) = 32 joints x (x, y, z) world mm.
Every (frame, camera) pair becomes one sample: the 3D joints moved into that camera's frame and
their distorted projection. Processing the full set takes a while on a small CPU, so results are
cached as one .npz keyed by the options and the size + mtime of every source file.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

from lifting.datasets.samples import PoseSet
from lifting.errors import UserError
from lifting.fileio import read_h5_dataset
from lifting.geometry.cameras import Camera, load_h36m_cameras
from lifting.geometry.skeletons import convert, get_skeleton

# The subjects whose 3D poses Human3.6M released (S2, S3, S4 and S10 never were).
SUBJECTS = (1, 5, 6, 7, 8, 9, 11)
ACTIONS = ("Directions", "Discussion", "Eating", "Greeting", "Phoning", "Photo", "Posing",
           "Purchases", "Sitting", "SittingDown", "Smoking", "Waiting", "WalkDog", "Walking",
           "WalkTogether")
POSE_SUBDIR = Path("MyPoses") / "3D_positions"
# Bump when the processing below changes, so stale caches are not reused (2: per-sample lens distortion).
CACHE_FORMAT_VERSION = 2


def pose_file_name(action: str, subaction: int) -> str:
    """'<Action>.h5' for recording 0, '<Action> <n>.h5' for recording n."""
    return f"{action}.h5" if subaction == 0 else f"{action} {subaction}.h5"


def parse_pose_file_name(path: Path) -> tuple[str, int]:
    """'WalkDog 1.h5' -> ('WalkDog', 1); the action is the first space-separated token of the stem."""
    tokens = path.stem.split(" ")
    if len(tokens) == 1:
        return tokens[0], 0
    if len(tokens) == 2 and tokens[1].isdigit():
        return tokens[0], int(tokens[1])
    raise UserError(f"{path}: pose file name not of the form '<Action>.h5' or '<Action> <n>.h5'")


def available_subjects(data_dir: str | Path) -> list[int]:
    """Subject numbers with an `S<s>/` folder under `data_dir`, sorted."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: data directory not found (expected cameras.h5 and S<s>/{POSE_SUBDIR}/)")
    return sorted(int(p.name[1:]) for p in data_dir.iterdir()
                  if p.is_dir() and p.name.startswith("S") and p.name[1:].isdigit())


def _action_list(actions) -> list[str] | None:
    """None means every action found on disk."""
    if isinstance(actions, str):
        return None if actions == "all" else [actions]
    return list(actions)


def find_pose_files(data_dir: str | Path, subjects, actions="all") -> list[tuple[int, str, int, Path]]:
    """(subject, action, subaction, path) of every selected pose file, files sorted by name per subject."""
    data_dir = Path(data_dir)
    present = available_subjects(data_dir)
    wanted = _action_list(actions)
    out = []
    for s in subjects:
        if s not in present:
            raise UserError(f"{data_dir / f'S{s}'}: subject folder not found; subjects present: "
                            f"{', '.join(f'S{p}' for p in present) or 'none'}")
        for path in sorted((data_dir / f"S{s}" / POSE_SUBDIR).glob("*.h5")):
            action, sub = parse_pose_file_name(path)
            if wanted is None or action in wanted:
                out.append((int(s), action, sub, path))
    found = {a for _, a, _, _ in out}
    where = f"{data_dir}/S{{{','.join(str(s) for s in subjects)}}}/{POSE_SUBDIR}"
    if wanted is None and not out:
        raise UserError(f"{where}: no pose files (*.h5) found")
    for a in wanted or ():
        if a not in found:
            raise UserError(f"{where}: no pose files for action {a!r} (expected '{a}.h5' or '{a} 1.h5'; "
                            f"known actions: {', '.join(ACTIONS)})")
    return out


def read_pose_file(path: str | Path) -> np.ndarray:
    """`3D_positions` (96, N) -> (N, 32, 3) float32 world mm."""
    path = Path(path)
    data = read_h5_dataset(path, "3D_positions", "pose")
    if data.ndim != 2 or data.shape[0] != 96:
        raise UserError(f"{path}: dataset '3D_positions' has shape {data.shape}, expected (96, N)")
    if data.shape[1] == 0:
        raise UserError(f"{path}: dataset '3D_positions' is empty (0 frames)")
    return np.ascontiguousarray(data.T.reshape(-1, 32, 3), dtype=np.float32)


def samples_from_world(joints_world: np.ndarray, frames: np.ndarray, subject: int, action: str,
                       subaction: int, cams: dict[int, Camera], skeleton: str) -> PoseSet:
    """(N, 32, 3) world mm of one file -> one PoseSet row per (frame, camera), camera order as given."""
    joints_world = convert(joints_world.astype(np.float64), "h36m_32", skeleton)
    parts = []
    n = len(joints_world)
    for idx, cam in cams.items():
        joints_cam = cam.world_to_camera(joints_world)
        parts.append(PoseSet(
            skeleton=skeleton, joints2d_px=cam.project(joints_cam), joints3d_cam=joints_cam,
            subject=np.full(n, subject), action=np.full(n, action), subaction=np.full(n, subaction),
            camera=np.full(n, idx), frame=frames, cam_f=np.tile(cam.f, (n, 1)),
            cam_c=np.tile(cam.c, (n, 1)), cam_k=np.tile(cam.k, (n, 1)), cam_p=np.tile(cam.p, (n, 1))))
    return PoseSet.concat(parts)


def cache_key(data_dir: Path, files: list[Path], **options) -> str:
    """Name of a processed-array cache: a hash of the source files' paths, sizes and mtimes and the options."""
    stats = [(str(p.relative_to(data_dir)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    blob = json.dumps({"version": CACHE_FORMAT_VERSION, "data_dir": str(data_dir), "files": stats,
                       **options}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def load_h36m(data_dir: str | Path, subjects, actions="all", stride: int = 1, skeleton: str = "h36m_17",
              cameras=(1, 2, 3, 4), cache_dir: str | Path | None = None) -> PoseSet:
    """Read the selected subjects/actions/cameras; keep frames 0, stride, 2*stride ... of every file.

    actions: 'all', one action name (both recordings) or a list of names. Rows are ordered by
    subject (as given), file name (sorted), camera (as given), frame.
    """
    data_dir = Path(data_dir).resolve()
    if not data_dir.is_dir():
        raise UserError(f"{data_dir}: data directory not found (expected cameras.h5 and S<s>/{POSE_SUBDIR}/)")
    if int(stride) < 1:
        raise UserError(f"stride must be a positive integer, got {stride}")
    skeleton = get_skeleton(skeleton).name
    subjects = [int(s) for s in subjects]
    cameras = [int(c) for c in cameras]
    files = find_pose_files(data_dir, subjects, actions)
    cam_path = data_dir / "cameras.h5"
    if not cam_path.is_file():
        raise UserError(f"{cam_path}: camera file not found")

    cache_path = None
    if cache_dir is not None:
        key = cache_key(data_dir, [cam_path] + [f[3] for f in files], subjects=subjects,
                         actions=_action_list(actions), stride=int(stride), skeleton=skeleton, cameras=cameras)
        cache_path = Path(cache_dir) / f"h36m_{key}.npz"
        if cache_path.is_file():
            try:
                return PoseSet.load_npz(cache_path)
            except UserError:
                pass  # unreadable cache (e.g. from an interrupted older version): rebuild it below

    all_cams = load_h36m_cameras(cam_path)
    parts = []
    for subject, action, subaction, path in files:
        missing = [c for c in cameras if (subject, c) not in all_cams]
        if missing:
            raise UserError(f"{cam_path}: no calibration for subject {subject} camera(s) {missing}")
        world = read_pose_file(path)
        frames = np.arange(0, len(world), int(stride))
        parts.append(samples_from_world(world[frames], frames, subject, action, subaction,
                                        {c: all_cams[(subject, c)] for c in cameras}, skeleton))
    poses = PoseSet.concat(parts)
    if cache_path is not None:
        poses.save_npz(cache_path)
    return poses
