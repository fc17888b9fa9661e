"""Running a trained MeTRo/MeTRAbs model or RootNet on full images: crop, predict, map back to the original camera.

`estimate_poses` takes images, person boxes and the original intrinsics, builds the same virtual crop camera
as training (rotation towards the box centre, zoom, principal point at the crop centre), warps each crop with
the exact homography, runs the model and rotates the results back: 3D poses into the original camera frame,
2D poses into original image pixels. Everything is h36m_17. `estimate_roots` does the same for RootNet's
absolute root, from the processed box and its distance prior k; without intrinsics it uses the focal-normalised
convention of `lifting.geometry.root_prior`.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from lifting import fileio
from lifting.augment.crops import crop_camera, warp_to_crop
from lifting.checkpoint import load_checkpoint, task_state
from lifting.engine.state import load_weights
from lifting.errors import UserError
from lifting.geometry.root_prior import distance_prior, intrinsics_or_assumed, process_bbox
from lifting.geometry.skeletons import H36M_17
from lifting.models.metro import MetroNet, absolute_pose, with_stride
from lifting.models.rootnet import RootNet, root_camera


def load_model(path: str | Path, stride: int | None = None, device: str | torch.device = "cpu") -> MetroNet:
    """Model from a run directory (last.pt, else best.pt) or a checkpoint file; optionally at another stride."""
    state = load_checkpoint(path)
    arch = task_state(state, "MeTRo estimator (main_metro.py)", ("arch",))["arch"]
    model = MetroNet(**arch)
    load_weights(model, state, state["path"])
    if stride is not None and stride != model.stride:
        model = with_stride(model, stride)
    return model.to(device).eval()


def crop_images(images, boxes, intrinsics, crop_size: int, device: torch.device):
    """Perspective-correct crops of one person per box -> (crops (N, 3, S, S), K, K_crop, R_crop_from_orig).

    images: list of (3, H, W) tensors in [0, 1] (sizes may differ) or a (N, 3, H, W) tensor; boxes (N, 4)
    [x, y, w, h] px; intrinsics (N, 3, 3) of the original images (no distortion).
    """
    boxes = torch.as_tensor(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    K = torch.as_tensor(np.asarray(intrinsics, dtype=np.float64).reshape(-1, 3, 3))
    if not len(boxes) == len(K) == len(images):
        raise UserError(f"estimate_poses: {len(images)} images, {len(boxes)} boxes and {len(K)} intrinsics differ")
    K_crop, R = crop_camera(K, boxes, crop_size)
    crops = torch.cat([warp_to_crop(images[i][None].float().to(device), K[i:i + 1].to(device),
                                    K_crop[i:i + 1].to(device), R[i:i + 1].to(device), crop_size)
                       for i in range(len(boxes))])
    return crops, K.to(device).float(), K_crop.to(device).float(), R.to(device).float()


def to_original_camera(pose3d_rel: torch.Tensor, pose3d_abs: torch.Tensor, pose2d: torch.Tensor, K: torch.Tensor,
                       K_crop: torch.Tensor, R_crop_from_orig: torch.Tensor) -> dict[str, np.ndarray]:
    """Crop-frame predictions -> original camera: 3D rotated by R^T (mm), 2D through the homography
    K R^T K_crop^-1 (original image px). Shapes (N, J, 3/2), K/K_crop/R (N, 3, 3)."""
    R = R_crop_from_orig.double()
    ray = torch.cat([pose2d.double(), torch.ones_like(pose2d[..., :1]).double()], -1)
    uvw = ray @ (K.double() @ R.transpose(1, 2) @ torch.linalg.inv(K_crop.double())).transpose(1, 2)
    return {"poses3d_abs": (pose3d_abs.double() @ R).cpu().numpy(),      # rows: (R^T x)^T = x^T R
            "poses3d_rel": (pose3d_rel.double() @ R).cpu().numpy(),
            "poses2d": (uvw[..., :2] / uvw[..., 2:3]).cpu().numpy()}


@torch.no_grad()
def estimate_poses(model: MetroNet, images, boxes, intrinsics, flip_tta: bool = False, crop_size: int | None = None,
                   mix: float = 0.5, ridge: float = 1e-2) -> dict[str, np.ndarray]:
    """3D and 2D poses of one person per box (h36m_17).

    images: list of (3, H, W) tensors in [0, 1] (or a (N, 3, H, W) tensor); boxes (N, 4) [x, y, w, h] px;
    intrinsics (N, 3, 3) of the original images (no distortion). Returns poses3d_abs (N, 17, 3) mm original
    camera frame; poses3d_rel (N, 17, 3) mm root-relative, original camera axes; poses2d (N, 17, 2) original
    image px (2D head). flip_tta averages with the mirrored crop's prediction (mirrored back, joints permuted).
    """
    dev = next(model.parameters()).device
    S = crop_size or model.crop_size
    if S != model.crop_size:
        raise UserError(f"crop_size {S} differs from the {model.crop_size} px the model was trained on")
    crops, K, K_crop, R = crop_images(images, boxes, intrinsics, S, dev)
    out = model(crops)
    if flip_tta:
        out = average_flipped(out, model(torch.flip(crops, dims=[-1])), K_crop)
    pose_abs = absolute_pose(model, out, K_crop, ridge=ridge, mix=mix)
    return to_original_camera(out["pose3d_rel"], pose_abs, out["pose2d"], K, K_crop, R)


def average_flipped(out: dict[str, torch.Tensor], flipped: dict[str, torch.Tensor],
                    K_crop: torch.Tensor) -> dict[str, torch.Tensor]:
    """Mean of a prediction and the prediction on the horizontally mirrored crop, mirrored back: X -> -X and
    x_px -> 2 c_x - x_px (mirror about the principal point), left/right joints swapped."""
    perm = list(H36M_17.flip_perm)
    rel = flipped["pose3d_rel"][:, perm] * torch.tensor([-1.0, 1.0, 1.0], device=K_crop.device)
    p2d = flipped["pose2d"][:, perm].clone()
    p2d[..., 0] = 2 * K_crop[:, 0, 2, None].float() - p2d[..., 0]
    return {"pose3d_rel": 0.5 * (out["pose3d_rel"] + rel), "pose2d": 0.5 * (out["pose2d"] + p2d)}


def dataset_subjects(root: str | Path) -> list[int]:
    """Subjects with a `<name>_data.json` annotation file in a COCO-layout dataset."""
    found = sorted(int(m.group(1)) for p in (Path(root) / "annotations").glob("*_data.json")
                   if (m := re.search(r"subject(\d+)_data\.json$", p.name)))
    if not found:
        raise UserError(f"{root}: no annotations/Human36M_subject<s>_data.json files (expected a COCO-style dataset)")
    return found


def predict_dataset(model: MetroNet, root: str | Path, out_path: str | Path, subjects=None, batch_size: int = 64,
                    flip_tta: bool = False, mix: float = 0.5, ridge: float = 1e-2) -> int:
    """Predict every annotated person of a COCO-layout dataset and write a lifting predictions .npz.

    Keys: joints2d_px (N, 17, 2) image px, joints3d_cam (N, 17, 3) camera mm, subject, action (name), subaction,
    camera, frame, skeleton, and cam_f/cam_c (the images' intrinsics, so 2D from resized renderings is mapped into
    the lifting data's camera) - the form `lifting.datasets.samples.replace_2d_from_predictions` reads.
    """
    from lifting.datasets.images import ImageDataset, read_image

    dataset = ImageDataset(root, subjects if subjects else dataset_subjects(root))
    bs = batch_size
    parts: dict[str, list] = {"joints2d_px": [], "joints3d_cam": []}
    for start in range(0, len(dataset), bs):
        idx = range(start, min(start + bs, len(dataset)))
        images = [read_image(dataset.image_paths[i]) for i in idx]
        res = estimate_poses(model, images, dataset.boxes[list(idx)], dataset.K[list(idx)], flip_tta=flip_tta,
                             mix=mix, ridge=ridge)
        parts["joints2d_px"].append(res["poses2d"])
        parts["joints3d_cam"].append(res["poses3d_abs"])
    fileio.save_npz(out_path, joints2d_px=np.concatenate(parts["joints2d_px"]).astype(np.float32),
                    joints3d_cam=np.concatenate(parts["joints3d_cam"]).astype(np.float32),
                    subject=dataset.subject, action=dataset.action.astype(str), subaction=dataset.subaction,
                    camera=dataset.camera, frame=dataset.frame, skeleton=np.array(H36M_17.name),
                    cam_f=dataset.f.astype(np.float32), cam_c=dataset.c.astype(np.float32))
    return len(dataset)


def load_rootnet(path: str | Path, device: str | torch.device = "cpu") -> RootNet:
    """RootNet from a main_rootnet.py run directory (last.pt, else best.pt) or checkpoint file."""
    state = load_checkpoint(path)
    model = RootNet(**task_state(state, "RootNet (main_rootnet.py)", ("arch",))["arch"])
    load_weights(model, state, state["path"])
    return model.to(device).eval()


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
