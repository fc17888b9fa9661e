"""Sources of MeTRo training and test crops (the `CropDataset` item dict, batched).

- 'online': crops rendered on the training device from 3D poses (a `PoseSet`), a fresh mannequin appearance
  and augmentation per step (`online_source`); with `crowd_prob`, that share of training crops also shows 1-2 other
  training poses placed around the person as in a multi-person scene (`Crowd`);
- 'rendered': a COCO-layout image dataset read through `ImageDataset` + `CropDataset` (`rendered_source`).
Both take the seeded index batches of the training loop, so a resumed run sees the same data.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from lifting.augment.crops import (
    METRO_CROPS,
    CropAugmentation,
    CropDataset,
    CropRecipe,
    crop_camera,
    random_partial_box,
    seeded_generator,
    to_crop_frame,
)
from lifting.errors import UserError
from lifting.geometry.cameras import intrinsic_matrix, project_joints
from lifting.synth.poses import pose_data_dir

if TYPE_CHECKING:
    from lifting.engine.distributed import Dist  # where this process sits: rank, world, device

log = logging.getLogger("lifting")
CROWD_STREAM = 7_919           # seed component of the other people's random stream
BatchStream = Callable[[list[list[int]], int, int], Iterator[dict[str, Any]]]


@dataclass(frozen=True)
class CropOptions:
    """Which poses or images the crops come from and how they are cut (the image tasks' data keys)."""

    data_dir: str
    cache_dir: str
    train_subjects: list[int]
    test_subjects: list[int]
    stride: int
    test_stride: int
    crop_size: int
    synthetic_size: str = "default"
    seed: int = 0
    max_test_crops: int | None = None
    augment: bool = False
    truncation_prob: float = 0.0
    crowd_prob: float = 0.0
    image_dir: str | None = None
    render_size: int = 256
    num_workers: int = 0
    eval_batch_size: int = 64
    synthetic_size: str = "default"

    @classmethod
    def from_config(cls, cfg: dict[str, Any]) -> CropOptions:
        return cls(**{f.name: cfg[f.name] for f in fields(cls)})


@dataclass
class CropSource:
    """What the training loop needs from a source of crops."""

    num_train: int
    batches: BatchStream                                  # (index batches, epoch, first step) -> crop batches
    test_batches: Callable[[bool], Iterator[dict[str, Any]]]   # truncated? -> batches
    describe: str


def pose_dir(o: CropOptions) -> Path:
    return pose_data_dir(o.data_dir, o.cache_dir, o.synthetic_size)


def load_poses(o: CropOptions, subjects: list[int], stride: int):
    """PoseSet (h36m_17, all 4 cameras) of the subjects, every `stride`-th frame, cached in cache_dir."""
    from lifting.datasets.h36m import load_h36m

    return load_h36m(pose_dir(o), subjects, stride=stride, skeleton="h36m_17", cache_dir=o.cache_dir)


def evenly_spaced(n: int, limit: int | None) -> np.ndarray:
    """At most `limit` indices spread evenly over range(n)."""
    if limit is None or limit >= n:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


def person_boxes(joints2d_px: torch.Tensor, pad: float = 0.12) -> torch.Tensor:
    """(B, J, 2) px -> (B, 4) [x, y, w, h] around the joints, padded by `pad` x the larger side on every side
    (roughly the rendered body's extent: joints sit inside the limbs, head and feet)."""
    lo, hi = joints2d_px.amin(1), joints2d_px.amax(1)
    margin = pad * (hi - lo).amax(-1, keepdim=True)
    return torch.cat([lo - margin, hi - lo + 2 * margin], -1)


def render_crops(joints_cam: torch.Tensor, K: torch.Tensor, crop_size: int, generator: torch.Generator,
                 device: torch.device, augment: bool, truncation_prob: float = 0.0,
                 truncate_all: bool = False, recipe: CropRecipe = METRO_CROPS,
                 others: tuple[torch.Tensor, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
    """Crops rendered straight into the virtual crop camera (no image resampling, so no image border: the
    recipe's box gets no image size).

    joints_cam (B, 17, 3) mm original camera; K (B, 3, 3) original pinhole intrinsics. Same crop geometry and
    outputs as `make_crops` (without `flipped`); `truncate_all` forces a partial-body box without other
    augmentation (test crops). `others`: (joints (B, P, 17, 3) mm original camera, present (B, P) bool), other
    people drawn into the crops under the same z-buffer; the labels stay the person's.
    """
    from lifting.synth.render import render_mannequin

    n = len(joints_cam)
    joints_cam, K = joints_cam.double(), K.double()
    boxes = person_boxes(project_joints(joints_cam, K))
    if truncate_all:
        boxes = random_partial_box(boxes, generator)
    elif truncation_prob > 0:
        coin = torch.rand(n, generator=generator) < truncation_prob
        boxes = torch.where(coin[:, None], random_partial_box(boxes, generator), boxes)
    boxes = recipe.box(boxes, None)
    aug = recipe.geometry(n, generator) if augment else CropAugmentation.identity(n)
    K_crop, R = crop_camera(K, boxes, crop_size, aug)
    joints = to_crop_frame(joints_cam, R, aug.flip)
    people, present = joints, None
    if others is not None and others[1].any():
        crowd = [to_crop_frame(others[0][:, k].double(), R, aug.flip) for k in range(others[0].shape[1])]
        people = torch.stack([joints, *crowd], 1)                                       # (B, 1 + P, 17, 3)
        present = torch.cat([torch.ones(n, 1, dtype=torch.bool), others[1].cpu()], 1).to(device)
    rendering = render_mannequin(people.float().to(device), K_crop.float().to(device), (crop_size, crop_size),
                                 generator, present=present)
    image = recipe.appearance(rendering.image, generator) if augment else rendering.image
    uv = project_joints(joints, K_crop)
    in_crop = (joints[..., 2] > 0) & (uv >= -0.5).all(-1) & (uv <= crop_size - 0.5).all(-1)
    to = lambda t: t.to(device=device, dtype=torch.float32)
    return {"image": image, "K_crop": to(K_crop), "R_crop_from_orig": to(R), "joints3d_cam": to(joints),
            "joints2d_px": to(uv), "in_crop": in_crop.to(device), "box": to(boxes), "K_orig": to(K)}


def intrinsics(poses) -> torch.Tensor:
    """(N, 3, 3) float64 pinhole K of a PoseSet's cameras."""
    return torch.from_numpy(intrinsic_matrix(poses.cam_f, poses.cam_c))


@dataclass(frozen=True)
class Crowd:
    """Training poses to draw other people from, as world poses: joints_world (N, 17, 3) mm (z up, floor z = 0),
    and each row's camera R (N, 3, 3), t (N, 3) (X_cam = R X_world + t)."""

    prob: float
    joints_world: torch.Tensor
    R: torch.Tensor
    t: torch.Tensor

    @classmethod
    def from_poses(cls, poses, cameras, prob: float) -> Crowd:
        """From a PoseSet and its calibration {(subject, camera): Camera}."""
        keys = sorted({(int(s), int(c)) for s, c in zip(poses.subject, poses.camera)})
        which = {k: i for i, k in enumerate(keys)}
        row = torch.tensor([which[(int(s), int(c))] for s, c in zip(poses.subject, poses.camera)])
        R = torch.tensor(np.stack([cameras[k].R for k in keys]))[row]
        t = torch.tensor(np.stack([cameras[k].t for k in keys]))[row]
        joints_cam = torch.as_tensor(poses.joints3d_cam, dtype=torch.float64)
        return cls(prob, (joints_cam - t[:, None]) @ R, R, t)

    def draw(self, rows: torch.Tensor, generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
        """Other people for the crops of training rows `rows` (B,): joints (B, 2, 17, 3) mm in each row's camera,
        present (B, 2) bool (nobody with probability 1 - prob, else one or two people with equal odds)."""
        from lifting.synth.scenes import place_beside

        n = len(rows)
        coin = torch.rand(n, generator=generator) < self.prob
        count = torch.where(coin, 1 + (torch.rand(n, generator=generator) < 0.5).long(), 0)
        picks = torch.randint(len(self.joints_world), (n, 2), generator=generator)
        placed = place_beside(self.joints_world[rows], self.joints_world[picks], self.R[rows], generator)
        joints = placed @ self.R[rows, None].transpose(-1, -2) + self.t[rows, None, None]
        return joints, torch.arange(2) < count[:, None]


def online_source(o: CropOptions, dist: Dist, recipe: CropRecipe = METRO_CROPS) -> CropSource:
    """Crops rendered on the training device from the PoseSet poses of the train/test subjects, cut and
    augmented by `recipe`."""
    train_poses = load_poses(o, o.train_subjects, o.stride)
    test_poses = load_poses(o, o.test_subjects, o.test_stride)
    test_poses = test_poses.subset(evenly_spaced(len(test_poses), o.max_test_crops))
    train_joints, train_K = torch.as_tensor(train_poses.joints3d_cam), intrinsics(train_poses)
    test_joints, test_K = torch.as_tensor(test_poses.joints3d_cam), intrinsics(test_poses)
    S = o.crop_size
    crowd = None
    if o.crowd_prob > 0:
        from lifting.geometry.cameras import load_h36m_cameras

        crowd = Crowd.from_poses(train_poses, load_h36m_cameras(pose_dir(o) / "cameras.h5"), o.crowd_prob)

    def batches(index_batches, epoch, step):
        for k, idx in enumerate(index_batches):
            g = seeded_generator(o.seed, dist.rank, step + k)
            # The other people come from their own stream, so the person's crop and labels do not depend on them.
            others = None if crowd is None else crowd.draw(torch.as_tensor(idx), seeded_generator(
                o.seed, dist.rank, step + k, CROWD_STREAM))
            yield render_crops(train_joints[idx], train_K[idx], S, g, dist.device, o.augment,
                               o.truncation_prob, recipe=recipe, others=others)

    def test_batches(truncated):
        bs = o.eval_batch_size
        for k, start in enumerate(range(0, len(test_poses), bs)):
            idx = slice(start, start + bs)
            g = seeded_generator(o.seed, 999_983, int(truncated), k)
            batch = render_crops(test_joints[idx], test_K[idx], S, g, dist.device, augment=False,
                                 truncate_all=truncated, recipe=recipe)
            batch["action"] = test_poses.action[idx].tolist()
            yield batch

    return CropSource(len(train_poses), batches, test_batches,
                      f"online crops of {len(train_poses)} train poses (S{o.train_subjects}), "
                      f"{len(test_poses)} test poses (S{o.test_subjects})")


class TruncatedCrops(CropDataset):
    """Test crops of an image dataset through a seeded partial-body sub-box, no other augmentation."""

    def __init__(self, images, crop_size: int, seed: int, recipe: CropRecipe = METRO_CROPS):
        super().__init__(images, crop_size, augment=False, seed=seed, recipe=recipe)

    def box(self, rec, i: int) -> torch.Tensor:
        return random_partial_box(torch.tensor(rec.bbox)[None], seeded_generator(self.seed, i))


def rendered_root(o: CropOptions, dist: Dist) -> Path:
    """The COCO-layout dataset: image_dir, or (image_dir null) one rendered once into cache_dir by rank 0 from the
    configured poses (train subjects every `stride`-th frame, test subjects every `test_stride`-th)."""
    import hashlib
    import json

    if o.image_dir is not None:
        root = Path(o.image_dir)
        if not (root / "annotations").is_dir():
            raise UserError(f"image_dir {root}: no annotations/ directory (expected a COCO-style image dataset; "
                            f"set image_dir: null to render one into cache_dir)")
        return root
    key = json.dumps([str(pose_dir(o).resolve()), o.train_subjects, o.stride, o.test_subjects,
                      o.test_stride, o.render_size])
    root = Path(o.cache_dir) / f"metro_images_{hashlib.sha256(key.encode()).hexdigest()[:16]}"
    if not (root / "annotations").is_dir():
        if dist.main:
            from lifting.datasets.samples import PoseSet
            from lifting.synth.writer import write_rendered_dataset

            poses = PoseSet.concat([load_poses(o, o.train_subjects, o.stride),
                                    load_poses(o, o.test_subjects, o.test_stride)])
            log.info("rendering %d images (%d px) into %s ...", len(poses), o.render_size, root)
            write_rendered_dataset(root, poses, image_size=o.render_size, seed=o.seed,
                                   device=str(dist.device))
        dist.barrier()
    return root


def rendered_source(o: CropOptions, dist: Dist, recipe: CropRecipe = METRO_CROPS) -> CropSource:
    """Crops of a COCO-layout image dataset (`ImageDataset` + `CropDataset`, cut and augmented by `recipe`), read
    by DataLoader workers."""
    from torch.utils.data import DataLoader, Subset

    from lifting.datasets.images import ImageDataset

    root = rendered_root(o, dist)
    S = o.crop_size
    train_set = CropDataset(ImageDataset(root, o.train_subjects), S, o.augment, o.truncation_prob,
                            seed=o.seed * 1000 + dist.rank, recipe=recipe)
    test_images = ImageDataset(root, o.test_subjects)
    test_images = Subset(test_images, evenly_spaced(len(test_images), o.max_test_crops).tolist())
    test_sets = {False: CropDataset(test_images, S, augment=False, recipe=recipe),
                 True: TruncatedCrops(test_images, S, seed=o.seed, recipe=recipe)}
    workers = o.num_workers

    def batches(index_batches, epoch, step):
        train_set.set_epoch(epoch)
        return iter(DataLoader(train_set, batch_sampler=index_batches, num_workers=workers,
                               persistent_workers=False, pin_memory=dist.device.type == "cuda"))

    def test_batches(truncated):
        return iter(DataLoader(test_sets[truncated], batch_size=o.eval_batch_size, num_workers=workers))

    return CropSource(len(train_set), batches, test_batches,
                      f"rendered images {root}: {len(train_set)} train crops (S{o.train_subjects}), "
                      f"{len(test_images)} test crops (S{o.test_subjects})")
