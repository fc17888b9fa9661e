import numpy as np
import pytest

from lifting.datasets.h36m import ACTIONS, load_h36m
from lifting.errors import UserError
from lifting.geometry.cameras import h36m_cameras
from lifting.geometry.skeletons import H36M_32
from lifting.synth.poses import (
    LIMITS,
    SIZES,
    SUBJECTS,
    SUPPORT,
    canonical_offsets,
    ensure_synthetic_dataset,
    synthetic_subject,
)

FRAMES = 40


@pytest.fixture(scope="module")
def seqs():
    return {s: synthetic_subject(s, FRAMES, seed=0) for s in (1, 9)}


def _stack(seqs_of_subject):
    return np.concatenate(list(seqs_of_subject.values())).astype(np.float64)


def _angle(a, b):
    """Angle in degrees between vectors (..., 3)."""
    cos = (a * b).sum(-1) / np.linalg.norm(a, axis=-1) / np.linalg.norm(b, axis=-1)
    return np.degrees(np.arccos(np.clip(cos, -1, 1)))


def test_all_actions_both_recordings(seqs):
    assert sorted(seqs[1]) == sorted((a, s) for a in ACTIONS for s in (0, 1))
    assert all(v.shape == (FRAMES, 32, 3) and v.dtype == np.float32 for v in seqs[1].values())


def test_bone_lengths_constant_within_subject_and_differ_between(seqs):
    lengths = {s: H36M_32.limb_lengths(_stack(v)) for s, v in seqs.items()}
    for s, lens in lengths.items():
        assert np.abs(lens - lens[0]).max() < 0.01, s
    canonical = np.linalg.norm(canonical_offsets(), axis=-1)[[j for j, _ in H36M_32.limbs]]
    thigh = H36M_32.limbs.index((2, 1))
    # Around the Human3.6M proportions (canonical thigh 442.9 mm), not equal to them or to each other.
    for lens in lengths.values():
        assert 0.8 < lens[0, thigh] / canonical[thigh] < 1.2
    assert abs(lengths[1][0, thigh] - lengths[9][0, thigh]) > 1.0
    # Coincident joints of the Human3.6M layout stay coincident.
    j = _stack(seqs[1])
    for a, b in ((16, 13), (24, 13), (20, 19), (23, 22), (28, 27), (31, 30)):
        np.testing.assert_allclose(j[:, a], j[:, b], atol=1e-3)
    assert (np.linalg.norm(j[:, 11] - j[:, 0], axis=-1) < 0.2).all()  # mid_hip_2 0.1 mm above the pelvis


def test_knee_and_elbow_angles_within_limits_and_knees_bend_forward(seqs):
    j = np.concatenate([_stack(v) for v in seqs.values()])
    for hip, knee, ankle in ((1, 2, 3), (6, 7, 8)):
        thigh, shank = j[:, knee] - j[:, hip], j[:, ankle] - j[:, knee]
        flexion = _angle(thigh, shank)
        assert flexion.max() <= LIMITS["knee"][1] + 0.5
        # The knee is a hinge about the person's right-to-left axis: thigh x shank points to the left
        # for a knee that bends the right way (shank swinging backwards), to the right if hyperextended.
        left = j[:, 6] - j[:, 1]
        bent = flexion > 10
        assert bent.sum() > 100
        assert (np.einsum("nd,nd->n", np.cross(thigh, shank), left)[bent] > 0).all()
    for shoulder, elbow, wrist in ((17, 18, 19), (25, 26, 27)):
        flexion = _angle(j[:, elbow] - j[:, shoulder], j[:, wrist] - j[:, elbow])
        assert flexion.max() <= LIMITS["elbow"][1] + 0.5
        assert flexion.max() > 90  # arms do bend (hands to the face)


