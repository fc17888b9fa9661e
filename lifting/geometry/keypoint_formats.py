"""Keypoint formats of common 2D detectors and datasets, converted to Human3.6M-17 and, where possible, back.

Every Human3.6M-17 joint is an affine combination (weights summing to 1) of one format's keypoints, so the same
rule converts pixels, millimetres, any frame. A joint may have fallbacks: the first rule whose keypoints are all
present is used. Where a format lacks a Human3.6M joint:

* pelvis (mid_hip): the hip midpoint (OpenPose: its MidHip first; MPII: its pelvis first);
* thorax (neck): the shoulder midpoint (OpenPose: its Neck first; MPII: its thorax first; LSP: its neck first);
* spine (mid_spine): the midpoint of pelvis and thorax;
* neck/nose (chin): COCO and OpenPose: the nose, else the eye midpoint; MPII, LSP, h36m_16: the midpoint of
  thorax and head top (MPII's upper neck only when its head top is missing);
* head top (head): COCO and OpenPose: 2 nose - thorax (the nose taken as the midpoint of thorax and head top),
  else 2 eye midpoint - thorax.

The midpoints follow Human3.6M's own geometry: its pelvis is the hip midpoint (0.1 mm off), its spine joint lies
0.48 of the way from pelvis to thorax and its neck/nose joint 0.52 of the way from thorax to head top. COCO and
OpenPose have no thorax or head top, so those are approximations (the thorax 60 mm from the shoulder midpoint,
the head top in front of the head in profile views). `lsp_14` keeps this suite's convention that LSP's neck is
the Human3.6M thorax, so an lsp_14 lifter gets LSP joints unchanged. `h36m_16` is the stacked-hourglass order of
the lifting papers, whose joints ARE Human3.6M joints (spine, thorax), unlike the anatomical MPII slots of
`mpii_16` (thorax, upper neck).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lifting.errors import UserError
from lifting.geometry.skeletons import H36M_16, H36M_17, LSP_14

Rule = dict[str, float]

COCO_17 = ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
           "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip", "left_knee",
           "right_knee", "left_ankle", "right_ankle")
OPENPOSE_25 = ("nose", "neck", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
               "left_wrist", "mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee",
               "left_ankle", "right_eye", "left_eye", "right_ear", "left_ear", "left_big_toe", "left_small_toe",
               "left_heel", "right_big_toe", "right_small_toe", "right_heel")
MPII_16 = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "pelvis", "thorax",
           "upper_neck", "head_top", "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow",
           "left_wrist")

_LIMBS = ("right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle", "left_shoulder",
          "left_elbow", "left_wrist", "right_shoulder", "right_elbow", "right_wrist")


def _mean(*names: str) -> Rule:
    return {n: 1.0 / len(names) for n in names}


def _combine(a: Rule, b: Rule, wa: float, wb: float) -> Rule:
    """wa * a + wb * b for two rules (an affine rule again when wa + wb = 1)."""
    out: Rule = {}
    for rule, w in ((a, wa), (b, wb)):
        for n, v in rule.items():
            out[n] = out.get(n, 0.0) + w * v
    return {n: v for n, v in out.items() if v != 0.0}


def _rules(pelvis: list[Rule], thorax: list[Rule], chin: list[Rule], head: list[Rule]) -> dict[str, list[Rule]]:
    """Rules of all 17 joints from the candidates for the four a format may lack (the spine follows)."""
    spine = [_combine(p, t, 0.5, 0.5) for p in pelvis for t in thorax]
    return {"mid_hip": pelvis, "neck": thorax, "mid_spine": spine, "chin": chin, "head": head,
            **{n: [{n: 1.0}] for n in _LIMBS}}


def _face_rules(thorax: list[Rule]) -> tuple[list[Rule], list[Rule]]:
    """chin and head-top candidates from a face (nose, eyes) and the thorax candidates."""
    nose, eyes = {"nose": 1.0}, _mean("left_eye", "right_eye")
    return [nose, eyes], [_combine(f, t, 2.0, -1.0) for f in (nose, eyes) for t in thorax]


def _coco_like(has_neck_and_pelvis: bool) -> dict[str, list[Rule]]:
    hips, shoulders = _mean("left_hip", "right_hip"), _mean("left_shoulder", "right_shoulder")
    pelvis = [{"mid_hip": 1.0}, hips] if has_neck_and_pelvis else [hips]
    thorax = [{"neck": 1.0}, shoulders] if has_neck_and_pelvis else [shoulders]
    chin, head = _face_rules(thorax)
    return _rules(pelvis, thorax, chin, head)


def _top_down(pelvis: list[Rule], thorax: list[Rule], head_top: str, upper_neck: str | None) -> dict[str, list[Rule]]:
    chin = [_combine(t, {head_top: 1.0}, 0.5, 0.5) for t in thorax] + ([{upper_neck: 1.0}] if upper_neck else [])
    return _rules(pelvis, thorax, chin, [{head_top: 1.0}])


@dataclass(frozen=True)
class KeypointFormat:
    """A named keypoint order and how each Human3.6M-17 joint is made from it (candidate rules, first complete
    one wins)."""

    name: str
    joint_names: tuple[str, ...]
    rules: dict[str, list[Rule]]
    description: str

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)


_LSP_THORAX = [{"neck": 1.0}, _mean("left_shoulder", "right_shoulder")]
FORMATS = {f.name: f for f in (
    KeypointFormat("h36m_17", H36M_17.joint_names, {n: [{n: 1.0}] for n in H36M_17.joint_names},
                   "Human3.6M 17 joints (this suite's and VideoPose3D's order)"),
    KeypointFormat("h36m_16", H36M_16.joint_names,
                   {**{n: [{n: 1.0}] for n in H36M_16.joint_names}, "chin": [_mean("neck", "head")]},
                   "Human3.6M 16 joints in stacked-hourglass order (Martinez et al. detections)"),
    KeypointFormat("coco_17", COCO_17, _coco_like(False), "COCO 17 (COCO, MMPose, Detectron2, YOLO-pose)"),
    KeypointFormat("openpose_25", OPENPOSE_25, _coco_like(True), "OpenPose BODY-25"),
    KeypointFormat("mpii_16", MPII_16,
                   _top_down([{"pelvis": 1.0}, _mean("left_hip", "right_hip")],
                             [{"thorax": 1.0}, _mean("left_shoulder", "right_shoulder")], "head_top", "upper_neck"),
                   "MPII Human Pose 16"),
    KeypointFormat("lsp_14", LSP_14.joint_names,
                   _top_down([_mean("left_hip", "right_hip")], _LSP_THORAX, "head", None),
                   "Leeds Sports Pose 14 (joints.mat order)"),
)}

# Formats whose every keypoint is a Human3.6M-17 joint or an affine combination of them: the estimator and the
# lifter can write their output in these. MPII's upper neck is taken as the Human3.6M neck/nose joint.
_FROM_H36M = {"h36m_17": {n: {n: 1.0} for n in H36M_17.joint_names},
              "h36m_16": {n: {n: 1.0} for n in H36M_16.joint_names},
              "lsp_14": {n: {n: 1.0} for n in LSP_14.joint_names},
              "mpii_16": {**{n: {n: 1.0} for n in _LIMBS}, "pelvis": {"mid_hip": 1.0}, "thorax": {"neck": 1.0},
                          "upper_neck": {"chin": 1.0}, "head_top": {"head": 1.0}}}
OUTPUT_FORMATS = tuple(_FROM_H36M)


def get_format(name: str) -> KeypointFormat:
    try:
        return FORMATS[name]
    except KeyError:
        raise UserError(f"unknown keypoint format {name!r}; expected one of {', '.join(FORMATS)}") from None


def to_h36m17(keypoints: np.ndarray, present: np.ndarray | None, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, J, D) keypoints of `fmt` (+ (N, J) bool presence, None = all present) -> ((N, 17, D) Human3.6M-17
    joints, (N, 17) bool: False where no rule had all its keypoints; those joints are NaN)."""
    f = get_format(fmt)
    keypoints = np.asarray(keypoints, dtype=np.float64)
    if keypoints.ndim != 3 or keypoints.shape[1] != f.num_joints:
        raise UserError(f"{fmt}: expected keypoints of shape (N, {f.num_joints}, D), got {keypoints.shape}")
    n = len(keypoints)
    present = np.ones((n, f.num_joints), bool) if present is None else np.asarray(present, bool)
    index = {name: i for i, name in enumerate(f.joint_names)}
    out = np.full((n, H36M_17.num_joints, keypoints.shape[2]), np.nan)
    done = np.zeros((n, H36M_17.num_joints), bool)
    for j, name in enumerate(H36M_17.joint_names):
        for rule in f.rules[name]:
            idx = np.array([index[k] for k in rule])
            w = np.array(list(rule.values()))
            use = ~done[:, j] & present[:, idx].all(1)
            out[use, j] = np.einsum("k,nkd->nd", w, keypoints[use][:, idx])
            done[:, j] |= use
    return out, done


