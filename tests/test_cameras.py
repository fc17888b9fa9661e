from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from lifting.errors import UserError
from lifting.geometry.cameras import (
    Camera,
    camera_to_world,
    distort,
    h36m_cameras,
    load_h36m_cameras,
    project,
    save_h36m_cameras,
    undistort,
    unproject,
    world_to_camera,
)

REAL_CAMERAS = Path(__file__).resolve().parents[2] / "shared" / "data" / "h36m" / "cameras.h5"

K = np.array([-0.2, 0.24, -0.003])
P = np.array([-0.0014, -0.001])
F = np.array([1000.0, 1100.0])
C = np.array([500.0, 510.0])


def test_projection_with_distortion_hand_computed():
    point = np.array([[500.0, -250.0, 5000.0]])  # camera frame, mm
    # x = 500/5000 = 0.1, y = -250/5000 = -0.05, r2 = 0.01 + 0.0025 = 0.0125
    # radial = 1 + k1 r2 + k2 r2^2 + k3 r2^3 = 1 - 0.0025 + 0.0000375 - 0.000000005859375 = 0.997537494140625
    # tan = p1 y + p2 x = 0.00007 - 0.0001 = -0.00003
    # x' = x (radial + tan) + p2 r2 = 0.0997507494140625 - 0.0000125 = 0.0997382494140625
    # y' = y (radial + tan) + p1 r2 = -0.04987537470703125 - 0.0000175 = -0.04989287470703125
    # u = fx x' + cx = 599.7382494140625, v = fy y' + cy = 455.117837822265625
    np.testing.assert_allclose(distort(point[:, :2] / point[:, 2:], K, P),
                               [[0.0997382494140625, -0.04989287470703125]], rtol=1e-12)
    np.testing.assert_allclose(project(point, F, C, K, P), [[599.7382494140625, 455.117837822265625]], rtol=1e-12)
    # Without distortion: plain pinhole.
    np.testing.assert_allclose(project(point, F, C), [[600.0, 455.0]], rtol=1e-12)


def test_world_to_camera_hand_computed():
    R = np.array([[0.0, 1, 0], [-1, 0, 0], [0, 0, 1]])  # world -> camera
    T = np.array([100.0, 200.0, 300.0])  # camera centre, world mm
    world = np.array([[1100.0, 200.0, 5300.0]])
    # X_cam = R (X - T) = R (1000, 0, 5000) = (0, -1000, 5000)
    np.testing.assert_allclose(world_to_camera(world, R, T), [[0.0, -1000.0, 5000.0]])
    cam = Camera(R=R, T=T, f=F, c=C, k=K, p=P)
    np.testing.assert_allclose(R @ world[0] + cam.t, [0.0, -1000.0, 5000.0])
    np.testing.assert_allclose(cam.K @ [0.0, -1000.0, 5000.0] / 5000.0, [500.0, 290.0, 1.0])


def test_numpy_and_torch_agree():
    rng = np.random.default_rng(0)
    cam = h36m_cameras()[(9, 3)]
    world = rng.uniform(-800, 800, (5, 17, 3)) + [0, 0, 900]
    world_t = torch.tensor(world, dtype=torch.float64)
    for fn, args in ((world_to_camera, (cam.R, cam.T)), (camera_to_world, (cam.R, cam.T))):
        np.testing.assert_allclose(fn(world_t, *args).numpy(), fn(world, *args), rtol=1e-12)
    joints_cam = cam.world_to_camera(world)
    cam_t = torch.tensor(joints_cam)
    np.testing.assert_allclose(project(cam_t, cam.f, cam.c, cam.k, cam.p).numpy(),
                               project(joints_cam, cam.f, cam.c, cam.k, cam.p), rtol=1e-12)
    # Per-sample intrinsics (N, 2) broadcast over joints in both back ends.
    f = np.stack([cam.f * s for s in np.linspace(0.9, 1.1, 5)])
    np.testing.assert_allclose(project(cam_t, torch.tensor(f), torch.tensor(cam.c)).numpy(),
                               project(joints_cam, f, cam.c), rtol=1e-12)
    px = project(joints_cam, cam.f, cam.c, cam.k, cam.p)
    np.testing.assert_allclose(
        unproject(torch.tensor(px), torch.tensor(joints_cam[..., 2]), cam.f, cam.c, cam.k, cam.p).numpy(),
        unproject(px, joints_cam[..., 2], cam.f, cam.c, cam.k, cam.p), rtol=1e-10)
    # float32 torch input keeps its dtype.
    assert project(cam_t.float(), cam.f, cam.c, cam.k, cam.p).dtype == torch.float32


