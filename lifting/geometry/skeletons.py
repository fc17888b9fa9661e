"""Joint sets: Human3.6M 32/17/16 and LSP 14, their trees, limbs, left/right flips and conversions.

Canonical joint names follow the relative-depth reference code (``right_knee``, ``mid_spine`` ...).
Every joint set is a subset of the 32-joint Human3.6M skeleton, so converting between sets is an
index gather by name. Arrays are ``(..., J, D)``; the joint axis is always ``-2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from lifting.errors import UserError

H36M_32_NAMES = (
    "mid_hip", "right_hip", "right_knee", "right_ankle", "right_foot_base", "right_foot_tip",
    "left_hip", "left_knee", "left_ankle", "left_foot_base", "left_foot_tip",
    "mid_hip_2", "mid_spine", "neck", "chin", "head",
    "neck_2", "left_shoulder", "left_elbow", "left_wrist", "left_wrist_2", "left_palm",
    "left_thumb", "left_thumb_2",
    "neck_3", "right_shoulder", "right_elbow", "right_wrist", "right_wrist_2", "right_palm",
    "right_thumb", "right_thumb_2",
)
H36M_32_PARENTS = (
    -1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14,
    12, 16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30,
)

# Other spellings seen in annotation files (Martinez/h5 names, LSP short names), mapped to canonical.
_ALIASES = {
    "hip": "mid_hip", "pelvis": "mid_hip", "root": "mid_hip",
    "rhip": "right_hip", "rknee": "right_knee", "rfoot": "right_ankle", "rankle": "right_ankle",
    "lhip": "left_hip", "lknee": "left_knee", "lfoot": "left_ankle", "lankle": "left_ankle",
    "spine": "mid_spine", "spine1": "mid_spine", "thorax": "neck", "neck/nose": "chin", "nose": "chin",
    "head_top": "head", "headtop": "head",
    "lshoulder": "left_shoulder", "lelbow": "left_elbow", "lwrist": "left_wrist",
    "rshoulder": "right_shoulder", "relbow": "right_elbow", "rwrist": "right_wrist",
    "r_ankle": "right_ankle", "r_knee": "right_knee", "r_hip": "right_hip",
    "l_ankle": "left_ankle", "l_knee": "left_knee", "l_hip": "left_hip",
    "r_wri": "right_wrist", "r_wrist": "right_wrist", "r_elb": "right_elbow", "r_elbow": "right_elbow",
    "r_sho": "right_shoulder", "r_shoulder": "right_shoulder",
    "l_wri": "left_wrist", "l_wrist": "left_wrist", "l_elb": "left_elbow", "l_elbow": "left_elbow",
    "l_sho": "left_shoulder", "l_shoulder": "left_shoulder",
}


def canonical_joint_name(name: str) -> str:
    """Map a joint name in any common spelling to the canonical name (raises UserError if unknown)."""
    key = name.strip().lower().replace(" ", "_").replace("-", "_")
    if key in H36M_32_NAMES:
        return key
    if key in _ALIASES:
        return _ALIASES[key]
    compact = key.replace("_", "")
    if compact in _ALIASES:
        return _ALIASES[compact]
    raise UserError(f"unknown joint name {name!r}; expected one of {', '.join(H36M_32_NAMES)}")


@dataclass(frozen=True)
class Skeleton:
    """A named joint set. `limbs` are (a, b) joint pairs used by losses and drawing."""

    name: str
    joint_names: tuple[str, ...]
    parents: tuple[int, ...]
    root: int
    limbs: tuple[tuple[int, int], ...]
    unit_limb: int = 0
    masked_limbs: tuple[int, ...] = ()
    avg_person_limb_lengths: tuple[float, ...] | None = None
    flip_perm: tuple[int, ...] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.joint_names)
        assert len(self.parents) == n and 0 <= self.root < n
        index = {nm: i for i, nm in enumerate(self.joint_names)}
        perm = []
        for nm in self.joint_names:
            if nm.startswith("left_"):
                perm.append(index["right_" + nm[5:]])
            elif nm.startswith("right_"):
                perm.append(index["left_" + nm[6:]])
            else:
                perm.append(index[nm])
        object.__setattr__(self, "flip_perm", tuple(perm))

    @property
    def num_joints(self) -> int:
        return len(self.joint_names)

    @property
    def bones(self) -> tuple[tuple[int, int], ...]:
        """(child, parent) pairs of the kinematic tree."""
        return tuple((j, p) for j, p in enumerate(self.parents) if p >= 0)

    def index(self, name: str) -> int:
        return self.joint_names.index(canonical_joint_name(name))

    def h36m32_indices(self) -> np.ndarray:
        return np.array([H36M_32_NAMES.index(nm) for nm in self.joint_names], dtype=np.int64)

    def limb_lengths(self, joints: np.ndarray) -> np.ndarray:
        """(..., J, 3) -> (..., L) Euclidean length of every limb, in the joints' unit."""
        a = np.array([limb[0] for limb in self.limbs])
        b = np.array([limb[1] for limb in self.limbs])
        return np.linalg.norm(joints[..., a, :] - joints[..., b, :], axis=-1)


