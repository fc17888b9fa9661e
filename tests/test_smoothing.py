import numpy as np
import pytest

from lifting.errors import UserError
from lifting.inference.smoothing import one_euro, savgol, segments, smooth, smooth_tracks
from lifting.metrics import mpjve_errors


def test_segments_are_the_runs_of_finite_frames():
    x = np.zeros((9, 2, 3))
    x[[0, 4, 5]] = np.nan
    x[7, 1, 2] = np.nan
    assert segments(x) == [slice(1, 4), slice(6, 7), slice(8, 9)]


def test_savgol_keeps_a_quadratic_and_reduces_noise():
    t = np.arange(40.0)
    motion = np.stack([0.5 * t ** 2, -3 * t + 7], -1)[:, None]  # (T, 1, 2)
    np.testing.assert_allclose(savgol(motion, window=7, order=2), motion, atol=1e-8)
    noise = np.random.default_rng(0).normal(0, 10, motion.shape)
    residual = savgol(motion + noise, window=7, order=2) - motion
    # A 7-frame quadratic fit averages the noise down to sqrt(0.333) of its std in the interior.
    assert 0.45 < residual[5:-5].std() / 10 < 0.7


def test_gaps_split_the_sequence_and_stay_missing():
    x = np.concatenate([np.zeros(10), [np.nan, np.nan], np.full(10, 100.0), [np.nan], [5.0, 6.0]])[:, None, None]
    for out in (savgol(x, window=7), one_euro(x, fps=10)):
        np.testing.assert_array_equal(np.isnan(out), np.isnan(x))
        np.testing.assert_allclose(out[:10], 0.0, atol=1e-9)
        np.testing.assert_allclose(out[12:22], 100.0, atol=1e-9)  # no pull from the zeros before the gap
    # A two-frame segment is too short for a quadratic fit: kept as it is.
    np.testing.assert_allclose(savgol(x, window=7)[-2:, 0, 0], [5.0, 6.0])


def test_tracks_are_smoothed_each_on_its_own_segments():
    t = np.arange(12.0)
    tracks = np.stack([np.stack([t, t ** 2], -1), np.stack([-t, 3 * t], -1)], 1)[:, :, None]  # (T, 2, 1, 2)
    tracks[5, 1] = np.nan  # person 1 absent in frame 5: person 0 keeps one 12-frame segment
    out = smooth_tracks(tracks + np.where(np.arange(12) % 2, 1.0, -1.0)[:, None, None, None], window=5, order=2)
    np.testing.assert_array_equal(np.isnan(out), np.isnan(tracks))
    # An alternating +-1 jitter is all but removed by a 5-frame quadratic fit in every segment's interior.
    assert np.abs(out[2:10, 0] - tracks[2:10, 0]).max() < 0.5
    np.testing.assert_allclose(out[:, 0], smooth(tracks[:, 0] + np.where(np.arange(12) % 2, 1.0, -1.0)[:, None, None],
                                                 window=5, order=2))


def test_one_euro_step_response_matches_the_hand_computed_low_pass():
    # beta 0: a first-order low-pass with alpha = 1 / (1 + fps / (2 pi f_c)); fps 10, f_c 1 Hz -> 0.38586.
    x = np.array([0.0, 1.0, 1.0, 1.0])[:, None, None]
    alpha = 1 / (1 + 10 / (2 * np.pi))
    expected = [0.0, alpha, alpha + (1 - alpha) * alpha, 1 - (1 - alpha) ** 3]
    np.testing.assert_allclose(one_euro(x, fps=10, min_cutoff=1.0, beta=0.0)[:, 0, 0], expected, rtol=1e-12)


def test_one_euro_speed_opens_the_cutoff():
    ramp = (np.arange(30.0) * 50)[:, None, None] * np.ones((1, 1, 2))
    lag_slow = np.abs(one_euro(ramp, fps=10, beta=0.0) - ramp)[-1].max()
    lag_fast = np.abs(one_euro(ramp, fps=10, beta=0.05) - ramp)[-1].max()
    assert lag_fast < 0.5 * lag_slow


def test_mpjve_hand_computed():
    gt = np.zeros((3, 2, 3))
    gt[:, 0, 0] = [0.0, 10.0, 20.0]  # joint 0 moves 10 mm/frame along x
    pred = gt + 5.0  # a constant offset has no velocity error
    np.testing.assert_allclose(mpjve_errors(pred, gt), 0.0)
    pred[2, 1] += [3.0, 4.0, 0.0]  # joint 1 jumps 5 mm in the last frame
    np.testing.assert_allclose(mpjve_errors(pred, gt), [[0, 0], [0, 5.0]])
    with pytest.raises(UserError, match=r"\(T, J, 3\)"):
        mpjve_errors(pred[:2], gt)


def test_bad_parameters_are_user_errors():
    x = np.zeros((10, 17, 3))
    with pytest.raises(UserError, match="odd number"):
        smooth(x, "savgol", window=6)
    with pytest.raises(UserError, match="order 7"):
        smooth(x, "savgol", window=7, order=7)
    with pytest.raises(UserError, match="'kalman'"):
        smooth(x, "kalman")
    with pytest.raises(UserError, match="fps 0"):
        smooth(x, "one_euro", fps=0)
