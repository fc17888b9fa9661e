"""Running a trained MeTRo/MeTRAbs model on your images: crop, predict, map back to the original camera and world.

`estimate_poses` takes images, any number of person boxes per image (default: the whole image) and the camera
(intrinsics or a field of view, OpenCV lens distortion, extrinsics). For every box and test-time augmentation it
builds the same virtual crop camera as training (rotation towards the box centre, zoom, principal point at the
crop centre, plus the augmentation's roll, zoom and mirror), warps the crop, runs the model, rotates the results
back into the original camera and averages them there: 3D in mm (camera frame x right, y down, z forward; the
world frame of the extrinsics if given), 2D in original image pixels (lens distortion applied).

The crops are cut by `lifting.augment.warp.crop_images` (gamma-correct anti-aliasing pyramid, lens distortion undone
inside the warp, so the model always sees a pinhole view).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lifting import fileio
from lifting.augment.crops import CropAugmentation
from lifting.augment.warp import crop_images
from lifting.errors import UserError
from lifting.geometry.cameras import (
    DEFAULT_FOV_DEG,
    camera_to_world,
    default_intrinsics,
    distort_opencv,
    split_extrinsics,
)
from lifting.geometry.keypoint_formats import from_h36m17, output_format
from lifting.geometry.skeletons import H36M_17
from lifting.models.metro import MetroNet, absolute_pose


def tta_schedule(num_aug: int, roll_deg: float = 25.0) -> tuple[CropAugmentation, torch.Tensor]:
    """Test-time augmentation of the released MeTRAbs pipeline for n crops: (CropAugmentation (n,), gamma (n,)).

    Roll linspace(-25, 25) degrees; zoom n//2 values of linspace(0.8, 1) below 1, then linspace(1, 1.1); mirrored
    where (a - n//2) is odd; brightness gamma linspace(0.6, 1) (crop = original^gamma). For n = 5: rolls -25 ..
    25, zooms 0.8, 0.9, 1, 1.05, 1.1, crops 1 and 3 mirrored. n = 1 is the plain crop (gamma 1)."""
    if num_aug < 1:
        raise UserError(f"num_aug must be >= 1, got {num_aug}")
    if num_aug == 1:
        return CropAugmentation.identity(1), torch.ones(1)
    n, half = num_aug, num_aug // 2
    scale = torch.cat([torch.linspace(0.8, 1.0, half + 1)[:-1], torch.linspace(1.0, 1.1, n - half)])
    flip = (torch.arange(n) - half) % 2 == 1
    return (CropAugmentation(scale, torch.linspace(-roll_deg, roll_deg, n), torch.zeros(n, 2), flip),
            torch.linspace(0.6, 1.0, n))


def flip_schedule() -> tuple[CropAugmentation, torch.Tensor]:
    """The plain crop and its mirror image (what `flip_tta` averages)."""
    return CropAugmentation(torch.ones(2), torch.zeros(2), torch.zeros(2, 2), torch.tensor([False, True])), \
        torch.ones(2)


def to_original_camera(pose3d_rel: torch.Tensor, pose3d_abs: torch.Tensor, pose2d: torch.Tensor, K: torch.Tensor,
                       K_crop: torch.Tensor, R_crop_from_orig: torch.Tensor, distortion=None) -> dict[str, np.ndarray]:
    """Crop-frame predictions -> original camera: 3D rotated by R^T (mm); 2D crop px -> ray R^T K_crop^-1 x ->
    (lens distortion (N, 5) if given) -> K -> original image px. Shapes (N, J, 3/2), K/K_crop/R (N, 3, 3)."""
    R = R_crop_from_orig.double()
    hom = torch.cat([pose2d.double(), torch.ones_like(pose2d[..., :1]).double()], -1)
    rays = hom @ (R.transpose(1, 2) @ torch.linalg.inv(K_crop.double())).transpose(1, 2)
    xy = rays[..., :2] / rays[..., 2:3]
    if distortion is not None:
        xy = distort_opencv(xy, torch.as_tensor(np.asarray(distortion, np.float64)).to(xy.device).reshape(-1, 5))
    K = K.double()
    px = xy @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]
    return {"poses3d_abs": (pose3d_abs.double() @ R).cpu().numpy(),      # rows: (R^T x)^T = x^T R
            "poses3d_rel": (pose3d_rel.double() @ R).cpu().numpy(),
            "poses2d": px.cpu().numpy()}


def _per_image(value, count: int, shape: tuple[int, ...], what: str) -> np.ndarray | None:
    """None, one array of `shape` for every image, or (count, *shape) -> (count, *shape) float64 (or None)."""
    if value is None:
        return None
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape == shape:
        arr = np.broadcast_to(arr, (count,) + shape)
    if arr.shape != (count,) + shape or not np.isfinite(arr).all():
        raise UserError(f"{what}: expected finite {shape} for all images or ({count}, {', '.join(map(str, shape))}), "
                        f"got shape {arr.shape}")
    return np.ascontiguousarray(arr)


def image_boxes(boxes, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Person boxes per image -> list of (n_i, 4) [x, y, w, h] px. boxes: None (each whole image), a (B, 4) array
    (one box per image) or a list of (n_i, 4) / (4,) arrays or None (that whole image). A box with w or h <= 0 or that misses its image is a
    one-line error."""
    if boxes is None:
        boxes = [None] * len(sizes)
    if isinstance(boxes, np.ndarray) and boxes.ndim == 2:
        boxes = list(boxes[:, None])
    if len(boxes) != len(sizes):
        raise UserError(f"estimate_poses: {len(sizes)} images but boxes for {len(boxes)}")
    out = []
    for i, (b, (w, h)) in enumerate(zip(boxes, sizes)):
        b = np.array([[-0.5, -0.5, w, h]]) if b is None else np.asarray(b, dtype=np.float64).reshape(-1, 4)
        for x, y, bw, bh in b:
            if not np.isfinite([x, y, bw, bh]).all() or bw <= 0 or bh <= 0:
                raise UserError(f"image {i}: box [{x:g}, {y:g}, {bw:g}, {bh:g}] needs finite x, y and w, h > 0")
            if x >= w - 0.5 or y >= h - 0.5 or x + bw <= -0.5 or y + bh <= -0.5:
                raise UserError(f"image {i}: box [{x:g}, {y:g}, {bw:g}, {bh:g}] lies outside the {w}x{h} image")
        out.append(b)
    return out


@torch.no_grad()
def estimate_poses(model: MetroNet, images, boxes=None, intrinsics=None, *, distortion=None, extrinsics=None,
                   fov_deg: float = DEFAULT_FOV_DEG, num_aug: int = 1, flip_tta: bool = False,
                   skeleton: str = "h36m_17", antialias: bool = True, batch_size: int = 64, mix: float = 0.5,
                   ridge: float = 1e-2) -> dict[str, np.ndarray]:
    """3D and 2D poses of every person box of every image.

    images: B (3, H, W) tensors in [0, 1] (sizes may differ) or a (B, 3, H, W) tensor; boxes: see `image_boxes`;
    intrinsics (3, 3) or (B, 3, 3) (default: `default_intrinsics` with `fov_deg`); distortion (5,) or (B, 5)
    OpenCV k1, k2, p1, p2, k3; extrinsics (3|4, 4) or (B, 3|4, 4) world-to-camera [R | t] mm. num_aug crops per
    box (`tta_schedule`; flip_tta with num_aug 1: the plain and the mirrored crop), averaged in the original camera
    frame. The crops of all images of one call are held in memory; the model runs on `batch_size` at a time.

    Returns, for N = all boxes, box-major in image order: poses3d_abs (N, J, 3) mm camera frame; poses3d_rel
    (N, J, 3) mm root-relative, camera axes; poses2d (N, J, 2) original image px; poses3d_world (N, J, 3) mm with
    extrinsics; image_index (N,); boxes (N, 4). J joints of `skeleton` (a `keypoint_formats.OUTPUT_FORMATS` name).
    """
    output_format(skeleton)
    dev = next(model.parameters()).device
    S = model.crop_size
    images = [torch.as_tensor(im) for im in images]
    sizes = [(int(im.shape[-1]), int(im.shape[-2])) for im in images]
    per_image = image_boxes(boxes, sizes)
    B = len(images)
    K = _per_image(intrinsics, B, (3, 3), "intrinsics")
    if K is None:
        K = np.stack([default_intrinsics(w, h, fov_deg) for w, h in sizes]) if B else np.zeros((0, 3, 3))
    dist = _per_image(distortion, B, (5,), "distortion")
    E = None if extrinsics is None else split_extrinsics(_per_image(
        extrinsics, B, np.shape(extrinsics)[-2:], "extrinsics"))
    aug, gamma = flip_schedule() if flip_tta and num_aug == 1 else tta_schedule(num_aug)
    A = len(gamma)
    counts = [len(b) for b in per_image]
    owner = np.repeat(np.arange(B), counts)                              # image of every box
    crop_owner = np.repeat(owner, A)
    tile = lambda t: t.repeat(len(owner), *([1] * (t.dim() - 1)))
    crop_aug = CropAugmentation(tile(aug.scale), tile(aug.roll_deg), tile(aug.shift), tile(aug.flip))
    all_boxes = np.concatenate(per_image) if B else np.zeros((0, 4))
    crops, K_orig, K_crop, R = crop_images([images[i] for i in crop_owner], np.repeat(all_boxes, A, 0),
                                           K[crop_owner], S, dev, aug=crop_aug,
                                           distortion=None if dist is None else dist[crop_owner],
                                           gamma=tile(gamma), antialias=antialias)
    parts = {"rel": [], "abs": [], "2d": []}
    for s in range(0, len(crops), batch_size):
        out = model(crops[s:s + batch_size])
        parts["abs"].append(absolute_pose(model, out, K_crop[s:s + batch_size], ridge=ridge, mix=mix))
        parts["rel"].append(out["pose3d_rel"])
        parts["2d"].append(out["pose2d"])
    joints = {k: torch.cat(v) if v else torch.zeros(0, H36M_17.num_joints, 3 if k != "2d" else 2, device=dev)
              for k, v in parts.items()}
    flip = crop_aug.flip.to(dev)[:, None, None]
    perm = list(H36M_17.flip_perm)
    joints = {k: torch.where(flip, v[:, perm], v) for k, v in joints.items()}   # index j is joint j again
    back = to_original_camera(joints["rel"], joints["abs"], joints["2d"], K_orig, K_crop, R,
                              None if dist is None else dist[crop_owner])
    n = len(owner)
    res = {k: from_h36m17(back[k].reshape(n, A, H36M_17.num_joints, back[k].shape[-1]).mean(1), skeleton) for k in back}
    if E is not None:
        res["poses3d_world"] = camera_to_world(res["poses3d_abs"], E[0][owner], E[1][owner])  # E: (R, centre)
    res.update(image_index=owner, boxes=all_boxes)
    return res


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


def predict_images(model: MetroNet, read_image: Callable[[int], torch.Tensor], boxes: np.ndarray, K: np.ndarray,
                   batch_size: int = 64, flip_tta: bool = False, mix: float = 0.5, ridge: float = 1e-2,
                   desc: str | None = None) -> dict[str, np.ndarray]:
    """Images 0..N-1 (`read_image(i)` -> (3, H, W) in [0, 1]), one person box (N, 4) [x, y, w, h] px and pinhole K
    (N, 3, 3) each, batched (a progress bar on a terminal when `desc` is given) -> joints2d_px (N, 17, 2) image px,
    joints3d_rootrel and joints3d_cam (N, 17, 3) camera mm (root-relative head output; absolute reconstruction),
    float32, h36m_17."""
    from tqdm import tqdm

    n = len(boxes)
    out: dict[str, list[np.ndarray]] = {"joints2d_px": [], "joints3d_rootrel": [], "joints3d_cam": []}
    starts = range(0, n, batch_size)
    for start in tqdm(starts, desc=desc, leave=False, disable=desc is None or not sys.stderr.isatty()):
        idx = list(range(start, min(start + batch_size, n)))
        res = estimate_poses(model, [read_image(i) for i in idx], np.asarray(boxes[idx], np.float64), K[idx],
                             flip_tta=flip_tta, batch_size=batch_size, mix=mix, ridge=ridge)
        out["joints2d_px"].append(res["poses2d"])
        out["joints3d_rootrel"].append(res["poses3d_rel"])
        out["joints3d_cam"].append(res["poses3d_abs"])
    return {k: np.concatenate(v).astype(np.float32) if v else np.zeros((0, 17, 3 if "3d" in k else 2), np.float32)
            for k, v in out.items()}


def predict_dataset(model: MetroNet, root: str | Path, out_path: str | Path, subjects=None, batch_size: int = 64,
                    flip_tta: bool = False, mix: float = 0.5, ridge: float = 1e-2) -> int:
    """Predict every annotated person of a COCO-layout dataset and write a lifting predictions .npz.

    Keys: joints2d_px (N, 17, 2) image px, joints3d_cam (N, 17, 3) camera mm, subject, action (name), subaction,
    camera, frame, skeleton, and cam_f/cam_c (the images' intrinsics, so 2D from resized renderings is mapped into
    the lifting data's camera) - the form `lifting.datasets.samples.replace_2d_from_predictions` reads.
    """
    from lifting.datasets.images import ImageDataset, read_image

    dataset = ImageDataset(root, subjects if subjects else dataset_subjects(root))
    pred = predict_images(model, lambda i: read_image(dataset.image_paths[i]), dataset.boxes, dataset.K, batch_size,
                          flip_tta, mix, ridge)
    fileio.save_npz(out_path, joints2d_px=pred["joints2d_px"], joints3d_cam=pred["joints3d_cam"],
                    subject=dataset.subject, action=dataset.action.astype(str), subaction=dataset.subaction,
                    camera=dataset.camera, frame=dataset.frame, skeleton=np.array(H36M_17.name),
                    cam_f=dataset.f.astype(np.float32), cam_c=dataset.c.astype(np.float32))
    return len(dataset)
