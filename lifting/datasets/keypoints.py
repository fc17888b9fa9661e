"""2D keypoints of your own data: `.npy` arrays, COCO-style and OpenPose JSON, LSP `joints.mat` -> `Keypoints2D`.

Files:
* `.npy`: (J, 2), (N, J, 2), (N, 2J) pixels, or with a confidence per keypoint (J, 3), (N, J, 3), (N, 3J); J is
  the keypoint count of the format (`--format`). N poses are unrelated unless `sequence` says they are one
  person's T frames. A (T, P, J, 2|3) array is always a sequence of P people: P is the identity, a NaN keypoint is
  missing and a person whose keypoints are all NaN is absent from that frame.
* COCO-style JSON (COCO, MMPose, Detectron2, YOLO-pose, PoseTrack exports): a result list
  `[{"image_id": ..., "keypoints": [x, y, score, ...], ...}, ...]`, or an annotation file whose "annotations"
  hold such entries (visibility flag 0 = not labelled, 1/2 = labelled); an entry's optional integer `track_id`
  is its identity. Default format coco_17.
* OpenPose per-frame JSON: `{"people": [{"pose_keypoints_2d": [x, y, c, ...], "person_id": [id]}, ...]}`, one
  file per frame (a directory is read in file-name order); `person_id` -1 (OpenPose's default) means unknown.
  Default format openpose_25.
* LSP `joints.mat` (either layout): format lsp_14, the visibility flag as confidence.
Several people per file are allowed; every row records its file, image (frame), person index and identity
(`track`, -1 where the input has none). `frames` lists every frame in order, those without people included (an
OpenPose file with nobody in it still counts), so a sequence keeps its gaps.

Missing keypoints: a keypoint is missing when its confidence is below `min_confidence` (default 0.1; OpenPose
writes 0 for undetected keypoints, COCO visibility 0 means not labelled). With `missing="fill"` a pose with fewer
than `min_keypoints` present keypoints is dropped (one warning line naming it) and every Human3.6M joint that no
rule can build is placed on the nearest present joint of the skeleton (`keypoint_formats.fill_missing`); with
`missing="error"` any such joint is a one-line error naming the file, person and keypoint.

Plausibility of the present keypoints (`check_plausible`): NaN/inf, |x| or |y| above 100,000 px, keypoints more
than one image size outside `image_size`, or a pose whose keypoints all lie within 1 px of each other are one-line
errors; keypoints outside the image (truncated people) and poses smaller than 10 px are logged as warnings.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lifting import fileio
from lifting.errors import UserError
from lifting.geometry.keypoint_formats import fill_missing, get_format, to_h36m17
from lifting.geometry.skeletons import H36M_17

log = logging.getLogger("lifting")

MAX_ABS_PX = 100_000.0
MIN_EXTENT_PX = 1.0
SMALL_EXTENT_PX = 10.0


@dataclass
class Keypoints2D:
    """N poses of one keypoint format. joints_px (N, J, 2) image px (x right, y down); present (N, J) bool;
    file, image (N,) str and person (N,) int say where each pose came from; track (N,) int the input's identity of
    each pose, -1 where it has none; frames (T,) str every image (frame) label of the input in order."""

    fmt: str
    joints_px: np.ndarray
    present: np.ndarray
    file: np.ndarray
    image: np.ndarray
    person: np.ndarray
    track: np.ndarray
    frames: np.ndarray

    def __len__(self) -> int:
        return len(self.joints_px)

    def where(self, i: int) -> str:
        return f"{self.file[i]}: image {self.image[i]} person {self.person[i]}"

    def subset(self, rows: np.ndarray) -> Keypoints2D:
        return Keypoints2D(self.fmt, self.joints_px[rows], self.present[rows], self.file[rows], self.image[rows],
                           self.person[rows], self.track[rows], self.frames)


def _split_confidence(path: Path, values: np.ndarray, num_joints: int, min_confidence: float, where: str):
    """(N, J*2 or J*3) numbers -> ((N, J, 2) px, (N, J) present)."""
    n = values.shape[0]
    if values.shape[1] == 3 * num_joints:
        v = values.reshape(n, num_joints, 3)
        return v[..., :2], v[..., 2] >= min_confidence
    if values.shape[1] == 2 * num_joints:
        return values.reshape(n, num_joints, 2), np.ones((n, num_joints), bool)
    raise UserError(f"{path}: {where} has {values.shape[1]} numbers per pose; the format needs {3 * num_joints} "
                    f"(x, y, confidence) or {2 * num_joints} (x, y) for its {num_joints} keypoints")


def _read_npy(path: Path, fmt: str, min_confidence: float, sequence: bool) -> Keypoints2D:
    j = get_format(fmt).num_joints
    with fileio.reading(path, "a readable .npy keypoint array", "a plain numeric array saved with np.save"):
        with open(path, "rb") as f:
            if f.read(6) != b"\x93NUMPY":
                raise ValueError("no .npy header")
        arr = np.load(path, allow_pickle=False)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise UserError(f"{path}: expected a numeric array, got dtype {arr.dtype}")
    if arr.ndim == 4 and arr.shape[2] == j and arr.shape[3] in (2, 3):
        return _read_people_npy(path, arr.astype(np.float64), fmt, min_confidence)
    if arr.ndim == 2 and arr.shape[0] == j and arr.shape[1] in (2, 3):
        arr = arr[None]
    if arr.ndim == 3 and arr.shape[1] == j and arr.shape[2] in (2, 3):
        arr = arr.reshape(len(arr), j * arr.shape[2])
    elif arr.ndim != 2 or arr.shape[1] not in (2 * j, 3 * j):
        raise UserError(f"{path}: shape {arr.shape} not understood; {fmt} needs ({j}, 2|3), (N, {j}, 2|3), "
                        f"(N, {2 * j}), (N, {3 * j}) (x, y[, confidence] per keypoint) or (T, P, {j}, 2|3) (frames, "
                        "people)")
    if len(arr) == 0:
        raise UserError(f"{path}: contains no poses")
    joints, present = _split_confidence(path, arr.astype(np.float64), j, min_confidence, "the array")
    n = len(joints)
    frames = np.arange(n).astype(str)
    return Keypoints2D(fmt, joints, present, np.full(n, str(path)), frames, np.zeros(n, int),
                       np.full(n, 0 if sequence else -1), frames)


def _read_people_npy(path: Path, arr: np.ndarray, fmt: str, min_confidence: float) -> Keypoints2D:
    """(T, P, J, 2|3) -> the poses of the people present (any finite keypoint), P the identity."""
    num_frames, num_people = arr.shape[:2]
    finite = np.isfinite(arr[..., :2]).all(-1)
    present = finite & (arr[..., 2] >= min_confidence) if arr.shape[-1] == 3 else finite
    t, p = np.nonzero(finite.any(-1))
    if not len(t):
        raise UserError(f"{path}: contains no poses (every keypoint is NaN)")
    frames = np.arange(num_frames).astype(str)
    return Keypoints2D(fmt, arr[t, p, :, :2], present[t, p], np.full(len(t), str(path)), frames[t], p, p, frames)


def _numbers(path: Path, value, where: str) -> np.ndarray:
    """A JSON list of numbers (not strings or booleans, which NumPy would also convert) as float64."""
    if not isinstance(value, list) or not all(type(v) in (int, float) for v in value):
        raise UserError(f"{path}: {where} must be a flat list of numbers")
    return np.asarray(value, dtype=np.float64)


def _image_name(value) -> str:
    """An image id or file name as it names a pose in messages (JSON scalars only)."""
    if isinstance(value, (dict, list)):
        raise TypeError("an image id or file_name must be a string or number")
    return str(value)


def _read_json(path: Path, fmt: str | None, min_confidence: float) -> Keypoints2D:
    data = fileio.read_json(path, "keypoint file (COCO-style or OpenPose JSON)")
    with fileio.reading(path, "a keypoint file", "COCO-style or OpenPose JSON"):
        return _decode_json(path, data, fmt, min_confidence)


def _identity(path: Path, value, where: str) -> int:
    """An integer track id (OpenPose's `person_id` may be a one-element list); -1 for unknown."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if value is None:
        return -1
    if type(value) is not int or value < -1:
        raise UserError(f"{path}: {where} must be an integer identity >= 0 (or -1 for unknown), got {value!r}")
    return value


def _decode_json(path: Path, data, fmt: str | None, min_confidence: float) -> Keypoints2D:
    if isinstance(data, dict) and "people" in data:
        fmt = fmt or "openpose_25"
        people, key = data["people"], "pose_keypoints_2d"
        if not isinstance(people, list) or not all(isinstance(p, dict) and key in p for p in people):
            raise UserError(f"{path}: 'people' must be a list of objects with {key!r} (OpenPose output)")
        entries = [(f"people[{i}].{key}", p[key], path.stem,
                    _identity(path, p.get("person_id"), f"people[{i}].person_id")) for i, p in enumerate(people)]
        frames = [path.stem]
    else:
        if isinstance(data, dict) and "annotations" in data:
            images = data.get("images", [])
            if not isinstance(images, list):
                raise UserError(f"{path}: 'images' must be a list of objects with 'id' and 'file_name'")
            names = {_image_name(im.get("id")): _image_name(im.get("file_name", im.get("id"))) for im in images
                     if isinstance(im, dict)}
            data, prefix = data["annotations"], "annotations"
            frames = list(names.values())
        else:
            names, prefix, frames = {}, "", None
        if not isinstance(data, list) or not all(isinstance(d, dict) and "keypoints" in d for d in data):
            raise UserError(f"{path}: expected OpenPose output (an object with 'people'), a COCO-style result list "
                            "(objects with 'keypoints') or a COCO annotation file ('annotations')")
        fmt = fmt or "coco_17"
        entries = []
        for i, d in enumerate(data):
            image = _image_name(d.get("image_id", i))
            entries.append((f"{prefix}[{i}].keypoints", d["keypoints"], names.get(image, image),
                            _identity(path, d.get("track_id"), f"{prefix}[{i}].track_id")))
        if frames is None:
            frames = list(dict.fromkeys(e[2] for e in entries))
            if all(f.lstrip("-").isdigit() for f in frames):   # numeric image ids: frames in numeric order
                frames.sort(key=int)
    j = get_format(fmt).num_joints
    joints, present, images, persons = [], [], [], []
    count: dict[str, int] = {}
    for where, value, image, _ in entries:
        xy, ok = _split_confidence(path, _numbers(path, value, where)[None], j, min_confidence, where)
        joints.append(xy[0])
        present.append(ok[0])
        images.append(image)
        persons.append(count.get(image, 0))
        count[image] = persons[-1] + 1
    n = len(joints)
    return Keypoints2D(fmt, np.asarray(joints, np.float64).reshape(n, j, 2), np.asarray(present, bool).reshape(n, j),
                       np.full(n, str(path)), np.asarray(images, dtype=str).reshape(n), np.asarray(persons, int),
                       np.array([e[3] for e in entries], int).reshape(n), np.asarray(frames, dtype=str))


def _read_mat(path: Path, fmt: str | None) -> Keypoints2D:
    from lifting.datasets.lsp import read_joints_mat

    if fmt not in (None, "lsp_14"):
        raise UserError(f"{path}: an LSP joints.mat holds lsp_14 keypoints, not {fmt}")
    xy, visible = read_joints_mat(path)
    n = len(xy)
    images = np.array([f"im{i + 1:05d}" for i in range(n)])
    return Keypoints2D("lsp_14", xy.astype(np.float64), visible, np.full(n, str(path)), images, np.zeros(n, int),
                       np.full(n, -1), images)


def input_files(paths: list[Path]) -> list[Path]:
    """The files named, a directory standing for its *.json files in name order (OpenPose writes one per frame)."""
    out = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(p.glob("*.json"))
            if not found:
                raise UserError(f"{p}: directory holds no .json keypoint files")
            out += found
        elif p.is_file():
            out.append(p)
        else:
            raise UserError(f"{p}: file not found (expected .npy, .json or joints.mat keypoints)")
    return out


def read_keypoints(paths, fmt: str | None, min_confidence: float = 0.1, sequence: bool = False) -> Keypoints2D:
    """All poses of the files (see the module docstring), in one format. `fmt` None: each file's default
    (.npy files need one). `sequence`: a (T, J, 2|3) .npy is one person over T frames (track 0), not T unrelated
    poses."""
    if fmt is not None:
        get_format(fmt)
    parts = []
    for path in input_files(list(paths)):
        suffix = path.suffix.lower()
        if suffix == ".npy":
            if fmt is None:
                raise UserError(f"{path}: a .npy file needs --format (its keypoint order)")
            parts.append(_read_npy(path, fmt, min_confidence, sequence))
        elif suffix == ".json":
            parts.append(_read_json(path, fmt, min_confidence))
        elif suffix == ".mat":
            parts.append(_read_mat(path, fmt))
        else:
            raise UserError(f"{path}: unknown keypoint file type {suffix or '(none)'}; expected .npy, .json or .mat")
    formats = sorted({p.fmt for p in parts})
    if len(formats) > 1:
        raise UserError(f"input files hold different keypoint formats ({', '.join(formats)}); pass --format or "
                        "lift them separately")
    kp = Keypoints2D(formats[0], *(np.concatenate([getattr(p, k) for p in parts]) for k in
                                   ("joints_px", "present", "file", "image", "person", "track", "frames")))
    if len(kp) == 0:
        raise UserError(f"{', '.join(sorted(set(str(p) for p in paths)))}: no poses found")
    return kp


def check_plausible(kp: Keypoints2D, image_size: tuple[float, float] | None = None) -> None:
    """One-line error for unusable present keypoints, a warning line for merely unusual ones (module docstring)."""
    names = get_format(kp.fmt).joint_names
    xy, ok = kp.joints_px, kp.present
    bad = ok & ~np.isfinite(xy).all(-1)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise UserError(f"{kp.where(i)}: keypoint {names[j]} is NaN or infinite")
    far = ok & (np.abs(np.nan_to_num(xy)) > MAX_ABS_PX).any(-1)
    if far.any():
        i, j = np.argwhere(far)[0]
        raise UserError(f"{kp.where(i)}: keypoint {names[j]} at {xy[i, j].round(1).tolist()} px is beyond "
                        f"+-{MAX_ABS_PX:.0f} px (not pixel coordinates?)")
    if image_size is not None:
        size = np.asarray(image_size, dtype=np.float64)
        off = ok & ((xy < -size) | (xy > 2 * size)).any(-1)
        if off.any():
            i, j = np.argwhere(off)[0]
            raise UserError(f"{kp.where(i)}: keypoint {names[j]} at {xy[i, j].round(1).tolist()} px is more than one "
                            f"image size outside the {size[0]:.0f}x{size[1]:.0f} image (wrong --image-size?)")
        outside = ok & ((xy < -0.5) | (xy > size - 0.5)).any(-1)
        if outside.any():
            log.warning("%d keypoints of %d poses lie outside the %dx%d image (truncated people?)", outside.sum(),
                        outside.any(1).sum(), *size)
    lo = np.where(ok[..., None], xy, np.inf).min(1)
    hi = np.where(ok[..., None], xy, -np.inf).max(1)
    extent = np.where(ok.any(1), (hi - lo).max(-1), 0.0)
    if (extent < MIN_EXTENT_PX).any():
        i = int(np.argmax(extent < MIN_EXTENT_PX))
        raise UserError(f"{kp.where(i)}: degenerate pose, all present keypoints lie within {MIN_EXTENT_PX:.0f} px "
                        "of one point")
    small = extent < SMALL_EXTENT_PX
    if small.any():
        log.warning("%d poses are smaller than %.0f px (first: %s); their 3D will be unreliable", small.sum(),
                    SMALL_EXTENT_PX, kp.where(int(np.argmax(small))))


def prepare_h36m17(kp: Keypoints2D, missing: str = "fill", min_keypoints: int = 4,
                   image_size: tuple[float, float] | None = None) -> tuple[np.ndarray, Keypoints2D]:
    """Keypoints -> ((M, 17, 2) Human3.6M-17 px of the kept poses, their Keypoints2D): the missing-keypoint
    policy of the module docstring, with `check_plausible` on the poses it keeps."""
    if missing not in ("fill", "error"):
        raise UserError(f"missing-keypoint policy {missing!r}: expected 'fill' or 'error'")
    names = get_format(kp.fmt).joint_names
    if missing == "fill":
        few = kp.present.sum(1) < min_keypoints
        for i in np.flatnonzero(few):
            log.warning("%s: skipped, only %d of %d keypoints present (need %d)", kp.where(i), kp.present[i].sum(),
                        len(names), min_keypoints)
        if few.all():
            raise UserError(f"no pose has the {min_keypoints} present keypoints needed (first: {kp.where(0)})")
        kp = kp.subset(np.flatnonzero(~few))
    check_plausible(kp, image_size)
    joints, done = to_h36m17(kp.joints_px, kp.present, kp.fmt)
    if missing == "error" and not done.all():
        i, j = np.argwhere(~done)[0]
        rule = get_format(kp.fmt).rules[H36M_17.joint_names[j]][0]
        lacking = [k for k in rule if not kp.present[i, names.index(k)]]
        raise UserError(f"{kp.where(i)}: keypoint {lacking[0]} missing (confidence below the threshold), needed for "
                        f"the Human3.6M joint {H36M_17.joint_names[j]}; use --missing fill to place it on the "
                        "nearest joint")
    if not done.all():
        log.info("filled %d missing joints in %d of %d poses (placed on the nearest present joint)",
                 (~done).sum(), (~done).any(1).sum(), len(kp))
    return fill_missing(joints, done), kp
