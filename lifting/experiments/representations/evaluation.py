"""Measurements of the representation study on its predictions files and trained lifters: the estimator's 2D and
3D against ground truth, the 2D each lifter saw, the truncated slice, LSP, and the arrays of the galleries.

Lifter runs come in as {name: (label, [run dirs, one per seed])}; numbers over seeds are means. Errors are mm
over 17 joints incl. the root (LSP: 14 joints), 2D errors px; nothing here trains or writes files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from lifting import fileio
from lifting.datasets.samples import (
    KEY_FIELDS,
    PoseSet,
    aligned_predictions,
    camera_to_image_px,
    image_to_camera_px,
    key_codes,
    match_keys,
    replace_2d_from_predictions,
)
from lifting.geometry.skeletons import H36M_17, LSP_14, convert
from lifting.metrics import evaluate_poses, mpjpe_errors, mrpe, pa_mpjpe_errors, pair_accuracy

Runs = dict[str, tuple[str, list[Path]]]


def pck(errors_px: np.ndarray, threshold: np.ndarray | float, mask: np.ndarray | None = None) -> float:
    """Fraction of joints within `threshold` px (scalar or per row (N, 1)), over `mask` if given."""
    hit = errors_px <= threshold
    return float(hit[mask].mean() if mask is not None else hit.mean()) if hit.size else float("nan")


def estimator_2d(poses: PoseSet, path: Path, pck_px: float) -> dict[str, Any]:
    """The estimator's 2D, mapped into the lifting camera (distortion included), against GT 2D: mean px and PCK."""
    err = np.linalg.norm(replace_2d_from_predictions(poses, path).joints2d_px - poses.joints2d_px, axis=-1)
    return {"error_px": float(err.mean()), "pck": pck(err, pck_px), "num_frames": len(poses)}


def estimator_3d(poses: PoseSet, path: Path) -> dict[str, Any]:
    """The estimator's own root-relative 3D against GT 3D (the 'no lifter' row), and its absolute root (MRPE)."""
    pred = aligned_predictions(poses, path, ("joints3d_rootrel", "joints3d_cam"))
    res = evaluate_poses(pred["joints3d_rootrel"], poses.joints3d_cam, poses.action)
    res.update(mrpe(pred["joints3d_cam"][:, 0], poses.joints3d_cam[:, 0]))
    return res


def input_pck(runs: list[Path], pck_px: float) -> float | None:
    """PCK of the 2D a lifter saw at test time (its runs' predictions.npz), mean over seeds."""
    values = []
    for run in runs:
        data = fileio.read_npz(run / "predictions.npz", "predictions", ("input2d_px", "gt2d_px"))
        values.append(pck(np.linalg.norm(data["input2d_px"] - data["gt2d_px"], axis=-1), pck_px))
    return float(np.mean(values)) if values else None


def slice_errors(full: np.ndarray, cut: np.ndarray, gt: np.ndarray, inside: np.ndarray) -> dict[str, float]:
    """MPJPE and PA-MPJPE of predictions from full crops and from truncated crops (over all joints and over the
    joints `inside` the truncated crop), (N, 17, 3) root-relative camera mm."""
    e, pa = mpjpe_errors(cut, gt), pa_mpjpe_errors(cut, gt)
    return {"full_mpjpe": float(mpjpe_errors(full, gt).mean()), "full_pa_mpjpe": float(pa_mpjpe_errors(full, gt).mean()),
            "mpjpe_all": float(e.mean()), "pa_mpjpe_all": float(pa.mean()),
            "mpjpe_in_crop": float(e[inside].mean()), "pa_mpjpe_in_crop": float(pa[inside].mean())}


def truncated_slice(lifters: Runs, poses: PoseSet, full_file: Path, truncated_file: Path) -> dict[str, Any]:
    """Partial-body test crops: the estimator's own 3D against `lifters` fed its 2D (mapped into the lifting
    camera), over all joints and over the joints inside the crop, beside the same frames' full crops."""
    from lifting.checkpoint import load_trained
    from lifting.datasets.normalize import Stats
    from lifting.inference.lifter import lift

    trunc = fileio.read_npz(truncated_file, "predictions", ("in_crop",))
    keys = {k: trunc[k] for k in KEY_FIELDS}
    codes, wanted = key_codes(poses.arrays(), keys)
    sub = poses.subset(np.isin(codes, wanted))
    inside = trunc["in_crop"][match_keys(sub, keys, str(truncated_file), "prediction")].astype(bool)
    gt = sub.joints3d_cam - sub.joints3d_cam[:, :1]
    crops = {"full": full_file, "truncated": truncated_file}
    pred = {k: aligned_predictions(sub, f, ("joints2d_px", "cam_f", "cam_c", "joints3d_rootrel"))
            for k, f in crops.items()}
    rows = {"estimator": {"label": "Estimator 3D", **slice_errors(pred["full"]["joints3d_rootrel"],
                                                                  pred["truncated"]["joints3d_rootrel"], gt, inside)}}
    joints2d = {k: image_to_camera_px(p["joints2d_px"], p["cam_f"], p["cam_c"], sub.cam_f, sub.cam_c, sub.cam_k,
                                      sub.cam_p).astype(np.float32) for k, p in pred.items()}
    for name, (label, runs) in lifters.items():
        seeds = []
        for run in runs:
            t = load_trained(run, "lifter")
            stats = Stats.from_dict(t.task["stats"])
            seeds.append(slice_errors(*(lift(t.model, stats, joints2d[k], H36M_17.root) for k in crops), gt, inside))
        if seeds:
            rows[name] = {"label": label, **{m: float(np.mean([s[m] for s in seeds])) for m in seeds[0]}}
    return {"num_frames": len(sub), "fraction_in_crop": float(inside.mean()), "rows": rows}


