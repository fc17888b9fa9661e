"""Rendered image datasets: the mannequin posed by a pose set, written in the parsed-Human3.6M COCO layout
that `lifting.datasets.images.ImageDataset` reads, or in the Leeds Sports Pose layout that
`lifting.datasets.lsp.read_lsp_images` reads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from lifting import fileio
from lifting.datasets.h36m import ACTIONS
from lifting.datasets.images import annotation_paths, image_file_name, write_jpeg
from lifting.errors import UserError
from lifting.geometry.cameras import Camera, camera_to_world, h36m_cameras, intrinsic_matrix
from lifting.geometry.skeletons import H36M_17, LSP_14, convert
from lifting.synth.render import render_mannequin


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


def lsp_framing(joints_cam: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """LSP-like photos of (N, 17, 3) camera-frame poses: (joints_cam (N, 17, 3) mm, K (N, 3, 3), size (N, 2) = (W, H)).

    Each pose keeps its viewing direction but slides along its root ray until it spans 55-80 % of the shorter side
    of a random 240-400 px image seen with a random 45-65 degree field of view; the principal point is put wherever
    the person then fits with a margin, as in a photo cropped around its subject, so neither the field of view nor
    the principal point is what an estimator without intrinsics assumes.
    """
    n = len(joints_cam)
    size = rng.integers(240, 401, (n, 2)).astype(np.float64)
    f = size.max(1) / (2 * np.tan(np.deg2rad(rng.uniform(45.0, 65.0, n)) / 2))
    rel = joints_cam - joints_cam[:, :1]
    extent = (rel[..., :2].max(1) - rel[..., :2].min(1)).max(1)
    depth = f * extent / (rng.uniform(0.55, 0.8, n) * size.min(1))
    ray = joints_cam[:, 0] / joints_cam[:, 0, 2:3]
    moved = rel + (ray * depth[:, None])[:, None, :]
    uv = f[:, None, None] * moved[..., :2] / moved[..., 2:3]
    margin = 0.04 * size.min(1, keepdims=True)
    low, high = margin - uv.min(1), size - margin - uv.max(1)
    c = np.where(high > low, low + rng.random((n, 2)) * (high - low), (low + high) / 2)
    K = intrinsic_matrix(np.stack([f, f], 1), c)
    return moved, K, size.astype(np.int64)


def write_rendered_lsp(root: str | Path, joints_cam: np.ndarray, seed: int = 0, *, occluder_prob: float = 0.3,
                       pairs_per_image: int = 5, jpeg_quality: int = 90,
                       progress: Callable[[int], None] | None = None) -> int:
    """Render one LSP-like photo per (N, 17, 3) camera-frame pose (`lsp_framing`) and write the LSP layout:
    `images/im%04d.jpg`, `joints.mat` (3 x 14 x N, the original LSP layout: x, y, flag with 0 = visible, 1 = outside
    the image) and `relative_depth_lsp_v1.json` (`pairs_per_image` depth-order labels per image from the true depths,
    every image a test image). Annotations are written last. Returns N."""
    from scipy.io import savemat

    from lifting.datasets.lsp import RELATIVE_DEPTH_FILE, write_relative_depth_json

    root = Path(root)
    n = len(joints_cam)
    if not 0 < n <= 9999:
        raise UserError(f"an LSP-layout set holds 1..9999 images (im0001 ... im9999), got {n} poses")
    rng = np.random.default_rng(seed)
    moved, K, size = lsp_framing(np.asarray(joints_cam, np.float64), rng)
    generator = torch.Generator().manual_seed(seed)
    joints2d = np.zeros((n, LSP_14.num_joints, 2))
    for i in range(n):
        w, h = (int(v) for v in size[i])
        out = render_mannequin(torch.tensor(moved[i:i + 1], dtype=torch.float32), torch.tensor(K[i:i + 1]),
                               (h, w), generator, occluder_prob=occluder_prob)
        write_jpeg(root / "images" / f"im{i + 1:04d}.jpg", (out.image[0] * 255).round().to(torch.uint8),
                   jpeg_quality)
        joints2d[i] = convert(out.joints2d_px[0].double().numpy(), H36M_17.name, LSP_14.name)
        if progress is not None:
            progress(1)
    inside = (joints2d >= 0).all(-1) & (joints2d <= size[:, None, :] - 1).all(-1)
    flags = np.concatenate([joints2d, (~inside)[..., None].astype(np.float64)], -1)      # (N, 14, 3)

    def write_mat(tmp: str) -> None:
        with open(tmp, "wb") as f:
            savemat(f, {"joints": flags.transpose(2, 1, 0)})

    write_relative_depth_json(root / RELATIVE_DEPTH_FILE, joints2d, convert(moved, H36M_17.name, LSP_14.name),
                              np.zeros(n, bool), pairs_per_image=pairs_per_image, seed=seed)
    fileio.atomic_write(root / "joints.mat", write_mat)
    return n


def write_scene_dataset(root: str | Path, name: str, pool, count: int, options, seed: int = 0, *,
                        batch_size: int = 16, device: str = "cpu", jpeg_quality: int = 90,
                        progress: Callable[[int], None] | None = None) -> tuple[int, int]:
    """Render `count` multi-person scenes (`lifting.synth.scenes`, people drawn from the `PosePool` `pool` with
    `SceneOptions` `options`) into `images/<name>/` and `annotations/<name>.json`, the layout
    `lifting.datasets.scenes.SceneDataset` reads: one annotation per person with a body pixel in view. The
    annotation file is written last and atomically. Returns (images, people) written."""
    from lifting.synth.scenes import render_scenes, sample_scenes

    root = Path(root)
    rng, generator = np.random.default_rng(seed), torch.Generator().manual_seed(seed)
    images, annotations = [], []
    for start in range(0, count, batch_size):
        scenes = sample_scenes(pool, min(batch_size, count - start), options, rng)
        out = render_scenes(scenes, generator, device)
        pixels = (out.image * 255).round().to(torch.uint8).cpu()
        for b in range(len(pixels)):
            image_id = start + b
            file_name = f"{name}/scene_{image_id:06d}.jpg"
            write_jpeg(root / "images" / file_name, pixels[b], jpeg_quality)
            K = scenes.K[b]
            images.append({"id": image_id, "file_name": file_name, "width": scenes.width, "height": scenes.height,
                           "f": K[[0, 1], [0, 1]].tolist(), "c": K[:2, 2].tolist(), "R": scenes.R[b].tolist(),
                           "t": scenes.t[b].tolist()})
            for p in np.flatnonzero(out.in_view[b].numpy()):
                x0, y0, x1, y1 = (round(float(v), 2) for v in out.boxes[b, p])
                row = int(scenes.pose_index[b, p])
                annotations.append({
                    "id": len(annotations), "image_id": image_id, "bbox": [x0, y0, round(x1 - x0, 2),
                                                                            round(y1 - y0, 2)],
                    "keypoints_cam": np.round(scenes.joints_cam[b, p], 3).tolist(),
                    "keypoints_img": np.round(out.joints2d_px[b, p].double().numpy(), 3).tolist(),
                    "keypoints_vis": out.joint_visible[b, p].tolist(),
                    "subject": int(pool.subject[row]), "action_idx": int(pool.action[row]),
                    "subaction_idx": int(pool.subaction[row]), "frame_idx": int(pool.frame[row])})
        if progress is not None:
            progress(len(pixels))
    fileio.write_json(root / "annotations" / f"{name}.json", {"images": images, "annotations": annotations})
    return len(images), len(annotations)
