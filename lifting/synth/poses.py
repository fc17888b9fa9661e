"""Built-in synthetic Human3.6M-like data: the default data set, so the suite runs with no download.

Poses come from forward kinematics of the 32-joint Human3.6M skeleton (including its coincident,
zero-length joints) driven by joint angles that stay inside anatomical limits. Each file is one
smooth motion of `frames_per_sequence` frames at 10 fps (the rate of the shared real set): walking
on a curved path with a gait cycle, standing with gestures (arms hanging, folded, on the hips),
sitting on a chair or on the floor, crouching, kneeling, bending forward, arm raises, hands to the
face, and blends between them (standing up / sitting down). Bone lengths
vary per synthetic subject around the canonical Human3.6M skeleton. Every sequence is placed in
the Human3.6M world frame (mm, z up, floor z = 0, mean pelvis at the origin, random heading) so
that every joint projects inside all four real cameras' images, and is written in the
h5-annotation layout that `lifting.datasets.h36m.load_h36m` reads.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from lifting.datasets.h36m import ACTIONS, POSE_SUBDIR, SUBJECTS, pose_file_name
from lifting.errors import UserError
from lifting.fileio import write_json
from lifting.geometry.cameras import Camera, h36m_cameras, save_h36m_cameras
from lifting.geometry.skeletons import H36M_32_PARENTS

FPS = 10.0
# Frames per file; 7 subjects x 30 files x 112 frames x 4 cameras = 94,080 samples by default.
SIZES = {"default": 112, "tiny": 3}
FORMAT_VERSION = 3
# Joints that can carry the body on the floor, with the height of their centre above the floor when
# they do (mm): feet, knees (kneeling), the pelvis (sitting on the floor), the hands (leaning on them).
SUPPORT = {3: 30, 4: 0, 5: 0, 8: 30, 9: 0, 10: 0, 2: 50, 7: 50, 0: 100, 21: 10, 29: 10}

# Rest pose in the body frame (x forward, y to the person's left, z up), arms hanging, feet flat:
# direction of every bone (child minus parent) and the canonical Human3.6M bone length in mm.
_REST = {
    1: ((0, -1, 0), 132.95), 2: ((0, 0, -1), 442.89), 3: ((0, 0, -1), 454.21),
    4: ((159, 0, -35), 162.77), 5: ((72, 0, 20), 75.0),
    6: ((0, 1, 0), 132.95), 7: ((0, 0, -1), 442.89), 8: ((0, 0, -1), 454.21),
    9: ((159, 0, -35), 162.77), 10: ((72, 0, 20), 75.0),
    11: ((0, 0, 1), 0.1), 12: ((0, 0, 1), 233.38), 13: ((0, 0, 1), 257.08),
    14: ((65, 0, 102), 121.13), 15: ((-10, 0, 115), 115.0),
    16: ((0, 0, 1), 257.08), 17: ((0, 1, 0), 151.03), 18: ((0, 0, -1), 278.88),
    19: ((0, 0, -1), 251.73), 20: ((0, 0, -1), 0.0), 21: ((0, 0, -1), 100.0),
    22: ((35, 0, -94), 100.0), 23: ((0, 0, -1), 0.0),
    24: ((0, 0, 1), 257.08), 25: ((0, -1, 0), 151.03), 26: ((0, 0, -1), 278.88),
    27: ((0, 0, -1), 251.73), 28: ((0, 0, -1), 0.0), 29: ((0, 0, -1), 100.0),
    30: ((35, 0, -94), 137.5), 31: ((0, 0, -1), 0.0),
}
# Bones whose length scales together (one random factor per group and subject; left = right).
_BONE_GROUPS = {"hip": (1, 6), "thigh": (2, 7), "shank": (3, 8), "foot": (4, 5, 9, 10),
                "spine": (12,), "neck": (13, 16, 24), "head": (14, 15), "clavicle": (17, 25),
                "upper_arm": (18, 26), "forearm": (19, 27), "hand": (21, 22, 29, 30)}

# Joint-angle limits in degrees. Signs: flexion forward, abduction away from the midline,
# rotation internal, pelvis pitch / spine bend forward, ankle plantar-flexion (toes down).
LIMITS = {
    "pelvis_pitch": (-25, 70), "pelvis_roll": (-10, 10), "pelvis_yaw": (-20, 20),
    "spine_bend": (-20, 60), "spine_side": (-25, 25), "spine_twist": (-35, 35),
    "neck_bend": (-30, 45), "neck_side": (-25, 25), "neck_twist": (-60, 60),
    "hip_flex": (-25, 125), "hip_abd": (-15, 45), "hip_rot": (-30, 30), "knee": (0, 150),
    "ankle": (-35, 45),
    "sho_flex": (-40, 175), "sho_abd": (3, 170), "sho_rot": (-40, 70), "elbow": (0, 150),
    "wrist": (-40, 40),
}
SIDED = ("hip_flex", "hip_abd", "hip_rot", "knee", "ankle", "sho_flex", "sho_abd", "sho_rot", "elbow", "wrist")
DOFS = tuple(n for n in LIMITS if n not in SIDED) + tuple(f"{s}_{n}" for s in "lr" for n in SIDED)

# Action -> (recipe, parameters). Recipes are combinations of the pose categories below.
ACTION_RECIPES = {
    "Directions": ("stand", {"gesture": 1.0, "turn": 40}),
    "Discussion": ("stand", {"gesture": 0.6, "turn": 25}),
    "Eating": ("sit", {"face": 1.0}),
    "Greeting": ("stand", {"gesture": 1.0, "wave": True, "turn": 30}),
    "Phoning": ("sit", {"face": 1.0, "hold": True}),
    "Photo": ("stand_crouch", {"face": 1.0, "both": True}),
    "Posing": ("stand", {"gesture": 1.0, "raise": True, "weight_shift": True}),
    "Purchases": ("stand_bend", {"gesture": 0.5}),
    "Sitting": ("sit", {"gesture": 0.5}),
    "SittingDown": ("sit_down", {}),
    "Smoking": ("stand", {"face": 1.0, "turn": 20}),
    "Waiting": ("stand", {"gesture": 0.3, "weight_shift": True}),
    "WalkDog": ("walk", {"lean": (8, 25), "leash": True}),
    "Walking": ("walk", {}),
    "WalkTogether": ("walk", {"slow": True, "look": True}),
}


def canonical_offsets() -> np.ndarray:
    """(32, 3) rest-pose bone vectors (child - parent) in the body frame, canonical lengths, mm."""
    out = np.zeros((32, 3))
    for j, (direction, length) in _REST.items():
        d = np.asarray(direction, dtype=np.float64)
        out[j] = d / np.linalg.norm(d) * length
    return out


def subject_bone_scales(subject: int, seed: int = 0) -> np.ndarray:
    """(32,) per-bone length factors of one synthetic subject: overall size x per-group variation."""
    rng = np.random.default_rng([seed, subject, 7919])
    scale = np.ones(32) * np.clip(rng.normal(1.0, 0.05), 0.88, 1.12)
    for bones in _BONE_GROUPS.values():
        scale[list(bones)] *= np.clip(rng.normal(1.0, 0.035), 0.92, 1.08)
    return scale


def _rot(axis: int, angle: np.ndarray) -> np.ndarray:
    """(T,) radians -> (T, 3, 3) rotation about the body x (0), y (1) or z (2) axis."""
    c, s = np.cos(angle), np.sin(angle)
    out = np.zeros(angle.shape + (3, 3))
    i, j = [(1, 2), (2, 0), (0, 1)][axis]
    out[..., axis, axis] = 1
    out[..., i, i] = c
    out[..., j, j] = c
    out[..., i, j] = -s
    out[..., j, i] = s
    return out


def local_rotations(dofs: dict[str, np.ndarray]) -> np.ndarray:
    """Joint angles in degrees, each (T,) -> (T, 32, 3, 3) rotation of each joint relative to its parent.

    The right side uses the left side's convention mirrored through the sagittal plane (rotations
    about x and z change sign), so equal angles give mirror-image poses.
    """
    d = {k: np.deg2rad(v) for k, v in dofs.items()}
    t = len(next(iter(d.values())))
    rot = np.broadcast_to(np.eye(3), (t, 32, 3, 3)).copy()
    rot[:, 0] = _rot(2, d["pelvis_yaw"]) @ _rot(1, d["pelvis_pitch"]) @ _rot(0, d["pelvis_roll"])
    half = _rot(1, d["spine_bend"] / 2) @ _rot(0, d["spine_side"] / 2) @ _rot(2, d["spine_twist"] / 2)
    rot[:, 11] = half
    rot[:, 12] = half
    rot[:, 13] = _rot(1, d["neck_bend"]) @ _rot(0, d["neck_side"]) @ _rot(2, d["neck_twist"])
    for side, sign, hip, knee, ankle, shoulder, elbow, wrist in (("l", 1, 6, 7, 8, 17, 18, 19),
                                                                 ("r", -1, 1, 2, 3, 25, 26, 27)):
        a = {n: d[f"{side}_{n}"] for n in SIDED}
        rot[:, hip] = _rot(0, sign * a["hip_abd"]) @ _rot(1, -a["hip_flex"]) @ _rot(2, -sign * a["hip_rot"])
        rot[:, knee] = _rot(1, a["knee"])
        rot[:, ankle] = _rot(1, a["ankle"])
        rot[:, shoulder] = _rot(0, sign * a["sho_abd"]) @ _rot(1, -a["sho_flex"]) @ _rot(2, -sign * a["sho_rot"])
        rot[:, elbow] = _rot(1, -a["elbow"])
        rot[:, wrist] = _rot(1, -a["wrist"])
    return rot


def forward_kinematics(rotations: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """(T, 32, 3, 3) local rotations + (32, 3) rest bone vectors -> (T, 32, 3) joints, root at 0."""
    t = len(rotations)
    glob = np.empty_like(rotations)
    pos = np.zeros((t, 32, 3))
    for j, p in enumerate(H36M_32_PARENTS):  # parents precede children
        if p < 0:
            glob[:, j] = rotations[:, j]
        else:
            glob[:, j] = glob[:, p] @ rotations[:, j]
            pos[:, j] = pos[:, p] + glob[:, p] @ offsets[j]
    return pos


# ---- motion building blocks (all vectorised over the T frames of one sequence) ----

def _wander(rng, t: np.ndarray, amp: float, fmax: float = 0.25, k: int = 3) -> np.ndarray:
    """Smooth random signal (T,) of roughly +-amp: a sum of k low-frequency sinusoids."""
    freq = rng.uniform(0.02, fmax, k)
    phase = rng.uniform(0, 2 * np.pi, k)
    weight = rng.uniform(0.3, 1.0, k)
    weight *= amp / weight.sum()
    return (weight[:, None] * np.sin(2 * np.pi * freq[:, None] * t[None] + phase[:, None])).sum(0)


def _activity(rng, t: np.ndarray, fmin: float = 0.04, fmax: float = 0.2, duty: float = 0.5) -> np.ndarray:
    """Smooth 0..1 on/off signal (T,) that holds at both ends (e.g. hand at the face, then down)."""
    raw = 0.5 - 0.5 * np.cos(2 * np.pi * rng.uniform(fmin, fmax) * t + rng.uniform(0, 2 * np.pi))
    x = np.clip((raw - (1 - duty)) * 2.5 + 0.5, 0, 1)
    return x * x * (3 - 2 * x)


def _blend(a: dict, b: dict, w: np.ndarray) -> dict:
    return {k: (1 - w) * a[k] + w * b[k] for k in a}


def _zeros(t: np.ndarray) -> dict:
    return {k: np.zeros(len(t)) for k in DOFS}


def _feet_flat(dofs: dict) -> None:
    """Ankle angles that keep each foot level given pelvis pitch, hip flexion and knee flexion."""
    for s in "lr":
        dofs[f"{s}_ankle"] = dofs[f"{s}_hip_flex"] - dofs[f"{s}_knee"] - dofs["pelvis_pitch"]


def _upright(rng, t) -> dict:
    """Standing: near-vertical legs, relaxed arms, small sway."""
    d = _zeros(t)
    d["pelvis_pitch"] = rng.uniform(-3, 6) + _wander(rng, t, 3)
    d["pelvis_roll"] = _wander(rng, t, 3)
    d["pelvis_yaw"] = _wander(rng, t, 4)
    d["spine_bend"] = rng.uniform(-4, 10) + _wander(rng, t, 5)
    d["spine_side"] = _wander(rng, t, 4)
    d["spine_twist"] = _wander(rng, t, 8)
    d["neck_bend"] = rng.uniform(0, 25) + _wander(rng, t, 8)
    d["neck_side"] = _wander(rng, t, 6)
    d["neck_twist"] = _wander(rng, t, 25)
    for s in "lr":
        d[f"{s}_hip_flex"] = d["pelvis_pitch"] + rng.uniform(-6, 6) + _wander(rng, t, 4)
        d[f"{s}_hip_abd"] = rng.uniform(-6, 6) + _wander(rng, t, 3)
        d[f"{s}_hip_rot"] = rng.uniform(-15, 10) + _wander(rng, t, 4)
        d[f"{s}_knee"] = rng.uniform(0, 12) + np.abs(_wander(rng, t, 6))
        d[f"{s}_wrist"] = _wander(rng, t, 15)
        _rest_arm(rng, t, d, s)
    _feet_flat(d)
    return d


def _rest_arm(rng, t, d: dict, side: str) -> None:
    """An arm not gesturing: hanging, bent with the hand in front of the body (arms folded, holding
    something, hands together), or with the hand on the hip."""
    pose = rng.choice(["hang", "front", "hip"], p=[0.3, 0.55, 0.15])
    if pose == "hang":
        flex, abd, rot, elbow = rng.uniform(-10, 25), rng.uniform(6, 20), rng.uniform(-10, 40), rng.uniform(5, 60)
    elif pose == "front":
        flex, abd, rot, elbow = rng.uniform(0, 45), rng.uniform(5, 25), rng.uniform(30, 70), rng.uniform(80, 140)
    else:
        flex, abd, rot, elbow = rng.uniform(-25, 0), rng.uniform(30, 55), rng.uniform(40, 70), rng.uniform(90, 125)
    d[f"{side}_sho_flex"] = flex + _wander(rng, t, 8)
    d[f"{side}_sho_abd"] = abd + _wander(rng, t, 4)
    d[f"{side}_sho_rot"] = rot + _wander(rng, t, 8)
    d[f"{side}_elbow"] = elbow + _wander(rng, t, 12)


def _weight_shift(rng, t, d: dict) -> None:
    """Lean on one leg: that hip adducts, the other knee bends, the pelvis rolls."""
    w = 2 * _activity(rng, t, 0.03, 0.12) - 1
    d["pelvis_roll"] = d["pelvis_roll"] + 5 * w
    d["l_hip_abd"] = d["l_hip_abd"] + 4 * w
    d["r_hip_abd"] = d["r_hip_abd"] - 4 * w
    d["l_knee"] = d["l_knee"] + 12 * np.clip(-w, 0, 1)
    d["r_knee"] = d["r_knee"] + 12 * np.clip(w, 0, 1)
    _feet_flat(d)


def _sit(rng, t, deep: bool = False) -> dict:
    """Sitting on a chair (or low, when `deep`): thighs near horizontal, feet on the floor, reclining,
    upright or leaning forward; legs tucked in, at right angles or stretched out, sometimes crossed."""
    d = _upright(rng, t)
    posture = rng.choice(["recline", "upright", "forward"], p=[0.35, 0.4, 0.25])
    pitch = {"recline": (-25, -8), "upright": (-10, 8), "forward": (8, 30)}[posture]
    d["pelvis_pitch"] = rng.uniform(*pitch) + _wander(rng, t, 4)
    d["spine_bend"] = rng.uniform(-10, 30) + (10 if posture == "forward" else 0) + _wander(rng, t, 6)
    lo, hi = (95, 120) if deep else (45, 90)
    stretch = rng.uniform(-60, 35)  # knee bend around a right angle: < 0 feet forward, > 0 tucked in
    for s in "lr":
        d[f"{s}_hip_flex"] = d["pelvis_pitch"] + rng.uniform(lo, hi) + _wander(rng, t, 5)
        d[f"{s}_hip_abd"] = rng.uniform(-10, 15) + _wander(rng, t, 4)
        d[f"{s}_hip_rot"] = rng.uniform(-25, 15) + _wander(rng, t, 5)
        d[f"{s}_knee"] = 90 + stretch + rng.uniform(-15, 15) + (20 if deep else 0) + _wander(rng, t, 10)
        d[f"{s}_sho_flex"] = rng.uniform(0, 50) + _wander(rng, t, 8)
        d[f"{s}_elbow"] = rng.uniform(30, 130) + _wander(rng, t, 10)
    _feet_flat(d)
    if rng.random() < 0.3:  # one leg crossed over the other: thigh raised and adducted, foot off the floor
        s = "lr"[rng.integers(2)]
        d[f"{s}_hip_flex"] = d[f"{s}_hip_flex"] + rng.uniform(5, 20)
        d[f"{s}_hip_abd"] = rng.uniform(-25, -12) + _wander(rng, t, 3)
        d[f"{s}_hip_rot"] = rng.uniform(-10, 10)
        d[f"{s}_knee"] = d[f"{s}_hip_flex"] - d["pelvis_pitch"] + rng.uniform(-10, 15) + _wander(rng, t, 5)
        d[f"{s}_ankle"] = rng.uniform(0, 30) + _wander(rng, t, 5)
    return d


def _floor_sit(rng, t) -> dict:
    """Sitting on the floor: legs stretched out or knees up, often leaning back on the hands."""
    d = _upright(rng, t)
    d["pelvis_pitch"] = rng.uniform(-25, 20) + _wander(rng, t, 4)
    d["spine_bend"] = rng.uniform(0, 45) + _wander(rng, t, 6)
    style = rng.choice(["stretch", "knees_up"])
    for s in "lr":
        if style == "stretch":
            d[f"{s}_hip_flex"] = d["pelvis_pitch"] + rng.uniform(78, 95) + _wander(rng, t, 3)
            d[f"{s}_hip_abd"] = rng.uniform(0, 20) + _wander(rng, t, 4)
            d[f"{s}_knee"] = rng.uniform(0, 15) + _wander(rng, t, 5)
        else:  # knees up, feet on the floor in front of the pelvis
            thigh = rng.uniform(110, 140) + _wander(rng, t, 4)  # from straight down
            # Shank angle that puts the ankle 40 mm below the hip (canonical lengths, whole mm).
            thigh_mm, shank_mm = round(_REST[2][1]), round(_REST[3][1])
            shank = np.degrees(np.arccos(np.clip((40 - thigh_mm * np.cos(np.radians(thigh))) / shank_mm, -1, 1)))
            d[f"{s}_hip_flex"] = d["pelvis_pitch"] + thigh
            d[f"{s}_hip_abd"] = rng.uniform(0, 25) + _wander(rng, t, 4)
            d[f"{s}_knee"] = thigh - shank
        d[f"{s}_ankle"] = rng.uniform(-10, 30) + _wander(rng, t, 5)
    if style == "knees_up":
        _feet_flat(d)
    if rng.random() < 0.5:  # leaning back on straight arms
        for s in "lr":
            d[f"{s}_sho_flex"] = rng.uniform(-40, -20) + _wander(rng, t, 4)
            d[f"{s}_sho_abd"] = rng.uniform(10, 30)
            d[f"{s}_elbow"] = rng.uniform(0, 15)
    return d


def _kneel(rng, t) -> dict:
    """Kneeling on one or both knees, trunk upright or leaning forward."""
    d = _upright(rng, t)
    d["pelvis_pitch"] = rng.uniform(-5, 25) + _wander(rng, t, 4)
    d["spine_bend"] = rng.uniform(0, 25) + _wander(rng, t, 5)
    for s in "lr":
        d[f"{s}_hip_flex"] = d["pelvis_pitch"] + rng.uniform(-5, 30) + _wander(rng, t, 4)
        d[f"{s}_knee"] = rng.uniform(85, 135) + _wander(rng, t, 4)
        d[f"{s}_ankle"] = rng.uniform(20, 45)
    if rng.random() < 0.6:  # one foot forward on the floor
        s = "lr"[rng.integers(2)]
        d[f"{s}_hip_flex"] = d["pelvis_pitch"] + rng.uniform(70, 100)
        d[f"{s}_knee"] = rng.uniform(80, 110)
        d[f"{s}_ankle"] = d[f"{s}_hip_flex"] - d[f"{s}_knee"] - d["pelvis_pitch"]
    return d


def _crouch(rng, t) -> dict:
    """Squatting: trunk leaning forward, deep knee bend, heels lifting where the ankle runs out of range."""
    d = _upright(rng, t)
    d["pelvis_pitch"] = rng.uniform(15, 45) + _wander(rng, t, 4)
    d["spine_bend"] = rng.uniform(0, 25) + _wander(rng, t, 5)
    d["neck_bend"] = rng.uniform(-25, 5) + _wander(rng, t, 6)
    for s in "lr":
        d[f"{s}_hip_flex"] = d["pelvis_pitch"] + rng.uniform(65, 95) + _wander(rng, t, 5)
        d[f"{s}_hip_abd"] = rng.uniform(5, 30) + _wander(rng, t, 4)
        d[f"{s}_knee"] = rng.uniform(95, 145) + _wander(rng, t, 5)
        d[f"{s}_sho_flex"] = rng.uniform(15, 70) + _wander(rng, t, 10)
        d[f"{s}_elbow"] = rng.uniform(10, 90) + _wander(rng, t, 10)
    _feet_flat(d)
    return d


def _bend(rng, t) -> dict:
    """Bending forward at the hips with near-straight legs; arms hang towards the floor."""
    d = _upright(rng, t)
    d["pelvis_pitch"] = rng.uniform(25, 55) + _wander(rng, t, 4)
    d["spine_bend"] = rng.uniform(5, 35) + _wander(rng, t, 5)
    d["neck_bend"] = rng.uniform(-30, 0) + _wander(rng, t, 6)
    trunk = d["pelvis_pitch"] + d["spine_bend"]
    for s in "lr":
        d[f"{s}_hip_flex"] = d["pelvis_pitch"] + rng.uniform(-5, 12) + _wander(rng, t, 3)
        d[f"{s}_knee"] = rng.uniform(0, 25) + _wander(rng, t, 4)
        d[f"{s}_sho_flex"] = trunk * rng.uniform(0.6, 1.1) + _wander(rng, t, 10)
        d[f"{s}_elbow"] = rng.uniform(0, 50) + _wander(rng, t, 10)
    _feet_flat(d)
    return d


def _arm_targets(rng, kind: str) -> dict:
    """Shoulder/elbow angles of one arm for a gesture: 'raise' (high), 'point', 'face' (hand to mouth)."""
    if kind == "face":
        return {"sho_flex": rng.uniform(20, 55), "sho_abd": rng.uniform(10, 35),
                "sho_rot": rng.uniform(20, 50), "elbow": rng.uniform(125, 145), "wrist": rng.uniform(-20, 30)}
    if kind == "raise":
        return {"sho_flex": rng.uniform(60, 175), "sho_abd": rng.uniform(10, 160),
                "sho_rot": rng.uniform(-30, 40), "elbow": rng.uniform(0, 90), "wrist": rng.uniform(-30, 30)}
    return {"sho_flex": rng.uniform(30, 100), "sho_abd": rng.uniform(5, 60),
            "sho_rot": rng.uniform(-20, 40), "elbow": rng.uniform(0, 60), "wrist": rng.uniform(-20, 20)}


def _gesture(rng, t, d: dict, side: str, kind: str, amount: float = 1.0, hold: bool = False) -> None:
    """Move one arm to a gesture target and back, smoothly, `amount` = how far."""
    w = amount * (np.ones(len(t)) if hold else _activity(rng, t))
    for k, v in _arm_targets(rng, kind).items():
        key = f"{side}_{k}"
        d[key] = (1 - w) * d[key] + w * (v + _wander(rng, t, 6))


def _wave(rng, t, d: dict, side: str) -> None:
    """Hand raised with the forearm swinging, as in waving."""
    w = _activity(rng, t, duty=0.4)
    d[f"{side}_sho_flex"] = (1 - w) * d[f"{side}_sho_flex"] + w * rng.uniform(40, 100)
    d[f"{side}_sho_abd"] = (1 - w) * d[f"{side}_sho_abd"] + w * rng.uniform(30, 80)
    d[f"{side}_sho_rot"] = (1 - w) * d[f"{side}_sho_rot"] - w * rng.uniform(10, 40)
    d[f"{side}_elbow"] = (1 - w) * d[f"{side}_elbow"] + w * (80 + 30 * np.sin(2 * np.pi * rng.uniform(0.8, 1.5) * t))


def _walk(rng, t, lean=(0, 8), slow=False, leash=False, look=False) -> tuple[dict, dict]:
    """Gait cycle: hip/knee/ankle curves, counter-swinging arms; returns (angles, path parameters)."""
    d = _upright(rng, t)
    cadence = rng.uniform(0.7, 0.85) if slow else rng.uniform(0.8, 1.0)  # gait cycles per second
    phase = 2 * np.pi * cadence * t + rng.uniform(0, 2 * np.pi)
    hip_amp, knee_amp, arm_amp = rng.uniform(15, 22), rng.uniform(45, 65), rng.uniform(6, 20)
    d["pelvis_pitch"] = rng.uniform(*lean) + _wander(rng, t, 2)
    d["pelvis_yaw"] = 4 * np.sin(phase) + _wander(rng, t, 2)
    d["spine_twist"] = -3 * np.sin(phase) + _wander(rng, t, 3)
    d["pelvis_roll"] = 2 * np.sin(2 * phase)
    for s, ph in (("l", phase), ("r", phase + np.pi)):
        hip = 8 + hip_amp * np.sin(ph)
        # Swing-phase knee peak shortly after the hip passes neutral; small loading peak after heel strike.
        knee = 4 + knee_amp * np.maximum(0, np.cos(ph - 0.1)) ** 3 + 12 * np.maximum(0, np.cos(ph - 2.1)) ** 4
        d[f"{s}_hip_flex"] = d["pelvis_pitch"] + hip
        d[f"{s}_hip_abd"] = rng.uniform(-4, 2) + 2 * np.sin(ph)
        d[f"{s}_knee"] = knee
        d[f"{s}_ankle"] = 0.6 * (hip - knee) + 15 * np.maximum(0, np.cos(ph + 1.3)) ** 3
        # The arm swings with the opposite leg.
        d[f"{s}_sho_flex"] = rng.uniform(0, 10) - arm_amp * np.sin(ph)
        d[f"{s}_sho_abd"] = rng.uniform(6, 20) + _wander(rng, t, 3)
        d[f"{s}_elbow"] = rng.uniform(10, 50) + 0.5 * arm_amp * (1 - np.sin(ph))
        if rng.random() < 0.25:  # carrying something / hand in front (phone, cup): arm held bent
            d[f"{s}_sho_flex"] = rng.uniform(0, 40) + _wander(rng, t, 5)
            d[f"{s}_sho_rot"] = rng.uniform(20, 60) + _wander(rng, t, 5)
            d[f"{s}_elbow"] = rng.uniform(60, 140) + _wander(rng, t, 8)
    if leash:
        side = "lr"[rng.integers(2)]
        d[f"{side}_sho_flex"] = rng.uniform(20, 50) + _wander(rng, t, 10)
        d[f"{side}_elbow"] = rng.uniform(20, 70) + _wander(rng, t, 10)
        d["neck_bend"] = rng.uniform(10, 35) + _wander(rng, t, 8)
    if look:
        d["neck_twist"] = rng.uniform(-35, 35) + _wander(rng, t, 10)
    stride = rng.uniform(0.9, 1.3) * (0.85 if slow else 1.0)  # m per gait cycle
    path = {"speed": stride * cadence * 1000.0, "radius": rng.uniform(900, 1500),
            "turn": rng.choice([-1.0, 1.0])}
    return d, path


def _action_angles(action: str, rng, t) -> tuple[dict, dict | None]:
    """Joint angles (degrees, each (T,)) of one sequence of `action`, and its walking path (or None)."""
    recipe, opt = ACTION_RECIPES[action]
    if recipe == "walk":
        return _walk(rng, t, lean=opt.get("lean", (0, 8)), slow=opt.get("slow", False),
                     leash=opt.get("leash", False), look=opt.get("look", False))
    if recipe == "sit":
        d = _sit(rng, t)
    elif recipe == "sit_down":
        # Sitting on the floor, or stand <-> sit/crouch transitions; the body rests on whatever
        # support joints are lowest (feet, knees, pelvis, hands).
        pick = rng.random()
        if pick < 0.5:
            d = _floor_sit(rng, t)
        elif pick < 0.8:
            other = _crouch(rng, t) if rng.random() < 0.5 else _kneel(rng, t)
            d = _blend(_floor_sit(rng, t), other, _activity(rng, t, 0.04, 0.12, duty=rng.uniform(0.2, 0.5)))
        else:
            standing, seated = _upright(rng, t), _sit(rng, t, deep=True)
            d = _blend(standing, seated, _activity(rng, t, 0.04, 0.12, duty=rng.uniform(0.7, 0.95)))
    elif recipe == "stand_crouch":
        low = _crouch(rng, t) if rng.random() < 0.7 else _kneel(rng, t)
        d = _blend(_upright(rng, t), low, _activity(rng, t, 0.03, 0.1, duty=rng.uniform(0.1, 0.5)))
    elif recipe == "stand_bend":
        d = _blend(_upright(rng, t), _bend(rng, t), _activity(rng, t, 0.04, 0.15, duty=rng.uniform(0.2, 0.6)))
    else:
        d = _upright(rng, t)
    if opt.get("weight_shift"):
        _weight_shift(rng, t, d)
    sides = ["l", "r"]
    rng.shuffle(sides)
    if "face" in opt:
        _gesture(rng, t, d, sides[0], "face", hold=opt.get("hold", False))
        if opt.get("both") or rng.random() < 0.3:
            _gesture(rng, t, d, sides[1], "face", hold=opt.get("hold", False))
    if "gesture" in opt:
        kind = "raise" if opt.get("raise") else "point"
        _gesture(rng, t, d, sides[0], kind, opt["gesture"])
        if rng.random() < 0.5:
            _gesture(rng, t, d, sides[1], kind, opt["gesture"] * rng.uniform(0.3, 1.0))
    if opt.get("wave"):
        _wave(rng, t, d, sides[0])
    d["turn"] = _wander(rng, t, opt.get("turn", 15), fmax=0.1)
    return d, None


def _level_legs(dofs: dict) -> None:
    """Hip abduction measured from the vertical: a rolled pelvis must not tilt both legs sideways."""
    dofs["l_hip_abd"] = dofs["l_hip_abd"] - dofs["pelvis_roll"]
    dofs["r_hip_abd"] = dofs["r_hip_abd"] + dofs["pelvis_roll"]


def clip_to_limits(dofs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every joint angle clipped to its anatomical range (`LIMITS`)."""
    out = {}
    for k, v in dofs.items():
        lo, hi = LIMITS[k[2:] if k[:2] in ("l_", "r_") else k]
        out[k] = np.clip(v, lo, hi)
    return out


