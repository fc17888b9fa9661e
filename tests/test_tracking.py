import numpy as np
import pytest

from lifting.errors import UserError
from lifting.inference.tracking import frame_order, track_poses

RNG = np.random.default_rng(0)
SHAPE_A = RNG.normal(0, 40, (17, 3))
SHAPE_B = SHAPE_A + RNG.normal(0, 5, (17, 3))  # two similar people: identity must come from motion


def crossing(dim: int, frames: int = 21):
    """Two people whose paths cross at (500, 300) in frame 10: A walks right at 40 px/frame, B down at 20.
    Returns (T, 2, J, dim) ground-truth joints (person axis = identity)."""
    t = np.arange(frames)[:, None]
    centre_a = np.concatenate([100 + 40 * t, 300 + 0 * t, 5000 + 0 * t], 1)[:, :dim]
    centre_b = np.concatenate([500 + 0 * t, 100 + 20 * t, 4900 + 10 * t], 1)[:, :dim]
    return np.stack([centre_a[:, None] + SHAPE_A[:, :dim], centre_b[:, None] + SHAPE_B[:, :dim]], 1)


def flat(truth: np.ndarray, order_seed: int = 1, drop=()):
    """Flatten (T, P, J, D) to detector-like rows in a shuffled order within each frame; `drop` (t, p) pairs
    are missed detections."""
    rng = np.random.default_rng(order_seed)
    joints, frames, who = [], [], []
    for t in range(len(truth)):
        for p in rng.permutation(truth.shape[1]):
            if (t, p) not in drop:
                joints.append(truth[t, p])
                frames.append(f"frame_{t}")
                who.append(p)
    return np.stack(joints), np.array(frames), np.array(who)


@pytest.mark.parametrize("dim", [2, 3])
def test_crossing_paths_keep_identities(dim):
    truth = crossing(dim)
    joints, frames, _ = flat(truth)
    tracks = track_poses(joints, frames)
    assert tracks.joints.shape == (21, 2, 17, dim)
    # Track 0 is whoever was listed first in frame 0; each track must follow one person throughout.
    for k in range(2):
        person = int(np.argmin([np.abs(tracks.joints[0, k] - truth[0, p]).max() for p in range(2)]))
        np.testing.assert_allclose(tracks.joints[:, k], truth[:, person])


def test_crossing_with_a_missed_frame_keeps_identities_and_leaves_a_gap():
    truth = crossing(2)
    joints, frames, who = flat(truth, drop={(9, 0), (10, 1)})
    tracks = track_poses(joints, frames)
    assert tracks.joints.shape[1] == 2
    for k in range(2):
        person = who[tracks.rows[0, k]]
        assert (who[tracks.rows[tracks.rows[:, k] >= 0, k]] == person).all()
        gap = 9 if person == 0 else 10
        assert np.isnan(tracks.joints[gap, k]).all() and tracks.rows[gap, k] == -1
        keep = np.arange(21) != gap
        np.testing.assert_allclose(tracks.joints[keep, k], truth[keep, person])


def test_far_jump_and_long_absence_start_new_tracks():
    truth = crossing(2)[:, :1]  # A alone
    joints, frames, _ = flat(truth)
    # Frame 5 onwards: A teleports 2000 px away (beyond the gate) -> a second track from frame 5.
    moved = joints.copy()
    moved[5:] += 2000.0
    tracks = track_poses(moved, frames)
    assert tracks.joints.shape[1] == 2
    assert (tracks.rows[:5, 0] >= 0).all() and (tracks.rows[5:, 0] == -1).all()
    assert (tracks.rows[:5, 1] == -1).all() and (tracks.rows[5:, 1] >= 0).all()
    # A gone for 4 frames: one track with max_gap 4, two with max_gap 3.
    keep = ~np.isin(frames, ["frame_6", "frame_7", "frame_8", "frame_9"])
    every = [f"frame_{t}" for t in range(21)]
    tracks = track_poses(joints[keep], frames[keep], frames=every, max_gap=4)
    assert tracks.joints.shape == (21, 1, 17, 2) and (tracks.rows[6:10] == -1).all()
    assert track_poses(joints[keep], frames[keep], frames=every, max_gap=3).joints.shape[1] == 2


