"""COCO-style image dataset in the layout of the parsed Human3.6M releases: reader and validator.

Layout under `root` (one annotation set per subject, ``name = Human36M_subject<s>``)::

    images/<file_name>                      JPEG, any size
    annotations/<name>_data.json            {"images": [{id, file_name, width, height, subject, action_idx,
                                              subaction_idx, cam_idx, frame_idx}],
                                             "annotations": [{id, image_id, bbox [x, y, w, h], keypoints_vis}]}
    annotations/<name>_camera.json          {cam_idx: {R (3x3), t (3), f (2), c (2)}}, X_cam = R X_world + t (mm)
    annotations/<name>_joint_3d.json        {action_idx: {subaction_idx: {frame_idx: 17 x 3 world mm}}}

JSON object keys are strings. Indices: action_idx = position in `h36m.ACTIONS` (0 = Directions .. 14 =
WalkTogether), subaction_idx 0/1 (recording ``<Action>.h5`` / ``<Action> 1.h5``), cam_idx 1..4, frame_idx the
frame index within the recording. Joints are h36m_17. The cameras have no lens distortion, so the 2D label of a
joint is the pinhole projection ``f * X / Z + c`` (pixel centres at integer coordinates).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lifting import fileio
from lifting.datasets.h36m import ACTIONS
from lifting.errors import UserError
from lifting.geometry.cameras import intrinsic_matrix, project
from lifting.geometry.skeletons import H36M_17

NUM_JOINTS = H36M_17.num_joints
_IMAGE_KEYS = ("id", "file_name", "width", "height", "subject", "action_idx", "subaction_idx", "cam_idx",
               "frame_idx")
_ANN_KEYS = ("id", "image_id", "bbox", "keypoints_vis")
_CAMERA_SHAPES = {"R": (3, 3), "t": (3,), "f": (2,), "c": (2,)}


def annotation_name(subject: int) -> str:
    return f"Human36M_subject{subject}"


def annotation_paths(root: str | Path, subject: int) -> dict[str, Path]:
    """{'data', 'camera', 'joint_3d'} -> path of that subject's annotation file."""
    base = Path(root) / "annotations"
    return {part: base / f"{annotation_name(subject)}_{part}.json" for part in ("data", "camera", "joint_3d")}


def image_file_name(subject: int, action_idx: int, subaction: int, camera: int, frame: int) -> str:
    seq = f"s_{subject:02d}_act_{action_idx:02d}_subact_{subaction:02d}_ca_{camera:02d}"
    return f"{seq}/{seq}_{frame:06d}.jpg"


@dataclass(frozen=True)
class ImageRecord:
    """One annotated person in one image. bbox [x, y, w, h] px; R, t world->camera (mm); f, c px (no distortion);
    joints3d_world / joints3d_cam (17, 3) mm; joints2d_px (17, 2) pinhole projections; keypoints_vis (17,)."""

    image_path: Path
    width: int
    height: int
    bbox: np.ndarray
    R: np.ndarray
    t: np.ndarray
    f: np.ndarray
    c: np.ndarray
    joints3d_world: np.ndarray
    joints3d_cam: np.ndarray
    joints2d_px: np.ndarray
    keypoints_vis: np.ndarray
    subject: int
    action: str
    subaction: int
    camera: int
    frame: int

    @property
    def K(self) -> np.ndarray:
        return intrinsic_matrix(self.f, self.c)


def _read_json(path: Path) -> dict:
    data = fileio.read_json(path, "annotation file")
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a JSON object at top level")
    return data


def _array(path: Path, where: str, value, shape: tuple) -> np.ndarray:
    try:
        arr = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise UserError(f"{path}: {where} is not numeric, expected shape {shape}") from None
    if arr.shape != shape or not np.isfinite(arr).all():
        raise UserError(f"{path}: {where} has shape {arr.shape} (or non-finite values), expected finite {shape}")
    return arr


