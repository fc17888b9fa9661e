import numpy as np
import pytest
from scipy.optimize import minimize
from scipy.spatial.transform import Rotation

from lifting import metrics as M


def _random_similarity(rng, n):
    rot = Rotation.random(n, random_state=int(rng.integers(1 << 30))).as_matrix()
    return rot, rng.uniform(0.3, 3.0, n), rng.normal(size=(n, 1, 3)) * 500


def test_mpjpe_hand_computed():
    gt = np.zeros((1, 3, 3))
    pred = np.array([[[0, 0, 0], [3, 4, 0], [0, 0, 12]]], float)   # errors 0, 5, 12 after root alignment
    assert M.mpjpe_errors(pred, gt).tolist() == [[0.0, 5.0, 12.0]]
    assert M.evaluate_poses(pred, gt)["mpjpe"] == pytest.approx(17 / 3)


def test_mpjpe_aligns_roots():
    gt = np.random.default_rng(0).normal(size=(4, 17, 3))
    assert M.mpjpe_errors(gt + np.array([100.0, -50, 3000]), gt).max() < 1e-9


def test_pa_mpjpe_zero_for_similarity_copies():
    rng = np.random.default_rng(1)
    pred = rng.normal(size=(64, 17, 3)) * 300
    rot, s, t = _random_similarity(rng, 64)
    gt = s[:, None, None] * pred @ rot.transpose(0, 2, 1) + t
    assert M.pa_mpjpe_errors(pred, gt).max() < 1e-6


def test_pa_mpjpe_matches_brute_force_fit():
    """The closed form equals a numerical search over rotation (rotvec), log-scale and translation."""
    rng = np.random.default_rng(2)
    for trial in range(4):
        pred = rng.normal(size=(1, 17, 3)) * 300
        rot, s, t = _random_similarity(rng, 1)
        gt = s[:, None, None] * pred @ rot.transpose(0, 2, 1) + t + rng.normal(size=(1, 17, 3)) * 80
        if trial % 2:
            gt[..., 0] *= -1   # a mirrored target: the best proper rotation must still be found

        def sq_err(v):
            r = Rotation.from_rotvec(v[:3]).as_matrix()
            return np.sum((np.exp(v[3]) * pred[0] @ r.T + v[4:] - gt[0]) ** 2)

        best = min((minimize(sq_err, np.r_[Rotation.random(random_state=k).as_rotvec(), 0, gt[0].mean(0)],
                             method="Powell", options={"maxiter": 40000, "xtol": 1e-10, "ftol": 1e-14})
                    for k in range(6)), key=lambda r: r.fun)
        closed = np.sum((M.procrustes_align(pred, gt) - gt) ** 2)
        assert closed <= best.fun * (1 + 1e-6) + 1e-6
        assert closed == pytest.approx(best.fun, rel=1e-4)


def test_procrustes_never_reflects():
    rng = np.random.default_rng(3)
    pred = rng.normal(size=(32, 17, 3))
    gt = pred.copy()
    gt[..., 2] *= -1                                            # a pure mirror image
    aligned = M.procrustes_align(pred, gt)
    p0 = pred - pred.mean(1, keepdims=True)
    a0 = aligned - aligned.mean(1, keepdims=True)
    h = np.swapaxes(p0, 1, 2) @ a0
    u, _, vt = np.linalg.svd(h)
    assert np.all(np.linalg.det(u @ vt) > 0)                    # the fitted map is a proper rotation
    assert M.pa_mpjpe_errors(pred, gt).mean() > 0.1


def test_error_ordering_on_random_data():
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(2000, 17, 3)) * 250
    pred = 1.3 * gt + rng.normal(size=gt.shape) * 60 + 200
    mp, nm, pa = (M.mpjpe_errors(pred, gt).mean(), M.n_mpjpe_errors(pred, gt).mean(), M.pa_mpjpe_errors(pred, gt).mean())
    assert pa <= nm <= mp
    # the squared-error versions are guaranteed frame by frame
    sq = lambda a, b: ((a - b) ** 2).sum((1, 2))
    g0 = M.root_relative(gt)
    assert np.all(sq(M.scale_align(pred, gt), g0) <= sq(M.root_relative(pred), g0) + 1e-6)


def test_pck_auc_hand_computed():
    e = np.array([0.0, 10.0, 149.0, 150.0, 400.0])
    assert M.pck(e, 150) == pytest.approx(60.0)
    # thresholds 0..150 step 5: counts strictly below each threshold
    expected = np.mean([100 * np.mean(e < t) for t in range(0, 155, 5)])
    assert M.auc(e) == pytest.approx(expected)
    assert M.auc(np.zeros(4)) == pytest.approx(100 * 30 / 31)


def test_mrpe_and_pair_accuracy():
    r = M.mrpe(np.array([[3.0, 4.0, 0.0], [0, 0, 10]]), np.zeros((2, 3)))
    assert r["mrpe"] == pytest.approx(7.5) and r["mrpe_z"] == pytest.approx(5.0) and r["mrpe_x"] == pytest.approx(1.5)
    depth = np.array([[1.0, 5.0], [4.0, 2.0]])
    pairs = np.array([[0, 1], [0, 1]])
    assert M.pair_accuracy(depth, pairs, np.array([-1, 1])) == 1.0
    assert M.pair_accuracy(depth, pairs, np.array([1, 1])) == 0.5


def test_per_action_headline_is_mean_of_action_means():
    gt = np.zeros((4, 2, 3))
    pred = np.zeros((4, 2, 3))
    pred[:, 1, 0] = [2.0, 2.0, 2.0, 10.0]        # per-frame MPJPE 1, 1, 1, 5
    res = M.evaluate_poses(pred, gt, actions=["A", "A", "A", "B"])
    assert res["per_action"]["A"]["mpjpe"] == pytest.approx(1.0)
    assert res["mpjpe"] == pytest.approx(3.0)            # (1 + 5) / 2
    assert res["mpjpe_framewise"] == pytest.approx(2.0)  # (1 + 1 + 1 + 5) / 4


def test_depth_order_accuracy_hand_computed():
    gt = np.zeros((1, 3, 3))
    gt[0, :, 2] = [0.0, 100.0, -50.0]
    pred = np.zeros((1, 3, 3))
    pred[0, :, 2] = [0.0, 80.0, 30.0]     # pairs (0,1) right, (0,2) wrong, (1,2) right
    assert M.depth_order_accuracy(pred, gt) == pytest.approx(2 / 3)
    mirrored = pred * np.array([1.0, 1.0, -1.0])
    assert M.depth_order_accuracy(mirrored, gt) == pytest.approx(1 / 3)
    tied = gt.copy()
    tied[0, 2, 2] = 100.0                  # joints 1 and 2 at equal true depth: that pair is left out
    assert M.depth_order_accuracy(pred, tied) == pytest.approx(1.0)
    rng = np.random.default_rng(0)
    poses = rng.normal(size=(50, 17, 3)) * 200
    assert M.evaluate_poses(poses, poses)["depth_order_accuracy"] == 1.0
    assert M.evaluate_poses(-poses, poses)["depth_order_accuracy"] == 0.0
