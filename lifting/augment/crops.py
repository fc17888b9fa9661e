"""Perspective-correct person crops through a virtual camera (MeTRo/MeTRAbs, spec §1.6), and their augmentation.

An affine crop of an off-centre person distorts the 3D-to-2D relation the network has to learn; instead the camera
is rotated about its optical centre to look at the box centre (`turn_towards`, no roll), zoomed so the box side
becomes `S` px, optionally rolled and mirrored, and the image is resampled with the homography
``K_crop R K_orig^-1``. The 3D targets are the joints in that virtual camera's frame.

Conventions: pixel centres at integer coordinates (OpenCV), so the crop's principal point is ((S-1)/2, (S-1)/2);
boxes are [x, y, w, h] px in the original image; joints (B, 17, 3) mm in a camera frame; ``R_crop_from_orig``
maps original-camera coordinates to crop-camera coordinates and has determinant -1 for a mirrored crop, whose
joints are additionally permuted with `H36M_17.flip_perm` so that index j is still the joint named j.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch.utils.data import Dataset

from lifting.augment.shapes import shape_masks, uniform_field
from lifting.geometry.cameras import distort_opencv, project_joints, undistort_opencv
from lifting.geometry.root_prior import process_bbox
from lifting.geometry.skeletons import H36M_17


@dataclass
class CropAugmentation:
    """Per-crop geometric augmentation (all (B,) or (B, 2) tensors): zoom factor, in-plane roll (degrees), offset
    of the box centre as a fraction of the box side (x, y), horizontal flip."""

    scale: torch.Tensor
    roll_deg: torch.Tensor
    shift: torch.Tensor
    flip: torch.Tensor

    @classmethod
    def identity(cls, n: int, device=None) -> CropAugmentation:
        return cls(torch.ones(n, device=device), torch.zeros(n, device=device), torch.zeros(n, 2, device=device),
                   torch.zeros(n, dtype=torch.bool, device=device))

    @classmethod
    def sample(cls, n: int, generator: torch.Generator | None = None, *, scale=(0.75, 1.25), roll_deg=20.0,
               shift=0.1, flip_prob=0.5, device=None) -> CropAugmentation:
        """Training augmentation of spec §1.6: zoom U(0.75, 1.25), roll U(-20, 20) deg, centre offset uniform in a
        disc of radius 10% of the box side, flip with probability 1/2."""
        u = torch.rand(n, 5, generator=generator, device=generator.device if generator else None).to(device)
        radius = shift * u[:, 2].sqrt()
        angle = 2 * math.pi * u[:, 3]
        return cls(scale[0] + (scale[1] - scale[0]) * u[:, 0], roll_deg * (2 * u[:, 1] - 1),
                   torch.stack([radius * torch.cos(angle), radius * torch.sin(angle)], -1), u[:, 4] < flip_prob)

    @classmethod
    def sample_rootnet(cls, n: int, generator: torch.Generator | None = None, *, roll_deg=30.0, roll_prob=0.6,
                       flip_prob=0.5) -> CropAugmentation:
        """RootNet's training augmentation (spec §3.5): roll N(0, 1) clipped to +-2, times 30 deg, with probability
        0.6; flip with probability 1/2; no zoom and no shift (the box, and so k, stays as it is)."""
        dev = generator.device if generator else None
        normal = torch.randn(n, generator=generator, device=dev).cpu().clamp(-2, 2)
        u = torch.rand(n, 2, generator=generator, device=dev).cpu()
        roll = torch.where(u[:, 0] < roll_prob, roll_deg * normal, torch.zeros(n))
        return cls(torch.ones(n), roll, torch.zeros(n, 2), u[:, 1] < flip_prob)


def square_box(boxes: torch.Tensor) -> torch.Tensor:
    """(B, 4) [x, y, w, h] -> the square box with the same centre and side max(w, h)."""
    side = boxes[:, 2:].amax(-1, keepdim=True)
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    return torch.cat([centre - side / 2, side, side], -1)


def random_partial_box(boxes: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Truncation sub-box of spec §1.6 (`random_partial_box`), (B, 4) -> (B, 4).

    In coordinates of the square-expanded box: x1 ~ U(0, 0.5), (x2, y2) ~ U(0.5, 1)^2, side = x2 - x1, redrawn
    until 0.5 < side < y2; the crop is the square [x1, y2 - side, side, side] (legs usually cut, sometimes head)."""
    n = boxes.shape[0]
    out = torch.zeros(n, 3, dtype=torch.float64)
    todo = torch.ones(n, dtype=torch.bool)
    while todo.any():
        u = torch.rand(n, 16, 3, generator=generator, device=generator.device if generator else None).cpu().double()
        x1, x2, y2 = 0.5 * u[..., 0], 0.5 + 0.5 * u[..., 1], 0.5 + 0.5 * u[..., 2]
        side = x2 - x1
        ok = (side > 0.5) & (side < y2)
        first = torch.argmax(ok.int(), dim=1)
        found = ok.any(1) & todo
        pick = torch.stack([x1, y2 - side, side], -1)[torch.arange(n), first]
        out[found] = pick[found]
        todo &= ~found
    sq = square_box(boxes)
    rel = out.to(boxes)
    return torch.cat([sq[:, :2] + rel[:, :2] * sq[:, 2:3], rel[:, 2:3] * sq[:, 2:3], rel[:, 2:3] * sq[:, 2:3]], -1)


