import numpy as np
import pytest
import torch

from lifting.errors import UserError
from lifting.geometry.skeletons import (
    H36M_16,
    H36M_17,
    H36M_32,
    LSP_14,
    SKELETONS,
    canonical_joint_name,
    conversion_indices,
    convert,
    flip_lr,
    get_skeleton,
)

# Index lists from the Human3.6M / stacked-hourglass / LSP conventions, as 32-joint indices.
IDX17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]
IDX16 = [3, 2, 1, 6, 7, 8, 0, 12, 13, 15, 27, 26, 25, 17, 18, 19]
IDX14 = [3, 2, 1, 6, 7, 8, 27, 26, 25, 17, 18, 19, 13, 15]


def test_h36m_32_parents_match_the_dataset_table():
    assert H36M_32.parents == (-1, 0, 1, 2, 3, 4, 0, 6, 7, 8, 9, 0, 11, 12, 13, 14,
                               12, 16, 17, 18, 19, 20, 19, 22, 12, 24, 25, 26, 27, 28, 27, 30)
    assert H36M_32.joint_names[13] == "neck" and H36M_32.joint_names[15] == "head"


@pytest.mark.parametrize("skeleton", list(SKELETONS.values()), ids=list(SKELETONS))
def test_flip_perm_is_involution_and_swaps_sides(skeleton):
    perm = np.array(skeleton.flip_perm)
    np.testing.assert_array_equal(perm[perm], np.arange(skeleton.num_joints))
    for i, j in enumerate(perm):
        a, b = skeleton.joint_names[i], skeleton.joint_names[j]
        if a.startswith("left_"):
            assert b == "right_" + a[5:]
        elif a.startswith("right_"):
            assert b == "left_" + a[6:]
        else:
            assert i == j
    assert sum(n.startswith("left_") for n in skeleton.joint_names) == \
        sum(n.startswith("right_") for n in skeleton.joint_names)


def test_flip_lr_numpy_and_torch():
    joints = np.arange(17 * 3, dtype=np.float64).reshape(17, 3)
    flipped = flip_lr(joints, "h36m_17")
    np.testing.assert_array_equal(flipped[H36M_17.index("left_wrist")], joints[H36M_17.index("right_wrist")])
    np.testing.assert_array_equal(flipped[H36M_17.index("mid_spine")], joints[H36M_17.index("mid_spine")])
    np.testing.assert_array_equal(flip_lr(flipped, "h36m_17"), joints)
    np.testing.assert_array_equal(flip_lr(torch.tensor(joints), "h36m_17").numpy(), flipped)


def test_conversions_by_name():
    np.testing.assert_array_equal(conversion_indices("h36m_32", "h36m_17"), IDX17)
    np.testing.assert_array_equal(conversion_indices("h36m_32", "h36m_16"), IDX16)
    np.testing.assert_array_equal(conversion_indices("h36m_32", "lsp_14"), IDX14)
    ids32 = np.arange(32)[:, None] * np.ones((1, 2))  # each joint carries its 32-index
    j17 = convert(ids32, "h36m_32", "h36m_17")
    # Chained conversions through 17 give the same joints as direct ones from 32.
    np.testing.assert_array_equal(convert(j17, "h36m_17", "h36m_16")[:, 0], IDX16)
    np.testing.assert_array_equal(convert(j17, "h36m_17", "lsp_14")[:, 0], IDX14)
    np.testing.assert_array_equal(convert(convert(j17, "h36m_17", "h36m_16"), "h36m_16", "lsp_14")[:, 0], IDX14)
    # 16 = 17 minus the chin; torch tensors and leading batch axes work.
    assert "chin" in H36M_17.joint_names and "chin" not in H36M_16.joint_names
    batch = torch.arange(2 * 32 * 3).reshape(2, 32, 3)
    assert convert(batch, "h36m_32", "h36m_17").shape == (2, 17, 3)
    assert torch.equal(convert(batch, "h36m_32", "h36m_17")[:, 7], batch[:, 12])
    with pytest.raises(UserError, match="lsp_14 lacks"):
        convert(np.zeros((14, 2)), "lsp_14", "h36m_17")


def test_limb_counts_unit_limbs_and_roots():
    assert (len(H36M_17.limbs), len(H36M_16.limbs), len(LSP_14.limbs)) == (16, 15, 14)
    name = lambda sk, limb: {sk.joint_names[i] for i in limb}  # noqa: E731
    assert name(H36M_17, H36M_17.limbs[H36M_17.unit_limb]) == {"right_knee", "right_ankle"}
    assert name(H36M_16, H36M_16.limbs[H36M_16.unit_limb]) == {"right_knee", "right_ankle"}
    assert name(LSP_14, LSP_14.limbs[LSP_14.unit_limb]) == {"right_knee", "right_ankle"}
    assert {frozenset(name(LSP_14, LSP_14.limbs[i])) for i in LSP_14.masked_limbs} == \
        {frozenset({"left_hip", "left_shoulder"}), frozenset({"right_hip", "right_shoulder"})}
    assert name(H36M_16, H36M_16.limbs[8]) == {"neck", "head"}
    assert LSP_14.joint_names[LSP_14.root] == "neck"
    assert H36M_17.joint_names[H36M_17.root] == "mid_hip" and H36M_16.joint_names[H36M_16.root] == "mid_hip"
    assert len(LSP_14.avg_person_limb_lengths) == 14 and len(H36M_17.avg_person_limb_lengths) == 16


def test_parents_form_a_tree_rooted_at_root():
    for sk in SKELETONS.values():
        assert sk.parents[sk.root] == -1 and sum(p == -1 for p in sk.parents) == 1
        for j in range(sk.num_joints):  # every joint reaches the root
            seen = set()
            while j != sk.root:
                assert j not in seen
                seen.add(j)
                j = sk.parents[j]


def test_limb_lengths_known_geometry():
    joints = np.zeros((17, 3))
    joints[H36M_17.index("right_knee")] = [0, 0, 400]
    joints[H36M_17.index("right_ankle")] = [300, 0, 800]
    lengths = H36M_17.limb_lengths(joints)
    assert lengths.shape == (16,)
    assert lengths[2] == pytest.approx(500.0)  # (r_knee, r_ankle): 3-4-5 triangle
    assert lengths[1] == pytest.approx(400.0)  # (r_hip at 0, r_knee)


def test_names_and_lookup():
    assert canonical_joint_name("RFoot") == "right_ankle"
    assert canonical_joint_name("Thorax") == "neck"
    assert canonical_joint_name("r_ankle") == "right_ankle"
    assert canonical_joint_name("Neck/Nose") == "chin"
    assert LSP_14.index("LShoulder") == 9
    with pytest.raises(UserError, match="unknown joint name 'tail'"):
        canonical_joint_name("tail")
    assert get_skeleton("h36m_17") is H36M_17 and get_skeleton(H36M_17) is H36M_17
    with pytest.raises(UserError, match="unknown skeleton 'coco_99'"):
        get_skeleton("coco_99")
