"""Mannequin renderer: h36m_17 joints in a camera frame + intrinsics -> RGB image, depth map, body mask.

There are no real Human3.6M images here, so the image estimator trains on pictures of a wooden-mannequin-like
body posed by the 3D joints: one ellipsoid per limb segment, balls at the big joints, a chest and a pelvis
ellipsoid, head, nose (so the facing direction is visible), hands and feet. Every ellipsoid is a quadric, so
casting the rays of all pixels against all ellipsoids is two batched matmuls plus a few elementwise ops; the
nearest positive hit per pixel is the z-buffer, which makes self-occlusion exact.

Conventions. Joints: (B, 17, 3) mm, OpenCV camera frame (x right, y down, z forward). Pixels: integer
coordinates are pixel centres (OpenCV), pixel (row i, column j) sits at (x=j, y=i). The rendered camera has
**no lens distortion**: the exact 2D label of joint X is ``K X / X_z`` (see `project_joints`). Depth is the z
coordinate (mm) of the visible body surface, ``inf`` where the ray hits no body part.

Everything random is drawn from one `torch.Generator` in a fixed order, so a batch is reproducible from its
seed; the same code runs on CPU and CUDA (random numbers are drawn on the generator's device and moved).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F

from lifting.augment.shapes import shape_masks, uniform_field
from lifting.geometry.cameras import project_joints
from lifting.geometry.skeletons import H36M_17

MARKER_COLOUR = (1.0, 0.0, 1.0)
"""Colour of the debug joint markers (pure magenta, which the palettes never produce at full saturation)."""

_J = {name: i for i, name in enumerate(H36M_17.joint_names)}

_TILE = 16  # ray-casting tile side, px

# Part groups: each ellipsoid belongs to one group; a group has one colour and one texture per image.
GROUPS = ("chest", "pelvis", "skin", "left_arm", "right_arm", "left_leg", "right_leg", "left_foot", "right_foot",
          "nose")
_G = {name: i for i, name in enumerate(GROUPS)}

# Limb ellipsoids: (joint a, joint b, radius mm, group). Radii of an average adult (thigh 443 mm long).
_LIMBS = (
    ("right_hip", "right_knee", 72, "right_leg"), ("right_knee", "right_ankle", 52, "right_leg"),
    ("left_hip", "left_knee", 72, "left_leg"), ("left_knee", "left_ankle", 52, "left_leg"),
    ("right_shoulder", "right_elbow", 46, "right_arm"), ("right_elbow", "right_wrist", 38, "right_arm"),
    ("left_shoulder", "left_elbow", 46, "left_arm"), ("left_elbow", "left_wrist", 38, "left_arm"),
    ("neck", "chin", 50, "skin"),
)
# Joint balls: (joint, radius mm, group).
_BALLS = (
    ("right_knee", 54, "right_leg"), ("left_knee", 54, "left_leg"), ("right_ankle", 40, "right_leg"),
    ("left_ankle", 40, "left_leg"), ("right_elbow", 41, "right_arm"), ("left_elbow", 41, "left_arm"),
    ("right_shoulder", 56, "right_arm"), ("left_shoulder", 56, "left_arm"),
)
_OTHER_GROUPS = ("chest", "pelvis", "skin", "nose", "skin", "skin", "right_foot", "left_foot")  # see _ellipsoids
PART_GROUPS = tuple(_G[g] for g in [limb[3] for limb in _LIMBS] + [b[2] for b in _BALLS] + list(_OTHER_GROUPS))
"""Group index of every ellipsoid, in the order `mannequin_ellipsoids` returns them."""


@dataclass
class Rendering:
    """image (B, 3, H, W) in [0, 1]; depth (B, H, W) z in mm, inf off the body; mask (B, H, W) bool, body pixels
    not covered by an occluder; joints2d_px (B, 17, 2) the exact projections (the 2D labels), (B, P, 17, 2) for
    several people per image; person (B, H, W) int64, the index of the person seen at each pixel, -1 for none."""

    image: torch.Tensor
    depth: torch.Tensor
    mask: torch.Tensor
    joints2d_px: torch.Tensor
    person: torch.Tensor


def _unit(v: torch.Tensor) -> torch.Tensor:
    return v / v.norm(dim=-1, keepdim=True).clamp_min(1e-6)


def _frame(axis: torch.Tensor, ref: torch.Tensor) -> torch.Tensor:
    """(..., 3, 3) orthonormal columns (e1 along `axis`, e2 nearest to `ref`, e3 = e1 x e2)."""
    e1 = _unit(axis)
    e2 = ref - (ref * e1).sum(-1, keepdim=True) * e1
    alt = torch.cross(e1, torch.roll(e1, 1, dims=-1) + torch.tensor([0.0, 0.0, 0.3], device=e1.device), dim=-1)
    e2 = _unit(torch.where(e2.norm(dim=-1, keepdim=True) < 1e-3, alt, e2))
    return torch.stack([e1, e2, torch.cross(e1, e2, dim=-1)], dim=-1)


def mannequin_ellipsoids(joints_cam: torch.Tensor):
    """Body parts of a pose: centres (B, E, 3) mm, axes (B, E, 3, 3) (columns, orthonormal), semi-axes (B, E, 3) mm.

    The body frame (up = pelvis->neck, forward = left x up) orients torso, head, nose and feet, so a mirrored pose
    with swapped left/right labels renders as the mirror image.
    """
    j = joints_cam
    p = {name: j[:, i] for name, i in _J.items()}
    up = _unit(p["neck"] - p["mid_hip"])
    lateral = (p["left_shoulder"] - p["right_shoulder"]) + (p["left_hip"] - p["right_hip"])
    forward = torch.cross(lateral, up, dim=-1)
    fallback = torch.tensor([0.0, 0.0, -1.0], device=j.device).expand_as(forward)
    forward = _unit(torch.where(forward.norm(dim=-1, keepdim=True) < 1e-3, fallback, forward))
    centres, axes, semis = [], [], []

    def add(centre, axis, ref, semi):
        centres.append(centre)
        axes.append(_frame(axis, ref))
        semis.append(semi if torch.is_tensor(semi) else torch.tensor(semi, device=j.device, dtype=j.dtype).expand(
            j.shape[0], 3))

    for a, b, r, _ in _LIMBS:
        seg = p[b] - p[a]
        half = (0.55 * seg.norm(dim=-1)).clamp_min(r)
        add(0.5 * (p[a] + p[b]), seg, forward, torch.stack([half, torch.full_like(half, r),
                                                             torch.full_like(half, r)], -1))
    for name, r, _ in _BALLS:
        add(p[name], up, forward, (r, r, r))
    ones = torch.ones_like(up[:, 0])
    chest = p["neck"] - p["mid_spine"]
    shoulders = (p["left_shoulder"] - p["right_shoulder"]).norm(dim=-1)
    add(p["mid_spine"] + 0.45 * chest, chest, forward,
        torch.stack([0.66 * chest.norm(dim=-1), 98 * ones, 0.4 * shoulders + 28], -1))
    belly = p["mid_spine"] - p["mid_hip"]
    hips = (p["left_hip"] - p["right_hip"]).norm(dim=-1)
    add(p["mid_hip"] + 0.3 * belly, belly, forward,
        torch.stack([0.7 * belly.norm(dim=-1), 92 * ones, 0.5 * hips + 22], -1))
    head_up = p["head"] - p["chin"]
    head_centre = p["chin"] + 0.1 * head_up
    head_axes = _frame(head_up, forward)
    add(head_centre, head_up, forward, (118, 100, 84))
    add(head_centre + 96 * head_axes[..., 1] - 12 * head_axes[..., 0], forward, head_up, (30, 17, 17))
    for side in ("right", "left"):
        wrist, elbow = p[f"{side}_wrist"], p[f"{side}_elbow"]
        direction = _unit(wrist - elbow)
        add(wrist + 62 * direction, direction, forward, (78, 44, 24))
    for side in ("right", "left"):
        ankle, knee = p[f"{side}_ankle"], p[f"{side}_knee"]
        down = _unit(ankle - knee)
        toe = _unit(forward - (forward * down).sum(-1, keepdim=True) * down)
        add(ankle + 62 * toe + 34 * down, toe, down, (118, 38, 46))
    return torch.stack(centres, 1), torch.stack(axes, 1), torch.stack(semis, 1)


def _hsv_to_rgb(h: torch.Tensor, s: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """Broadcast hue (turns), saturation, value -> (..., 3) RGB."""
    k = torch.tensor([5.0, 3.0, 1.0], device=h.device)
    t = (k + 6 * h[..., None]) % 6
    return v[..., None] - v[..., None] * s[..., None] * torch.clamp(torch.minimum(t, 4 - t), 0, 1)


class _Draw:
    """Random numbers in a fixed order from one generator, delivered on the render device."""

    def __init__(self, generator: torch.Generator | None, device: torch.device):
        self.g = generator if generator is not None else torch.Generator().manual_seed(0)
        self.device = device

    def uniform(self, *shape, low=0.0, high=1.0) -> torch.Tensor:
        r = torch.rand(*shape, generator=self.g, device=self.g.device)
        return (low + (high - low) * r).to(self.device)

    def field(self, *shape) -> torch.Tensor:
        return uniform_field(self.g, shape, self.device)


def _palette(B: int, draw: _Draw) -> torch.Tensor:
    """(B, G, 3) colours: left limbs in cool hues, right limbs in warm hues, skin tones, random clothes."""
    G = len(GROUPS)
    hue = draw.uniform(B, G)
    sat = draw.uniform(B, G, low=0.35, high=0.85)
    val = draw.uniform(B, G, low=0.45, high=0.95)
    hue[:, _G["left_arm"]] = 0.5 + 0.17 * hue[:, _G["left_arm"]]
    hue[:, _G["left_leg"]] = 0.5 + 0.17 * hue[:, _G["left_leg"]]
    hue[:, _G["right_arm"]] = -0.04 + 0.14 * hue[:, _G["right_arm"]]
    hue[:, _G["right_leg"]] = -0.04 + 0.14 * hue[:, _G["right_leg"]]
    rgb = _hsv_to_rgb(hue % 1.0, sat, val)
    tone = draw.uniform(B, 1)
    skin = torch.tensor([0.96, 0.80, 0.68], device=rgb.device) * (1 - tone) + \
        torch.tensor([0.42, 0.28, 0.19], device=rgb.device) * tone
    rgb[:, _G["skin"]] = skin
    rgb[:, _G["nose"]] = 0.75 * skin
    rgb[:, _G["left_foot"]] = 0.35 * rgb[:, _G["left_leg"]]
    rgb[:, _G["right_foot"]] = 0.35 * rgb[:, _G["right_leg"]]
    return rgb


def _background(B: int, H: int, W: int, draw: _Draw, shapes: int = 6) -> torch.Tensor:
    """(B, 3, H, W): a two-colour gradient + smooth noise + random rectangles/ellipses + fine noise."""
    dev = draw.device
    y = torch.arange(H, device=dev, dtype=torch.float32)[:, None] / max(H - 1, 1)
    x = torch.arange(W, device=dev, dtype=torch.float32)[None, :] / max(W - 1, 1)
    c0, c1 = draw.uniform(B, 3, 1, 1), draw.uniform(B, 3, 1, 1)
    angle = draw.uniform(B, 1, 1, high=2 * math.pi)
    ramp = x * torch.cos(angle) + y * torch.sin(angle)
    lo = torch.cos(angle).clamp_max(0) + torch.sin(angle).clamp_max(0)
    hi = torch.cos(angle).clamp_min(0) + torch.sin(angle).clamp_min(0)
    img = c0 + (c1 - c0) * ((ramp - lo) / (hi - lo).clamp_min(1e-6))[:, None]
    blobs = F.interpolate(draw.uniform(B, 3, 6, 6) - 0.5, size=(H, W), mode="bilinear", align_corners=False)
    img = img + draw.uniform(B, 1, 1, 1, high=0.6) * blobs
    centre = draw.uniform(B, shapes, 2)
    half = draw.uniform(B, shapes, 2, low=0.04, high=0.3)
    is_ellipse = draw.uniform(B, shapes) < 0.5
    colour = draw.uniform(B, shapes, 3)
    for k, inside in enumerate(shape_masks(x, y, centre, half, is_ellipse)):
        img = torch.where(inside[:, None], colour[:, k, :, None, None], img)
    img = img + draw.uniform(B, 1, 1, 1, high=0.12) * (draw.field(B, 1, H, W) - 0.5)
    return img.clamp(0, 1)


def _occluders(img: torch.Tensor, lo: torch.Tensor, hi: torch.Tensor, prob: float, draw: _Draw, count: int = 2):
    """Paste up to `count` striped rectangles/ellipses inside the people's extent lo..hi (B, 2) px, each with
    probability `prob`.

    Returns the new image and the (B, H, W) occluded-pixel mask."""
    B, _, H, W = img.shape
    dev = img.device
    size = (hi - lo).amax(-1, keepdim=True).clamp_min(4.0)          # (B, 1)
    on = draw.uniform(B, count) < prob
    centre = lo[:, None] + draw.uniform(B, count, 2) * (hi - lo)[:, None]
    half = size[:, None] * draw.uniform(B, count, 2, low=0.05, high=0.18)
    is_ellipse = draw.uniform(B, count) < 0.5
    colour = draw.uniform(B, count, 3)
    stripe = draw.uniform(B, count, low=0.05, high=0.4)
    y = torch.arange(H, device=dev, dtype=torch.float32)[:, None]
    x = torch.arange(W, device=dev, dtype=torch.float32)[None, :]
    stripes = (torch.sin((x + y) * 0.7) > 0).float()
    mask = torch.zeros(B, H, W, dtype=torch.bool, device=dev)
    for k, inside in enumerate(shape_masks(x, y, centre, half, is_ellipse)):
        inside = inside & on[:, k, None, None]
        rgb = colour[:, k, :, None, None] * (1 - stripe[:, k, None, None, None] * stripes)
        img = torch.where(inside[:, None], rgb, img)
        mask |= inside
    return img, mask


def _markers(img: torch.Tensor, joints2d: torch.Tensor, present: torch.Tensor, radius: int) -> torch.Tensor:
    """Draw a (2r+1)^2 square of MARKER_COLOUR centred on round(joint) for every joint (B, P, 17, 2) of every
    present (B, P) person (debug/tests)."""
    B, _, H, W = img.shape
    dev = img.device
    c = torch.round(joints2d).flatten(1, 2)                                           # (B, P * 17, 2)
    on = present.repeat_interleave(joints2d.shape[2], dim=1)[..., None, None]
    y = torch.arange(H, device=dev, dtype=c.dtype)[:, None]
    x = torch.arange(W, device=dev, dtype=c.dtype)[None, :]
    hit = (((x - c[..., 0, None, None]).abs() <= radius) & ((y - c[..., 1, None, None]).abs() <= radius) & on).any(1)
    colour = torch.tensor(MARKER_COLOUR, device=dev, dtype=img.dtype)[None, :, None, None]
    return torch.where(hit[:, None], colour, img)


def ellipsoid_bounds(centres, axes, semis, K) -> torch.Tensor:
    """(B, E, 4) exact image bounding boxes (u_min, v_min, u_max, v_max) px of the projected ellipsoids.

    The outline of an ellipsoid is the conic whose dual is C* = K (U S^2 U^T - c c^T) K^T; its vertical and
    horizontal tangents give the box. Ellipsoids not entirely in front of the camera get an unbounded box."""
    shape = axes @ torch.diag_embed(semis.pow(2)) @ axes.transpose(-1, -2)               # U S^2 U^T
    Kb = K[:, None]
    C = Kb @ (shape - centres[..., :, None] * centres[..., None, :]) @ Kb.transpose(-1, -2)
    c33 = C[..., 2, 2]
    du = (C[..., 0, 2] ** 2 - C[..., 0, 0] * c33).clamp_min(0).sqrt()
    dv = (C[..., 1, 2] ** 2 - C[..., 1, 1] * c33).clamp_min(0).sqrt()
    u = torch.stack([(C[..., 0, 2] + du) / c33, (C[..., 0, 2] - du) / c33], -1)
    v = torch.stack([(C[..., 1, 2] + dv) / c33, (C[..., 1, 2] - dv) / c33], -1)
    box = torch.stack([u.amin(-1), v.amin(-1), u.amax(-1), v.amax(-1)], -1)
    in_front = centres[..., 2] - shape[..., 2, 2].sqrt() > 1.0
    unbounded = torch.tensor([-1e9, -1e9, 1e9, 1e9], device=K.device, dtype=box.dtype)
    return torch.where(in_front[..., None], box, unbounded)


def _window(bounds: torch.Tensor, H: int, W: int, tile: int):
    """Pixel window of whole tiles holding every ellipsoid of every image: origin (B, 2) px, size (h, w) (the
    same for the batch, a multiple of `tile`), and the canvas size (Hc, Wc) >= (H, W) that contains it."""
    lo = bounds[..., :2].amin(1).clamp_min(0).floor()
    hi = bounds[..., 2:].amax(1)
    hi = torch.minimum(hi, torch.tensor([W - 1.0, H - 1.0], device=hi.device)).ceil()
    hi = torch.maximum(hi, lo)
    w, h = ((hi - lo + 1).amax(0).long().tolist() if len(bounds) else [1, 1])
    w, h = tile * -(-w // tile), tile * -(-h // tile)
    Wc, Hc = max(W, w), max(H, h)
    origin = torch.minimum(lo, torch.tensor([Wc - w, Hc - h], device=lo.device, dtype=lo.dtype))
    return origin, h, w, Hc, Wc


def _cast_rays(d: torch.Tensor, q6: torch.Tensor, Qc: torch.Tensor, cQc: torch.Tensor, bounds: torch.Tensor,
               origin: torch.Tensor, h: int, w: int, tile: int):
    """Nearest hit per pixel: z depth (B, h*w), inf for a miss, and the ellipsoid index (B, h*w).

    d: (B, h, w, 3) rays of the window pixels. Each tile only tests the ellipsoids whose exact box overlaps it
    (padded to the batch's largest count), which skips most of the pixel x ellipsoid pairs."""
    B = d.shape[0]
    nty, ntx = h // tile, w // tile
    ty = origin[:, 1, None] + tile * torch.arange(nty, device=d.device)                    # (B, nty) first row
    tx = origin[:, 0, None] + tile * torch.arange(ntx, device=d.device)
    over_y = (bounds[:, None, :, 3] >= ty[..., None]) & (bounds[:, None, :, 1] <= ty[..., None] + tile - 1)
    over_x = (bounds[:, None, :, 2] >= tx[..., None]) & (bounds[:, None, :, 0] <= tx[..., None] + tile - 1)
    overlap = (over_y[:, :, None] & over_x[:, None]).view(B, nty * ntx, -1)                 # (B, T, E)
    most = max(int(overlap.sum(-1).max()), 1)
    idx = torch.argsort((~overlap).to(torch.uint8), dim=-1, stable=True)[..., :most]       # (B, T, M)
    valid = torch.gather(overlap, 2, idx)
    pick = lambda v: torch.gather(v[:, None].expand(-1, idx.shape[1], -1, -1), 2,
                                  idx[..., None].expand(-1, -1, -1, v.shape[-1]))
    rays = d.view(B, nty, tile, ntx, tile, 3).permute(0, 1, 3, 2, 4, 5).reshape(B, nty * ntx, tile * tile, 3)
    mono = torch.stack([rays[..., 0] ** 2, rays[..., 1] ** 2, rays[..., 2] ** 2, rays[..., 0] * rays[..., 1],
                        rays[..., 0] * rays[..., 2], rays[..., 1] * rays[..., 2]], -1)     # (B, T, p, 6)
    a = mono @ pick(q6).transpose(-1, -2)                                                   # (B, T, p, M)
    bh = rays @ pick(Qc).transpose(-1, -2)
    c = torch.gather(cQc[:, None].expand(-1, idx.shape[1], -1), 2, idx)[:, :, None]       # (B, T, 1, M)
    disc = bh * bh - a * c
    t = (bh - disc.clamp_min(0).sqrt()) / a
    t = torch.where((disc >= 0) & (t > 1.0) & valid[:, :, None], t, torch.full_like(t, float("inf")))
    depth, k = t.min(-1)                                                                    # z-buffer
    part = torch.gather(idx, 2, k)
    untile = lambda v: v.view(B, nty, ntx, tile, tile).permute(0, 1, 3, 2, 4).reshape(B, h * w)
    return untile(depth), untile(part)


def render_mannequin(joints_cam: torch.Tensor, K: torch.Tensor, image_size: tuple[int, int],
                     generator: torch.Generator | None = None, *, present: torch.Tensor | None = None,
                     background: bool = True, occluder_prob: float = 0.3, markers: bool = False,
                     marker_radius: int = 1) -> Rendering:
    """Render B images of one posed mannequin each, or of P mannequins each under one z-buffer (so people
    occlude each other exactly).

    joints_cam: (B, 17, 3) or (B, P, 17, 3) h36m_17 joints, mm, camera frame. present: (B, P) bool, which of the P
    slots hold a person (default all); an absent slot is not drawn but must still hold a finite pose. K: (B, 3, 3)
    or (3, 3) intrinsics (no distortion). image_size: (H, W) px. background: random backdrop if True, else black.
    occluder_prob: chance of each of two random shapes pasted over the people. markers: draw MARKER_COLOUR squares
    of half-size `marker_radius` at round(projected joint), on top of everything (debug and pixel tests).
    """
    H, W = int(image_size[0]), int(image_size[1])
    device = joints_cam.device
    single = joints_cam.dim() == 3
    joints = joints_cam.to(torch.float32)
    joints = joints[:, None] if single else joints                                  # (B, P, 17, 3)
    B, P = joints.shape[:2]
    present = torch.ones(B, P, dtype=torch.bool, device=device) if present is None else present.to(device)
    K = torch.as_tensor(K, dtype=torch.float32, device=device).expand(B, 3, 3)
    draw = _Draw(generator, device)
    centres, axes, semis = (v.view(B, -1, *v.shape[2:]) for v in mannequin_ellipsoids(joints.flatten(0, 1)))
    E = len(PART_GROUPS)
    G = len(GROUPS)
    group = (torch.arange(P, device=device)[:, None] * G + torch.tensor(PART_GROUPS, device=device)).flatten()
    drawn = present.repeat_interleave(E, dim=1)                                      # (B, P * E)

    # Quadric of every ellipsoid: (X - c)^T Q (X - c) = 1 with Q = U diag(1/s^2) U^T. A ray X = t d meets it where
    # (d^T Q d) t^2 - 2 (d^T Q c) t + c^T Q c - 1 = 0; d = K^-1 [u, v, 1] has d_z = 1, so t is the z depth.
    Q = axes @ torch.diag_embed(semis.pow(-2)) @ axes.transpose(-1, -2)          # (B, E, 3, 3)
    q6 = torch.stack([Q[..., 0, 0], Q[..., 1, 1], Q[..., 2, 2], 2 * Q[..., 0, 1], 2 * Q[..., 0, 2],
                      2 * Q[..., 1, 2]], -1)                                         # (B, E, 6)
    Qc = (Q @ centres[..., None])[..., 0]                                            # (B, E, 3)
    cQc = (Qc * centres).sum(-1) - 1                                                  # (B, E)
    nowhere = torch.tensor([1e9, 1e9, -1e9, -1e9], device=device)                    # overlaps no tile
    bounds = torch.where(drawn[..., None], ellipsoid_bounds(centres, axes, semis, K), nowhere)
    origin, h, w, Hc, Wc = _window(bounds, H, W, _TILE)
    ys = origin[:, 1, None] + torch.arange(h, device=device, dtype=torch.float32)        # (B, h)
    xs = origin[:, 0, None] + torch.arange(w, device=device, dtype=torch.float32)        # (B, w)
    uv1 = torch.stack([xs[:, None, :].expand(B, h, w), ys[:, :, None].expand(B, h, w),
                       torch.ones(B, h, w, device=device)], -1)
    d = uv1 @ torch.linalg.inv(K)[:, None].transpose(-1, -2)                         # (B, h, w, 3)
    depth_win, part = _cast_rays(d, q6, Qc, cQc, bounds, origin, h, w, _TILE)
    d = d.view(B, h * w, 3)
    hit = torch.isfinite(depth_win)

    # Shade the visible surface: Lambert with a random light from the camera side, textures in part coordinates.
    gather = lambda v: torch.gather(v, 1, part.view(B, -1, *([1] * (v.dim() - 2))).expand(-1, -1, *v.shape[2:]))
    pnt = d * depth_win.where(hit, torch.zeros_like(depth_win))[..., None]
    rel = pnt - gather(centres)
    normal = _unit((gather(Q) @ rel[..., None])[..., 0])
    local = (rel[..., None, :] @ gather(axes))[..., 0, :] / gather(semis)            # on the unit sphere
    palette = _palette(B * P, draw).view(B, P * G, 3)
    kind = (draw.uniform(B, P * G) * 3).long()                                         # plain, stripes, checker
    freq = draw.uniform(B, P * G, low=2.0, high=7.0)
    contrast = draw.uniform(B, P * G, low=0.15, high=0.45)
    light = _unit(torch.stack([draw.uniform(B, low=-1, high=1), draw.uniform(B, low=-1.2, high=0.3),
                               -torch.ones(B, device=device)], -1))
    ambient = draw.uniform(B, 1, low=0.25, high=0.45)
    g = group[part]                                                                    # (B, P)
    pick = lambda v: torch.gather(v, 1, g)
    stripes = torch.sin(math.pi * pick(freq) * local[..., 0])
    around = torch.sin(2 * torch.round(pick(freq)) * torch.atan2(local[..., 2], local[..., 1]))
    pattern = torch.where(pick(kind) == 1, stripes, stripes * around)
    modulation = 1 - pick(contrast) * (pick(kind) > 0) * (0.5 + 0.5 * torch.tanh(3 * pattern))
    albedo = torch.gather(palette, 1, g[..., None].expand(-1, -1, 3)) * modulation[..., None]
    lambert = (normal * light[:, None, :]).sum(-1).clamp_min(0)
    body = albedo * (ambient + (1 - ambient) * lambert)[..., None]                    # (B, P, 3)

    # Paste the window into full-size images.
    index = (ys.long()[:, :, None] * Wc + xs.long()[:, None, :]).view(B, h * w)
    depth = torch.full((B, Hc * Wc), float("inf"), device=device).scatter(1, index, depth_win)
    depth = depth.view(B, Hc, Wc)[:, :H, :W]
    rgb = body.where(hit[..., None], torch.zeros_like(body)).transpose(1, 2)
    body_full = torch.zeros(B, 3, Hc * Wc, device=device).scatter(2, index[:, None].expand(-1, 3, -1), rgb)
    body_full = body_full.view(B, 3, Hc, Wc)[..., :H, :W]
    who = torch.where(hit, part // E, -1)
    person = torch.full((B, Hc * Wc), -1, device=device).scatter(1, index, who).view(B, Hc, Wc)[:, :H, :W]
    mask = torch.isfinite(depth)
    back = _background(B, H, W, draw) if background else torch.zeros(B, 3, H, W, device=device)
    image = torch.where(mask[:, None], body_full, back)
    joints2d = project_joints(joints.flatten(1, 2), K).view(B, P, -1, 2)
    inf = torch.tensor(float("inf"), device=device)
    lo = torch.where(present[..., None, None], joints2d, inf).amin((1, 2))
    hi = torch.where(present[..., None, None], joints2d, -inf).amax((1, 2))
    lo, hi = torch.where(present.any(1, keepdim=True), lo, 0.0), torch.where(present.any(1, keepdim=True), hi, 0.0)
    image, occluded = _occluders(image, lo, hi, occluder_prob, draw)
    if markers:
        image = _markers(image, joints2d, present, marker_radius)
    return Rendering(image=image.clamp(0, 1), depth=depth, mask=mask & ~occluded,
                     joints2d_px=joints2d[:, 0] if single else joints2d, person=person)