def output_format(name: str) -> KeypointFormat:
    """The format `name` if Human3.6M-17 joints can be written in it (else a one-line error)."""
    f = get_format(name)
    if name not in _FROM_H36M:
        raise UserError(f"cannot write joints as {name!r} (Human3.6M-17 lacks its face/foot points); "
                        f"expected one of {', '.join(OUTPUT_FORMATS)}")
    return f


def from_h36m17(joints: np.ndarray, fmt: str):
    """(..., 17, D) Human3.6M-17 joints (numpy or torch) -> (..., J, D) joints of an output format."""
    f = output_format(fmt)
    W = np.zeros((f.num_joints, H36M_17.num_joints))
    for i, name in enumerate(f.joint_names):
        for src, w in _FROM_H36M[fmt][name].items():
            W[i, H36M_17.joint_names.index(src)] = w
    if isinstance(joints, np.ndarray):
        return np.einsum("jk,...kd->...jd", W, joints)
    import torch

    return torch.einsum("jk,...kd->...jd", torch.as_tensor(W, dtype=joints.dtype, device=joints.device), joints)


# Keypoints of a format that ARE Human3.6M-17 joints (COCO's nose is the Human3.6M neck/nose joint, which
# `to_h36m17` builds from it); a format's other keypoints (eyes, ears) have no Human3.6M counterpart.
_SHARED_WITH_H36M = {"h36m_17": {n: n for n in H36M_17.joint_names},
                     "coco_17": {"nose": "chin", **{n: n for n in _LIMBS}}}