def synthetic_sequence(action: str, num_frames: int, rng: np.random.Generator,
                       bone_scale: np.ndarray, extent: float = 1.0) -> np.ndarray:
    """One smooth motion of `action`: (T, 32, 3) world mm, z up, lowest foot joint on the floor,
    mean pelvis at the origin. `extent` < 1 shrinks the walking path / drift (used to fit the views)."""
    t = np.arange(num_frames) / FPS
    dofs, path = _action_angles(action, rng, t)
    _level_legs(dofs)
    heading = rng.uniform(0, 2 * np.pi)
    if path is None:
        yaw = heading + np.deg2rad(dofs.pop("turn"))
        xy = np.stack([_wander(rng, t, 120 * extent, fmax=0.08), _wander(rng, t, 120 * extent, fmax=0.08)], -1)
    else:
        radius = path["radius"] * extent
        angle = heading + path["turn"] * path["speed"] / radius * t
        xy = radius * np.stack([np.cos(angle), np.sin(angle)], -1)
        yaw = angle + path["turn"] * np.pi / 2
    joints = forward_kinematics(local_rotations(clip_to_limits(dofs)), canonical_offsets() * bone_scale[:, None])
    yaw_rot = _rot(2, yaw)
    joints = joints @ yaw_rot.swapaxes(-1, -2)
    # The lowest support point (joint centre minus its height when resting on the floor) touches the floor.
    support = np.array(list(SUPPORT))
    lowest = (joints[:, support, 2] - np.array(list(SUPPORT.values()))).min(-1, keepdims=True)
    joints[..., 2] += rng.uniform(0, 5) - lowest
    joints[..., :2] += xy[:, None, :] - xy.mean(0)
    return joints


