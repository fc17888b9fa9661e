import numpy as np
import pytest

from lifting.datasets.samples import PoseSet, replace_2d_from_predictions
from lifting.errors import UserError
from lifting.fileio import save_npz
from lifting.geometry.skeletons import H36M_17, H36M_32


def make_poseset(n=6, skeleton="h36m_32", seed=0):
    rng = np.random.default_rng(seed)
    j = 32 if skeleton == "h36m_32" else 17
    return PoseSet(
        skeleton=skeleton,
        joints2d_px=rng.uniform(0, 1000, (n, j, 2)),
        joints3d_cam=rng.uniform(-1000, 1000, (n, j, 3)) + [0, 0, 5000],
        subject=np.array([1, 1, 5, 5, 8, 8][:n]),
        action=np.array(["Walking", "Sitting", "SittingDown", "Walking", "Eating", "Eating"][:n]),
        subaction=np.array([0, 1, 0, 0, 1, 1][:n]),
        camera=np.array([1, 2, 3, 4, 1, 2][:n]),
        frame=np.array([0, 5, 10, 0, 3, 3][:n]),
        cam_f=np.full((n, 2), 1145.0),
        cam_c=np.full((n, 2), 512.0),
    )


def test_dtypes_and_len():
    ps = make_poseset()
    assert len(ps) == 6
    assert ps.joints2d_px.dtype == np.float32 and ps.joints3d_cam.dtype == np.float32
    assert ps.subject.dtype == np.int64 and ps.frame.dtype == np.int64
    assert ps.action.dtype.kind == "U"


def test_shape_mismatch_is_user_error():
    ps = make_poseset()
    with pytest.raises(UserError, match="joints3d_cam"):
        PoseSet(**{**ps.arrays(), "joints3d_cam": ps.joints3d_cam[:3], "skeleton": ps.skeleton})


def test_subset_mask_and_index():
    ps = make_poseset()
    sub = ps.subset(ps.subject == 5)
    assert len(sub) == 2 and list(sub.action) == ["SittingDown", "Walking"]
    np.testing.assert_array_equal(sub.joints3d_cam, ps.joints3d_cam[2:4])
    sub2 = ps.subset(np.array([4, 0]))
    assert sub2.keys() == [(8, "Eating", 1, 1, 3), (1, "Walking", 0, 1, 0)]


def test_concat_round_trip():
    ps = make_poseset()
    joined = PoseSet.concat([ps.subset(slice(0, 2)), ps.subset(slice(2, 6))])
    for name, arr in ps.arrays().items():
        np.testing.assert_array_equal(getattr(joined, name), arr)
    with pytest.raises(UserError, match="mixed skeletons"):
        PoseSet.concat([ps, ps.convert("h36m_17")])


def test_convert_gathers_by_name():
    ps = make_poseset()
    c17 = ps.convert("h36m_17")
    assert c17.skeleton == "h36m_17" and c17.joints3d_cam.shape == (6, 17, 3)
    # H36M_17 "neck" is 32-joint index 13 and "head" is 15.
    np.testing.assert_array_equal(c17.joints3d_cam[:, H36M_17.index("neck")], ps.joints3d_cam[:, 13])
    np.testing.assert_array_equal(c17.joints2d_px[:, H36M_17.index("head")], ps.joints2d_px[:, 15])
    c14 = c17.convert("lsp_14")
    np.testing.assert_array_equal(c14.joints3d_cam[:, 0], ps.joints3d_cam[:, H36M_32.index("right_ankle")])


def test_with_joints2d():
    ps = make_poseset()
    new = ps.joints2d_px + 1
    out = ps.with_joints2d(new)
    np.testing.assert_array_equal(out.joints2d_px, new)
    np.testing.assert_array_equal(out.joints3d_cam, ps.joints3d_cam)
    with pytest.raises(UserError, match="joints2d_px"):
        ps.with_joints2d(new[:, :5])


def test_npz_round_trip(tmp_path):
    ps = make_poseset().convert("h36m_17")
    path = ps.save_npz(tmp_path / "a.npz")
    back = PoseSet.load_npz(path)
    assert back.skeleton == "h36m_17"
    for name, arr in ps.arrays().items():
        np.testing.assert_array_equal(getattr(back, name), arr)
        assert getattr(back, name).dtype == arr.dtype