def test_depths_tell_apart_two_people_who_overlap_in_the_image():
    """A stands at 4 m, B at 6 m, 40 px to the right; for frames 5-7 only B is detected, 10 px from A and 30 px
    from B in the image: the 2D alone gives B's pose to A's track, the depths to B's."""
    a, b = 300 + SHAPE_A[:, :2], 340 + SHAPE_B[:, :2]
    joints = [a, b] * 5 + [310 + SHAPE_B[:, :2]] * 3
    frames = [t for t in range(5) for _ in (a, b)] + [5, 6, 7]
    depths = [4000.0, 6000.0] * 5 + [6100.0] * 3
    assert (track_poses(np.array(joints), frames).rows[5:, 0] == [10, 11, 12]).all()
    tracks = track_poses(np.array(joints), frames, depths=depths)
    assert (tracks.rows[5:, 0] == -1).all() and (tracks.rows[5:, 1] == [10, 11, 12]).all()
    with pytest.raises(UserError, match="one positive depth"):
        track_poses(np.array(joints), frames, depths=np.zeros(len(joints)))


def test_given_ids_are_kept_in_order_of_appearance():
    truth = crossing(2)
    joints, frames, who = flat(truth, drop={(0, 1)})
    ids = np.where(who == 0, 7, 3)
    tracks = track_poses(joints, frames, ids=ids)
    assert tracks.ids.tolist() == [7, 3]  # 7 appears in frame 0, 3 only from frame 1
    np.testing.assert_allclose(tracks.joints[:, 0], truth[:, 0])
    np.testing.assert_allclose(tracks.joints[1:, 1], truth[1:, 1])
    assert np.isnan(tracks.joints[0, 1]).all()
    with pytest.raises(UserError, match="frame frame_1 has two poses of person id 7"):
        track_poses(joints, frames, ids=np.full(len(joints), 7))


def test_frame_labels_in_natural_order():
    frames, index = frame_order(np.array(["f10", "f9", "f10", "f100"]))
    assert frames.tolist() == ["f9", "f10", "f100"] and index.tolist() == [1, 0, 1, 2]
    assert frame_order(np.array(["10", "2", "1"]))[0].tolist() == ["1", "2", "10"]


def test_bad_input_is_a_user_error():
    with pytest.raises(UserError, match="pose frame 'x' is not among"):
        track_poses(np.zeros((1, 17, 2)), ["x"], frames=["a", "b"])
    with pytest.raises(UserError, match=r"\(N, J, D\)"):
        track_poses(np.zeros((3, 17)), ["0", "1", "2"])


@pytest.mark.slow
def test_a_rendered_crossing_keeps_both_identities_through_the_zoo_video_pipeline(tmp_path, capsys):
    """Two mannequins walk past each other (A left to right 4 m away, B right to left 6 m away, A hiding B for a few
    frames halfway): run_estimator.py on the rendered clip, with the zoo's detector and estimator, must give each
    person one track, B's picked up again when B comes out from behind A."""
    import runpy
    from pathlib import Path

    from lifting.geometry.skeletons import convert
    from lifting.synth.clips import make_clip, write_clip
    from lifting.synth.poses import synthetic_sequence
    from lifting.zoo import names

    if not {"rendered_detector", "rendered_metrabs"} <= set(names()):
        pytest.fail("the zoo's rendered_detector and rendered_metrabs are not in checkpoint/manifest.json")
    T = 30
    walks = [convert(synthetic_sequence("Walking", T, np.random.default_rng(s), np.ones(32), extent=0.05),
                     "h36m_32", "h36m_17") for s in (1, 2)]
    sweep = np.linspace(-1500.0, 1500.0, T)[:, None, None] * np.array([1.0, 0.0, 0.0])
    walks = [walks[0] + sweep, walks[1] - sweep]
    clip = make_clip(walks, np.array([[0.0, 4000.0], [0.0, 6000.0]]), fps=10, width=640, height=480)
    video = write_clip(tmp_path / "cross.mp4", clip)[0]
    main = runpy.run_path(str(Path(__file__).resolve().parents[1] / "run_estimator.py"), run_name="test")["main"]
    assert main([str(video), "--out", str(tmp_path / "cross.npz")]) == 0
    found = np.load(tmp_path / "cross.npz")
    roots = found["poses3d"][:, :, 0]                                    # (T, K, 3) mm camera frame
    truth = clip.joints_cam[:, :, 0]                                     # (T, 2, 3)
    seen = np.isfinite(roots[..., 0])
    assert seen.sum(0).max() >= 0.8 * T
    # Each track sticks to one person (nearest true root in x, the axis in which they swap sides) ...
    owners = []
    for k in np.flatnonzero(seen.sum(0) >= 5):
        nearest = np.abs(roots[seen[:, k], k, None, 0] - truth[seen[:, k], :, 0]).argmin(-1)
        owner = np.bincount(nearest, minlength=2).argmax()
        assert (nearest == owner).mean() >= 0.9, (k, nearest)
        owners.append(owner)
    # ... and each person has one track through the crossing (B is hidden for at most 4 of the 30 frames).
    assert set(owners) == {0, 1}
    longest = np.argsort(-seen.sum(0))[:2]
    assert (seen[:, longest].sum(0) >= T - 4).all(), seen.sum(0)