def turn_towards(K: torch.Tensor, points_px: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) rotation (original camera -> new camera) whose optical axis passes through `points_px` (B, 2),
    with no roll: the new x axis is z x up, up = the original camera's -y."""
    ray = torch.cat([points_px, torch.ones_like(points_px[:, :1])], -1)[..., None]
    z = F.normalize((torch.linalg.inv(K) @ ray)[..., 0], dim=-1)
    up = torch.tensor([0.0, -1.0, 0.0], dtype=K.dtype, device=K.device).expand_as(z)
    x = F.normalize(torch.cross(z, up, dim=-1), dim=-1)
    y = torch.cross(z, x, dim=-1)
    return torch.stack([x, y, z], 1)


def crop_camera(K: torch.Tensor, boxes: torch.Tensor, crop_size: int, aug: CropAugmentation | None = None):
    """Virtual crop camera: (K_crop (B, 3, 3), R_crop_from_orig (B, 3, 3)).

    The camera turns to the (shifted) box centre, its focal length makes the larger of the box's vertical and
    horizontal spans (between side midpoints, seen from the turned camera) `crop_size` * scale px, the principal
    point is the crop centre; then roll, then an optional mirror (diag(-1, 1, 1)). Render directly into crop space
    with K_crop and the joints returned by `to_crop_frame`, or resample an image with `warp_to_crop`.
    """
    K = K.to(torch.float64)
    boxes = boxes.to(K)
    n = boxes.shape[0]
    aug = aug if aug is not None else CropAugmentation.identity(n)
    side = boxes[:, 2:].amax(-1, keepdim=True)
    centre = boxes[:, :2] + boxes[:, 2:] / 2
    R_turn = turn_towards(K, centre + aug.shift.to(K) * side)
    x0, y0, w, h = boxes.unbind(-1)
    cx, cy = x0 + w / 2, y0 + h / 2
    mids = torch.stack([torch.stack([cx, y0], -1), torch.stack([cx, y0 + h], -1),
                        torch.stack([x0, cy], -1), torch.stack([x0 + w, cy], -1)], 1)      # (B, 4, 2)
    rays = torch.cat([mids, torch.ones_like(mids[..., :1])], -1) @ torch.linalg.inv(K).transpose(1, 2)
    rays = rays @ R_turn.transpose(1, 2)
    xy = rays[..., :2] / rays[..., 2:]
    span = torch.maximum((xy[:, 0] - xy[:, 1]).norm(dim=-1), (xy[:, 2] - xy[:, 3]).norm(dim=-1))
    focal = aug.scale.to(K) * crop_size / span
    K_crop = torch.zeros_like(K)
    K_crop[:, 0, 0] = focal
    K_crop[:, 1, 1] = focal
    K_crop[:, :2, 2] = (crop_size - 1) / 2
    K_crop[:, 2, 2] = 1
    a = torch.deg2rad(aug.roll_deg.to(K))
    R_roll = torch.zeros_like(K)
    R_roll[:, 0, 0], R_roll[:, 0, 1], R_roll[:, 1, 0], R_roll[:, 1, 1] = a.cos(), -a.sin(), a.sin(), a.cos()
    R_roll[:, 2, 2] = 1
    mirror = torch.ones(n, 3, dtype=K.dtype, device=K.device)
    mirror[:, 0] = torch.where(aug.flip.to(K.device), -1.0, 1.0)
    return K_crop, torch.diag_embed(mirror) @ R_roll @ R_turn


