"""`PoseSet`: the lifting sample arrays every data source returns and every consumer reads.

One row = one (frame, camera) sample. 2D joints are GT projections in image pixels (distortion
applied); 3D joints are in the camera frame in mm and NOT root-centred, so consumers can centre,
normalise or reproject as they need. A row is identified by its key
(subject, action, subaction, camera, frame), which is how predictions of the image estimator (2D, and
3D for training targets or depth-order labels) are matched back to the ground truth.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lifting import fileio
from lifting.errors import UserError
from lifting.geometry.cameras import distort, undistort
from lifting.geometry.skeletons import conversion_indices, convert, get_skeleton

KEY_FIELDS = ("subject", "action", "subaction", "camera", "frame")
# Lens distortion of the sample's camera; optional in constructors and files (zero: a pinhole camera).
DISTORTION_FIELDS = ("cam_k", "cam_p")
ARRAY_FIELDS = ("joints2d_px", "joints3d_cam") + KEY_FIELDS + ("cam_f", "cam_c") + DISTORTION_FIELDS

# Trailing shape of every array field (J = number of joints of the skeleton) and its dtype kind; joints3d_rootrel
# (the estimator's root-relative 3D) is a field of predictions files only.
_TRAILING = {"joints2d_px": ("J", 2), "joints3d_cam": ("J", 3), "cam_f": (2,), "cam_c": (2,), "cam_k": (3,),
             "cam_p": (2,), "subject": (), "action": (), "subaction": (), "camera": (), "frame": (),
             "joints3d_rootrel": ("J", 3)}
_DTYPES = {"joints2d_px": np.float32, "joints3d_cam": np.float32, "cam_f": np.float32,
           "cam_c": np.float32, "cam_k": np.float32, "cam_p": np.float32, "subject": np.int64,
           "subaction": np.int64, "camera": np.int64, "frame": np.int64, "action": np.str_,
           "joints3d_rootrel": np.float32}


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
    cam_k (N, 3), cam_p (N, 2) float32 its radial / tangential distortion (Human3.6M order, the model of
    `geometry.cameras.distort`); None = zeros (no distortion).
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
    cam_k: np.ndarray | None = None
    cam_p: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.skeleton = get_skeleton(self.skeleton).name
        n = len(self.joints2d_px)
        for name in DISTORTION_FIELDS:
            if getattr(self, name) is None:
                setattr(self, name, np.zeros((n,) + _TRAILING[name]))
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
        required = ("skeleton",) + tuple(f for f in ARRAY_FIELDS if f not in DISTORTION_FIELDS)
        for name in required:
            if name not in data:
                raise UserError(f"{path}: missing key {name!r} (a pose set needs {', '.join(required)})")
        skeleton = get_skeleton(_scalar_string(str(path), data, "skeleton"))
        n = len(data["joints2d_px"]) if data["joints2d_px"].ndim else -1
        present = [name for name in ARRAY_FIELDS if name in data]
        for name in present:
            _check_array(str(path), name, data[name], n, skeleton.num_joints)
            check_values(str(path), name, data[name])
        return cls(skeleton=skeleton.name, **{name: data[name] for name in present})


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


def match_keys(poseset: PoseSet, keys: dict[str, np.ndarray], source: str, what: str) -> np.ndarray:
    """(N,) index into the rows of `keys` (the five key arrays of M rows, any order, a superset allowed) holding each
    pose-set row's key; a missing key or a duplicate is a one-line error naming `source` and the first missing frame
    (`what`: what a row of `keys` is, e.g. 'prediction', 'image')."""
    codes, want = key_codes(keys, poseset.arrays())
    order = np.argsort(codes, kind="stable")
    sorted_codes = codes[order]
    if len(sorted_codes) > 1 and np.any(sorted_codes[1:] == sorted_codes[:-1]):
        raise UserError(f"{source}: duplicate (subject, action, subaction, camera, frame) keys in {what}s")
    pos = np.clip(np.searchsorted(sorted_codes, want), 0, max(len(sorted_codes) - 1, 0))
    found = sorted_codes[pos] == want if len(sorted_codes) else np.zeros(len(poseset), bool)
    if not found.all():
        first = poseset.keys()[int(np.flatnonzero(~found)[0])]
        raise UserError(f"{source}: {int((~found).sum())} of {len(poseset)} frames have no {what} "
                        f"(first missing: subject {first[0]}, {first[1]!r}, subaction {first[2]}, "
                        f"camera {first[3]}, frame {first[4]})")
    return order[pos]


def aligned_predictions(poseset: PoseSet, npz_path: str | Path, keys: tuple[str, ...],
                        optional: tuple[str, ...] = ()) -> dict[str, np.ndarray]:
    """The arrays `keys` (and those of `optional` the file has) of a predictions file, one row per row of
    `poseset`, matched by the five row keys (`match_keys`).

    The file may list its rows in any order and cover more frames than the pose set. Joint arrays (named joints*)
    are converted to the pose set's joint set when the file names its own (scalar `skeleton`); without it J must
    equal the pose set's joint count. Every array is checked for shape, dtype and range (`check_values`).
    """
    path = Path(npz_path)
    data = fileio.read_npz(path, "predictions")
    for name in keys + KEY_FIELDS:
        if name not in data:
            raise UserError(f"{path}: missing key {name!r} (predictions need {', '.join(keys + KEY_FIELDS)})")
    m = len(data[keys[0]]) if data[keys[0]].ndim else -1
    try:
        skeleton = get_skeleton(_scalar_string(str(path), data, "skeleton") if "skeleton" in data
                                else poseset.skeleton)
        conversion_indices(skeleton, poseset.skeleton)
    except UserError as e:
        raise UserError(str(e) if str(e).startswith(str(path)) else f"{path}: {e}") from None
    names = keys + tuple(k for k in optional if k in data)
    for name in names + KEY_FIELDS:
        _check_array(str(path), name, data[name], m, skeleton.num_joints)
        check_values(str(path), name, data[name])
    rows = match_keys(poseset, {k: data[k] for k in KEY_FIELDS}, str(path), "prediction")
    return {name: (convert(data[name], skeleton, poseset.skeleton) if name.startswith("joints") else data[name])[rows]
            for name in names}


def image_to_camera_px(joints2d_img_px: np.ndarray, img_f: np.ndarray, img_c: np.ndarray, cam_f: np.ndarray,
                       cam_c: np.ndarray, cam_k: np.ndarray, cam_p: np.ndarray) -> np.ndarray:
    """(N, J, 2) px of a pinhole image (intrinsics img_f, img_c (N, 2); e.g. a resized rendering) -> (N, J, 2) px of
    a camera with lens distortion (cam_f, cam_c (N, 2), cam_k (N, 3), cam_p (N, 2)) seeing the same rays.

    Image px -> normalised pinhole coordinates -> distorted with the camera's k, p -> the camera's px, which is
    how the lifting data's 2D is made from the 3D (`h36m.samples_from_world`)."""
    xy = (np.asarray(joints2d_img_px, np.float64) - img_c[:, None, :]) / img_f[:, None, :]
    xy = distort(xy, np.asarray(cam_k, np.float64), np.asarray(cam_p, np.float64))
    return xy * np.asarray(cam_f, np.float64)[:, None, :] + np.asarray(cam_c, np.float64)[:, None, :]


