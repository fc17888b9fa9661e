"""Leeds Sports Pose: 2D annotations (`joints.mat`) and crowd relative-depth labels (Ronchi et al.).

Joints are always returned in the `lsp_14` order of `lifting.geometry.skeletons` (right ankle ... neck, head
top), image pixels (x right, y down). The lifting input is the neck-centred 2D pose.

Image folders (`read_lsp_images`): `<root>/joints.mat` and `<root>/images/im0001.jpg ...` (LSP, 4 digits) or
`im00001.jpg ...` (LSP-extended, 5 digits), image k = column k of `joints.mat`.

Relative-depth labels come as one JSON file (the released "Relative Depth LSP Dataset",
`relative_depth_lsp_v1.json`): per image the 2D keypoints in the file's `joint_names` order, the
LSP train/test flag and a list of annotated joint pairs. In the file, `label == 1` means `kp1` is
closer to the camera than `kp0`. Here every pair is stored as `(kp0, kp1)` in lsp_14 indices with
`label = 2 * file_label - 1`, so `+1` means kp0 is FARTHER than kp1 (the convention of
`lifting.metrics.pair_accuracy` and of the relative-depth loss, where +1 = first joint farther).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np

from lifting.datasets.samples import MAX_COORDINATE
from lifting.errors import UserError
from lifting.fileio import read_json, reading, write_json
from lifting.geometry.skeletons import LSP_14, canonical_joint_name

RELATIVE_DEPTH_FILE = "relative_depth_lsp_v1.json"


def read_joints_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Read an LSP `joints.mat` in either layout -> (joints2d_px (N, 14, 2), visible (N, 14) bool).

    The layout is detected by shape:
    * original LSP (2,000 images): `3 x 14 x N`, rows x, y, flag. Its flag marks OCCLUSION
      (0 = visible, 1 = occluded; the convention that LSP tools flip with `1 - flag`), so
      `visible = flag == 0`. Occluded joints still carry usable, estimated coordinates.
    * LSP-extended (10,000 images): `14 x 3 x N`, columns x, y, flag with 1 = visible (inside the
      image, coordinates valid) and 0 = outside the image (coordinates unusable), so
      `visible = flag == 1`.
    """
    import scipy.io

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: LSP joints.mat not found")
    with reading(path, "a readable MATLAB file", "the LSP joints.mat"):
        mat = scipy.io.loadmat(str(path))
    if "joints" not in mat:
        raise UserError(f"{path}: no variable 'joints' (expected the LSP annotation matrix)")
    joints = mat["joints"]
    if not isinstance(joints, np.ndarray) or joints.dtype.kind not in "fiu":
        raise UserError(f"{path}: 'joints' has dtype {getattr(joints, 'dtype', type(joints).__name__)}, expected a "
                        "numeric matrix")
    joints = joints.astype(np.float64)
    if joints.ndim == 3 and joints.shape[:2] == (3, 14):
        xy, flag = joints[:2].transpose(2, 1, 0), joints[2].T
        visible = flag == 0
    elif joints.ndim == 3 and joints.shape[:2] == (14, 3):
        xy, flag = joints[:, :2].transpose(2, 0, 1), joints[:, 2].T
        visible = flag == 1
    else:
        raise UserError(f"{path}: 'joints' has shape {joints.shape}; expected 3x14xN (LSP) or 14x3xN (LSP-extended)")
    if not len(xy):
        raise UserError(f"{path}: 'joints' holds no images (N = 0)")
    if not np.isin(flag, (0, 1)).all():
        raise UserError(f"{path}: 'joints' flags must be 0 or 1, got {np.unique(flag[~np.isin(flag, (0, 1))])[:3]}")
    if not np.isfinite(xy).all():
        raise UserError(f"{path}: 'joints' contains NaN or infinite coordinates")
    if np.abs(xy).max() > MAX_COORDINATE:
        raise UserError(f"{path}: 'joints' has coordinates beyond +-{MAX_COORDINATE:g} px (max |value| "
                        f"{np.abs(xy).max():.3g}): not image pixels")
    return xy.astype(np.float32), visible