def _entries(path: Path, data: dict, key: str, fields: tuple[str, ...]) -> list[dict]:
    items = data.get(key)
    if not isinstance(items, list):
        raise UserError(f"{path}: missing list {key!r}")
    for i, item in enumerate(items):
        missing = [f for f in fields if not isinstance(item, dict) or f not in item]
        if missing:
            raise UserError(f"{path}: {key}[{i}] lacks key {missing[0]!r} (expected {', '.join(fields)})")
    return items


def _lookup(path: Path, table: dict, keys: list, what: str):
    node = table
    for k in keys:
        if not isinstance(node, dict) or str(k) not in node:
            raise UserError(f"{path}: no {what} entry for {'/'.join(str(k) for k in keys)}")
        node = node[str(k)]
    return node


class PersonColumns:
    """Per-person columns of an image dataset (boxes, cameras, joints, names), read as `ImageRecord`s."""

    def __len__(self) -> int:
        return len(self.boxes)

    def __getitem__(self, i: int) -> ImageRecord:
        return ImageRecord(
            image_path=self.image_paths[i], width=int(self.width[i]), height=int(self.height[i]),
            bbox=self.boxes[i], R=self.R[i], t=self.t[i], f=self.f[i], c=self.c[i],
            joints3d_world=self.joints3d_world[i], joints3d_cam=self.joints3d_cam[i],
            joints2d_px=self.joints2d_px[i], keypoints_vis=self.keypoints_vis[i], subject=int(self.subject[i]),
            action=str(self.action[i]), subaction=int(self.subaction[i]), camera=int(self.camera[i]),
            frame=int(self.frame[i]))