def h36m17_to_format(joints: np.ndarray, fmt: str) -> tuple[np.ndarray, np.ndarray]:
    """(N, 17, D) Human3.6M-17 joints -> ((N, J, D) keypoints of `fmt`, (N, J) bool present): what a detector of
    that format would give for these joints, its keypoints without a Human3.6M counterpart missing (NaN)."""
    if fmt not in _SHARED_WITH_H36M:
        raise UserError(f"cannot make {fmt!r} keypoints from Human3.6M-17 joints; expected one of "
                        f"{', '.join(_SHARED_WITH_H36M)}")
    f, joints = get_format(fmt), np.asarray(joints)
    out = np.full((len(joints), f.num_joints, joints.shape[2]), np.nan)
    shared = _SHARED_WITH_H36M[fmt]
    cols = [f.joint_names.index(k) for k in shared]
    out[:, cols] = joints[:, [H36M_17.joint_names.index(v) for v in shared.values()]]
    present = np.zeros((len(joints), f.num_joints), bool)
    present[:, cols] = True
    return out, present


def _graph_order() -> list[np.ndarray]:
    """For every Human3.6M-17 joint, all joints sorted by distance on the skeleton tree (parent before child
    at equal distance): the order in which a missing joint looks for a present one."""
    parents = H36M_17.parents
    adj = [[p] if p >= 0 else [] for p in parents]
    for j, p in enumerate(parents):
        if p >= 0:
            adj[p].append(j)
    order = []
    for start in range(len(parents)):
        seen, frontier = [start], [start]
        while frontier:
            nxt = []
            for j in frontier:
                for k in adj[j]:
                    if k not in seen:
                        seen.append(k)
                        nxt.append(k)
            frontier = nxt
        order.append(np.array(seen[1:]))
    return order


_NEAREST = _graph_order()


def fill_missing(joints: np.ndarray, present: np.ndarray) -> np.ndarray:
    """(N, 17, D) Human3.6M-17 joints with (N, 17) presence -> every missing joint placed on the nearest present
    joint of the skeleton tree (a missing wrist on its elbow, a missing arm on the shoulder): the lifter sees a
    folded limb rather than an invented direction. Rows need at least one present joint."""
    out = np.array(joints, dtype=np.float64)
    for j in range(H36M_17.num_joints):
        rows = np.flatnonzero(~present[:, j])
        if len(rows) == 0:
            continue
        cand = present[rows][:, _NEAREST[j]]
        first = _NEAREST[j][np.argmax(cand, axis=1)]
        out[rows, j] = joints[rows, first]
    return out