@dataclass(frozen=True)
class LspImages:
    """An LSP image folder: image_paths (N,) in joints.mat order, joints2d_px (N, 14, 2) px (lsp_14), visible
    (N, 14) bool (coordinates usable)."""

    root: Path
    image_paths: tuple[Path, ...]
    joints2d_px: np.ndarray
    visible: np.ndarray

    def __len__(self) -> int:
        return len(self.image_paths)


def read_lsp_images(root: str | Path) -> LspImages:
    """`<root>/joints.mat` (either layout) and its images `<root>/images/im%04d.jpg` or `im%05d.jpg`, checked:
    exactly one image per annotated pose, numbered 1..N without gaps."""
    root = Path(root)
    xy, visible = read_joints_mat(root / "joints.mat")
    folder = root / "images"
    if not folder.is_dir():
        raise UserError(f"{folder}: LSP image folder not found (expected images/im0001.jpg ... beside joints.mat)")
    names = sorted(p.name for p in folder.glob("im*.jpg"))
    widths = {len(n) - len("im.jpg") for n in names}
    if len(widths) != 1 or not widths <= {4, 5}:
        raise UserError(f"{folder}: expected images named im%04d.jpg (LSP) or im%05d.jpg (LSP-extended), found "
                        f"{len(names)} im*.jpg files" + (f" with {sorted(widths)}-digit numbers" if names else ""))
    width = widths.pop()
    expected = [f"im{k:0{width}d}.jpg" for k in range(1, len(xy) + 1)]
    if len(names) != len(expected):
        raise UserError(f"{folder}: {len(names)} images, but {root / 'joints.mat'} annotates {len(xy)} "
                        f"(expected {expected[0]} ... {expected[-1]})")
    if names != expected:
        odd = next(n for n, e in zip(names, expected) if n != e)
        raise UserError(f"{folder}: images are not numbered {expected[0]} ... {expected[-1]} (found {odd})")
    return LspImages(root, tuple(folder / n for n in names), xy, visible)


def centre_on_neck(joints2d_px: np.ndarray) -> np.ndarray:
    """(..., 14, 2) px -> (..., 14, 2) px with the neck (the lsp_14 root) at the origin."""
    j = np.asarray(joints2d_px, dtype=np.float32)
    return j - j[..., LSP_14.root:LSP_14.root + 1, :]


@dataclass
class RelativeDepthSet:
    """LSP images with crowd depth-order labels. M images, P annotated pairs.

    image_files (M,) str relative to the LSP folder; is_train (M,) bool; joints2d_px (M, 14, 2)
    float32 px, lsp_14 order; occluded (M, 14) bool. ann_image (P,) int64 row into the image arrays;
    ann_pairs (P, 2) int64 lsp_14 joint indices (kp0, kp1); ann_labels (P,) float32, +1 = kp0 farther.
    """

    image_files: np.ndarray
    is_train: np.ndarray
    joints2d_px: np.ndarray
    occluded: np.ndarray
    ann_image: np.ndarray
    ann_pairs: np.ndarray
    ann_labels: np.ndarray

    @property
    def num_images(self) -> int:
        return len(self.image_files)

    @property
    def num_pairs(self) -> int:
        return len(self.ann_labels)

    def subset(self, keep: np.ndarray) -> RelativeDepthSet:
        """The images selected by a boolean mask (M,) and only their annotations, re-indexed."""
        keep = np.asarray(keep, dtype=bool)
        new_index = np.cumsum(keep) - 1
        ann = keep[self.ann_image]
        return replace(self, image_files=self.image_files[keep], is_train=self.is_train[keep],
                       joints2d_px=self.joints2d_px[keep], occluded=self.occluded[keep],
                       ann_image=new_index[self.ann_image[ann]], ann_pairs=self.ann_pairs[ann],
                       ann_labels=self.ann_labels[ann])

    def split(self, train: bool) -> RelativeDepthSet:
        """The LSP training (or test) images and their annotations."""
        return self.subset(self.is_train == train)

    def centred(self) -> np.ndarray:
        """(M, 14, 2) neck-centred pixels: the lifting input before standardisation."""
        return centre_on_neck(self.joints2d_px)