def test_world_camera_world_round_trip():
    rng = np.random.default_rng(1)
    world = rng.uniform(-2000, 2000, (100, 32, 3))
    for cam in h36m_cameras().values():
        np.testing.assert_allclose(cam.camera_to_world(cam.world_to_camera(world)), world, atol=1e-8)
        # Rotation matrices are orthonormal with det +1.
        np.testing.assert_allclose(cam.R @ cam.R.T, np.eye(3), atol=1e-6)
        assert abs(np.linalg.det(cam.R) - 1) < 1e-6


def test_undistort_inverts_distort():
    rng = np.random.default_rng(2)
    xy = rng.uniform(-0.45, 0.45, (1000, 2))  # normalised coordinates covering the H36M images
    for cam in list(h36m_cameras().values())[:4]:
        np.testing.assert_allclose(undistort(distort(xy, cam.k, cam.p), cam.k, cam.p), xy, atol=1e-6)
    # unproject(project(X), depth) recovers X.
    cam = h36m_cameras()[(1, 1)]
    joints_cam = cam.world_to_camera(rng.uniform(-900, 900, (20, 17, 3)) + [0, 0, 900])
    back = unproject(cam.project(joints_cam), joints_cam[..., 2], cam.f, cam.c, cam.k, cam.p)
    np.testing.assert_allclose(back, joints_cam, atol=1e-3)


def test_h36m_cameras_layout():
    cams = h36m_cameras()
    assert sorted(cams) == [(s, c) for s in (1, 5, 6, 7, 8, 9, 11) for c in (1, 2, 3, 4)]
    assert [cams[(1, c)].name for c in (1, 2, 3, 4)] == ["54138969", "55011271", "58860488", "60457274"]
    assert cams[(1, 1)].size == (1000, 1002) and cams[(1, 2)].size == (1000, 1000)
    # All cameras look at the origin area from 4-5.5 m at about 1.5 m height.
    for cam in cams.values():
        assert 3500 < np.linalg.norm(cam.T[:2]) < 6000 and 1000 < cam.T[2] < 2000
        u, v = cam.project_world(np.array([[0.0, 0.0, 900.0]]))[0]
        assert 0 < u < cam.size[0] and 0 < v < cam.size[1]


def test_load_save_round_trip(tmp_path):
    cams = h36m_cameras()
    save_h36m_cameras(tmp_path / "cameras.h5", cams)
    with h5py.File(tmp_path / "cameras.h5", "r") as h5:
        # Stored layout: R transposed, T and intrinsics as column vectors.
        np.testing.assert_allclose(h5["subject5/camera2/R"][:], cams[(5, 2)].R.T)
        assert h5["subject5/camera2/T"].shape == (3, 1) and h5["subject5/camera2/k"].shape == (3, 1)
    back = load_h36m_cameras(tmp_path / "cameras.h5")
    assert sorted(back) == sorted(cams)
    for key, cam in cams.items():
        for field in ("R", "T", "f", "c", "k", "p"):
            np.testing.assert_array_equal(getattr(back[key], field), getattr(cam, field))
        assert back[key].name == cam.name and back[key].size == cam.size


def test_load_errors(tmp_path):
    with pytest.raises(UserError, match="camera file not found"):
        load_h36m_cameras(tmp_path / "missing.h5")
    (tmp_path / "bad.h5").write_bytes(b"nope")
    with pytest.raises(UserError, match=r"bad\.h5: not a readable HDF5"):
        load_h36m_cameras(tmp_path / "bad.h5")
    with h5py.File(tmp_path / "partial.h5", "w") as h5:
        h5["subject1/camera1/R"] = np.eye(3)
    with pytest.raises(UserError, match=r"subject1/camera1 lacks dataset 'T'"):
        load_h36m_cameras(tmp_path / "partial.h5")


def test_real_cameras_file_equals_built_in():
    if not REAL_CAMERAS.is_file():
        pytest.skip(f"real Human3.6M cameras.h5 not found at {REAL_CAMERAS}")
    real = load_h36m_cameras(REAL_CAMERAS)
    built_in = h36m_cameras()
    assert sorted(real) == sorted(built_in)
    point = np.array([[300.0, -200.0, 1000.0]])
    for key, cam in built_in.items():
        for field in ("R", "T", "f", "c", "k", "p"):
            np.testing.assert_allclose(getattr(real[key], field), getattr(cam, field), rtol=1e-6, atol=1e-9)
        assert real[key].name == cam.name
        np.testing.assert_allclose(real[key].project_world(point), cam.project_world(point), atol=1e-3)