def to_crop_frame(joints_cam: torch.Tensor, R_crop_from_orig: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """(B, J, 3) original camera mm -> crop camera mm; mirrored crops get their left/right joints swapped."""
    out = joints_cam @ R_crop_from_orig.transpose(1, 2).to(joints_cam)
    perm = torch.tensor(H36M_17.flip_perm, device=out.device)
    return torch.where(flip.to(out.device)[:, None, None], out[:, perm], out)


def to_original_frame(joints_crop: torch.Tensor, R_crop_from_orig: torch.Tensor, flip: torch.Tensor) -> torch.Tensor:
    """Inverse of `to_crop_frame`: crop camera mm (e.g. predictions) -> original camera mm."""
    perm = torch.tensor(H36M_17.flip_perm, device=joints_crop.device)
    joints = torch.where(flip.to(joints_crop.device)[:, None, None], joints_crop[:, perm], joints_crop)
    return joints @ R_crop_from_orig.to(joints)


def crop_homography(K: torch.Tensor, K_crop: torch.Tensor, R_crop_from_orig: torch.Tensor) -> torch.Tensor:
    """(B, 3, 3) map from original pixels to crop pixels (homogeneous): K_crop R K^-1."""
    return K_crop.double() @ R_crop_from_orig.double() @ torch.linalg.inv(K.double())


def warp_to_crop(images: torch.Tensor, K: torch.Tensor, K_crop: torch.Tensor, R_crop_from_orig: torch.Tensor,
                 crop_size: int, distortion: torch.Tensor | None = None) -> torch.Tensor:
    """(B, C, H, W) -> (B, C, S, S) by sampling the original image bilinearly where each crop pixel's ray meets it:
    at H^-1 (crop pixel) without distortion, through the lens distortion with it; zero fill.

    distortion: (B, 5) OpenCV k1, k2, p1, p2, k3 of the original camera, so the crop is the undistorted pinhole
    view: the warp samples the distorted image at the distorted positions of the crop's rays. Rays beyond 1.2 x the
    largest undistorted radius of the image border are left empty (distortion polynomials fold back out there).
    No anti-aliasing: keep the crop zoom >= ~0.5 (see `lifting.augment.warp.crop_images` for a pyramid)."""
    B, _, H, W = images.shape
    S = crop_size
    dev = images.device
    inv = torch.linalg.inv(crop_homography(K, K_crop, R_crop_from_orig)).to(dev)
    r = torch.arange(S, dtype=torch.float64, device=dev)
    grid = torch.stack([r[None, :].expand(S, S), r[:, None].expand(S, S), torch.ones(S, S, dtype=r.dtype,
                                                                                      device=dev)], -1)
    src = grid.view(1, S * S, 3) @ inv.transpose(1, 2)                                   # (B, S*S, 3)
    z = src[..., 2:]
    ahead = z > 1e-9
    px = src[..., :2] / torch.where(ahead, z, torch.full_like(z, 1e-9))
    if distortion is not None:
        K, coeffs = K.double().to(dev), distortion.double().to(dev)
        xy = torch.cat([px, torch.ones_like(px[..., :1])], -1) @ torch.linalg.inv(K).transpose(1, 2)
        xy = xy[..., :2]
        ahead = ahead & (xy.square().sum(-1, keepdim=True) <= 1.44 * _border_radius2(K, coeffs, W, H)[:, None, None])
        px = distort_opencv(xy, coeffs) @ K[:, :2, :2].transpose(1, 2) + K[:, None, :2, 2]
    size = torch.tensor([W, H], dtype=px.dtype, device=dev)
    norm = (2 * px + 1) / size - 1
    norm = torch.where(ahead, norm, torch.full_like(norm, 3.0))                           # behind: outside
    return F.grid_sample(images, norm.view(B, S, S, 2).to(images.dtype), mode="bilinear", padding_mode="zeros",
                         align_corners=False)


def _border_radius2(K: torch.Tensor, coeffs: torch.Tensor, W: int, H: int) -> torch.Tensor:
    """(B,) largest squared radius of the undistorted normalised positions of the image's corners and side
    midpoints."""
    u = torch.tensor([-0.5, (W - 1) / 2, W - 0.5], dtype=K.dtype, device=K.device)
    v = torch.tensor([-0.5, (H - 1) / 2, H - 0.5], dtype=K.dtype, device=K.device)
    border = torch.stack(torch.meshgrid(u, v, indexing="xy"), -1).reshape(1, 9, 2)
    hom = torch.cat([border, torch.ones_like(border[..., :1])], -1).expand(len(K), 9, 3)
    xy = (hom @ torch.linalg.inv(K).transpose(1, 2))[..., :2]
    return undistort_opencv(xy, coeffs).square().sum(-1).amax(-1)


_YIQ = torch.tensor([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]], dtype=torch.float64)