def _limbs(names: tuple[str, ...], pairs: list[tuple[str, str]]) -> tuple[tuple[int, int], ...]:
    return tuple((names.index(a), names.index(b)) for a, b in pairs)


def _parents(names: tuple[str, ...], parent_of: dict[str, str | None]) -> tuple[int, ...]:
    return tuple(-1 if parent_of[n] is None else names.index(parent_of[n]) for n in names)


_TREE = {  # parent of each joint in the reduced sets (hip-rooted)
    "mid_hip": None, "right_hip": "mid_hip", "right_knee": "right_hip", "right_ankle": "right_knee",
    "left_hip": "mid_hip", "left_knee": "left_hip", "left_ankle": "left_knee",
    "mid_spine": "mid_hip", "neck": "mid_spine", "chin": "neck", "head": "chin",
    "left_shoulder": "neck", "left_elbow": "left_shoulder", "left_wrist": "left_elbow",
    "right_shoulder": "neck", "right_elbow": "right_shoulder", "right_wrist": "right_elbow",
}

_N17 = ("mid_hip", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
        "mid_spine", "neck", "chin", "head", "left_shoulder", "left_elbow", "left_wrist",
        "right_shoulder", "right_elbow", "right_wrist")
_L17 = [("mid_hip", "right_hip"), ("right_hip", "right_knee"), ("right_knee", "right_ankle"),
        ("mid_hip", "left_hip"), ("left_hip", "left_knee"), ("left_knee", "left_ankle"),
        ("mid_hip", "mid_spine"), ("mid_spine", "neck"), ("neck", "chin"), ("chin", "head"),
        ("neck", "left_shoulder"), ("left_shoulder", "left_elbow"), ("left_elbow", "left_wrist"),
        ("neck", "right_shoulder"), ("right_shoulder", "right_elbow"), ("right_elbow", "right_wrist")]

H36M_32 = Skeleton(
    name="h36m_32", joint_names=H36M_32_NAMES, parents=H36M_32_PARENTS, root=0,
    limbs=tuple((j, p) for j, p in enumerate(H36M_32_PARENTS) if p >= 0),
)

H36M_17 = Skeleton(
    name="h36m_17", joint_names=_N17, parents=_parents(_N17, _TREE), root=0,
    limbs=_limbs(_N17, _L17), unit_limb=2,
    # Proportions of an average person (only ratios matter); unit limb = right shank.
    avg_person_limb_lengths=(7, 19, 20, 7, 19, 20, 11.5, 12.5, 3.5, 3.5, 9, 15, 14, 9, 15, 14),
)

