from pathlib import Path

import h5py
import numpy as np
import pytest

from lifting.datasets import h36m
from lifting.datasets.h36m import available_subjects, load_h36m
from lifting.errors import UserError
from lifting.geometry.cameras import h36m_cameras, save_h36m_cameras
from lifting.geometry.skeletons import H36M_17, H36M_32

REAL_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "h36m"
IDX17 = [0, 1, 2, 3, 6, 7, 8, 12, 13, 14, 15, 17, 18, 19, 25, 26, 27]

# (subject, file name) -> number of frames written by the fixture.
FILES = {(1, "Walking.h5"): 10, (1, "Walking 1.h5"): 7, (1, "Sitting.h5"): 5,
         (1, "SittingDown.h5"): 4, (5, "Walking.h5"): 6}


def write_poses(path: Path, world: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as h5:
        h5["3D_positions"] = world.reshape(len(world), 96).T.astype(np.float32)


@pytest.fixture()
def fixture(tmp_path):
    save_h36m_cameras(tmp_path / "cameras.h5", h36m_cameras())
    rng = np.random.default_rng(0)
    worlds = {}
    for (s, name), n in FILES.items():
        world = rng.uniform(-400, 400, (n, 32, 3)) + [0, 0, 1000]
        write_poses(tmp_path / f"S{s}" / "MyPoses" / "3D_positions" / name, world)
        worlds[(s, name)] = world.astype(np.float32)
    return tmp_path, worlds


@pytest.fixture()
def data_dir(fixture):
    return fixture[0]


def test_values_match_camera_projection(fixture):
    data_dir, worlds = fixture
    ps = load_h36m(data_dir, [1], actions="Sitting", skeleton="h36m_32")
    world = worlds[(1, "Sitting.h5")]
    cams = h36m_cameras()
    assert len(ps) == 5 * 4
    for c in (1, 2, 3, 4):
        rows = ps.camera == c
        cam = cams[(1, c)]
        np.testing.assert_allclose(ps.joints2d_px[rows], cam.project_world(world.astype(np.float64)), atol=1e-3)
        np.testing.assert_allclose(cam.camera_to_world(ps.joints3d_cam[rows].astype(np.float64)), world, atol=1e-2)
        np.testing.assert_allclose(ps.cam_f[rows], np.tile(cam.f, (5, 1)), rtol=1e-6)
        np.testing.assert_allclose(ps.cam_c[rows], np.tile(cam.c, (5, 1)), rtol=1e-6)
        np.testing.assert_array_equal(ps.frame[rows], np.arange(5))
    assert set(ps.action) == {"Sitting"} and set(ps.subaction) == {0}


def test_h36m_17_conversion(data_dir):
    ps32 = load_h36m(data_dir, [1], actions="Walking", skeleton="h36m_32")
    ps17 = load_h36m(data_dir, [1], actions="Walking")
    assert ps17.skeleton == "h36m_17" and ps17.joints3d_cam.shape == (len(ps32), 17, 3)
    np.testing.assert_allclose(ps17.joints3d_cam, ps32.joints3d_cam[:, IDX17])
    np.testing.assert_allclose(ps17.joints2d_px, ps32.joints2d_px[:, IDX17])
    assert H36M_17.joint_names[7] == "mid_spine"


def test_action_filtering_and_counts(data_dir):
    walking = load_h36m(data_dir, [1], actions="Walking", cameras=(2,))
    assert len(walking) == 10 + 7
    assert sorted(set(zip(walking.action, walking.subaction))) == [("Walking", 0), ("Walking", 1)]
    sitting = load_h36m(data_dir, [1], actions="Sitting", cameras=(2,))
    assert len(sitting) == 5  # 'Sitting' must not match 'SittingDown'
    both = load_h36m(data_dir, [1], actions=["Sitting", "SittingDown"], cameras=(1, 3))
    assert len(both) == (5 + 4) * 2 and set(both.camera) == {1, 3}
    everything = load_h36m(data_dir, [1, 5])
    assert len(everything) == 4 * sum(FILES.values())
    assert list(np.unique(everything.subject)) == [1, 5]


def test_file_order_sorted_and_keys(data_dir):
    ps = load_h36m(data_dir, [1], cameras=(1,))
    # Sorted file names: 'Sitting.h5' < 'SittingDown.h5' < 'Walking 1.h5' < 'Walking.h5'.
    firsts = [ps.keys()[i] for i in (0, 5, 9, 16)]
    assert firsts == [(1, "Sitting", 0, 1, 0), (1, "SittingDown", 0, 1, 0),
                      (1, "Walking", 1, 1, 0), (1, "Walking", 0, 1, 0)]


def test_stride(fixture):
    data_dir, worlds = fixture
    ps = load_h36m(data_dir, [1], actions="Walking", stride=3, cameras=(4,))
    # 10 frames -> 0, 3, 6, 9; 7 frames -> 0, 3, 6.
    assert len(ps) == 4 + 3
    np.testing.assert_array_equal(ps.frame, [0, 3, 6, 0, 3, 6, 9])
    world = worlds[(1, "Walking.h5")]
    cam = h36m_cameras()[(1, 4)]
    np.testing.assert_allclose(ps.joints2d_px[3:], cam.project_world(world[[0, 3, 6, 9]][:, IDX17].astype(np.float64)),
                               atol=1e-3)


def test_cache_hit_and_invalidation(data_dir, tmp_path_factory, monkeypatch):
    cache = tmp_path_factory.mktemp("cache")
    first = load_h36m(data_dir, [1, 5], stride=2, cache_dir=cache)
    assert len(list(cache.glob("h36m_*.npz"))) == 1

    def fail(path):
        raise AssertionError("pose file re-read despite cache")

    monkeypatch.setattr(h36m, "read_pose_file", fail)
    second = load_h36m(data_dir, [1, 5], stride=2, cache_dir=cache)
    for name, arr in first.arrays().items():
        np.testing.assert_array_equal(getattr(second, name), arr)
    # Different options -> different cache entry (and here a re-read, which the patch turns into a failure).
    with pytest.raises(AssertionError, match="re-read"):
        load_h36m(data_dir, [1, 5], stride=3, cache_dir=cache)
    monkeypatch.undo()
    # A rewritten source file changes size/mtime and so the key.
    path = data_dir / "S5" / "MyPoses" / "3D_positions" / "Walking.h5"
    write_poses(path, np.zeros((3, 32, 3)) + [0, 0, 900])
    third = load_h36m(data_dir, [1, 5], stride=2, cache_dir=cache)
    assert len(third) == len(first) - 4 * (3 - 2)
    assert len(list(cache.glob("h36m_*.npz"))) == 2


def test_available_subjects(data_dir):
    assert available_subjects(data_dir) == [1, 5]


def test_errors(data_dir, tmp_path_factory):
    with pytest.raises(UserError, match="data directory not found"):
        load_h36m(data_dir / "nope", [1])
    with pytest.raises(UserError, match=r"S9: subject folder not found; subjects present: S1, S5"):
        load_h36m(data_dir, [1, 9])
    with pytest.raises(UserError, match="no pose files for action 'Eating'"):
        load_h36m(data_dir, [1], actions=["Walking", "Eating"])
    poses = data_dir / "S1" / "MyPoses" / "3D_positions"
    (poses / "Walking.h5").write_bytes(b"not an hdf5 file")
    with pytest.raises(UserError, match=r"Walking\.h5: not a readable HDF5 pose file"):
        load_h36m(data_dir, [1], actions="Walking")
    with h5py.File(poses / "Walking.h5", "w") as h5:
        h5["poses"] = np.zeros((96, 3))
    with pytest.raises(UserError, match=r"Walking\.h5: lacks dataset '3D_positions'"):
        load_h36m(data_dir, [1], actions="Walking")
    with h5py.File(poses / "Walking.h5", "w") as h5:
        h5["3D_positions"] = np.zeros((51, 3))
    with pytest.raises(UserError, match=r"Walking\.h5: dataset '3D_positions' has shape \(51, 3\)"):
        load_h36m(data_dir, [1], actions="Walking")
    with h5py.File(poses / "Walking.h5", "w") as h5:
        h5["3D_positions"] = np.zeros((96, 0))
    with pytest.raises(UserError, match=r"Walking\.h5: dataset '3D_positions' is empty"):
        load_h36m(data_dir, [1], actions="Walking")
    (data_dir / "cameras.h5").write_bytes(b"garbage")
    with pytest.raises(UserError, match=r"cameras\.h5: not a readable HDF5"):
        load_h36m(data_dir, [5])
    (data_dir / "cameras.h5").unlink()
    with pytest.raises(UserError, match=r"cameras\.h5: camera file not found"):
        load_h36m(data_dir, [5])


def test_real_s8():
    if not (REAL_DATA / "S8").is_dir():
        pytest.skip(f"real Human3.6M poses not found at {REAL_DATA}")
    ps = load_h36m(REAL_DATA, [8], skeleton="h36m_32")
    assert len(ps) == 11_692 * 4
    assert set(ps.camera) == {1, 2, 3, 4}
    assert len(set(ps.action)) == 14  # S8 Smoking is not in the set
    # Bones of the 32-joint tree are rigid (mid_hip -> mid_spine of the 17-joint set is not: it spans two).
    lengths = H36M_32.limb_lengths(ps.joints3d_cam.astype(np.float64))
    assert np.abs(lengths - lengths[0]).max() < 0.01
    shank = H36M_32.limbs.index((3, 2))
    np.testing.assert_allclose(lengths[0, shank], 454.2, atol=0.5)
    assert (ps.joints3d_cam[..., 2] > 0).all()
    inside = (ps.joints2d_px >= 0).all(-1) & (ps.joints2d_px <= 1002).all(-1)
    assert inside.mean() > 0.999