def _joint_order(path: Path, names) -> np.ndarray:
    """Index into the file's joint order for every lsp_14 joint (the file must name all 14)."""
    if not isinstance(names, list) or len(names) != LSP_14.num_joints or not all(isinstance(n, str) for n in names):
        raise UserError(f"{path}: key 'joint_names' must be a list of 14 joint names")
    canon = []
    for n in names:
        try:
            c = canonical_joint_name(n)
        except UserError:
            raise UserError(f"{path}: joint_names: unknown joint name {n!r}") from None
        # LSP's 14th joint is the head top; files that call it nose/neck-nose mean the same point.
        canon.append("head" if c == "chin" else c)
    if sorted(canon) != sorted(LSP_14.joint_names):
        raise UserError(f"{path}: joint_names {names} are not a permutation of the 14 LSP joints "
                        f"({', '.join(LSP_14.joint_names)})")
    return np.array([canon.index(n) for n in LSP_14.joint_names], dtype=np.int64)


def load_relative_depth_json(path: str | Path) -> RelativeDepthSet:
    """Read the relative-depth JSON (schema in the module docstring), remapping joints by name."""
    path = Path(path)
    data = read_json(path, "LSP relative-depth label file", f"download the 'Relative Depth LSP Dataset' file "
                     f"{RELATIVE_DEPTH_FILE} and put it there (or set rel_depth_json)")
    if not isinstance(data, dict) or "images" not in data or "joint_names" not in data:
        raise UserError(f"{path}: expected an object with keys 'joint_names' and 'images'")
    with reading(path, "a valid LSP relative-depth label file", "the layout of the module docstring"):
        return _relative_depth_set(path, data)


def _relative_depth_set(path: Path, data: dict) -> RelativeDepthSet:
    order = _joint_order(path, data["joint_names"])
    # file index -> lsp_14 index
    to_lsp = np.empty(LSP_14.num_joints, dtype=np.int64)
    to_lsp[order] = np.arange(LSP_14.num_joints)
    if not isinstance(data["images"], list):
        raise UserError(f"{path}: 'images' must be a list of image records, got {type(data['images']).__name__}")
    files, train, kps, occl, ann_image, pairs, labels = [], [], [], [], [], [], []
    for i, rec in enumerate(data["images"]):
        where = f"{path}: images[{i}]"
        if not isinstance(rec, dict):
            raise UserError(f"{where}: expected an object with im_file, is_train, keypoints, anns")
        try:
            kp = np.asarray(rec["keypoints"], dtype=np.float64)
            files.append(str(rec["im_file"]))
            is_train = rec["is_train"]
            occ = np.asarray(rec.get("occluded", [0] * LSP_14.num_joints), dtype=np.int64)
            anns = rec["anns"]
        except KeyError as e:
            raise UserError(f"{where}: missing key {e.args[0]!r} (need im_file, is_train, keypoints, anns)") from None
        except (TypeError, ValueError, OverflowError):
            raise UserError(f"{where}: keypoints/occluded must be lists of numbers") from None
        if kp.shape != (2 * LSP_14.num_joints,) or occ.shape != (LSP_14.num_joints,):
            raise UserError(f"{where}: keypoints must hold 28 numbers and occluded 14, got {kp.size} and {occ.size}")
        if not np.isfinite(kp).all() or np.abs(kp).max() > MAX_COORDINATE:
            raise UserError(f"{where}: keypoints must be finite image px within +-{MAX_COORDINATE:g}")
        if not isinstance(is_train, (bool, int)) or is_train not in (0, 1):
            raise UserError(f"{where}: is_train must be true/false (or 1/0), got {is_train!r}")
        if not isinstance(anns, list):
            raise UserError(f"{where}: anns must be a list of annotated pairs, got {type(anns).__name__}")
        train.append(bool(is_train))
        kps.append(kp.reshape(LSP_14.num_joints, 2)[order])
        occl.append(occ[order] != 0)
        for j, ann in enumerate(anns):
            try:
                k0, k1, lab = int(ann["kp0"]), int(ann["kp1"]), int(ann["label"])
            except (KeyError, TypeError, ValueError):
                raise UserError(f"{where}.anns[{j}]: needs integer kp0, kp1 and label") from None
            if not (0 <= k0 < 14 and 0 <= k1 < 14 and k0 != k1 and lab in (0, 1)):
                raise UserError(f"{where}.anns[{j}]: kp0/kp1 must be distinct joints 0..13 and label 0 or 1, "
                                f"got kp0={k0}, kp1={k1}, label={lab}")
            ann_image.append(i)
            pairs.append((to_lsp[k0], to_lsp[k1]))
            labels.append(2 * lab - 1)
    return RelativeDepthSet(
        image_files=np.asarray(files, dtype=np.str_), is_train=np.asarray(train, dtype=bool),
        joints2d_px=np.asarray(kps, dtype=np.float32).reshape(-1, LSP_14.num_joints, 2),
        occluded=np.asarray(occl, dtype=bool).reshape(-1, LSP_14.num_joints),
        ann_image=np.asarray(ann_image, dtype=np.int64), ann_pairs=np.asarray(pairs, dtype=np.int64).reshape(-1, 2),
        ann_labels=np.asarray(labels, dtype=np.float32))