def color_jitter_matrices(brightness, contrast, saturation, hue_deg, order) -> torch.Tensor:
    """(B, 4, 4) homogeneous colour transforms: the four jitter operations of spec §1.6 applied in `order`
    ((B, 4) permutation of 0 brightness, 1 contrast, 2 saturation, 3 hue). brightness: added; contrast: scaled
    about 0.5; saturation: mixed with luminance; hue: rotation in the YIQ chroma plane (keeps luminance)."""
    n = brightness.shape[0]
    eye = torch.eye(4, dtype=torch.float64).expand(n, 4, 4)
    b = eye.clone()
    b[:, :3, 3] = brightness.double()[:, None]
    c = eye.clone()
    c[:, :3, :3] *= contrast.double()[:, None, None]
    c[:, :3, 3] = (0.5 * (1 - contrast.double()))[:, None]
    s = eye.clone()
    lum = _YIQ[0].expand(n, 1, 3)
    sat = saturation.double()[:, None, None]
    s[:, :3, :3] = sat * torch.eye(3, dtype=torch.float64) + (1 - sat) * torch.ones(n, 3, 1, dtype=torch.float64) @ lum
    h = eye.clone()
    a = torch.deg2rad(hue_deg.double())
    rot = torch.zeros(n, 3, 3, dtype=torch.float64)
    rot[:, 0, 0] = 1
    rot[:, 1, 1], rot[:, 1, 2], rot[:, 2, 1], rot[:, 2, 2] = a.cos(), -a.sin(), a.sin(), a.cos()
    h[:, :3, :3] = torch.linalg.inv(_YIQ) @ rot @ _YIQ
    ops = torch.stack([b, c, s, h], 1)                                                   # (B, 4, 4, 4)
    total = eye.clone()
    for k in range(4):
        total = ops[torch.arange(n), order[:, k]] @ total
    return total