class ImageDataset(PersonColumns):
    """All annotated images of some subjects under `root`, validated on load.

    Column arrays (N = number of annotations): boxes (N, 4), K (N, 3, 3), R (N, 3, 3), t (N, 3),
    joints3d_world / joints3d_cam (N, 17, 3) mm, joints2d_px (N, 17, 2), subject/subaction/camera/frame (N,)
    int64, action (N,) str, image_paths list; `dataset[i]` gives an `ImageRecord`.
    """

    def __init__(self, root: str | Path, subjects):
        self.root = Path(root)
        if not (self.root / "annotations").is_dir():
            raise UserError(f"{self.root}: no annotations/ directory (expected a COCO-style image dataset)")
        columns: dict[str, list] = {k: [] for k in ("image_paths", "width", "height", "boxes", "R", "t", "f", "c",
                                                    "joints3d_world", "keypoints_vis", "subject", "action",
                                                    "subaction", "camera", "frame")}
        for subject in subjects:
            with fileio.reading(annotation_paths(self.root, int(subject))["data"], "a valid annotation set",
                                "the layout of the module docstring"):
                self._load_subject(int(subject), columns)
        if not columns["boxes"]:
            raise UserError(f"{self.root}: no annotations for subjects {list(subjects)}")
        self.image_paths = columns.pop("image_paths")
        self.action = np.array(columns.pop("action"))
        for name, values in columns.items():
            dtype = np.int64 if name in ("width", "height", "subject", "subaction", "camera", "frame") else None
            setattr(self, name, np.asarray(values, dtype=dtype if dtype else np.float64))
        self.keypoints_vis = self.keypoints_vis.astype(bool)
        self.K = intrinsic_matrix(self.f, self.c)
        self.joints3d_cam = self.joints3d_world @ self.R.transpose(0, 2, 1) + self.t[:, None, :]
        self.joints2d_px = project(self.joints3d_cam, self.f, self.c)

    def _load_subject(self, subject: int, col: dict[str, list]) -> None:
        paths = annotation_paths(self.root, subject)
        data = _read_json(paths["data"])
        cams = _read_json(paths["camera"])
        joints = _read_json(paths["joint_3d"])
        images = {}
        for img in _entries(paths["data"], data, "images", _IMAGE_KEYS):
            if img["id"] in images:
                raise UserError(f"{paths['data']}: duplicate image id {img['id']}")
            if int(img["subject"]) != subject:
                raise UserError(f"{paths['data']}: image {img['id']} has subject {img['subject']}, expected {subject}")
            if not 0 <= int(img["action_idx"]) < len(ACTIONS):
                raise UserError(f"{paths['data']}: image {img['id']} has action_idx {img['action_idx']}, "
                                f"expected 0..{len(ACTIONS) - 1}")
            images[img["id"]] = img
        camera_cache: dict[str, dict[str, np.ndarray]] = {}
        for ann in _entries(paths["data"], data, "annotations", _ANN_KEYS):
            img = images.get(ann["image_id"])
            if img is None:
                raise UserError(f"{paths['data']}: annotation {ann['id']} refers to image_id {ann['image_id']}, "
                                f"which no image has")
            width, height = int(img["width"]), int(img["height"])
            box = _array(paths["data"], f"annotation {ann['id']} bbox", ann["bbox"], (4,))
            if box[2] <= 0 or box[3] <= 0 or box[0] < -1 or box[1] < -1 or box[0] + box[2] > width + 1 \
                    or box[1] + box[3] > height + 1:
                raise UserError(f"{paths['data']}: annotation {ann['id']} bbox {box.tolist()} is not inside the "
                                f"{width}x{height} image")
            vis = _array(paths["data"], f"annotation {ann['id']} keypoints_vis", ann["keypoints_vis"],
                         (NUM_JOINTS,))
            cam_key = str(img["cam_idx"])
            if cam_key not in camera_cache:
                entry = _lookup(paths["camera"], cams, [cam_key], "camera")
                if not isinstance(entry, dict):
                    raise UserError(f"{paths['camera']}: camera {cam_key} is not an object with R, t, f, c")
                camera_cache[cam_key] = {
                    k: _array(paths["camera"], f"camera {cam_key} {k!r}", entry.get(k), shape)
                    for k, shape in _CAMERA_SHAPES.items()}
            cam = camera_cache[cam_key]
            world = _array(paths["joint_3d"], f"joints of action {img['action_idx']} subaction "
                           f"{img['subaction_idx']} frame {img['frame_idx']}",
                           _lookup(paths["joint_3d"], joints, [img["action_idx"], img["subaction_idx"],
                                                               img["frame_idx"]], "joint"), (NUM_JOINTS, 3))
            image_path = self.root / "images" / img["file_name"]
            if not image_path.is_file():
                raise UserError(f"{image_path}: image file not found (listed in {paths['data']})")
            col["image_paths"].append(image_path)
            col["width"].append(width)
            col["height"].append(height)
            col["boxes"].append(box)
            for k in ("R", "t", "f", "c"):
                col[k].append(cam[k])
            col["joints3d_world"].append(world)
            col["keypoints_vis"].append(vis)
            col["subject"].append(subject)
            col["action"].append(ACTIONS[int(img["action_idx"])])
            col["subaction"].append(int(img["subaction_idx"]))
            col["camera"].append(int(img["cam_idx"]))
            col["frame"].append(int(img["frame_idx"]))



def read_image(path: str | Path) -> torch.Tensor:
    """(3, H, W) float32 RGB in [0, 1]. Pillow decodes (torchvision's image codecs are deprecated); an
    unreadable file is a one-line error naming it."""
    from PIL import Image

    with fileio.reading(path, "a readable image", "a JPEG, PNG or other Pillow-readable file"):
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255


def write_jpeg(path: str | Path, pixels: torch.Tensor, quality: int = 90) -> Path:
    """pixels (3, H, W) uint8 RGB -> a JPEG file, written atomically."""
    from PIL import Image

    image = Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy())
    return fileio.atomic_write(path, lambda tmp: image.save(tmp, format="JPEG", quality=quality))