def test_load_npz_errors(tmp_path):
    ps = make_poseset()
    arrays = dict(ps.arrays(), skeleton=np.array(ps.skeleton))
    del arrays["frame"]
    save_npz(tmp_path / "missing.npz", **arrays)
    with pytest.raises(UserError, match=r"missing\.npz: missing key 'frame'"):
        PoseSet.load_npz(tmp_path / "missing.npz")
    arrays = dict(ps.arrays(), skeleton=np.array(ps.skeleton))
    arrays["cam_f"] = arrays["cam_f"][:, :1]
    save_npz(tmp_path / "shape.npz", **arrays)
    with pytest.raises(UserError, match=r"shape\.npz: key 'cam_f' has shape \(6, 1\)"):
        PoseSet.load_npz(tmp_path / "shape.npz")
    with pytest.raises(UserError, match="not found"):
        PoseSet.load_npz(tmp_path / "nope.npz")


def test_replace_2d_from_predictions_reordered_superset(tmp_path):
    ps = make_poseset().convert("h36m_17")
    extra = make_poseset(seed=1).convert("h36m_17")
    extra.frame[:] += 1000  # keys absent from ps
    both = PoseSet.concat([ps, extra])
    perm = np.random.default_rng(3).permutation(len(both))
    pred2d = both.joints2d_px[perm] + 7.0
    keys = {k: both.arrays()[k][perm] for k in ("subject", "action", "subaction", "camera", "frame")}
    save_npz(tmp_path / "pred.npz", joints2d_px=pred2d, **keys)
    out = replace_2d_from_predictions(ps, tmp_path / "pred.npz")
    np.testing.assert_allclose(out.joints2d_px, ps.joints2d_px + 7.0)
    np.testing.assert_array_equal(out.joints3d_cam, ps.joints3d_cam)


def test_replace_2d_with_skeleton_key_converts(tmp_path):
    ps32 = make_poseset()
    ps16 = ps32.convert("h36m_16")
    save_npz(tmp_path / "pred.npz", joints2d_px=ps32.joints2d_px + 1, skeleton=np.array("h36m_32"),
             **{k: ps32.arrays()[k] for k in ("subject", "action", "subaction", "camera", "frame")})
    out = replace_2d_from_predictions(ps16, tmp_path / "pred.npz")
    np.testing.assert_allclose(out.joints2d_px, ps16.joints2d_px + 1)


def test_replace_2d_missing_frames(tmp_path):
    ps = make_poseset()
    keep = np.array([0, 2, 3, 5])
    save_npz(tmp_path / "pred.npz", joints2d_px=ps.joints2d_px[keep],
             **{k: ps.arrays()[k][keep] for k in ("subject", "action", "subaction", "camera", "frame")})
    with pytest.raises(UserError, match=r"pred\.npz: 2 of 6 frames have no prediction"):
        replace_2d_from_predictions(ps, tmp_path / "pred.npz")
    save_npz(tmp_path / "nokey.npz", joints2d_px=ps.joints2d_px)
    with pytest.raises(UserError, match="missing key 'subject'"):
        replace_2d_from_predictions(ps, tmp_path / "nokey.npz")


def test_replace_2d_maps_pixels_of_resized_images_into_the_pose_set_camera(tmp_path):
    """Predictions on a 1/4-size image (f/4, c/4) land on the full-resolution pixels of the same rays."""
    ps = make_poseset().convert("h36m_17")
    f_small, c_small = ps.cam_f / 4, ps.cam_c / 4
    small = (ps.joints2d_px - ps.cam_c[:, None]) / ps.cam_f[:, None] * f_small[:, None] + c_small[:, None]
    keys = {k: ps.arrays()[k] for k in ("subject", "action", "subaction", "camera", "frame")}
    save_npz(tmp_path / "pred.npz", joints2d_px=small, cam_f=f_small, cam_c=c_small, **keys)
    out = replace_2d_from_predictions(ps, tmp_path / "pred.npz")
    np.testing.assert_allclose(out.joints2d_px, ps.joints2d_px, atol=1e-3)
