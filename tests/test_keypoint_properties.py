"""Property-based checks of run_model.py's array input: generated malformed keypoint arrays (shapes, dtypes,
NaN/inf, huge values, degenerate poses, pickles) are each one `UserError` line naming the file (in process), and
through run_model.py's main(argv) one stderr line, exit code 2 and nothing written."""

import contextlib
import io
import os
import runpy
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from lifting.datasets.keypoints import MAX_ABS_PX, prepare_h36m17, read_keypoints
from lifting.errors import UserError

ROOT = Path(__file__).resolve().parents[1]
FIXED = {"derandomize": True, "deadline": None, "database": None,
         "suppress_health_check": [HealthCheck.too_slow, HealthCheck.function_scoped_fixture]}
J = 17


def _plausible(n: int, rng: np.random.Generator) -> np.ndarray:
    """(n, 17, 2) px poses a person could make: spread over ~200 px around the image centre."""
    return rng.uniform(400, 600, size=(n, J, 2))


@st.composite
def broken_arrays(draw) -> tuple[str, np.ndarray]:
    """(how it is broken, the array saved as .npy)."""
    how = draw(st.sampled_from(["shape", "dtype", "nonfinite", "huge", "degenerate", "empty"]))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    n = draw(st.integers(1, 5))
    poses = _plausible(n, rng)
    if how == "shape":
        shape = draw(hnp.array_shapes(min_dims=1, max_dims=4, max_side=40).filter(
            lambda s: not (len(s) == 2 and s[0] == J and s[1] in (2, 3)) and not (len(s) == 3 and s[1:] in
                       ((J, 2), (J, 3))) and not (len(s) == 2 and s[1] in (2 * J, 3 * J))))
        return how, rng.uniform(400, 600, size=shape)
    if how == "dtype":
        dtype = draw(st.sampled_from([np.bool_, np.complex64, "U4", "S3"]))
        return how, np.zeros((n, J, 2), dtype=dtype)
    i, j = draw(st.integers(0, n - 1)), draw(st.integers(0, J - 1))
    if how == "nonfinite":
        poses[i, j, draw(st.integers(0, 1))] = draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    elif how == "huge":
        poses[i, j, draw(st.integers(0, 1))] = draw(st.floats(MAX_ABS_PX * 1.001, 1e300)) * draw(
            st.sampled_from([1, -1]))
    elif how == "degenerate":
        poses[i] = poses[i, :1] + rng.uniform(-0.4, 0.4, size=(J, 2))   # all joints within 1 px
    else:
        poses = np.zeros((0, J, 2))
    return how, poses


def _save(tmp: Path, arr: np.ndarray) -> Path:
    path = tmp / "poses.npy"
    np.save(path, arr)
    return path


def test_plausible_poses_are_read(tmp_path):
    poses = _plausible(3, np.random.default_rng(0))
    joints, kept = prepare_h36m17(read_keypoints([_save(tmp_path, poses)], "h36m_17"))
    assert len(kept) == 3 and np.allclose(joints, poses)       # h36m_17 in, h36m_17 out: unchanged


@settings(max_examples=240, **FIXED)
@given(case=broken_arrays())
def test_malformed_keypoint_arrays_are_one_line_errors(case, tmp_path_factory):
    how, arr = case
    path = _save(tmp_path_factory.mktemp("kp"), arr)
    with pytest.raises(UserError) as e:
        prepare_h36m17(read_keypoints([path], "h36m_17"))
    message = str(e.value)
    assert "\n" not in message and str(path) in message, (how, message)


def test_pickled_arrays_are_refused_unread(tmp_path):
    path = tmp_path / "objects.npy"
    np.save(path, np.array([{"x": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(UserError, match="Object arrays cannot be loaded"):
        read_keypoints([path], "h36m_17")


@pytest.fixture(scope="module")
def lifter(tmp_path_factory, tiny_h36m):
    from helpers import train_lifter

    return train_lifter(tmp_path_factory.mktemp("lifter") / "run", tiny_h36m)


@settings(max_examples=6, **FIXED)
@given(case=broken_arrays())
def test_run_model_exits_2_with_one_line_and_writes_nothing(case, lifter, tmp_path_factory):
    how, arr = case
    cwd = tmp_path_factory.mktemp("cwd")
    _save(cwd, arr)
    main = runpy.run_path(str(ROOT / "run_model.py"), run_name="in_process")["main"]
    err, here = io.StringIO(), os.getcwd()
    try:
        os.chdir(cwd)
        with contextlib.redirect_stderr(err):
            code = main(["poses.npy", "--format", "h36m_17", "--ckpt", str(lifter), "--save-3d", "out/p3.npy",
                         "--out", "fig.png"])
    finally:
        os.chdir(here)
    assert code == 2, (how, err.getvalue())
    assert err.getvalue().startswith("error: ") and err.getvalue().count("\n") == 1
    assert sorted(p.name for p in cwd.iterdir()) == ["poses.npy"], how         # nothing written