def test_feet_on_floor_and_upright(seqs):
    for s, v in seqs.items():
        for (action, _), joints in v.items():
            # The lowest support point (feet, or knees / pelvis / hands resting at their height) is on the floor.
            support = joints[:, list(SUPPORT), 2] - np.array(list(SUPPORT.values()))
            assert (support.min(-1) >= 0).all() and (support.min(-1) <= 5.01).all(), (s, action)
            assert (joints[..., 2] > -1).all(), (s, action)
            if action in ("Directions", "Discussion", "Smoking", "Greeting"):
                # Standing: both feet down (each foot's lowest joint near the floor), head high.
                for foot in ((3, 4, 5), (8, 9, 10)):
                    assert joints[:, foot, 2].min(-1).max() < 60, (s, action)
                assert (joints[:, 15, 2] > 1300).all(), (s, action)
    j = np.concatenate([_stack(v) for v in seqs.values()])
    assert (j[:, 15, 2] > j[:, 0, 2]).mean() > 0.98


def test_pelvis_centred_and_headings_vary(seqs):
    headings = []
    for joints in seqs[1].values():
        np.testing.assert_allclose(joints[:, 0, :2].mean(0), 0, atol=0.05)
        left = joints[0, 6] - joints[0, 1]
        headings.append(np.arctan2(left[1], left[0]))
    assert np.ptp(headings) > np.pi


def test_smooth_within_sequence(seqs):
    for joints in seqs[9].values():
        # mm per frame at 10 fps; a swinging foot moves up to ~4-5 m/s, so < 600 mm per frame.
        step = np.linalg.norm(np.diff(joints, axis=0), axis=-1)
        assert step.max() < 600 and np.median(step) < 150
    # Consecutive frames are far closer than frames of different sequences.
    a, b = seqs[9][("Walking", 0)], seqs[9][("Sitting", 0)]
    assert np.linalg.norm(a[1] - a[0], axis=-1).mean() < 0.2 * np.linalg.norm(a[0] - b[0], axis=-1).mean()


def test_inside_every_camera_image(seqs):
    cams = h36m_cameras()
    for s, v in seqs.items():
        j = _stack(v)
        for c in (1, 2, 3, 4):
            cam = cams[(s, c)]
            uv = cam.project_world(j)
            w, h = cam.size
            assert (cam.world_to_camera(j)[..., 2] > 0).all()
            assert (uv >= 0).all() and (uv[..., 0] <= w).all() and (uv[..., 1] <= h).all(), (s, c)


def test_deterministic_by_seed():
    a = synthetic_subject(5, 6, seed=3)
    b = synthetic_subject(5, 6, seed=3)
    c = synthetic_subject(5, 6, seed=4)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    assert not np.allclose(a[("Walking", 0)], c[("Walking", 0)])


def test_written_dataset_loads_through_load_h36m(tmp_path):
    root = ensure_synthetic_dataset(tmp_path, seed=0, size="tiny")
    assert root.parent == tmp_path and not [p for p in tmp_path.iterdir() if p.name.startswith(".")]
    ps = load_h36m(root, SUBJECTS, skeleton="h36m_32")
    assert len(ps) == len(SUBJECTS) * len(ACTIONS) * 2 * SIZES["tiny"] * 4
    assert set(ps.action) == set(ACTIONS) and set(ps.subaction) == {0, 1}
    # The file content equals the generator's output, seen through camera 2 of subject 9.
    direct = synthetic_subject(9, SIZES["tiny"], seed=0)[("WalkDog", 1)].astype(np.float64)
    rows = (ps.subject == 9) & (ps.action == "WalkDog") & (ps.subaction == 1) & (ps.camera == 2)
    cam = h36m_cameras()[(9, 2)]
    np.testing.assert_allclose(ps.joints2d_px[rows], cam.project_world(direct), atol=1e-2)
    # Idempotent: a second call reuses the folder without rewriting it.
    stamp = (root / "S1" / "MyPoses" / "3D_positions" / "Walking.h5").stat().st_mtime_ns
    assert ensure_synthetic_dataset(tmp_path, seed=0, size="tiny") == root
    assert (root / "S1" / "MyPoses" / "3D_positions" / "Walking.h5").stat().st_mtime_ns == stamp
    with pytest.raises(UserError, match="unknown synthetic data size 'huge'"):
        ensure_synthetic_dataset(tmp_path, size="huge")