def depth_order_labels(joints3d_cam: np.ndarray, pairs: np.ndarray) -> np.ndarray:
    """File-convention labels from true camera depths: 1 if kp1 is closer than kp0, else 0.

    joints3d_cam (P, J, 3) mm camera frame (z forward); pairs (P, 2) joint indices (kp0, kp1).
    """
    rows = np.arange(len(pairs))
    z0 = joints3d_cam[rows, pairs[:, 0], 2]
    z1 = joints3d_cam[rows, pairs[:, 1], 2]
    return (z1 < z0).astype(np.int64)


def write_relative_depth_json(path: str | Path, joints2d_px: np.ndarray, joints3d_cam: np.ndarray,
                              is_train: np.ndarray, pairs_per_image: int = 5, seed: int = 0,
                              joint_names: tuple[str, ...] = LSP_14.joint_names) -> Path:
    """Write a relative-depth JSON in the released schema from posed 3D joints and their projections.

    joints2d_px (M, 14, 2) and joints3d_cam (M, 14, 3) are in lsp_14 order; `joint_names` is the
    order to store them in (any permutation of the lsp_14 names, to exercise remapping). Every image
    gets `pairs_per_image` distinct random pairs labelled from the true depths (no annotator noise).
    Used to build an LSP-like data set from Human3.6M-style poses (tests, quick experiments).
    """
    rng = np.random.default_rng(seed)
    order = np.array([LSP_14.joint_names.index(n) for n in joint_names])
    all_pairs = np.array([(i, j) for i in range(14) for j in range(i + 1, 14)])
    inv = np.argsort(order)  # lsp_14 index -> file index
    images = []
    for m in range(len(joints2d_px)):
        chosen = all_pairs[rng.choice(len(all_pairs), size=pairs_per_image, replace=False)]
        chosen = np.where(rng.random((pairs_per_image, 1)) < 0.5, chosen, chosen[:, ::-1])
        labels = depth_order_labels(np.repeat(joints3d_cam[m:m + 1], pairs_per_image, 0), chosen)
        images.append({
            "im_file": f"images/im{m + 1:04d}.jpg",
            "is_train": bool(is_train[m]),
            "keypoints": [float(v) for v in joints2d_px[m][order].reshape(-1)],
            "occluded": [0] * 14,
            "anns": [{"kp0": int(inv[a]), "kp1": int(inv[b]), "label": int(lab), "prob": 1.0, "risk": 0.0,
                      "original_id": f"{m + 1}_{int(inv[a])},{int(inv[b])}"}
                     for (a, b), lab in zip(chosen, labels)],
        })
    return write_json(path, {"joint_names": list(joint_names), "images": images})

