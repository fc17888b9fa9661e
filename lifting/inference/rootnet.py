"""Running a trained RootNet on your images: the absolute root of every person box, from the processed box (clipped,
square, x1.25) and its distance prior k; without intrinsics in the focal-normalised convention of
`lifting.geometry.root_prior`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from lifting import fileio
from lifting.augment.warp import crop_images
from lifting.errors import UserError
from lifting.geometry.root_prior import distance_prior, intrinsics_or_assumed, process_bbox
from lifting.inference.estimator import dataset_subjects
from lifting.models.rootnet import RootNet, root_camera


@torch.no_grad()
def estimate_roots(model: RootNet, images, boxes, intrinsics=None, assumed_focal_px: float | None = None
                   ) -> dict[str, np.ndarray]:
    """Absolute root (pelvis) of one person per box.

    images: list of (3, H, W) tensors in [0, 1] (or a (N, 3, H, W) tensor); boxes (N, 4) [x, y, w, h] px person
    boxes (processed here: clipped, square, x1.25); intrinsics (N, 3, 3) of the original images, or None with
    `assumed_focal_px` (focal-normalised: principal point at the image centre; `root_prior.depth_for_focal`
    converts the depth once the focal length is known). Returns root_cam (N, 3) mm original camera frame,
    root2d_px (N, 2) original image px, k_mm (N,), gamma (N,).
    """
    dev = next(model.parameters()).device
    image_wh = torch.tensor([[img.shape[-1], img.shape[-2]] for img in images], dtype=torch.float64)
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    if len(boxes) != len(image_wh):
        raise UserError(f"estimate_roots: {len(images)} images but {len(boxes)} boxes")
    K = intrinsics_or_assumed(None if intrinsics is None else torch.as_tensor(np.asarray(intrinsics, np.float64)),
                              image_wh, assumed_focal_px)
    boxes = process_bbox(boxes, image_wh)
    crops, K, K_crop, R = crop_images(images, boxes, K, model.crop_size, dev)
    k = distance_prior(boxes.to(dev), K.double()[:, [0, 1], [0, 1]], model.bbox_real_mm)
    out = model(crops, k)
    px, cam = root_camera(out["root2d_px"].double(), out["depth_mm"].double(), K, K_crop, R)
    return {"root_cam": cam.cpu().numpy(), "root2d_px": px.cpu().numpy(), "k_mm": k.cpu().numpy(),
            "gamma": out["gamma"].double().cpu().numpy()}


def predict_roots_dataset(model: RootNet, root: str | Path, out_path: str | Path, subjects=None, batch_size: int = 64,
                          assumed_focal_px: float | None = None) -> int:
    """RootNet on every annotated person of a COCO-layout dataset -> an .npz aligned with its frames.

    Keys: root_cam (N, 3) mm camera frame, root2d_px (N, 2) image px, k_mm (N,), subject, action (name),
    subaction, camera, frame (the keys of `predict_dataset`'s file), cam_f/cam_c (the images' intrinsics) and
    assumed_focal_px (NaN: the dataset's intrinsics were used; else the depths are focal-normalised).
    """
    from lifting.datasets.images import ImageDataset, read_image

    dataset = ImageDataset(root, subjects if subjects else dataset_subjects(root))
    parts: dict[str, list] = {"root_cam": [], "root2d_px": [], "k_mm": []}
    for start in range(0, len(dataset), batch_size):
        idx = list(range(start, min(start + batch_size, len(dataset))))
        res = estimate_roots(model, [read_image(dataset.image_paths[i]) for i in idx], dataset.boxes[idx],
                             None if assumed_focal_px is not None else dataset.K[idx], assumed_focal_px)
        for key in parts:
            parts[key].append(res[key])
    fileio.save_npz(out_path, **{k: np.concatenate(v).astype(np.float32) for k, v in parts.items()},
                    subject=dataset.subject, action=dataset.action.astype(str), subaction=dataset.subaction,
                    camera=dataset.camera, frame=dataset.frame, cam_f=dataset.f.astype(np.float32),
                    cam_c=dataset.c.astype(np.float32),
                    assumed_focal_px=np.float64(np.nan if assumed_focal_px is None else assumed_focal_px))
    return len(dataset)
