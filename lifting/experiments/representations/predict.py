"""The estimator's outputs on the lifting frames' images (predictions files) and on LSP images."""

from __future__ import annotations

import numpy as np
import torch

from lifting.datasets.samples import KEY_FIELDS, PoseSet, match_keys
from lifting.experiments.estimator import Estimator
from lifting.geometry.cameras import DEFAULT_FOV_DEG, default_intrinsics
from lifting.geometry.skeletons import H36M_17


def image_rows(dataset, poses: PoseSet) -> np.ndarray:
    """Row of the image dataset of every lifting frame (one-line error naming the folder if one is missing)."""
    keys = {"subject": dataset.subject, "action": dataset.action, "subaction": dataset.subaction,
            "camera": dataset.camera, "frame": dataset.frame}
    return match_keys(poses, keys, f"images {dataset.root}", "image")


def predict_frames(est: Estimator, dataset, rows: np.ndarray, poses: PoseSet, batch_size: int, desc: str,
                   boxes: np.ndarray | None = None) -> dict[str, np.ndarray]:
    """The predictions-file arrays for the lifting frames `poses` (image rows `rows`): the estimator's outputs, the
    images' intrinsics (cam_f, cam_c: predictions are in those images' px) and the frame keys."""
    from lifting.datasets.images import read_image

    boxes = dataset.boxes[rows] if boxes is None else boxes
    out = est.predict(lambda i: read_image(dataset.image_paths[rows[i]]), boxes, dataset.K[rows], batch_size, desc)
    out.update({k: poses.arrays()[k] for k in KEY_FIELDS}, cam_f=dataset.f[rows].astype(np.float32),
               cam_c=dataset.c[rows].astype(np.float32), box=boxes.astype(np.float32), skeleton=np.array(H36M_17.name))
    return out


def truncated_boxes(dataset, rows: np.ndarray, seed: int = 0) -> np.ndarray:
    """A seeded partial-body sub-box (MeTRo's truncation, `random_partial_box`) of every frame's person box."""
    from lifting.augment.crops import random_partial_box, seeded_generator

    return np.concatenate([random_partial_box(torch.tensor(dataset.boxes[r])[None],
                                              seeded_generator(seed, int(r))).numpy() for r in rows])


def in_crop(dataset, rows: np.ndarray, boxes: np.ndarray, crop_size: int) -> np.ndarray:
    """(N, 17) bool: GT joint inside the crop the estimator saw for `boxes` (and in front of its camera)."""
    from lifting.augment.crops import crop_camera
    from lifting.geometry.cameras import project_joints

    K_crop, R = crop_camera(torch.tensor(dataset.K[rows]), torch.tensor(boxes, dtype=torch.float64), crop_size)
    joints = torch.tensor(dataset.joints3d_cam[rows]) @ R.transpose(1, 2)
    uv = project_joints(joints, K_crop)
    return ((joints[..., 2] > 0) & (uv >= -0.5).all(-1) & (uv <= crop_size - 0.5).all(-1)).numpy()


def lsp_boxes(xy: np.ndarray, visible: np.ndarray, size_wh: np.ndarray) -> np.ndarray:
    """(N, 4) person box of every LSP image: the visible joints' extent with a margin (the whole image if none)."""
    from lifting.datasets.crop_sources import person_boxes

    boxes = np.zeros((len(xy), 4))
    for i in range(len(xy)):
        pts = xy[i][visible[i]]
        boxes[i] = person_boxes(torch.tensor(pts, dtype=torch.float64)[None])[0].numpy() if len(pts) >= 2 \
            else [0, 0, *size_wh[i]]
    return boxes


def predict_lsp(est: Estimator, lsp, batch_size: int) -> dict[str, np.ndarray]:
    from PIL import Image

    from lifting.datasets.images import read_image

    sizes = np.array([Image.open(p).size for p in lsp.image_paths], dtype=np.float64)
    # No intrinsics are known for LSP photos: the MeTRAbs default field of view, principal point at the centre.
    boxes = lsp_boxes(lsp.joints2d_px, lsp.visible, sizes)
    K = np.stack([default_intrinsics(w, h, DEFAULT_FOV_DEG) for w, h in sizes.astype(int)])
    out = est.predict(lambda i: read_image(lsp.image_paths[i]), boxes, K, batch_size, "LSP")
    out.update(box=boxes.astype(np.float32), K=K.astype(np.float32), image_size=sizes.astype(np.int64))
    return out
