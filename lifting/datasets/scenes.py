"""COCO-style multi-person image sets (several annotations per image, 3D per annotation): reader and validator.

The layout of the MuCo-3DHP / MuPoTS-3D annotation files that RootNet parses, used for the rendered scenes too
(`read_scenes`: `images/<split>/...` and `annotations/<split>.json` under one root)::

    <image_dir>/<file_name>                  any image format Pillow reads
    <annotation file>.json                   {"images": [{id, file_name, width, height, f [fx, fy], c [cx, cy],
                                                          (R 3x3, t 3: world -> camera, mm; optional)}],
                                              "annotations": [{id, image_id, bbox [x, y, w, h] px,
                                                               keypoints_cam (J, 3) mm camera frame,
                                                               keypoints_img (J, 2) px, (keypoints_vis (J,))}]}

Cameras have no lens distortion. Rendered scenes also give every annotation the pose it was made from (subject,
action_idx, subaction_idx, frame_idx). An image may hold no annotation (nobody in it). `SceneDataset` has the
column arrays of `lifting.datasets.images.ImageDataset` (one row per person) and yields the same `ImageRecord`,
so the estimator's and RootNet's crop pipelines read it unchanged; `people_of(image)` gives one image's rows.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lifting.datasets.h36m import ACTIONS
from lifting.datasets.images import PersonColumns, _array, _entries, _read_json
from lifting.errors import UserError
from lifting.geometry.cameras import intrinsic_matrix
from lifting.geometry.skeletons import H36M_17

IMAGE_KEYS = ("id", "file_name", "width", "height")
ANN_KEYS = ("id", "image_id", "bbox", "keypoints_cam", "keypoints_img")
_SOURCE_KEYS = ("subject", "action_idx", "subaction_idx", "frame_idx")


def read_scenes(root: str | Path, split: str) -> SceneDataset:
    """The rendered scenes `render_dataset.py --scenes` wrote under `root` as `split`."""
    return SceneDataset(Path(root) / "annotations" / f"{split}.json", Path(root) / "images")


def intrinsics_of(path: Path, img: dict) -> tuple[np.ndarray, np.ndarray]:
    """(f (2,), c (2,)) px of an image entry: `f` and `c` (MuCo-3DHP, rendered scenes) or `intrinsic`
    [fx, fy, cx, cy] (MuPoTS-3D)."""
    if "intrinsic" in img:
        k = _array(path, f"image {img['id']} intrinsic", img["intrinsic"], (4,))
        return k[:2], k[2:]
    if "f" not in img or "c" not in img:
        raise UserError(f"{path}: image {img['id']} has no camera (expected f and c, or intrinsic)")
    return _array(path, f"image {img['id']} f", img["f"], (2,)), _array(path, f"image {img['id']} c", img["c"], (2,))


class SceneDataset(PersonColumns):
    """All annotated people of one annotation file (image file names relative to `image_dir`), validated on load.

    Column arrays (N people): image_index (N,) into `images`, boxes (N, 4) [x, y, w, h], K (N, 3, 3), R (N, 3, 3),
    t (N, 3), joints3d_cam / joints3d_world (N, J, 3) mm, joints2d_px (N, J, 2), keypoints_vis (N, J) bool,
    width/height/subject/subaction/camera/frame (N,) int64 (camera = image id; source fields -1 where absent),
    action (N,) str, image_paths list. `images`: the image entries, people or not.
    """

    def __init__(self, annotation_file: str | Path, image_dir: str | Path, num_joints: int = H36M_17.num_joints,
                 select: np.ndarray | None = None):
        """num_joints: how many joints each annotation must have; select: the indices of the joints kept (another
        dataset's joint order -> h36m_17), all by default."""
        path, self.image_dir = Path(annotation_file), Path(image_dir)
        data = _read_json(path)
        J = int(num_joints)
        self.images = _entries(path, data, "images", IMAGE_KEYS)
        by_id: dict = {}
        for i, img in enumerate(self.images):
            if img["id"] in by_id:
                raise UserError(f"{path}: duplicate image id {img['id']}")
            by_id[img["id"]] = i
        cameras = [self._camera(path, img) for img in self.images]
        col: dict[str, list] = {k: [] for k in ("image_index", "boxes", "joints3d_cam", "joints2d_px",
                                                "keypoints_vis", "subject", "action", "subaction", "frame")}
        for ann in _entries(path, data, "annotations", ANN_KEYS):
            where = f"annotation {ann['id']}"
            if ann["image_id"] not in by_id:
                raise UserError(f"{path}: {where} refers to image_id {ann['image_id']}, which no image has")
            i = by_id[ann["image_id"]]
            width, height = int(self.images[i]["width"]), int(self.images[i]["height"])
            box = _array(path, f"{where} bbox", ann["bbox"], (4,))
            if box[2] <= 0 or box[3] <= 0 or box[0] < -1 or box[1] < -1 or box[0] + box[2] > width + 1 \
                    or box[1] + box[3] > height + 1:
                raise UserError(f"{path}: {where} bbox {box.tolist()} is not inside the {width}x{height} image")
            cam = _array(path, f"{where} keypoints_cam", ann["keypoints_cam"], (J, 3))
            if (cam[:, 2] <= 0).any():
                raise UserError(f"{path}: {where} keypoints_cam has a joint at z <= 0 (behind the camera)")
            col["image_index"].append(i)
            col["boxes"].append(box)
            col["joints3d_cam"].append(cam)
            col["joints2d_px"].append(_array(path, f"{where} keypoints_img", ann["keypoints_img"], (J, 2)))
            col["keypoints_vis"].append(_array(path, f"{where} keypoints_vis", ann["keypoints_vis"], (J,))
                                        if "keypoints_vis" in ann else np.ones(J))
            source = [int(ann[k]) if k in ann else -1 for k in _SOURCE_KEYS]
            if not -1 <= source[1] < len(ACTIONS):
                raise UserError(f"{path}: {where} has action_idx {source[1]}, expected 0..{len(ACTIONS) - 1}")
            col["subject"].append(source[0])
            col["action"].append(ACTIONS[source[1]] if source[1] >= 0 else "")
            col["subaction"].append(source[2])
            col["frame"].append(source[3])
        self.image_index = np.asarray(col.pop("image_index"), dtype=np.int64).reshape(-1)
        self.action = np.asarray(col.pop("action"), dtype=str)
        for k in ("subject", "subaction", "frame"):
            setattr(self, k, np.asarray(col.pop(k), dtype=np.int64).reshape(-1))
        keep = np.arange(J) if select is None else np.asarray(select)
        self.boxes = np.asarray(col.pop("boxes")).reshape(-1, 4)
        self.joints3d_cam = np.asarray(col.pop("joints3d_cam")).reshape(-1, J, 3)[:, keep]
        self.joints2d_px = np.asarray(col.pop("joints2d_px")).reshape(-1, J, 2)[:, keep]
        self.keypoints_vis = np.asarray(col.pop("keypoints_vis")).reshape(-1, J)[:, keep].astype(bool)
        f, c, R, t = (np.asarray([cameras[i][k] for i in self.image_index]).reshape(-1, *shape)
                      for k, shape in (("f", (2,)), ("c", (2,)), ("R", (3, 3)), ("t", (3,))))
        self.f, self.c, self.R, self.t = f, c, R, t
        self.K = intrinsic_matrix(f, c).reshape(-1, 3, 3)
        self.joints3d_world = np.einsum("nji,nkj->nki", R, self.joints3d_cam - t[:, None, :])
        self.width = np.asarray([int(self.images[i]["width"]) for i in self.image_index], dtype=np.int64)
        self.height = np.asarray([int(self.images[i]["height"]) for i in self.image_index], dtype=np.int64)
        self.camera = np.asarray([int(self.images[i]["id"]) for i in self.image_index], dtype=np.int64)
        self.image_paths = [self.image_dir / str(self.images[i]["file_name"]) for i in self.image_index]
        for img in self.images:
            if not (self.image_dir / str(img["file_name"])).is_file():
                raise UserError(f"{self.image_dir / str(img['file_name'])}: image file not found (listed in {path})")

    @staticmethod
    def _camera(path: Path, img: dict) -> dict[str, np.ndarray]:
        f, c = intrinsics_of(path, img)
        if (f <= 0).any():
            raise UserError(f"{path}: image {img['id']} has focal length {f.tolist()}, expected positive")
        R = _array(path, f"image {img['id']} R", img["R"], (3, 3)) if "R" in img else np.eye(3)
        t = _array(path, f"image {img['id']} t", img["t"], (3,)) if "t" in img else np.zeros(3)
        return {"f": f, "c": c, "R": R, "t": t}

    def people_of(self, image: int) -> np.ndarray:
        """Row indices of the people of image `image` (an index into `images`)."""
        return np.flatnonzero(self.image_index == image)