def torso_pck(est2d: np.ndarray, xy: np.ndarray, visible: np.ndarray, fraction: float = 0.2) -> dict[str, Any]:
    """2D PCK of LSP predictions against the annotations: visible joints within `fraction` of the torso diameter
    (right shoulder to left hip) of images where both are visible; and the mean px error of visible joints."""
    r_sho, l_hip = LSP_14.index("right_shoulder"), LSP_14.index("left_hip")
    torso = np.linalg.norm(xy[:, r_sho] - xy[:, l_hip], axis=-1)
    ok = visible[:, r_sho] & visible[:, l_hip] & (torso > 0)
    err = np.linalg.norm(est2d - xy, axis=-1)
    return {"pck": pck(err, fraction * torso[:, None], visible & ok[:, None]), "pck_fraction": fraction,
            "error_px": float(err[visible].mean()), "num_images_pck": int(ok.sum())}


def lsp_pairs(lsp, labels, images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The labelled pairs on `images` (indices into the LSP folder) as (position in `images`, pairs, labels),
    matched by image file name; None without labels."""
    if labels is None:
        return None
    folder = {p.name: i for i, p in enumerate(lsp.image_paths)}
    position = {int(img): k for k, img in enumerate(images)}
    image = np.array([position.get(folder.get(Path(f).name, -1), -1) for f in labels.image_files], dtype=np.int64)
    keep = image[labels.ann_image] >= 0 if len(image) else np.zeros(0, bool)
    return image[labels.ann_image[keep]], labels.ann_pairs[keep], labels.ann_labels[keep]


def lsp_study(lifters: Runs, lsp, labels, pred: dict[str, np.ndarray]) -> tuple[dict[str, Any], dict[str, Any]]:
    """LSP: the 14-joint `lifters` fed the annotated 2D and the estimator's 2D (z-scored with the statistics of the
    fully annotated poses), and the estimator's own 3D; estimator 2D PCK against the annotations, depth-order pair
    accuracy on the labelled pairs of fully annotated images. Returns (results, what the gallery draws)."""
    from lifting.checkpoint import load_trained
    from lifting.datasets.lsp import centre_on_neck
    from lifting.datasets.normalize import Stats
    from lifting.inference.lifter import predict

    xy, visible = lsp.joints2d_px.astype(np.float64), lsp.visible
    est2d = convert(pred["joints2d_px"].astype(np.float64), H36M_17.name, LSP_14.name)
    est3d = convert(pred["joints3d_rootrel"].astype(np.float64), H36M_17.name, LSP_14.name)
    complete = np.flatnonzero(visible.all(1))
    pairs = lsp_pairs(lsp, labels, complete)
    res: dict[str, Any] = {"num_images": len(lsp), "num_complete": int(len(complete)),
                           "num_pairs": 0 if pairs is None else int(len(pairs[2])),
                           "estimator_2d": torso_pck(est2d, xy, visible), "rows": {}}

    def accuracy(poses3d: list[np.ndarray]) -> float | None:
        if not res["num_pairs"]:
            return None
        return float(np.mean([pair_accuracy(p[pairs[0], :, 2], pairs[1], pairs[2]) for p in poses3d]))

    drawn: dict[str, np.ndarray] = {}
    if len(complete):
        stats = Stats.compute(centre_on_neck(xy[complete]), None)
        inputs = {"annotated": xy[complete], "estimator": est2d[complete]}
        for name, (label, runs) in lifters.items():
            models = [load_trained(run, "lifter").model for run in runs]
            for source, joints in inputs.items():
                x = torch.from_numpy(stats.standardize_2d(centre_on_neck(joints)))
                preds = [predict(model, x, 4096, "cpu") for model in models]
                if preds:
                    key = f"{name}_{source}2d"
                    res["rows"][key] = {"label": f"{label} fed {source} 2D", "pair_accuracy": accuracy(preds)}
                    drawn[key] = preds[0]
        res["rows"]["estimator"] = {"label": "Estimator 3D", "pair_accuracy": accuracy([est3d[complete]])}
        drawn["estimator"] = est3d[complete]
    return res, {"complete": complete, "pred3d": drawn, "est2d": est2d}


# ---------------------------------------------------------------------------------------------------- galleries

def square_crop(path: Path, box: np.ndarray, size: int) -> tuple[np.ndarray, np.ndarray, float]:
    """(size, size, 3) uint8 square crop around `box` [x, y, w, h] (10 % margin, black outside the image), its
    top-left corner (2,) and scale: crop px = (image px - corner) * scale."""
    from PIL import Image

    side = round(1.1 * max(box[2], box[3]))
    corner = (np.array([box[0] + box[2] / 2, box[1] + box[3] / 2]) - side / 2).round()
    with Image.open(path) as im:
        crop = im.convert("RGB").crop((int(corner[0]), int(corner[1]), int(corner[0]) + side, int(corner[1]) + side))
        return np.asarray(crop.resize((size, size), Image.BILINEAR)), corner, size / side


def gallery_frames(n: int, count: int) -> np.ndarray:
    """`count` of n frames, a fixed seeded draw (spread over subjects, actions and cameras), sorted."""
    return np.sort(np.random.default_rng(0).choice(n, min(count, n), replace=False))


def h36m_gallery(rows: list[tuple[str, str, Path | None]], dataset, image_rows: np.ndarray, poses: PoseSet,
                 test_file: Path, count: int = 4, size: int = 160) -> dict[str, np.ndarray]:
    """The same test frames in every row (name, label, its first run dir; None = the estimator itself): the image
    crop, the 2D each row saw drawn on it (crop px) and its 3D, with GT."""
    pick = gallery_frames(len(poses), count)
    sub, image = poses.subset(pick), image_rows[pick]
    crops, corners, scales = zip(*(square_crop(dataset.image_paths[r], dataset.boxes[r], size) for r in image))
    corner, scale = np.array(corners)[:, None, :], np.array(scales)[:, None, None]

    def to_crop(camera_px: np.ndarray) -> np.ndarray:
        return (camera_to_image_px(camera_px, sub.cam_f, sub.cam_c, sub.cam_k, sub.cam_p, dataset.f[image],
                                   dataset.c[image]) - corner) * scale

    in2d, pred3d = [], []
    for _, _, run in rows:
        if run is None:
            p = aligned_predictions(sub, test_file, ("joints2d_px", "joints3d_rootrel"))
            in2d.append((p["joints2d_px"] - corner) * scale)
            pred3d.append(p["joints3d_rootrel"])
        else:
            data = fileio.read_npz(run / "predictions.npz", "predictions", ("pred3d", "input2d_px") + KEY_FIELDS)
            at = match_keys(sub, {k: data[k] for k in KEY_FIELDS}, str(run / "predictions.npz"), "prediction")
            in2d.append(to_crop(data["input2d_px"][at]))
            pred3d.append(data["pred3d"][at])
    gt3d = sub.joints3d_cam - sub.joints3d_cam[:, :1]
    return {"image": np.stack(crops), "gt2d_px": to_crop(sub.joints2d_px), "gt3d": gt3d,
            "row": np.array([r[0] for r in rows]), "label": np.array([r[1] for r in rows]),
            "input2d_px": np.array(in2d), "pred3d": np.array(pred3d),
            "pa_mpjpe": np.array([pa_mpjpe_errors(p, gt3d).mean(-1) for p in pred3d]),
            **{k: sub.arrays()[k] for k in KEY_FIELDS}}


def lsp_gallery(lsp, boxes: np.ndarray, drawn: dict[str, Any], count: int = 4, size: int = 160) -> dict[str, np.ndarray]:
    """Fully annotated LSP images: crop, annotated and estimated 2D (crop px) and the 3D of every LSP row."""
    complete, pred3d = drawn["complete"], drawn["pred3d"]
    pick = gallery_frames(len(complete), count)
    images = complete[pick]
    crops = [square_crop(lsp.image_paths[i], boxes[i], size) for i in images]
    corner = np.array([c[1] for c in crops]).reshape(-1, 1, 2)
    scale = np.array([c[2] for c in crops]).reshape(-1, 1, 1)
    return {"image": np.array([c[0] for c in crops], dtype=np.uint8).reshape(-1, size, size, 3),
            "image_index": images + 1, "gt2d_px": (lsp.joints2d_px[images] - corner) * scale,
            "est2d_px": (drawn["est2d"][images] - corner) * scale, "row": np.array(list(pred3d)),
            "pred3d": np.array([p[pick] for p in pred3d.values()]).reshape(len(pred3d), len(pick), LSP_14.num_joints, 3)}
