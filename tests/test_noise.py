import h5py
import numpy as np
import pytest

from lifting.datasets.noise import add_noise, detection_file, input_dropout_mask, load_detections
from lifting.datasets.samples import PoseSet
from lifting.errors import UserError

BASE = np.full((20_000, 16, 2), 500.0, dtype=np.float32)


def test_none_is_identity_copy():
    out = add_noise(BASE, "none", 10, np.random.default_rng(0))
    np.testing.assert_array_equal(out, BASE)
    assert out is not BASE and out.dtype == np.float32


def test_normal_amount_is_variance():
    out = add_noise(BASE, "normal", 25.0, np.random.default_rng(0))
    delta = (out - BASE).astype(np.float64)
    assert abs(delta.mean()) < 0.05
    np.testing.assert_allclose(delta.var(axis=(0, 1)), [25.0, 25.0], rtol=0.02)  # std 5, not 25
    # x and y noise independent
    assert abs(np.corrcoef(delta[..., 0].ravel(), delta[..., 1].ravel())[0, 1]) < 0.01


def test_uniform_linear_integer_one_sided():
    out = add_noise(BASE, "uniform_linear", 5, np.random.default_rng(1))
    delta = out - BASE
    np.testing.assert_array_equal(delta, np.round(delta))
    values, counts = np.unique(delta, return_counts=True)
    np.testing.assert_array_equal(values, [0, 1, 2, 3, 4, 5])
    np.testing.assert_allclose(counts / counts.sum(), 1 / 6, atol=0.01)
    assert not np.array_equal(delta[..., 0], delta[..., 1])
    with pytest.raises(UserError, match="whole number"):
        add_noise(BASE, "uniform_linear", 2.5, np.random.default_rng(1))


def test_uniform_radial_exact_length_integer_degrees():
    out = add_noise(BASE, "uniform_radial", 8, np.random.default_rng(2))
    delta = (out - BASE).astype(np.float64)
    np.testing.assert_allclose(np.linalg.norm(delta, axis=-1), 8.0, atol=1e-3)
    degrees = np.rad2deg(np.arctan2(delta[..., 1], delta[..., 0])) % 360
    near_integer = np.abs(degrees - np.round(degrees)) < 0.02
    assert near_integer.all()
    assert len(np.unique(np.round(degrees) % 360)) == 360