def camera_to_image_px(joints2d_cam_px: np.ndarray, cam_f: np.ndarray, cam_c: np.ndarray, cam_k: np.ndarray,
                       cam_p: np.ndarray, img_f: np.ndarray, img_c: np.ndarray) -> np.ndarray:
    """Inverse of `image_to_camera_px`: (N, J, 2) px of the distorted camera -> px of the pinhole image (drawing a
    lifter's 2D input over the image it came from)."""
    xy = (np.asarray(joints2d_cam_px, np.float64) - cam_c[:, None, :]) / cam_f[:, None, :]
    xy = undistort(xy, np.asarray(cam_k, np.float64), np.asarray(cam_p, np.float64))
    return xy * np.asarray(img_f, np.float64)[:, None, :] + np.asarray(img_c, np.float64)[:, None, :]


def replace_2d_from_predictions(poseset: PoseSet, npz_path: str | Path) -> PoseSet:
    """Swap the GT 2D of `poseset` for predicted 2D read from `npz_path`, matched by row key.

    The predictions file holds `joints2d_px` (M, J, 2) and the five key arrays (`aligned_predictions`). With
    `cam_f`/`cam_c` (M, 2), the intrinsics of the pinhole images the predictions were made on (e.g. resized
    renderings), pixels are mapped into the pose set's camera including its lens distortion (`image_to_camera_px`).
    """
    path = Path(npz_path)
    pred = aligned_predictions(poseset, path, ("joints2d_px",), optional=("cam_f", "cam_c"))
    if ("cam_f" in pred) != ("cam_c" in pred):
        raise UserError(f"{path}: has only one of cam_f and cam_c; the pixel mapping needs both (or neither)")
    joints2d = pred["joints2d_px"].astype(np.float64)
    if "cam_f" in pred:
        joints2d = image_to_camera_px(joints2d, pred["cam_f"].astype(np.float64), pred["cam_c"].astype(np.float64),
                                      poseset.cam_f, poseset.cam_c, poseset.cam_k, poseset.cam_p)
        check_values(f"{path} (mapped into the pose set's camera)", "joints2d_px", joints2d)
    return poseset.with_joints2d(joints2d.astype(np.float32))


def replace_3d_from_predictions(poseset: PoseSet, npz_path: str | Path) -> PoseSet:
    """Swap the GT 3D of `poseset` for the estimator's: its root-relative pose `joints3d_rootrel` placed at its own
    absolute root `joints3d_cam` (both (M, J, 3) camera mm, matched by row key), so no GT 3D remains."""
    pred = aligned_predictions(poseset, npz_path, ("joints3d_rootrel", "joints3d_cam"))
    root = get_skeleton(poseset.skeleton).root
    joints = pred["joints3d_rootrel"] + pred["joints3d_cam"][:, root:root + 1]
    return replace(poseset, joints3d_cam=joints.astype(np.float32))
