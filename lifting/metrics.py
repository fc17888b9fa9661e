"""Pose metrics (numpy, float64): MPJPE, MPJVE, N-MPJPE, PA-MPJPE, 3DPCK/AUC, MRPE (also per true-depth bin), AP_root,
absolute-pose metrics (A-MPJPE, APCK), pair accuracy, per-action tables; and those of several people per image:
person detection AP (COCO) and the MuPoTS-style whole-image metrics.

All poses are `(N, J, 3)` in mm in the same frame (camera or root-relative camera). Headline numbers
are action-wise means (mean of per-action means); frame-wise means are stored alongside.

Several people per image (the MuPoTS-3D way): predictions are matched to the ground-truth people by 2D; a
ground-truth person left unmatched is missed (every joint wrong), a prediction left unmatched is a false alarm (it
only costs AP_root). People with too few visible joints are ignore regions, for the detection AP as for the pose
metrics: neither counted nor missed, and predictions matched to them are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lifting.errors import UserError


def _f64(x) -> np.ndarray:
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x, dtype=np.float64)


def root_relative(joints: np.ndarray, root: int = 0) -> np.ndarray:
    """(N, J, 3) -> (N, J, 3) with the root joint at the origin."""
    joints = _f64(joints)
    return joints - joints[..., root:root + 1, :]


def joint_errors(pred, gt) -> np.ndarray:
    """(N, J, 3), (N, J, 3) -> (N, J) Euclidean distance, no alignment."""
    return np.linalg.norm(_f64(pred) - _f64(gt), axis=-1)


def mpjpe_errors(pred, gt, root: int = 0) -> np.ndarray:
    """(N, J) per-joint errors after root alignment (the root's own error is 0)."""
    return joint_errors(root_relative(pred, root), root_relative(gt, root))


def mpjve_errors(pred, gt) -> np.ndarray:
    """Per-joint velocity errors (T-1, J) mm/frame of the sequences `pred, gt (T, J, 3)` mm:
    |(p[t+1]-p[t]) - (g[t+1]-g[t])|, NaN where either frame is missing. MPJVE (VideoPose3D's mean per-joint
    velocity error, the measure of jitter) is their mean."""
    p, g = _f64(pred), _f64(gt)
    if p.shape != g.shape or p.ndim != 3:
        raise UserError(f"mpjve: expected pred and gt of one shape (T, J, 3), got {p.shape} and {g.shape}")
    return np.linalg.norm(np.diff(p, axis=0) - np.diff(g, axis=0), axis=-1)


def scale_align(pred, gt, root: int = 0) -> np.ndarray:
    """Root-centre both poses and rescale `pred` by the least-squares optimal scale (N-MPJPE)."""
    p, g = root_relative(pred, root), root_relative(gt, root)
    num = np.sum(p * g, axis=(-1, -2))
    den = np.maximum(np.sum(p * p, axis=(-1, -2)), 1e-12)
    return p * (num / den)[..., None, None]


def n_mpjpe_errors(pred, gt, root: int = 0) -> np.ndarray:
    """(N, J) errors after optimal-scale alignment of root-centred poses."""
    return joint_errors(scale_align(pred, gt, root), root_relative(gt, root))


def procrustes_align(pred, gt, scale: bool = True) -> np.ndarray:
    """Per-frame similarity transform of `pred` onto `gt` minimising squared error; proper rotations only.

    (N, J, 3), (N, J, 3) -> (N, J, 3). If the best orthogonal map is a reflection, the last singular
    direction is flipped (and the scale corrected) so the result is a rotation.
    """
    p, g = _f64(pred), _f64(gt)
    mu_p, mu_g = p.mean(-2, keepdims=True), g.mean(-2, keepdims=True)
    p0, g0 = p - mu_p, g - mu_g
    h = np.swapaxes(p0, -1, -2) @ g0                       # (N, 3, 3) cross-covariance
    u, s, vt = np.linalg.svd(h)
    d = np.sign(np.linalg.det(u @ vt))
    d = np.where(d == 0, 1.0, d)
    s[..., -1] *= d
    u[..., :, -1] *= d[..., None]
    rot = u @ vt                                            # row-vector convention: p0 @ rot ~ g0
    if scale:
        norm = np.maximum(np.sum(p0 * p0, axis=(-1, -2)), 1e-12)
        b = s.sum(-1) / norm
    else:
        b = np.ones(p.shape[:-2])
    return b[..., None, None] * (p0 @ rot) + mu_g


def pa_mpjpe_errors(pred, gt) -> np.ndarray:
    """(N, J) errors after per-frame similarity Procrustes alignment."""
    return joint_errors(procrustes_align(pred, gt), gt)


def pck(errors, threshold: float = 150.0) -> float:
    """Percentage of joint errors below `threshold` mm."""
    return float(100.0 * np.mean(_f64(errors) < threshold))


def auc(errors, max_threshold: float = 150.0, step: float = 5.0) -> float:
    """Mean PCK (in %) over thresholds 0, 5, ..., 150 mm (31 values, the 3DHP convention)."""
    e = _f64(errors)
    thresholds = np.arange(0.0, max_threshold + step / 2, step)
    return float(np.mean([100.0 * np.mean(e < t) for t in thresholds]))


def mrpe(pred_root, gt_root) -> dict[str, float]:
    """Mean root position error of (N, 3) absolute roots (mm): total and per axis."""
    d = _f64(pred_root) - _f64(gt_root)
    return {"mrpe": float(np.linalg.norm(d, axis=-1).mean()),
            "mrpe_x": float(np.abs(d[:, 0]).mean()),
            "mrpe_y": float(np.abs(d[:, 1]).mean()),
            "mrpe_z": float(np.abs(d[:, 2]).mean())}


def pair_accuracy(depth, pairs, labels) -> float:
    """Fraction of depth-order labels a prediction gets right.

    depth (N, J) predicted depth (larger = farther); pairs (N, 2) joint indices (kp0, kp1);
    labels (N,) in {-1, +1}: +1 means kp0 is farther than kp1. A tie counts as +1.
    """
    depth, pairs, labels = _f64(depth), np.asarray(pairs), _f64(labels)
    rows = np.arange(len(depth))
    pred = np.where(depth[rows, pairs[:, 0]] < depth[rows, pairs[:, 1]], -1.0, 1.0)
    return float(np.mean(pred == labels)) if len(labels) else float("nan")


def depth_order_accuracy(pred, gt) -> float:
    """Fraction of joint pairs (i < j) of every frame whose predicted depth order matches the ground truth's.

    pred, gt (N, J, 3) mm camera frame (z forward). Pairs of equal true depth are left out. What relative-depth
    supervision teaches: about 0.5 when the depth is uninformative, below 0.5 when it is flipped.
    """
    pred_z, gt_z = _f64(pred)[..., 2], _f64(gt)[..., 2]
    i, j = np.triu_indices(pred_z.shape[1], k=1)
    true = np.sign(gt_z[:, i] - gt_z[:, j])
    agree = (np.sign(pred_z[:, i] - pred_z[:, j]) == true)[true != 0]
    return float(agree.mean()) if agree.size else float("nan")


def per_action(frame_errors: np.ndarray, actions: Sequence[str]) -> dict[str, float]:
    """{action: mean of `frame_errors` (N,) over that action's frames}, actions sorted by name."""
    e, a = _f64(frame_errors), np.asarray(actions)
    return {str(name): float(e[a == name].mean()) for name in sorted(set(a.tolist()))}


def evaluate_poses(pred, gt, actions: Sequence[str] | None = None, root: int = 0) -> dict:
    """Every standard lifting metric for (N, J, 3) predictions vs ground truth (mm, camera frame).

    Headline `mpjpe`, `n_mpjpe`, `pa_mpjpe` are action-wise means when `actions` is given (else
    frame-wise); `*_framewise` are always frame-wise. `per_action` holds each action's means. 3DPCK@150 and AUC
    count the non-root joints only (the root's error is zero by construction after root alignment).
    """
    pred, gt = _f64(pred), _f64(gt)
    errs = {"mpjpe": mpjpe_errors(pred, gt, root),
            "n_mpjpe": n_mpjpe_errors(pred, gt, root),
            "pa_mpjpe": pa_mpjpe_errors(pred, gt)}
    frame = {k: v.mean(-1) for k, v in errs.items()}
    out: dict = {}
    if actions is not None and len(actions) == len(pred):
        table = {k: per_action(v, actions) for k, v in frame.items()}
        names = sorted(table["mpjpe"])
        counts = {n: int(np.sum(np.asarray(actions) == n)) for n in names}
        out["per_action"] = {n: {**{k: table[k][n] for k in table}, "num_frames": counts[n]} for n in names}
        for k in errs:
            out[k] = float(np.mean([table[k][n] for n in names]))
    else:
        for k in errs:
            out[k] = float(frame[k].mean())
    for k, v in errs.items():
        out[f"{k}_framewise"] = float(v.mean())
    non_root = np.delete(errs["mpjpe"], root, axis=-1)
    out["pck150"] = pck(non_root, 150.0)
    out["auc"] = auc(non_root)
    out["num_joints"], out["pck_num_joints"] = int(pred.shape[1]), int(non_root.shape[1])
    out["depth_order_accuracy"] = depth_order_accuracy(pred, gt)
    out["num_test_frames"] = int(len(pred))
    return out


def absolute_pose_metrics(pred, gt, threshold: float = 150.0) -> dict[str, float]:
    """A-MPJPE, APCK (% of joints within `threshold` mm, no alignment) and the % of poses whose A-MPJPE is
    within `threshold`, for (N, J, 3) camera-frame poses (mm)."""
    errors = joint_errors(pred, gt)
    return {"a_mpjpe": float(errors.mean()), "apck150": pck(errors, threshold),
            "poses_within_150": float(100.0 * np.mean(errors.mean(-1) < threshold))}


def ap_root(pred_root, pred_image, score, gt_root, gt_image, threshold: float = 250.0) -> float:
    """AP_root (MuPoTS protocol, RootNet's evaluation; a fraction in [0, 1]) of predicted roots (P, 3) mm with
    their image ids (P,) and scores (P,) against ground-truth roots (G, 3) with image ids (G,).

    Predictions in descending score order take the nearest ground truth of their image: a true positive if it is
    closer than `threshold` mm and not taken yet (no fall-back to the second nearest), else a false positive.
    AP = sum_n P_n (R_n - R_{n-1}), not interpolated. Predictions of equal score form one operating point (the
    result does not depend on their order); the reference's loop also drops its first term, this sum does not.
    """
    pred, gt = _f64(pred_root), _f64(gt_root)
    score, pred_image, gt_image = _f64(score), np.asarray(pred_image), np.asarray(gt_image)
    by_image: dict = {}
    for g, image in enumerate(gt_image.tolist()):
        by_image.setdefault(image, []).append(g)
    order = np.argsort(-score, kind="stable")
    taken = np.zeros(len(gt), dtype=bool)
    tp = np.zeros(len(order))
    for n, p in enumerate(order):
        candidates = by_image.get(pred_image[p].item(), [])
        if candidates:
            dist = np.linalg.norm(gt[candidates] - pred[p], axis=-1)
            nearest = candidates[int(np.argmin(dist))]
            if dist.min() < threshold and not taken[nearest]:
                taken[nearest], tp[n] = True, 1.0
    cum_tp = np.cumsum(tp)
    precision = cum_tp / np.arange(1, len(order) + 1)
    recall = cum_tp / max(len(gt), 1)
    sorted_score = score[order]
    last = np.r_[sorted_score[1:] != sorted_score[:-1], True] if len(order) else np.zeros(0, dtype=bool)
    precision, recall = precision[last], recall[last]
    return float(np.sum(precision * np.diff(np.r_[0.0, recall])))


DEPTH_BIN_EDGES_MM = (3000.0, 4000.0, 5000.0, 6000.0)


def mrpe_by_depth(pred_root, gt_root, edges_mm=DEPTH_BIN_EDGES_MM) -> list[dict[str, float]]:
    """MRPE and its axes in bins of the true root depth: edges e_1 < ... < e_m (mm) give the bins (-inf, e_1),
    [e_1, e_2), ..., [e_m, inf); each bin: lo, hi (None for the open ends), count and the `mrpe` keys (None when
    empty)."""
    pred, gt = _f64(pred_root), _f64(gt_root)
    bounds = [-np.inf, *sorted(float(e) for e in edges_mm), np.inf]
    out = []
    for lo, hi in zip(bounds[:-1], bounds[1:]):
        inside = (gt[:, 2] >= lo) & (gt[:, 2] < hi)
        errors = mrpe(pred[inside], gt[inside]) if inside.any() else dict.fromkeys(("mrpe", "mrpe_x", "mrpe_y",
                                                                                       "mrpe_z"))
        out.append({"lo": None if np.isinf(lo) else lo, "hi": None if np.isinf(hi) else hi,
                    "count": int(inside.sum()), **errors})
    return out


def evaluate_roots(pred_root, gt_root, edges_mm=DEPTH_BIN_EDGES_MM) -> dict:
    """Root metrics of one prediction per image (single-person crops, N, 3) mm: MRPE and its axes, AP_root@25cm
    (every prediction scored 1, so it equals the squared share of roots within 25 cm), that share in % and the
    MRPE per true-depth bin."""
    pred, gt = _f64(pred_root), _f64(gt_root)
    ids = np.arange(len(gt))
    within = np.linalg.norm(pred - gt, axis=-1) < 250.0
    return {**mrpe(pred, gt), "ap_root25": ap_root(pred, ids, np.ones(len(pred)), gt, ids, 250.0),
            "root_pck250": float(100.0 * within.mean()), "mrpe_by_depth": mrpe_by_depth(pred, gt, edges_mm)}


# --- several people per image: person detection (COCO-style AP) ---

IOU_THRESHOLDS = tuple(np.round(np.arange(0.5, 0.951, 0.05), 2))
RECALL_POINTS = np.linspace(0, 1, 101)


@dataclass
class BoxTruth:
    """One image's people: boxes (n, 4) [x0, y0, x1, y1] px, ignore (n,) bool (too few visible joints)."""

    boxes: np.ndarray
    ignore: np.ndarray


def match_detections(boxes_xyxy, truth: BoxTruth, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Greedy COCO matching of one image's detections (m, 4) px, sorted by falling score -> (hit (m,), dropped (m,))
    bool.

    A detection takes the unmatched counted person it overlaps most at IoU >= threshold; failing that, it is dropped
    (neither hit nor false alarm) if it lies in an ignore region: intersection over the detection's own area >=
    threshold, COCO's rule for crowd regions, so a box on a mostly hidden person is not punished."""
    det, gt = _f64(boxes_xyxy).reshape(-1, 4), _f64(truth.boxes).reshape(-1, 4)
    m = len(det)
    hit, dropped = np.zeros(m, bool), np.zeros(m, bool)
    if m == 0 or len(gt) == 0:
        return hit, dropped
    area = lambda b: (b[:, 2] - b[:, 0]).clip(0) * (b[:, 3] - b[:, 1]).clip(0)
    inter = (np.minimum(det[:, None, 2:], gt[None, :, 2:]) - np.maximum(det[:, None, :2], gt[None, :, :2]))
    inter = inter.clip(0).prod(-1)                                                   # (m, n) px^2
    iou = inter / np.maximum(area(det)[:, None] + area(gt)[None] - inter, 1e-9)
    in_ignore = inter / np.maximum(area(det)[:, None], 1e-9)
    ignore = np.asarray(truth.ignore, bool).reshape(-1)
    taken = np.zeros(len(gt), bool)
    for i in range(m):
        free = np.where(~ignore & ~taken & (iou[i] >= threshold), iou[i], -1.0)
        if free.max() >= 0:
            hit[i], taken[free.argmax()] = True, True
        elif (in_ignore[i][ignore] >= threshold).any():
            dropped[i] = True
    return hit, dropped


def _by_score(boxes_xyxy, scores) -> tuple[np.ndarray, np.ndarray]:
    """One image's boxes (m, 4) and scores (m,) in falling score order (ties keep their order)."""
    score = _f64(scores).reshape(-1)
    order = np.argsort(-score, kind="stable")
    return _f64(boxes_xyxy).reshape(-1, 4)[order], score[order]


def detection_ap(detections: Sequence[tuple], truths: Sequence[BoxTruth]) -> dict[str, float]:
    """COCO-style AP of per-image detections [(boxes (m, 4) px, scores (m,))] against `truths`: ap50 (IoU 0.5), ap
    (mean over IoU 0.5:0.05:0.95), both 101-point interpolated, recall50 (share of counted people found at IoU
    0.5 at any score); num_people counted, num_ignored."""
    counted = sum(int((~np.asarray(t.ignore, bool)).sum()) for t in truths)
    ranked = [_by_score(boxes, score) for boxes, score in detections]
    aps, recall50 = [], 0.0
    for threshold in IOU_THRESHOLDS:
        scores, hits = [], []
        for (boxes, score), truth in zip(ranked, truths):
            hit, dropped = match_detections(boxes, truth, float(threshold))
            scores.append(score[~dropped])
            hits.append(hit[~dropped])
        score, hit = np.concatenate(scores) if scores else np.zeros(0), np.concatenate(hits) if hits else np.zeros(0)
        order = np.argsort(-score, kind="stable")
        tp = np.cumsum(hit[order])
        recall = tp / max(counted, 1)
        precision = tp / np.arange(1, len(tp) + 1)
        envelope = np.append(np.maximum.accumulate(precision[::-1])[::-1], 0.0)   # 0 beyond the last recall
        ap = float(envelope[np.searchsorted(recall, RECALL_POINTS, side="left")].mean())
        aps.append(ap if counted else float("nan"))
        if threshold == 0.5:
            recall50 = float(tp[-1] if len(tp) else 0) / counted if counted else float("nan")
    return {"ap50": aps[0], "ap": float(np.mean(aps)), "recall50": recall50, "num_people": counted,
            "num_ignored": sum(int(np.asarray(t.ignore, bool).sum()) for t in truths)}


def false_box_share(detections: Sequence[tuple], truths: Sequence[BoxTruth]) -> float:
    """Share of the detections [(boxes (m, 4) px, scores (m,))] that overlap no counted person at IoU 0.5 (the
    detection AP's matching: boxes on ignore regions are left out, a second box on a person is false)."""
    false, total = 0, 0
    for (boxes, score), truth in zip(detections, truths):
        hit, dropped = match_detections(_by_score(boxes, score)[0], truth, 0.5)
        false += int((~hit & ~dropped).sum())
        total += int((~dropped).sum())
    return false / total if total else 0.0


# --- several people per image: 3D poses (MuPoTS-style) ---

MATCH_MAX = 0.5
"""A match needs a mean 2D joint distance (over the person's visible joints) below this share of the person's
height in the image."""
DISTANCE_EDGES_MM = (4000.0, 6000.0)        # root depth bins: near < 4 m, 4-6 m, far > 6 m
OCCLUSION_EDGES = (0.1, 0.4)                # share of joints hidden: none (< 10 %), partly, heavily (> 40 %)


def match_people(pred2d_px: np.ndarray, gt2d_px: np.ndarray, gt_visible: np.ndarray,
                 max_distance: float = MATCH_MAX) -> np.ndarray:
    """(P,) ground-truth index of every prediction (-1: unmatched). Greedy on the mean 2D distance of predicted
    (P, J, 2) to true (G, J, 2) joints over the true visible ones (G, J) (all joints for a person with none
    visible), divided by the true person's height in the image (the y extent of all its joints: its scale, as
    OKS takes the whole person's area, so that a person showing only a few joints can still be matched and, if
    it is an ignore region, drop the prediction on it); pairs at or beyond `max_distance` never match, each
    person takes one prediction."""
    P, G = len(pred2d_px), len(gt2d_px)
    out = np.full(P, -1, dtype=np.int64)
    if P == 0 or G == 0:
        return out
    vis = np.asarray(gt_visible, bool)
    dist = np.linalg.norm(np.asarray(pred2d_px)[:, None] - np.asarray(gt2d_px)[None], axis=-1)   # (P, G, J)
    w = np.where(vis.any(-1, keepdims=True), vis, True)[None].astype(np.float64)
    mean = (dist * w).sum(-1) / w.sum(-1)
    height = np.ptp(np.asarray(gt2d_px, np.float64)[..., 1], axis=-1)
    cost = mean / np.maximum(height, 1.0)[None]
    taken = np.zeros(G, bool)
    for flat in np.argsort(cost, axis=None, kind="stable"):
        p, g = divmod(int(flat), G)
        if cost[p, g] >= max_distance:
            break
        if out[p] < 0 and not taken[g]:
            out[p], taken[g] = g, True
    return out


def _bin(values: np.ndarray, edges: Sequence[float]) -> np.ndarray:
    return np.searchsorted(np.asarray(edges, np.float64), values, side="right")


def _labels(edges: Sequence[float], unit: str) -> list[str]:
    e = [f"{x:g}" for x in edges]
    return [f"< {e[0]}{unit}"] + [f"{a}-{b}{unit}" for a, b in zip(e[:-1], e[1:])] + [f">= {e[-1]}{unit}"]


def _people_metrics(pred_root, pred_image, score, gt_root, gt_image, matched_rel_err, matched_abs_err,
                    matched_root_err, num_people: int, num_joints: int) -> dict[str, float]:
    """Metrics of one group: AP_root over its predictions; MRPE over its matched people; PCKs over all its people
    (missed ones with every joint wrong): pck_rel counts the `num_joints` - 1 non-root joints, pck_abs all."""
    out = {"num_people": int(num_people), "num_matched": int(len(matched_root_err)),
           "recall": float(len(matched_root_err) / num_people) if num_people else float("nan"),
           "ap_root_25": ap_root(pred_root, pred_image, score, gt_root, gt_image, 250.0)
           if num_people else float("nan")}
    if len(matched_root_err):
        d = np.asarray(matched_root_err)
        out.update(mrpe=float(np.linalg.norm(d, axis=-1).mean()), mrpe_x=float(np.abs(d[:, 0]).mean()),
                   mrpe_y=float(np.abs(d[:, 1]).mean()), mrpe_z=float(np.abs(d[:, 2]).mean()))
    else:
        out.update(mrpe=float("nan"), mrpe_x=float("nan"), mrpe_y=float("nan"), mrpe_z=float("nan"))
    for key, err, joints in (("pck_rel_150", matched_rel_err, num_joints - 1),
                             ("pck_abs_150", matched_abs_err, num_joints)):
        hits = float((np.asarray(err) < 150.0).sum())
        out[key] = 100.0 * hits / (num_people * joints) if num_people else float("nan")
    return out


def evaluate_multiperson(predictions: list[dict[str, np.ndarray]], truths: list[dict[str, np.ndarray]],
                         min_visible: int = 6, distance_edges_mm: Sequence[float] = DISTANCE_EDGES_MM,
                         occlusion_edges: Sequence[float] = OCCLUSION_EDGES) -> dict:
    """Per-image predictions {scores (P,), poses2d (P, J, 2) px, poses3d (P, J, 3) mm} against truths
    {joints2d_px (G, J, 2), joints3d_cam (G, J, 3) mm, visible (G, J) bool}: AP_root@25cm (predictions ranked by
    score, the RootNet definition), MRPE and its axes over matched people, 3DPCK@150 mm root-relative (non-root
    joints) and PCK_abs@150 mm (all joints) over all counted people, recall; the same by root distance
    (`by_distance`, bins of the true root depth; a false alarm falls in the bin of its predicted depth) and by
    occlusion (`by_occlusion`, share of hidden joints; false alarms left out)."""
    rows: dict[str, list] = {k: [] for k in ("pred_root", "pred_image", "score", "pred_depth", "pred_gt")}
    people: dict[str, list] = {k: [] for k in ("root", "image", "depth", "hidden", "rel_err", "abs_err", "root_err",
                                               "matched")}
    J = None
    for i, (pred, truth) in enumerate(zip(predictions, truths)):
        gt3d, vis = np.asarray(truth["joints3d_cam"], np.float64), np.asarray(truth["visible"], bool)
        J = gt3d.shape[1] if len(gt3d) else J
        p3d = np.asarray(pred["poses3d"], np.float64)
        match = match_people(pred["poses2d"], truth["joints2d_px"], vis)
        counted = vis.sum(-1) >= min_visible
        keep = match < 0
        keep[~keep] = counted[match[~keep]]                       # predictions on ignore regions are dropped
        offset = len(people["root"])
        for p in np.flatnonzero(keep):
            rows["pred_root"].append(p3d[p, 0])
            rows["pred_image"].append(i)
            rows["score"].append(float(pred["scores"][p]))
            rows["pred_depth"].append(p3d[p, 0, 2])
            g = int(match[p])
            rows["pred_gt"].append(-1 if g < 0 else offset + int(np.sum(counted[:g])))
        by_gt = {int(g): p for p, g in enumerate(match) if g >= 0}
        for g in np.flatnonzero(counted):
            people["root"].append(gt3d[g, 0])
            people["image"].append(i)
            people["depth"].append(gt3d[g, 0, 2])
            people["hidden"].append(1.0 - vis[g].mean())
            p = by_gt.get(int(g))
            people["matched"].append(p is not None)
            if p is None:
                people["rel_err"].append(None)
                people["abs_err"].append(None)
                people["root_err"].append(None)
                continue
            rel = (p3d[p] - p3d[p, :1]) - (gt3d[g] - gt3d[g, :1])
            people["rel_err"].append(np.linalg.norm(rel, axis=-1)[1:])
            people["abs_err"].append(np.linalg.norm(p3d[p] - gt3d[g], axis=-1))
            people["root_err"].append(p3d[p, 0] - gt3d[g, 0])
    J = J or 17
    n = len(people["root"])
    pred_root = np.asarray(rows["pred_root"], np.float64).reshape(-1, 3)
    pred_image, score = np.asarray(rows["pred_image"], np.int64), np.asarray(rows["score"], np.float64)
    pred_gt, pred_depth = np.asarray(rows["pred_gt"], np.int64), np.asarray(rows["pred_depth"], np.float64)
    gt_root = np.asarray(people["root"], np.float64).reshape(-1, 3)
    gt_image = np.asarray(people["image"], np.int64)

    def group(gt_mask: np.ndarray, pred_mask: np.ndarray) -> dict[str, float]:
        idx = np.flatnonzero(gt_mask)
        matched = [i for i in idx if people["matched"][i]]
        rel = np.concatenate([people["rel_err"][i] for i in matched]) if matched else np.zeros(0)
        absolute = np.concatenate([people["abs_err"][i] for i in matched]) if matched else np.zeros(0)
        return _people_metrics(pred_root[pred_mask], pred_image[pred_mask], score[pred_mask], gt_root[idx],
                               gt_image[idx], rel, absolute, [people["root_err"][i] for i in matched], len(idx), J)

    everyone = np.ones(n, bool)
    result = {**group(everyone, np.ones(len(score), bool)), "num_predictions": int(len(score)),
              "num_false_alarms": int((pred_gt < 0).sum())}
    depth = np.asarray(people["depth"], np.float64)
    pred_bin_depth = np.where(pred_gt >= 0, depth[np.maximum(pred_gt, 0)] if n else pred_depth, pred_depth)
    gt_bins, pred_bins = _bin(depth, distance_edges_mm), _bin(pred_bin_depth, distance_edges_mm)
    result["by_distance"] = [{"bin": label, **group(gt_bins == b, pred_bins == b)}
                             for b, label in enumerate(_labels([e / 1000 for e in distance_edges_mm], " m"))]
    hidden = np.asarray(people["hidden"], np.float64)
    gt_occ = _bin(hidden, occlusion_edges)
    pred_occ = np.where(pred_gt >= 0, gt_occ[np.maximum(pred_gt, 0)] if n else -1, -1)
    result["by_occlusion"] = [{"bin": label, **group(gt_occ == b, pred_occ == b)}
                              for b, label in enumerate(_labels([100 * e for e in occlusion_edges], " % hidden"))]
    return result