def test_seeded_and_unknown_kind():
    a = add_noise(BASE[:10], "normal", 4, np.random.default_rng(5))
    b = add_noise(BASE[:10], "normal", 4, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(UserError, match="none, uniform_linear, uniform_radial, normal"):
        add_noise(BASE, "gaussian", 4, np.random.default_rng(0))


def test_input_dropout_mask():
    keep = input_dropout_mask(50_000, 17, 0.2, np.random.default_rng(0))
    assert keep.shape == (50_000, 17) and keep.dtype == bool
    np.testing.assert_allclose(keep.mean(), 0.8, atol=0.01)
    assert input_dropout_mask(10, 17, 0.0, np.random.default_rng(0)).all()
    assert not input_dropout_mask(10, 17, 1.0, np.random.default_rng(0)).any()
    with pytest.raises(UserError, match=r"\[0, 1\]"):
        input_dropout_mask(10, 17, 1.5, np.random.default_rng(0))


def _poseset(rows):
    n = len(rows)
    subject, action, subaction, camera, frame = zip(*rows)
    return PoseSet(skeleton="h36m_16", joints2d_px=np.zeros((n, 16, 2)), joints3d_cam=np.ones((n, 16, 3)),
                   subject=subject, action=action, subaction=subaction, camera=camera, frame=frame,
                   cam_f=np.ones((n, 2)), cam_c=np.ones((n, 2)))


def test_load_detections_aligned_by_key(tmp_path):
    def write(subject, action, subaction, camera, n):
        path = detection_file(tmp_path, subject, action, subaction, camera)
        path.parent.mkdir(parents=True, exist_ok=True)
        # Encode the file and frame in the values: x = 1000 * camera + frame, y = subaction.
        poses = np.zeros((n, 16, 2), np.float32)
        poses[..., 0] = 1000 * camera + np.arange(n)[:, None]
        poses[..., 1] = subaction
        with h5py.File(path, "w") as h5:
            h5["poses"] = poses
        return path

    p1 = write(9, "Phoning", 1, 1, 10)
    assert p1.relative_to(tmp_path).as_posix() == "S9/StackedHourglassFineTuned240/Phoning_1.54138969.h5"
    p2 = write(9, "Phoning", 0, 4, 6)
    assert p2.name == "Phoning.60457274.h5"
    ps = _poseset([(9, "Phoning", 1, 1, 7), (9, "Phoning", 0, 4, 5), (9, "Phoning", 1, 1, 2)])
    det = load_detections(tmp_path, ps)
    assert det.shape == (3, 16, 2)
    np.testing.assert_array_equal(det[:, 0], [[1007, 1], [4005, 0], [1002, 1]])

    with pytest.raises(UserError, match=r"Phoning\.58860488\.h5: detection file not found"):
        load_detections(tmp_path, _poseset([(9, "Phoning", 0, 3, 0)]))
    with pytest.raises(UserError, match=r"has 6 frames, but frame 6 is needed"):
        load_detections(tmp_path, _poseset([(9, "Phoning", 0, 4, 6)]))


def test_normal_random_sigma_one_std_per_pose_uniform_up_to_the_amount():
    out = add_noise(BASE, "normal_random_sigma", 15.0, np.random.default_rng(3))
    delta = (out - BASE).astype(np.float64)
    sigma = delta.reshape(len(delta), -1).std(1)              # per pose, 32 samples of its one std
    assert sigma.max() < 15.0 * 1.5
    np.testing.assert_allclose((delta ** 2).mean(), 15.0 ** 2 / 3, rtol=0.03)   # E[s^2] of s ~ U(0, 15)
    np.testing.assert_allclose((sigma < 1.5).mean(), 0.1, atol=0.02)           # clean poses too: P(s < 1.5) = 0.1


# A standing pose, Human3.6M-17 px (x right, y down), every joint distinct.
POSE = np.array([[500, 500], [470, 502], [468, 600], [466, 700], [530, 498], [532, 601], [534, 702], [501, 440],
                 [502, 380], [503, 355], [504, 320], [540, 385], [560, 440], [575, 490], [462, 383], [441, 441],
                 [425, 492]], dtype=np.float64)
PARENT_OR_RIGHT_HIP = [1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 9, 8, 11, 12, 8, 14, 15]   # the nearest joint on the tree


def test_coco_share_gives_what_run_model_gives_for_coco_keypoints():
    from lifting.datasets.keypoints import Keypoints2D, prepare_h36m17
    from lifting.datasets.noise import detector_like

    out = detector_like(POSE[None], 0, 1.0, np.random.default_rng(0))[0]
    coco = np.full((17, 2), np.nan)                          # COCO-17 order; eyes and ears (1..4) missing
    coco[[0, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]] = POSE[[9, 11, 14, 12, 15, 13, 16, 4, 1, 5, 2, 6, 3]]
    present = ~np.isnan(coco[:, 0])
    kp = Keypoints2D("coco_17", coco[None], present[None], np.array(["f"]), np.array(["0"]), np.zeros(1, int),
                     np.full(1, -1), np.array(["0"]))
    np.testing.assert_allclose(out, prepare_h36m17(kp)[0][0])
    thorax = (POSE[11] + POSE[14]) / 2                       # by hand: shoulder midpoint, 2 nose - thorax, ...
    np.testing.assert_allclose(out[[0, 7, 8, 9, 10]], [(POSE[1] + POSE[4]) / 2, ((POSE[1] + POSE[4]) / 2 + thorax) / 2,
                                                        thorax, POSE[9], 2 * POSE[9] - thorax])
    keep = [1, 2, 3, 4, 5, 6, 11, 12, 13, 14, 15, 16]
    np.testing.assert_array_equal(out[keep], POSE[keep])


def test_missing_keypoints_land_on_the_nearest_present_joint():
    from lifting.datasets.noise import detector_like

    poses = np.repeat(POSE[None], 6000, axis=0).astype(np.float32)
    out = detector_like(poses, 2, 0.0, np.random.default_rng(1))
    moved = (out != poses).any(-1)
    np.testing.assert_allclose(np.bincount(moved.sum(1), minlength=3) / len(out), 1 / 3, atol=0.03)  # 0, 1, 2 missing
    assert moved.any(0).all()                                   # every joint, the root too, goes missing sometimes
    rows, joints = np.nonzero(moved & (moved.sum(1) == 1)[:, None])
    np.testing.assert_array_equal(out[rows, joints], poses[rows, np.array(PARENT_OR_RIGHT_HIP)[joints]])
    both = np.flatnonzero(moved.sum(1) == 2)
    assert all(np.isin(out[r][moved[r]], poses[r][~moved[r]]).all() for r in both[:50])   # filled from present joints
    again = detector_like(poses, 2, 0.0, np.random.default_rng(1))
    np.testing.assert_array_equal(out, again)
    assert out.dtype == np.float32
