"""Human3.6M in the VideoPose3D npz layout -> `PoseSet`, and its 2D files as lifting inputs.

* `data_3d_h36m.npz`: `positions_3d[subject][action]` (T, 32, 3) float, world frame, metres (subject 'S1',
  action 'Walking', 'Walking 1', ...). Read by `load_videopose3d`, which has the signature and output of
  `lifting.datasets.h36m.load_h36m`: with the built-in Human3.6M calibration (`h36m_cameras`) every (frame,
  camera) becomes one row, 3D in that camera's frame (mm) and its distorted projection as the 2D, rows in the
  same order and with the same cache as the h5 reader.
* `data_2d_h36m_gt.npz` and detection files such as `data_2d_h36m_cpn_ft_h36m_dbb.npz`:
  `positions_2d[subject][action][camera index 0..3]` (T, 17, 2) px (a third column of scores is ignored), and
  `metadata` with `layout_name` ('h36m': Human3.6M-17 order; 'coco': COCO-17, converted by the rules of
  `lifting.geometry.keypoint_formats`). `load_npz_detections` gives the 2D of every row of a PoseSet, matched by
  (subject, action, recording, camera, frame index).

Action names are parsed as in the h5 layout ('<Action>' recording 0, '<Action> <n>' recording n), with the
spellings 'TakingPhoto' and 'WalkingDog' of some subjects read as 'Photo' and 'WalkDog'. The files hold Python
dicts, so they are read with allow_pickle: only open files from sources you trust.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lifting.datasets.h36m import ACTIONS, cache_key, pose_file_name, samples_from_world
from lifting.datasets.samples import PoseSet, key_codes
from lifting.errors import UserError
from lifting.fileio import reading
from lifting.geometry.cameras import h36m_cameras
from lifting.geometry.keypoint_formats import to_h36m17
from lifting.geometry.skeletons import convert, get_skeleton

POSES_FILE = "data_3d_h36m.npz"
_SPELLINGS = {"TakingPhoto": "Photo", "WalkingDog": "WalkDog"}
_LAYOUTS = {"h36m": "h36m_17", "coco": "coco_17"}
# Bump when the processing below changes, so stale caches are not reused.
CACHE_FORMAT_VERSION = 1


def parse_action(name: str, where: str) -> tuple[str, int]:
    """'WalkDog 1' -> ('WalkDog', 1); 'TakingPhoto' -> ('Photo', 0)."""
    tokens = str(name).split(" ")
    action = _SPELLINGS.get(tokens[0], tokens[0])
    if len(tokens) == 1:
        return action, 0
    if len(tokens) == 2 and tokens[1].isdigit():
        return action, int(tokens[1])
    raise UserError(f"{where}: action {name!r} not of the form '<Action>' or '<Action> <n>'")


def _read_dict(path: Path, key: str) -> tuple[dict, dict]:
    """(the dict stored under `key`, the file's `metadata` dict or {}) of a VideoPose3D npz."""
    if not path.is_file():
        raise UserError(f"{path}: VideoPose3D file not found")
    with reading(path, "a readable VideoPose3D .npz", f"{key} and metadata as saved by VideoPose3D"):
        with np.load(path, allow_pickle=True) as npz:
            if not isinstance(npz, np.lib.npyio.NpzFile):
                raise UserError(f"{path}: holds a single array, expected a VideoPose3D .npz of named entries")
            if key not in npz.files:
                raise UserError(f"{path}: no {key!r} entry (found: {', '.join(npz.files) or 'nothing'})")
            data = npz[key].item()
            meta = npz["metadata"].item() if "metadata" in npz.files else {}
    if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
        raise UserError(f"{path}: {key!r} must be a dict subject -> action -> arrays")
    return data, meta if isinstance(meta, dict) else {}


def _subject_number(name: str, path: Path) -> int:
    if not (name.startswith("S") and name[1:].isdigit()):
        raise UserError(f"{path}: subject key {name!r} is not of the form 'S<n>'")
    return int(name[1:])


def _sequences(path: Path, data: dict, subjects: list[int], actions) -> list[tuple[int, str, int, object]]:
    """(subject, action, recording, value) of the selected sequences, ordered as the h5 reader orders files."""
    by_subject = {_subject_number(s, path): v for s, v in data.items()}
    wanted = None if actions == "all" else [actions] if isinstance(actions, str) else list(actions)
    out = []
    for s in subjects:
        if s not in by_subject:
            raise UserError(f"{path}: no subject S{s}; subjects present: "
                            f"{', '.join(f'S{p}' for p in sorted(by_subject)) or 'none'}")
        seqs = [(*parse_action(name, f"{path} S{s}"), value) for name, value in by_subject[s].items()]
        seqs.sort(key=lambda q: pose_file_name(q[0], q[1]))
        out += [(s, a, sub, v) for a, sub, v in seqs if wanted is None or a in wanted]
    found = {a for _, a, _, _ in out}
    for a in wanted or ():
        if a not in found:
            raise UserError(f"{path}: no sequences of action {a!r} for S{subjects} (known actions: "
                            f"{', '.join(ACTIONS)})")
    if not out:
        raise UserError(f"{path}: no sequences for subjects {subjects}")
    return out


def poses_file(data_dir: str | Path) -> Path:
    """`data_dir` itself if it is a file, else `data_dir/data_3d_h36m.npz`."""
    path = Path(data_dir)
    return path if path.is_file() else path / POSES_FILE


def load_videopose3d(data_dir: str | Path, subjects, actions="all", stride: int = 1, skeleton: str = "h36m_17",
                     cameras=(1, 2, 3, 4), cache_dir: str | Path | None = None) -> PoseSet:
    """Like `load_h36m`, from `data_3d_h36m.npz` (`data_dir` or the file itself) and the built-in calibration."""
    path = poses_file(data_dir).resolve()
    if not path.is_file():
        raise UserError(f"{path}: VideoPose3D poses file not found (expected {POSES_FILE} with positions_3d)")
    if int(stride) < 1:
        raise UserError(f"stride must be a positive integer, got {stride}")
    skeleton = get_skeleton(skeleton).name
    subjects, cameras = [int(s) for s in subjects], [int(c) for c in cameras]
    cache_path = None
    if cache_dir is not None:
        key = cache_key(path.parent, [path], layout="videopose3d", layout_version=CACHE_FORMAT_VERSION, subjects=subjects,
                        actions=actions, stride=int(stride), skeleton=skeleton, cameras=cameras)
        cache_path = Path(cache_dir) / f"videopose3d_{key}.npz"
        if cache_path.is_file():
            try:
                return PoseSet.load_npz(cache_path)
            except UserError:
                pass  # unreadable cache: rebuild it below
    data, _ = _read_dict(path, "positions_3d")
    calibration = h36m_cameras()
    parts = []
    guard = ("a valid VideoPose3D poses file", "positions_3d[subject][action] (T, 32, 3) metres")
    with reading(path, *guard):
        sequences = _sequences(path, data, subjects, actions)
    for subject, action, sub, value in sequences:
        with reading(path, *guard):
            world = np.asarray(value, dtype=np.float64)
        if world.ndim != 3 or world.shape[1:] != (32, 3) or len(world) == 0:
            raise UserError(f"{path}: S{subject} {pose_file_name(action, sub)[:-3]!r} has shape {world.shape}, "
                            "expected (T, 32, 3) metres")
        missing = [c for c in cameras if (subject, c) not in calibration]
        if missing:
            raise UserError(f"no built-in calibration for subject {subject} camera(s) {missing}")
        frames = np.arange(0, len(world), int(stride))
        parts.append(samples_from_world(world[frames] * 1000.0, frames, subject, action, sub,
                                        {c: calibration[(subject, c)] for c in cameras}, skeleton))
    poses = PoseSet.concat(parts)
    if cache_path is not None:
        poses.save_npz(cache_path)
    return poses


def load_npz_detections(path: str | Path, poses: PoseSet) -> np.ndarray:
    """2D of a VideoPose3D `positions_2d` file for every row of `poses`: (N, J, 2) px in the pose set's joints
    (a subset of Human3.6M-17). Sequences are matched by subject and action name, cameras by index (1 = the
    file's camera 0), frames by index."""
    path = Path(path)
    data, meta = _read_dict(path, "positions_2d")
    layout = meta.get("layout_name", "h36m")
    if not isinstance(layout, str) or layout not in _LAYOUTS:
        raise UserError(f"{path}: keypoint layout {layout!r} not supported; expected one of {', '.join(_LAYOUTS)}")
    fmt = _LAYOUTS[layout]
    with reading(path, "a valid VideoPose3D 2D file", "positions_2d[subject][action][camera] (T, 17, 2) px"):
        return _match_detections(path, data, fmt, poses)


def _match_detections(path: Path, data: dict, fmt: str, poses: PoseSet) -> np.ndarray:
    table = {(_subject_number(s, path), *parse_action(a, f"{path} {s}")): v for s, acts in data.items()
             for a, v in acts.items()}
    arrays = poses.arrays()
    (group_codes,) = key_codes({**arrays, "frame": np.zeros(len(poses), dtype=np.int64)})
    _, first, inverse, counts = np.unique(group_codes, return_index=True, return_inverse=True, return_counts=True)
    rows_of_group = np.split(np.argsort(inverse.ravel(), kind="stable"), np.cumsum(counts)[:-1])
    out = np.empty((len(poses), poses.num_joints, 2), dtype=np.float32)
    for row, rows in zip(first, rows_of_group):
        subject, action, sub, cam = (int(poses.subject[row]), str(poses.action[row]), int(poses.subaction[row]),
                                     int(poses.camera[row]))
        name = f"S{subject} {pose_file_name(action, sub)[:-3]!r} camera {cam}"
        views = table.get((subject, action, sub))
        if views is None or len(views) < cam:
            raise UserError(f"{path}: no 2D for {name}")
        det = np.asarray(views[cam - 1], dtype=np.float64)
        if det.ndim != 3 or det.shape[1] != 17 or det.shape[2] not in (2, 3):
            raise UserError(f"{path}: {name} has shape {det.shape}, expected (T, 17, 2) px")
        frames = poses.frame[rows]
        if frames.max() >= len(det):
            raise UserError(f"{path}: {name} has {len(det)} frames, but frame {int(frames.max())} is needed")
        joints17, _ = to_h36m17(det[frames, :, :2], None, fmt)
        out[rows] = convert(joints17, "h36m_17", poses.skeleton)
    return out