def inside_all_views(joints_world: np.ndarray, cameras: list[Camera], margin: float = 5.0) -> bool:
    """True if every joint of every frame projects in front of and inside every camera's image."""
    for cam in cameras:
        cam_pts = cam.world_to_camera(joints_world)
        uv = cam.project(cam_pts)
        w, h = cam.size
        if (cam_pts[..., 2] <= 100).any() or (uv < margin).any() or (uv[..., 0] > w - margin).any() \
                or (uv[..., 1] > h - margin).any():
            return False
    return True


def synthetic_subject(subject: int, num_frames: int, seed: int = 0,
                      cameras: dict | None = None) -> dict[tuple[str, int], np.ndarray]:
    """{(action, subaction): (T, 32, 3) world mm} for the 15 actions x 2 recordings of one subject.

    Deterministic in (seed, subject, action, subaction), independent of which other subjects are made.
    """
    cameras = h36m_cameras() if cameras is None else cameras
    views = [cam for (s, _), cam in sorted(cameras.items()) if s == subject]
    scale = subject_bone_scales(subject, seed)
    out = {}
    for a, action in enumerate(ACTIONS):
        for sub in (0, 1):
            rng = np.random.default_rng([seed, subject, a, sub])
            for attempt in range(50):
                joints = synthetic_sequence(action, num_frames, rng, scale, extent=0.9 ** attempt)
                if inside_all_views(joints, views):
                    break
            else:
                raise RuntimeError(f"synthetic {action} for S{subject} never fitted the camera views")
            out[(action, sub)] = joints.astype(np.float32)
    return out


