"""`PoseSet`: the lifting sample arrays every data source returns and every consumer reads.

One row = one (frame, camera) sample. 2D joints are GT projections in image pixels (distortion
applied); 3D joints are in the camera frame in mm and NOT root-centred, so consumers can centre,
normalise or reproject as they need. A row is identified by its key
(subject, action, subaction, camera, frame), which is how predicted 2D from the image estimator is
matched back to the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lifting import fileio
from lifting.errors import UserError
from lifting.geometry.skeletons import conversion_indices, convert, get_skeleton

KEY_FIELDS = ("subject", "action", "subaction", "camera", "frame")
ARRAY_FIELDS = ("joints2d_px", "joints3d_cam") + KEY_FIELDS + ("cam_f", "cam_c")

# Trailing shape of every array field (J = number of joints of the skeleton) and its dtype kind.
_TRAILING = {"joints2d_px": ("J", 2), "joints3d_cam": ("J", 3), "cam_f": (2,), "cam_c": (2,),
             "subject": (), "action": (), "subaction": (), "camera": (), "frame": ()}
_DTYPES = {"joints2d_px": np.float32, "joints3d_cam": np.float32, "cam_f": np.float32,
           "cam_c": np.float32, "subject": np.int64, "subaction": np.int64, "camera": np.int64,
           "frame": np.int64, "action": np.str_}


# No joint of a person in view, in px or mm, is this far out: larger values are corrupt data (and would swamp the
# float32 statistics the lifters standardise with).
MAX_COORDINATE = 1e6


def _expected_shape(name: str, num_joints: int) -> tuple:
    return tuple(num_joints if d == "J" else d for d in _TRAILING[name])


def _check_array(source: str, name: str, arr: np.ndarray, n: int, num_joints: int) -> None:
    want = _expected_shape(name, num_joints)
    if arr.ndim != 1 + len(want) or arr.shape[0] != n or tuple(arr.shape[1:]) != want:
        raise UserError(f"{source}: key {name!r} has shape {arr.shape}, expected {(n,) + want}")


def check_values(source: str, name: str, arr: np.ndarray) -> None:
    """A field read from a file has the dtype kind of its `PoseSet` field (numbers, integers or strings) and, for
    coordinates and intrinsics, finite values within +-MAX_COORDINATE (focal lengths > 0)."""
    want = _DTYPES[name]
    kinds, words = {np.float32: ("fiu", "numbers"), np.int64: ("iu", "integers"), np.str_: ("U", "strings")}[want]
    if arr.dtype.kind not in kinds:
        raise UserError(f"{source}: key {name!r} has dtype {arr.dtype}, expected {words}")
    if arr.dtype.kind == "u" and arr.size and arr.max() > np.iinfo(np.int64).max:
        raise UserError(f"{source}: key {name!r} has values beyond the int64 range")
    if want is np.float32 and arr.size:
        if not np.isfinite(arr).all():
            raise UserError(f"{source}: key {name!r} contains NaN or infinite values")
        if np.abs(arr).max() > MAX_COORDINATE:
            raise UserError(f"{source}: key {name!r} has values beyond +-{MAX_COORDINATE:g} (max |value| "
                            f"{np.abs(arr).max():.3g}): not coordinates of a person in view")
        if name == "cam_f" and arr.min() <= 0:
            raise UserError(f"{source}: key 'cam_f' has focal lengths <= 0 (min {arr.min():.3g})")


def _scalar_string(source: str, data: dict[str, np.ndarray], name: str) -> str:
    arr = data[name]
    if arr.ndim != 0 or arr.dtype.kind != "U":
        raise UserError(f"{source}: key {name!r} must be a scalar string, got dtype {arr.dtype} shape {arr.shape}")
    return str(arr)


@dataclass
class PoseSet:
    """Lifting samples, all arrays of length N.

    skeleton: name of a `lifting.geometry.skeletons` joint set (J joints).
    joints2d_px (N, J, 2) float32 image px, distortion applied.
    joints3d_cam (N, J, 3) float32 camera frame mm, not root-centred.
    subject (N,) int64; action (N,) str name ('Walking'); subaction (N,) int64 (0 = '<Action>.h5',
    1 = '<Action> 1.h5'); camera (N,) int64 1..4; frame (N,) int64 index within the file.
    cam_f, cam_c (N, 2) float32 intrinsics of the sample's camera, px.
    """

    skeleton: str
    joints2d_px: np.ndarray
    joints3d_cam: np.ndarray
    subject: np.ndarray
    action: np.ndarray
    subaction: np.ndarray
    camera: np.ndarray
    frame: np.ndarray
    cam_f: np.ndarray
    cam_c: np.ndarray

    def __post_init__(self) -> None:
        self.skeleton = get_skeleton(self.skeleton).name
        for name in ARRAY_FIELDS:
            setattr(self, name, np.asarray(getattr(self, name), dtype=_DTYPES[name]))
        self._validate("PoseSet")

    def _validate(self, source: str) -> None:
        n = len(self.joints2d_px)
        num_joints = get_skeleton(self.skeleton).num_joints
        for name in ARRAY_FIELDS:
            _check_array(source, name, getattr(self, name), n, num_joints)

    def __len__(self) -> int:
        return len(self.joints2d_px)

    @property
    def num_joints(self) -> int:
        return get_skeleton(self.skeleton).num_joints

    def arrays(self) -> dict[str, np.ndarray]:
        return {name: getattr(self, name) for name in ARRAY_FIELDS}

    def subset(self, index) -> PoseSet:
        """Rows selected by an integer index array, a boolean mask or a slice."""
        return replace(self, **{name: arr[index] for name, arr in self.arrays().items()})

    @classmethod
    def concat(cls, parts: list[PoseSet]) -> PoseSet:
        if not parts:
            raise UserError("PoseSet.concat: nothing to concatenate (empty list)")
        skeletons = {p.skeleton for p in parts}
        if len(skeletons) != 1:
            raise UserError(f"PoseSet.concat: mixed skeletons {sorted(skeletons)}; convert first")
        return cls(skeleton=parts[0].skeleton,
                   **{name: np.concatenate([getattr(p, name) for p in parts]) for name in ARRAY_FIELDS})

    def with_joints2d(self, joints2d_px: np.ndarray) -> PoseSet:
        """A copy whose 2D joints are replaced (e.g. by noisy or detected 2D), same (N, J, 2) shape."""
        return replace(self, joints2d_px=joints2d_px)

    def convert(self, skeleton: str) -> PoseSet:
        """Gather another joint set's joints by name (e.g. h36m_32 -> h36m_17)."""
        dst = get_skeleton(skeleton).name
        if dst == self.skeleton:
            return self
        return replace(self, skeleton=dst,
                       joints2d_px=convert(self.joints2d_px, self.skeleton, dst),
                       joints3d_cam=convert(self.joints3d_cam, self.skeleton, dst))

    def keys(self) -> list[tuple[int, str, int, int, int]]:
        """(subject, action, subaction, camera, frame) of every row, as Python tuples."""
        return list(zip(self.subject.tolist(), self.action.tolist(), self.subaction.tolist(),
                        self.camera.tolist(), self.frame.tolist()))

    def save_npz(self, path: str | Path) -> Path:
        """Write all arrays plus the skeleton name to one .npz (atomically)."""
        return fileio.save_npz(path, skeleton=np.array(self.skeleton), **self.arrays())

    @classmethod
    def load_npz(cls, path: str | Path) -> PoseSet:
        path = Path(path)
        data = fileio.read_npz(path, "pose-set")
        for name in ("skeleton",) + ARRAY_FIELDS:
            if name not in data:
                raise UserError(f"{path}: missing key {name!r} (a pose set needs {', '.join(('skeleton',) + ARRAY_FIELDS)})")
        skeleton = get_skeleton(_scalar_string(str(path), data, "skeleton"))
        n = len(data["joints2d_px"]) if data["joints2d_px"].ndim else -1
        for name in ARRAY_FIELDS:
            _check_array(str(path), name, data[name], n, skeleton.num_joints)
            check_values(str(path), name, data[name])
        return cls(skeleton=skeleton.name, **{name: data[name] for name in ARRAY_FIELDS})


