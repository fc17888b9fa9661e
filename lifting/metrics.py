"""Pose metrics (numpy, float64): MPJPE, MPJVE, N-MPJPE, PA-MPJPE, 3DPCK/AUC, MRPE (also per true-depth bin), AP_root,
absolute-pose metrics (A-MPJPE, APCK), pair accuracy, per-action tables.

All poses are `(N, J, 3)` in mm in the same frame (camera or root-relative camera). Headline numbers
are action-wise means (mean of per-action means); frame-wise means are stored alongside.
"""

from __future__ import annotations

from collections.abc import Sequence

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