def write_synthetic_h36m(root: str | Path, subjects=SUBJECTS, frames_per_sequence: int = SIZES["default"],
                         seed: int = 0) -> Path:
    """Write cameras.h5 and S<s>/MyPoses/3D_positions/<Action>[ 1].h5 under `root` (h5-annotation layout)."""
    import h5py

    root = Path(root)
    cameras = h36m_cameras()
    save_h36m_cameras(root / "cameras.h5", cameras)
    for subject in subjects:
        folder = root / f"S{subject}" / POSE_SUBDIR
        folder.mkdir(parents=True, exist_ok=True)
        for (action, sub), joints in synthetic_subject(subject, frames_per_sequence, seed, cameras).items():
            with h5py.File(folder / pose_file_name(action, sub), "w") as h5:
                h5.create_dataset("3D_positions", data=joints.reshape(len(joints), 96).T, compression="gzip")
    return root


def ensure_synthetic_dataset(cache_dir: str | Path, seed: int = 0, size: str = "default") -> Path:
    """Path of the synthetic data set with these options under `cache_dir`, generated once.

    Generated in a temporary folder and renamed into place, so an interrupted run never leaves a
    half-written data set; a complete folder (it has `synthetic.json`) is reused as is.
    """
    if size not in SIZES:
        raise UserError(f"unknown synthetic data size {size!r}; expected one of {', '.join(SIZES)}")
    cache_dir = Path(cache_dir)
    final = cache_dir / f"synthetic_h36m_{size}_seed{seed}_v{FORMAT_VERSION}"
    if (final / "synthetic.json").is_file():
        return final
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=cache_dir))
    try:
        write_synthetic_h36m(tmp, SUBJECTS, SIZES[size], seed)
        write_json(tmp / "synthetic.json", {"generator": "lifting.data.synthetic", "version": FORMAT_VERSION,
                                            "seed": seed, "size": size, "subjects": list(SUBJECTS),
                                            "frames_per_sequence": SIZES[size], "fps": FPS})
        os.rename(tmp, final)
    except OSError:
        shutil.rmtree(tmp, ignore_errors=True)
        if (final / "synthetic.json").is_file():  # another process finished the same data set first
            return final
        raise
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def pose_data_dir(name: str | Path, cache_dir: str | Path, synthetic_size: str = "default") -> Path:
    """The h5-annotation folder a `data_dir` value names: 'synthetic' is the built-in data (seed 0, generated once
    into `cache_dir`), anything else a directory that must exist."""
    if str(name) == "synthetic":
        return ensure_synthetic_dataset(cache_dir, seed=0, size=synthetic_size)
    path = Path(name)
    if not path.is_dir():
        raise UserError(f"data_dir: {path} is not a directory (expected cameras.h5 and S<n>/MyPoses/3D_positions/)")
    return path