def key_codes(*key_sets: dict[str, np.ndarray]) -> list[np.ndarray]:
    """One int64 code per row for each of several key-array dicts; codes are equal iff all 5 keys are."""
    sizes = [len(ks["frame"]) for ks in key_sets]
    splits = np.cumsum(sizes)[:-1]
    total = np.zeros(sum(sizes), dtype=np.int64)
    span = 1
    for name in KEY_FIELDS:
        values = np.concatenate([np.asarray(ks[name]).ravel() for ks in key_sets])
        uniq, inverse = np.unique(values, return_inverse=True)
        span *= len(uniq)
        if span >= 2 ** 63:
            raise UserError("too many distinct (subject, action, subaction, camera, frame) keys to match")
        total = total * len(uniq) + inverse.ravel()
    return np.split(total, splits)


def replace_2d_from_predictions(poseset: PoseSet, npz_path: str | Path) -> PoseSet:
    """Swap the GT 2D of `poseset` for predicted 2D read from `npz_path`, matched by row key.

    The predictions file holds `joints2d_px` (M, J, 2) and the five key arrays (any row order, may
    cover more frames than the pose set). With `cam_f`/`cam_c` (M, 2), the intrinsics of the images the
    predictions were made on, pixels are mapped into the pose set's camera (pinhole, no distortion). An
    optional scalar `skeleton` key names its joint set, which is then converted to the pose set's; without
    it J must equal the pose set's joint count.
    """
    path = Path(npz_path)
    data = fileio.read_npz(path, "predictions")
    for name in ("joints2d_px",) + KEY_FIELDS:
        if name not in data:
            raise UserError(f"{path}: missing key {name!r} (predictions need joints2d_px and {', '.join(KEY_FIELDS)})")
    if ("cam_f" in data) != ("cam_c" in data):
        raise UserError(f"{path}: has only one of cam_f and cam_c; the pixel mapping needs both (or neither)")
    pred = data["joints2d_px"]
    m = len(pred) if pred.ndim else -1
    try:
        skeleton = get_skeleton(_scalar_string(str(path), data, "skeleton") if "skeleton" in data
                                else poseset.skeleton)
        conversion_indices(skeleton, poseset.skeleton)
    except UserError as e:
        raise UserError(str(e) if str(e).startswith(str(path)) else f"{path}: {e}") from None
    for name in ("joints2d_px",) + KEY_FIELDS + (("cam_f", "cam_c") if "cam_f" in data else ()):
        _check_array(str(path), name, data[name], m, skeleton.num_joints)
        check_values(str(path), name, data[name])
    pred = convert(pred, skeleton, poseset.skeleton)
    pred_codes, want_codes = key_codes({k: data[k] for k in KEY_FIELDS}, poseset.arrays())
    order = np.argsort(pred_codes, kind="stable")
    sorted_codes = pred_codes[order]
    if len(sorted_codes) > 1 and np.any(sorted_codes[1:] == sorted_codes[:-1]):
        raise UserError(f"{path}: duplicate (subject, action, subaction, camera, frame) keys in predictions")
    pos = np.clip(np.searchsorted(sorted_codes, want_codes), 0, max(len(sorted_codes) - 1, 0))
    found = sorted_codes[pos] == want_codes if len(sorted_codes) else np.zeros(len(poseset), bool)
    if not found.all():
        first = poseset.keys()[int(np.flatnonzero(~found)[0])]
        raise UserError(f"{path}: {int((~found).sum())} of {len(poseset)} frames have no prediction "
                        f"(first missing: subject {first[0]}, {first[1]!r}, subaction {first[2]}, "
                        f"camera {first[3]}, frame {first[4]})")
    pred = pred[order[pos]].astype(np.float64)
    if "cam_f" in data:
        # Predictions made on resized images (e.g. rendered datasets) come in that image's pixels:
        # move them through normalised coordinates into the pose set's camera.
        f_pred = np.asarray(data["cam_f"], np.float64)[order[pos]][:, None, :]
        c_pred = np.asarray(data["cam_c"], np.float64)[order[pos]][:, None, :]
        pred = (pred - c_pred) / f_pred * poseset.cam_f[:, None, :] + poseset.cam_c[:, None, :]
        check_values(f"{path} (mapped into the pose set's camera)", "joints2d_px", pred)
    return poseset.with_joints2d(pred.astype(np.float32))
