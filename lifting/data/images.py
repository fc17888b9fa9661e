"""COCO-style image dataset in the layout of the parsed Human3.6M releases: reader, validator and rendered writer.

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

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from .. import fileio
from ..cameras import Camera, camera_to_world, h36m_cameras, intrinsic_matrix
from ..errors import UserError
from ..skeletons import H36M_17
from .h36m import ACTIONS
from .render import render_mannequin

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
    if not path.is_file():
        raise UserError(f"{path}: annotation file not found")
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
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


class ImageDataset:
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
            self._load_subject(int(subject), columns)
        if not columns["boxes"]:
            raise UserError(f"{self.root}: no annotations for subjects {list(subjects)}")
        self.image_paths = columns.pop("image_paths")
        self.action = np.array(columns.pop("action"))
        for name, values in columns.items():
            dtype = np.int64 if name in ("width", "height", "subject", "subaction", "camera", "frame") else None
            setattr(self, name, np.asarray(values, dtype=dtype if dtype else np.float64))
        self.keypoints_vis = self.keypoints_vis.astype(bool)
        self.K = np.zeros((len(self.boxes), 3, 3))
        self.K[:, [0, 1], [0, 1]] = self.f
        self.K[:, :2, 2] = self.c
        self.K[:, 2, 2] = 1
        self.joints3d_cam = self.joints3d_world @ self.R.transpose(0, 2, 1) + self.t[:, None, :]
        self.joints2d_px = self.joints3d_cam[..., :2] / self.joints3d_cam[..., 2:] * self.f[:, None] + self.c[:, None]

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
        for i, ann in enumerate(_entries(paths["data"], data, "annotations", _ANN_KEYS)):
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


def subsample_sequences(poseset, stride: int) -> np.ndarray:
    """Row indices keeping every `stride`-th frame of each (subject, action, subaction, camera) sequence."""
    if stride < 1:
        raise UserError(f"stride must be >= 1, got {stride}")
    order = np.lexsort((poseset.frame, poseset.camera, poseset.subaction, poseset.action, poseset.subject))
    seq = np.stack([poseset.subject[order], np.unique(poseset.action, return_inverse=True)[1].ravel()[order],
                    poseset.subaction[order], poseset.camera[order]], 1)
    start = np.ones(len(order), bool)
    start[1:] = (seq[1:] != seq[:-1]).any(1)
    first = np.maximum.accumulate(np.where(start, np.arange(len(order)), 0))
    rank = np.arange(len(order)) - first
    return np.sort(order[rank % stride == 0])


def scaled_intrinsics(camera: Camera, longer_side: int) -> tuple[int, int, np.ndarray, np.ndarray]:
    """(width, height, f, c) of `camera` resized so its longer side is `longer_side` px (pixel centres kept)."""
    W, H = camera.size
    scale = longer_side / max(W, H)
    w, h = max(1, round(W * scale)), max(1, round(H * scale))
    s = np.array([w / W, h / H])
    return w, h, camera.f * s, (camera.c + 0.5) * s - 0.5


def _person_box(mask: torch.Tensor, joints2d: torch.Tensor, width: int, height: int, pad: float = 0.05):
    """[x, y, w, h] around the rendered body (joints if no body pixel is in view), padded, clipped to the image."""
    ys, xs = torch.nonzero(mask, as_tuple=True)
    if len(xs):
        lo = torch.stack([xs.min(), ys.min()]).double() - 0.5
        hi = torch.stack([xs.max(), ys.max()]).double() + 0.5
    else:
        lo, hi = joints2d.double().amin(0), joints2d.double().amax(0)
    margin = pad * (hi - lo).max()
    lo = torch.maximum(lo - margin, torch.tensor([0.0, 0.0], dtype=lo.dtype))
    hi = torch.minimum(hi + margin, torch.tensor([float(width), float(height)], dtype=hi.dtype))
    hi = torch.maximum(hi, lo + 1)
    return [round(float(lo[0]), 2), round(float(lo[1]), 2), round(float(hi[0] - lo[0]), 2),
            round(float(hi[1] - lo[1]), 2)]


def read_image(path: str | Path) -> torch.Tensor:
    """(3, H, W) float32 RGB in [0, 1]. Pillow decodes (torchvision's image codecs are deprecated); an
    unreadable file is a one-line error naming it."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            pixels = np.array(image.convert("RGB"))
    except (OSError, UnidentifiedImageError, ValueError) as e:
        raise UserError(f"{path}: not a readable image ({str(e).splitlines()[0][:80]})") from None
    return torch.from_numpy(pixels).permute(2, 0, 1).float() / 255


def write_jpeg(path: str | Path, pixels: torch.Tensor, quality: int = 90) -> Path:
    """pixels (3, H, W) uint8 RGB -> a JPEG file, written atomically."""
    from PIL import Image

    image = Image.fromarray(pixels.permute(1, 2, 0).contiguous().numpy())
    return fileio.atomic_write(path, lambda tmp: image.save(tmp, format="JPEG", quality=quality))


def write_rendered_dataset(root: str | Path, poseset, image_size: int = 256, stride: int = 1, seed: int = 0, *,
                           cameras: dict[tuple[int, int], Camera] | None = None, batch_size: int = 16,
                           device: str = "cpu", occluder_prob: float = 0.3, jpeg_quality: int = 90,
                           progress: Callable[[int], None] | None = None) -> int:
    """Render every `stride`-th frame of each sequence of a `PoseSet` as a full camera image and write the layout.

    Images are the cameras' full views scaled so the longer side is `image_size` px (1000 px cameras at 250 ->
    1/4, intrinsics scaled to match and recorded in the camera JSON). `cameras` ({(subject, cam): Camera}, the
    built-in Human3.6M calibration by default) must be the calibration the pose set was made with: world joints
    are recovered from it and checked across cameras. Annotation JSONs are written last and atomically, so an
    interrupted run leaves no readable dataset. Returns the number of images written.
    """
    root = Path(root)
    poseset = poseset.convert(H36M_17.name)
    cameras = cameras if cameras is not None else h36m_cameras()
    rows = subsample_sequences(poseset, stride)
    if len(rows) == 0:
        raise UserError("pose set is empty: nothing to render")
    unknown = sorted(set(poseset.action[rows].tolist()) - set(ACTIONS))
    if unknown:
        raise UserError(f"pose set has action {unknown[0]!r}, expected one of {', '.join(ACTIONS)}")
    worlds: dict[tuple[int, int, int, int], np.ndarray] = {}
    samples = []
    for r in rows.tolist():
        subject, camera = int(poseset.subject[r]), int(poseset.camera[r])
        cam = cameras.get((subject, camera))
        if cam is None:
            raise UserError(f"no calibration for subject {subject} camera {camera}")
        action_idx = ACTIONS.index(str(poseset.action[r]))
        key = (subject, action_idx, int(poseset.subaction[r]), int(poseset.frame[r]))
        world = camera_to_world(poseset.joints3d_cam[r].astype(np.float64), cam.R, cam.T)
        if key not in worlds:
            worlds[key] = np.round(world, 3)
        elif np.abs(worlds[key] - world).max() > 1.0:
            raise UserError(f"pose set frame {key} disagrees by >1 mm between cameras: the calibration passed "
                            f"is not the one the pose set was made with")
        samples.append((key, camera, cam))

    per_subject: dict[int, dict] = {}
    groups: dict[tuple[int, int], list[int]] = {}
    for i, (_, _, cam) in enumerate(samples):
        w, h, _, _ = scaled_intrinsics(cam, image_size)
        groups.setdefault((w, h), []).append(i)
    generator = torch.Generator().manual_seed(seed)
    written = 0
    for (w, h), members in sorted(groups.items()):
        for start in range(0, len(members), batch_size):
            batch = members[start:start + batch_size]
            K, R, t, joints_cam = [], [], [], []
            for i in batch:
                key, camera, cam = samples[i]
                _, _, f, c = scaled_intrinsics(cam, image_size)
                K.append(intrinsic_matrix(f, c))
                R.append(cam.R)
                t.append(cam.t)
                joints_cam.append(worlds[key] @ cam.R.T + cam.t)
            out = render_mannequin(torch.tensor(np.stack(joints_cam), dtype=torch.float32, device=device),
                                   torch.tensor(np.stack(K), dtype=torch.float32, device=device), (h, w), generator,
                                   occluder_prob=occluder_prob)
            pixels = (out.image * 255).round().to(torch.uint8).cpu()
            body = torch.isfinite(out.depth).cpu()
            for j, i in enumerate(batch):
                (subject, action_idx, subaction, frame), camera, _ = samples[i]
                name = image_file_name(subject, action_idx, subaction, camera, frame)
                write_jpeg(root / "images" / name, pixels[j], jpeg_quality)
                uv = out.joints2d_px[j].cpu()
                vis = ((uv[:, 0] >= 0) & (uv[:, 0] <= w - 1) & (uv[:, 1] >= 0) & (uv[:, 1] <= h - 1)).tolist()
                sub = per_subject.setdefault(subject, {"images": [], "annotations": [], "cameras": {},
                                                       "joints": {}})
                image_id = len(sub["images"])
                sub["images"].append({"id": image_id, "file_name": name, "width": w, "height": h,
                                      "subject": subject, "action_idx": action_idx, "subaction_idx": subaction,
                                      "cam_idx": camera, "frame_idx": frame})
                sub["annotations"].append({"id": image_id, "image_id": image_id,
                                           "bbox": _person_box(body[j], uv, w, h), "keypoints_vis": vis})
                sub["cameras"][str(camera)] = {"R": R[j].tolist(), "t": t[j].tolist(),
                                               "f": K[j][[0, 1], [0, 1]].tolist(), "c": K[j][:2, 2].tolist()}
                sub["joints"].setdefault(str(action_idx), {}).setdefault(str(subaction), {})[str(frame)] = \
                    worlds[(subject, action_idx, subaction, frame)].tolist()
            written += len(batch)
            if progress is not None:
                progress(len(batch))
    for subject, sub in sorted(per_subject.items()):
        paths = annotation_paths(root, subject)
        fileio.write_json(paths["camera"], sub["cameras"])
        fileio.write_json(paths["joint_3d"], sub["joints"])
        fileio.write_json(paths["data"], {"images": sub["images"], "annotations": sub["annotations"]})
    return written