# Stacked-hourglass (MPII) order: the 17 joints minus the chin.
_N16 = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle", "mid_hip",
        "mid_spine", "neck", "head", "right_wrist", "right_elbow", "right_shoulder",
        "left_shoulder", "left_elbow", "left_wrist")
_L16 = [limb for limb in _L17 if "chin" not in limb]
_L16.insert(8, ("neck", "head"))
H36M_16 = Skeleton(
    name="h36m_16", joint_names=_N16, parents=_parents(_N16, {**_TREE, "head": "neck"}),
    root=_N16.index("mid_hip"), limbs=_limbs(_N16, _L16), unit_limb=2,
)

_N14 = ("right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
        "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
        "neck", "head")
_L14 = [("right_knee", "right_hip"), ("right_ankle", "right_knee"), ("left_hip", "left_knee"),
        ("left_knee", "left_ankle"), ("right_hip", "left_hip"), ("left_shoulder", "left_elbow"),
        ("left_elbow", "left_wrist"), ("right_elbow", "right_shoulder"),
        ("right_wrist", "right_elbow"), ("left_shoulder", "neck"), ("right_shoulder", "neck"),
        ("left_hip", "left_shoulder"), ("right_hip", "right_shoulder"), ("neck", "head")]
LSP_14 = Skeleton(
    name="lsp_14", joint_names=_N14,
    parents=_parents(_N14, {**_TREE, "neck": None, "head": "neck", "right_hip": "right_shoulder",
                            "left_hip": "left_shoulder"}),
    root=_N14.index("neck"), limbs=_limbs(_N14, _L14), unit_limb=1, masked_limbs=(11, 12),
    avg_person_limb_lengths=(449.205, 445.581, 449.203, 445.580, 268.099, 279.758, 249.523,
                             279.761, 249.522, 148.835, 148.834, 438.900, 423.584, 174.100),
)

SKELETONS = {s.name: s for s in (H36M_32, H36M_17, H36M_16, LSP_14)}


def get_skeleton(name: str | Skeleton) -> Skeleton:
    if isinstance(name, Skeleton):
        return name
    try:
        return SKELETONS[name]
    except KeyError:
        raise UserError(f"unknown skeleton {name!r}; expected one of {', '.join(SKELETONS)}") from None


def conversion_indices(src: str | Skeleton, dst: str | Skeleton) -> np.ndarray:
    """Indices into `src`'s joints that give `dst`'s joints (every dst joint must exist in src)."""
    src, dst = get_skeleton(src), get_skeleton(dst)
    missing = [n for n in dst.joint_names if n not in src.joint_names]
    if missing:
        raise UserError(f"cannot convert {src.name} to {dst.name}: {src.name} lacks {', '.join(missing)}")
    return np.array([src.joint_names.index(n) for n in dst.joint_names], dtype=np.int64)


def convert(joints, src: str | Skeleton, dst: str | Skeleton):
    """Gather `dst`'s joints from `(..., J_src, D)` numpy or torch joints."""
    idx = conversion_indices(src, dst)
    return joints[..., idx, :]


def flip_lr(joints, skeleton: str | Skeleton):
    """Swap left/right joint labels: `(..., J, D)` -> same shape (coordinates are not mirrored)."""
    return joints[..., list(get_skeleton(skeleton).flip_perm), :]


def mirror(joints, skeleton: str | Skeleton):
    """The mirror image in the camera's vertical plane through the optical axis: x negated and left/right labels
    swapped. `(..., J, D)` numpy or torch, D = 2 (root-centred 2D px) or 3 (root-relative camera-frame 3D mm): the
    mirrored 3D projects to the mirrored 2D, so a (2D, 3D) training pair stays a valid pair."""
    out = flip_lr(joints, skeleton)
    sign = [-1.0] + [1.0] * (out.shape[-1] - 1)
    if hasattr(out, "new_tensor"):
        return out * out.new_tensor(sign)
    return out * np.asarray(sign, dtype=out.dtype)
