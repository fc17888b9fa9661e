"""Metrics of multi-person 3D pose over whole images, the MuPoTS-3D way: predictions are matched to the ground-truth
people by 2D; a ground-truth person left unmatched is missed (every joint wrong), a prediction left unmatched is a
false alarm (it only costs AP_root). Joints (..., J, 3) mm camera frame, (..., J, 2) image px, root joint 0.

People with fewer than `min_visible` visible joints are ignore regions, as for the detector's AP: they are neither
counted nor missed, and predictions matched to them are dropped.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from lifting import metrics

MATCH_MAX = 0.5
"""A match needs a mean 2D joint distance (over the person's visible joints) below this share of its box height."""
DISTANCE_EDGES_MM = (4000.0, 6000.0)        # root depth bins: near < 4 m, 4-6 m, far > 6 m
OCCLUSION_EDGES = (0.1, 0.4)                # share of joints hidden: none (< 10 %), partly, heavily (> 40 %)


def match_people(pred2d_px: np.ndarray, gt2d_px: np.ndarray, gt_visible: np.ndarray,
                 max_distance: float = MATCH_MAX) -> np.ndarray:
    """(P,) ground-truth index of every prediction (-1: unmatched). Greedy on the mean 2D distance of predicted
    (P, J, 2) to true (G, J, 2) joints over the true visible ones (G, J), divided by the true person's visible joint
    extent in y (its height in px); pairs at or beyond `max_distance` never match, each person takes one
    prediction."""
    P, G = len(pred2d_px), len(gt2d_px)
    out = np.full(P, -1, dtype=np.int64)
    if P == 0 or G == 0:
        return out
    vis = np.asarray(gt_visible, bool)
    dist = np.linalg.norm(np.asarray(pred2d_px)[:, None] - np.asarray(gt2d_px)[None], axis=-1)   # (P, G, J)
    w = vis[None].astype(np.float64)
    mean = (dist * w).sum(-1) / np.maximum(w.sum(-1), 1)
    y = np.asarray(gt2d_px, np.float64)[..., 1]
    seen = vis.any(-1)
    height = np.where(seen, np.where(vis, y, -np.inf).max(-1) - np.where(vis, y, np.inf).min(-1), 1.0)
    cost = np.where(seen[None], mean / np.maximum(height, 1.0)[None], np.inf)
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
           "ap_root_25": metrics.ap_root(pred_root, pred_image, score, gt_root, gt_image, 250.0)
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
