"""Pinhole cameras with Human3.6M distortion; every function works on numpy arrays and torch tensors.

Frames: *world* (mm, Human3.6M: z up), *camera* (mm, OpenCV: x right, y down, z forward),
*image* (pixels, origin top-left, distortion applied). ``X_cam = R (X_world - T)`` where T is the
camera centre in world coordinates.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lifting.errors import UserError
from lifting.geometry import calibration as calib


def _like(a, ref):
    """`a` as the array type / dtype / device of `ref`."""
    if isinstance(ref, np.ndarray):
        return np.asarray(a, dtype=ref.dtype if np.issubdtype(ref.dtype, np.floating) else np.float64)
    import torch

    return torch.as_tensor(a, dtype=ref.dtype, device=ref.device)


def world_to_camera(joints_world, R, T):
    """(..., J, 3) world mm -> (..., J, 3) camera mm. R: (..., 3, 3) world-to-camera, T: (..., 3) centre."""
    R, T = _like(R, joints_world), _like(T, joints_world)
    return (joints_world - T[..., None, :]) @ R.swapaxes(-1, -2)


def camera_to_world(joints_cam, R, T):
    """(..., J, 3) camera mm -> (..., J, 3) world mm (inverse of `world_to_camera`)."""
    R, T = _like(R, joints_cam), _like(T, joints_cam)
    return joints_cam @ R + T[..., None, :]


def distort(xy_norm, k, p):
    """Apply Human3.6M radial + tangential distortion to normalised coordinates (..., J, 2)."""
    k, p = _like(k, xy_norm), _like(p, xy_norm)
    x, y = xy_norm[..., 0], xy_norm[..., 1]
    r2 = x * x + y * y
    k1, k2, k3 = k[..., 0, None], k[..., 1, None], k[..., 2, None]
    p1, p2 = p[..., 0, None], p[..., 1, None]
    radial = 1 + k1 * r2 + k2 * r2 * r2 + k3 * r2 * r2 * r2
    tan = p1 * y + p2 * x
    xd = x * (radial + tan) + p2 * r2
    yd = y * (radial + tan) + p1 * r2
    return _stack([xd, yd], xy_norm)


def undistort(xy_dist, k, p, iterations: int = 10):
    """Invert `distort` by fixed-point iteration (accurate to <1e-6 for Human3.6M lenses in view)."""
    xy = xy_dist
    for _ in range(iterations):
        err = distort(xy, k, p) - xy_dist
        xy = xy - err
    return xy


def distort_opencv(xy_norm, coeffs):
    """OpenCV lens distortion of normalised coordinates (..., P, 2); coeffs (..., 5) = k1, k2, p1, p2, k3 (the
    order of OpenCV and of most calibration tools; not the Human3.6M tangential pair of `distort`)."""
    c = _like(coeffs, xy_norm)
    k1, k2, p1, p2, k3 = (c[..., i, None] for i in range(5))
    x, y = xy_norm[..., 0], xy_norm[..., 1]
    r2 = x * x + y * y
    radial = 1 + r2 * (k1 + r2 * (k2 + r2 * k3))
    xd = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
    yd = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
    return _stack([xd, yd], xy_norm)


def undistort_opencv(xy_dist, coeffs, iterations: int = 20):
    """Invert `distort_opencv` by fixed-point iteration (converges inside the field of view of ordinary lenses)."""
    xy = xy_dist
    for _ in range(iterations):
        xy = xy - (distort_opencv(xy, coeffs) - xy_dist)
    return xy


def project(joints_cam, f, c, k=None, p=None):
    """(..., J, 3) camera mm -> (..., J, 2) image px. f, c: (..., 2); k: (..., 3); p: (..., 2)."""
    f, c = _like(f, joints_cam), _like(c, joints_cam)
    xy = joints_cam[..., :2] / joints_cam[..., 2:3]
    if k is not None and p is not None:
        xy = distort(xy, k, p)
    return xy * f[..., None, :] + c[..., None, :]


def project_joints(joints_cam, K):
    """(B, J, 3) camera mm, (B, 3, 3) pinhole intrinsics (torch or numpy) -> (B, J, 2) px (no distortion: crop and rendered cameras)."""
    uvw = joints_cam @ K.transpose(-1, -2)
    return uvw[..., :2] / uvw[..., 2:3]


def unproject(joints_px, depth, f, c, k=None, p=None):
    """(..., J, 2) image px + (..., J) depth mm -> (..., J, 3) camera mm."""
    f, c = _like(f, joints_px), _like(c, joints_px)
    xy = (joints_px - c[..., None, :]) / f[..., None, :]
    if k is not None and p is not None:
        xy = undistort(xy, k, p)
    d = depth[..., None]
    return _cat([xy * d, d], joints_px)


def intrinsic_matrix(f, c) -> np.ndarray:
    """f, c (..., 2) px -> (..., 3, 3) pinhole intrinsic matrices (no distortion)."""
    f, c = np.asarray(f, dtype=np.float64), np.asarray(c, dtype=np.float64)
    K = np.zeros(f.shape[:-1] + (3, 3))
    K[..., 0, 0], K[..., 1, 1] = f[..., 0], f[..., 1]
    K[..., :2, 2] = c
    K[..., 2, 2] = 1.0
    return K


def _stack(parts, ref):
    if isinstance(ref, np.ndarray):
        return np.stack(parts, axis=-1)
    import torch
    return torch.stack(parts, dim=-1)


def _cat(parts, ref):
    if isinstance(ref, np.ndarray):
        return np.concatenate(parts, axis=-1)
    import torch
    return torch.cat(parts, dim=-1)


@dataclass(frozen=True)
class Camera:
    """One calibrated camera. R world-to-camera (3, 3); T camera centre (3,) world mm; f, c px."""

    R: np.ndarray
    T: np.ndarray
    f: np.ndarray
    c: np.ndarray
    k: np.ndarray
    p: np.ndarray
    name: str = ""
    size: tuple[int, int] = (1000, 1000)  # (width, height) px

    @property
    def K(self) -> np.ndarray:
        """(3, 3) intrinsic matrix (no distortion)."""
        return intrinsic_matrix(self.f, self.c)

    @property
    def t(self) -> np.ndarray:
        """Translation of the `X_cam = R X_world + t` convention, mm."""
        return -self.R @ self.T

    def world_to_camera(self, joints_world):
        return world_to_camera(joints_world, self.R, self.T)

    def camera_to_world(self, joints_cam):
        return camera_to_world(joints_cam, self.R, self.T)

    def project(self, joints_cam, distortion: bool = True):
        if distortion:
            return project(joints_cam, self.f, self.c, self.k, self.p)
        return project(joints_cam, self.f, self.c)

    def project_world(self, joints_world, distortion: bool = True):
        return self.project(self.world_to_camera(joints_world), distortion)


def h36m_cameras() -> dict[tuple[int, int], Camera]:
    """The published Human3.6M calibration: {(subject, camera_index 1..4): Camera}, no file needed."""
    out = {}
    for subject, cams in calib.EXTRINSICS.items():
        for idx, ext in cams.items():
            name = calib.CAMERA_IDS[idx - 1]
            intr = calib.INTRINSICS[name]
            out[(subject, idx)] = Camera(
                R=np.array(ext["R"]).reshape(3, 3), T=np.array(ext["T"]),
                f=np.array(intr["f"]), c=np.array(intr["c"]), k=np.array(intr["k"]),
                p=np.array(intr["p"]), name=name, size=calib.IMAGE_SIZES[name])
    return out


_FIELDS = {"R": (3, 3), "T": (3, 1), "f": (2, 1), "c": (2, 1), "k": (3, 1), "p": (2, 1)}


def load_h36m_cameras(path: str | Path) -> dict[tuple[int, int], Camera]:
    """Read `cameras.h5` (groups subject<S>/camera<C>, R stored transposed, T = centre)."""
    import h5py

    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: camera file not found (expected cameras.h5 with groups subject<S>/camera<C>)")
    out = {}
    try:
        with h5py.File(path, "r") as h5:
            for sgroup in h5:
                if not sgroup.startswith("subject"):
                    continue
                subject = int(sgroup[len("subject"):])
                for cgroup in h5[sgroup]:
                    g = h5[sgroup][cgroup]
                    idx = int(cgroup[len("camera"):])
                    vals = {}
                    for key, shape in _FIELDS.items():
                        if key not in g:
                            raise UserError(f"{path}: {sgroup}/{cgroup} lacks dataset {key!r}")
                        arr = np.asarray(g[key][:], dtype=np.float64)
                        if arr.size != int(np.prod(shape)):
                            raise UserError(f"{path}: {sgroup}/{cgroup}/{key} has shape {arr.shape}, expected {shape}")
                        vals[key] = arr.reshape(shape)
                    name = "".join(map(chr, g["Name"][:])) if "Name" in g else calib.CAMERA_IDS[idx - 1]
                    out[(subject, idx)] = Camera(
                        R=vals["R"].T.copy(), T=vals["T"].ravel(), f=vals["f"].ravel(), c=vals["c"].ravel(),
                        k=vals["k"].ravel(), p=vals["p"].ravel(), name=name,
                        size=calib.IMAGE_SIZES.get(name, (1000, 1000)))
    except OSError as e:
        raise UserError(f"{path}: not a readable HDF5 camera file ({e.__class__.__name__})") from None
    if not out:
        raise UserError(f"{path}: no subject<S>/camera<C> groups found")
    return out


def save_h36m_cameras(path: str | Path, cameras: dict[tuple[int, int], Camera]) -> None:
    """Write cameras in the `cameras.h5` layout (inverse of `load_h36m_cameras`)."""
    import h5py

    from lifting.fileio import atomic_write

    def write(tmp: str) -> None:
        with h5py.File(tmp, "w") as h5:
            for (subject, idx), cam in sorted(cameras.items()):
                g = h5.create_group(f"subject{subject}/camera{idx}")
                g["R"] = cam.R.T
                g["T"] = cam.T.reshape(3, 1)
                g["f"] = cam.f.reshape(2, 1)
                g["c"] = cam.c.reshape(2, 1)
                g["k"] = cam.k.reshape(3, 1)
                g["p"] = cam.p.reshape(2, 1)
                g["Name"] = np.frombuffer(cam.name.encode("ascii"), dtype=np.uint8)
    atomic_write(path, write)


DEFAULT_FOV_DEG = 55.0  # field of view assumed for images of an unknown camera


def default_intrinsics(width: int, height: int, fov_deg: float = DEFAULT_FOV_DEG) -> np.ndarray:
    """(3, 3) K for an unknown camera: square pixels, f = max(W, H) / (2 tan(fov / 2)), principal point at the
    image centre ((W - 1) / 2, (H - 1) / 2 in pixel-centre coordinates)."""
    if not 0 < fov_deg < 180:
        raise UserError(f"field of view {fov_deg} deg: expected 0 < fov < 180")
    f = max(width, height) / (2 * math.tan(math.radians(fov_deg) / 2))
    return np.array([[f, 0, (width - 1) / 2], [0, f, (height - 1) / 2], [0, 0, 1]])


def split_extrinsics(extrinsics, what: str = "extrinsics") -> tuple[np.ndarray, np.ndarray]:
    """(..., 3, 4) or (..., 4, 4) world-to-camera [R | t] (X_cam = R X_world + t, mm) -> (R (..., 3, 3), camera
    centre T = -R^T t (..., 3) mm), the convention of `world_to_camera`; R must be a rotation (a singular or
    non-orthonormal R is a one-line error)."""
    E = np.asarray(extrinsics, dtype=np.float64)
    if E.ndim < 2 or E.shape[-2:] not in ((3, 4), (4, 4)) or not np.isfinite(E).all():
        raise UserError(f"{what}: expected finite 3x4 or 4x4 [R | t] matrices, got shape {E.shape}")
    R, t = E[..., :3, :3], E[..., :3, 3]
    det = np.linalg.det(R)
    if (np.abs(det) < 1e-6).any():
        raise UserError(f"{what}: R is singular (det {float(det.min()):.3g}), so world coordinates cannot be recovered")
    err = np.abs(R @ R.swapaxes(-1, -2) - np.eye(3)).max()
    if err > 1e-3 or (det < 0).any():
        raise UserError(f"{what}: R is not a rotation (|R R^T - I| = {err:.3g}, det {float(det.min()):.3g})")
    return R, -np.einsum("...ji,...j->...i", R, t)