def apply_color_matrices(images: torch.Tensor, matrices: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) -> colour-transformed and clipped to [0, 1]."""
    m = matrices.to(images)
    return (torch.einsum("bij,bjhw->bihw", m[:, :3, :3], images) + m[:, :3, 3, None, None]).clamp(0, 1)


def augment_appearance(images: torch.Tensor, generator: torch.Generator | None = None, *,
                       occlusion_prob: float = 0.7, erase_prob: float = 0.7, max_occluders: int = 7) -> torch.Tensor:
    """Spec §1.6 `augment_appearance` on crops (B, 3, S, S) in [0, 1]. Half the crops: random striped shapes
    pasted (prob 0.7, 1-7 of them; synthetic stand-ins for the VOC objects) then colour jitter; the other half:
    colour jitter then (prob 0.7) one rectangle of uniform noise, area U(0, 1/3) * 0.8 S^2, aspect U(0.3, 1/0.3),
    fully inside."""
    B, _, H, W = images.shape
    dev = images.device
    if generator is None:                              # follow the global seed (torch.manual_seed)
        generator = torch.Generator().manual_seed(int(torch.randint(0, 2 ** 62, (1,))))
    cpu = lambda *shape: torch.rand(*shape, generator=generator, device=generator.device).to(dev)
    u = cpu(B, 12)
    occlude_mode = u[:, 0] < 0.5
    paste = occlude_mode & (u[:, 1] < occlusion_prob)
    count = 1 + (u[:, 2] * max_occluders).long().clamp_max(max_occluders - 1)
    centre = cpu(B, max_occluders, 2) * torch.tensor([W, H], device=dev)
    half = cpu(B, max_occluders, 2) * 0.8 * 0.25 * min(H, W) * (0.2 + 0.8 * cpu(B, max_occluders, 1))
    is_ellipse = cpu(B, max_occluders) < 0.5
    colour = cpu(B, max_occluders, 3)
    y = torch.arange(H, device=dev, dtype=torch.float32)[:, None]
    x = torch.arange(W, device=dev, dtype=torch.float32)[None, :]
    stripes = (torch.sin((x + y) * 0.5) > 0).float()
    out = images
    for k, inside in enumerate(shape_masks(x, y, centre, half, is_ellipse)):
        inside = inside & (paste & (k < count))[:, None, None]
        out = torch.where(inside[:, None], colour[:, k, :, None, None] * (1 - 0.3 * stripes), out)
    order = torch.argsort(u[:, 3:7].cpu(), dim=1)
    matrices = color_jitter_matrices(0.125 * (2 * u[:, 7] - 1).cpu(), (0.5 + u[:, 8]).cpu(), (0.5 + u[:, 9]).cpu(),
                                     (72 * (2 * u[:, 10] - 1)).cpu(), order)
    out = apply_color_matrices(out, matrices)
    erase = ~occlude_mode & (u[:, 11] < erase_prob)
    v = cpu(B, 4)
    area = v[:, 0] / 3 * 0.8 * H * W
    aspect = 0.3 + (1 / 0.3 - 0.3) * v[:, 1]
    eh = (area * aspect).sqrt().clamp_max(H)
    ew = (area / aspect).sqrt().clamp_max(W)
    ey, ex = v[:, 2] * (H - eh), v[:, 3] * (W - ew)
    rect = ((x >= ex[:, None, None]) & (x < (ex + ew)[:, None, None]) & (y >= ey[:, None, None])
            & (y < (ey + eh)[:, None, None]) & erase[:, None, None])
    return torch.where(rect[:, None], uniform_field(generator, (B, 3, H, W), dev), out)


def scale_channels(images: torch.Tensor, generator: torch.Generator | None = None, low: float = 0.8,
                   high: float = 1.2) -> torch.Tensor:
    """RootNet's colour augmentation (spec §3.5): every channel of every crop (B, 3, S, S) in [0, 1] times its own
    U(low, high), clipped to [0, 1]."""
    u = torch.rand(images.shape[0], 3, generator=generator, device=generator.device if generator else None)
    return (images * (low + (high - low) * u.to(images))[..., None, None]).clamp(0, 1)


@dataclass(frozen=True)
class CropRecipe:
    """How a model's crops are cut and augmented. `box`: (person boxes (B, 4) px, image sizes (B, 2) [W, H] or None
    when there is no image border) -> the box the crop camera frames; `geometry`: (n, generator) -> training
    `CropAugmentation`; `appearance`: (crops, generator) -> augmented crops."""

    box: Callable[[torch.Tensor, torch.Tensor | None], torch.Tensor]
    geometry: Callable[..., CropAugmentation]
    appearance: Callable[[torch.Tensor, torch.Generator | None], torch.Tensor]


def person_box(boxes: torch.Tensor, image_wh: torch.Tensor | None) -> torch.Tensor:
    """The person box as it is (MeTRo frames the box itself; a module function, so datasets pickle)."""
    return boxes


METRO_CROPS = CropRecipe(person_box, CropAugmentation.sample, augment_appearance)
"""MeTRo/MeTRAbs (spec §1.6): the person box as it is; zoom/roll/shift/flip; occluders, colour jitter, erasing."""
ROOTNET_CROPS = CropRecipe(process_bbox, CropAugmentation.sample_rootnet, scale_channels)
"""RootNet (spec §3.5): the processed box (clipped, square, x1.25); roll and flip; per-channel colour scale."""


def make_crops(images: torch.Tensor, K_orig: torch.Tensor, boxes: torch.Tensor, joints3d_cam: torch.Tensor,
               crop_size: int, augment: bool, generator: torch.Generator | None = None, *,
               truncation_prob: float = 0.0, aug: CropAugmentation | None = None,
               recipe: CropRecipe = METRO_CROPS) -> dict[str, torch.Tensor]:
    """Batched crops on any device. images (B, 3, H, W) [0, 1]; K_orig (B, 3, 3); boxes (B, 4); joints3d_cam
    (B, 17, 3) mm in the original camera. A partial-body sub-box with `truncation_prob` (whether or not
    `augment`), then the recipe's box; with `augment`: the recipe's random geometry (unless `aug` is given) and
    appearance augmentation.

    Returns image (B, 3, S, S), K_crop, R_crop_from_orig (B, 3, 3), joints3d_cam (B, 17, 3) crop frame mm,
    joints2d_px (B, 17, 2) crop px, in_crop (B, 17) bool (inside the crop and in front), flipped (B,) bool,
    box (B, 4) the box the crop frames (after truncation and the recipe), K_orig (B, 3, 3).
    """
    n = images.shape[0]
    dev = images.device
    boxes = boxes.to(torch.float64).cpu()
    if truncation_prob > 0:
        coin = torch.rand(n, generator=generator, device=generator.device if generator else None).cpu()
        boxes = torch.where((coin < truncation_prob)[:, None], random_partial_box(boxes, generator), boxes)
    boxes = recipe.box(boxes, torch.tensor([[images.shape[-1], images.shape[-2]]], dtype=torch.float64).expand(n, 2))
    if aug is None:
        aug = recipe.geometry(n, generator) if augment else CropAugmentation.identity(n)
    aug = CropAugmentation(aug.scale.cpu(), aug.roll_deg.cpu(), aug.shift.cpu(), aug.flip.cpu())
    K_crop, R = crop_camera(K_orig.cpu(), boxes, crop_size, aug)
    crops = warp_to_crop(images, K_orig.to(dev), K_crop.to(dev), R.to(dev), crop_size)
    if augment:
        crops = recipe.appearance(crops, generator)
    joints = to_crop_frame(joints3d_cam.to(torch.float64).cpu(), R, aug.flip)
    uv = project_joints(joints, K_crop)
    lim = crop_size - 0.5
    in_crop = (joints[..., 2] > 0) & (uv >= -0.5).all(-1) & (uv <= lim).all(-1)
    to = lambda t: t.to(device=dev, dtype=torch.float32)
    return {"image": crops, "K_crop": to(K_crop), "R_crop_from_orig": to(R), "joints3d_cam": to(joints),
            "joints2d_px": to(uv), "in_crop": in_crop.to(dev), "flipped": aug.flip.to(dev), "box": to(boxes),
            "K_orig": to(K_orig)}


def seeded_generator(*seeds: int) -> torch.Generator:
    """A CPU generator whose state is a hash of the integers, so each (run, epoch, item) gets its own stream."""
    state = np.random.SeedSequence([int(x) for x in seeds]).generate_state(2)
    return torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))


class CropDataset(Dataset):
    """Crops of an `ImageDataset`: each item is the `make_crops` dict of one sample (without the batch axis) plus
    its keys (subject, action, subaction, camera, frame, index) and K_orig. Augmentation is reproducible: item i in
    epoch e uses a generator seeded from (seed, e, i); call `set_epoch` each epoch. `recipe`: see `make_crops`."""

    def __init__(self, image_dataset, crop_size: int, augment: bool, truncation_prob: float = 0.0, seed: int = 0,
                 recipe: CropRecipe = METRO_CROPS):
        self.images = image_dataset
        self.recipe = recipe
        self.crop_size = int(crop_size)
        self.augment = bool(augment)
        self.truncation_prob = float(truncation_prob)
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def box(self, rec, i: int) -> torch.Tensor:
        """(1, 4) person box [x, y, w, h] px of item i."""
        return torch.tensor(rec.bbox)[None]

    def __getitem__(self, i: int) -> dict:
        from lifting.datasets.images import read_image

        rec = self.images[i]
        image = read_image(rec.image_path)[None]
        K = torch.tensor(rec.K)[None]
        out = make_crops(image, K, self.box(rec, i), torch.tensor(rec.joints3d_cam)[None], self.crop_size,
                         self.augment, seeded_generator(self.seed, self.epoch, i), truncation_prob=self.truncation_prob,
                         recipe=self.recipe)
        item = {k: v[0] for k, v in out.items()}
        item.update(subject=rec.subject, action=rec.action, subaction=rec.subaction,
                    camera=rec.camera, frame=rec.frame, index=int(i))
        return item
