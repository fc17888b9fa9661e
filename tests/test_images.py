"""COCO-style image dataset: rendered writer -> reader round trip, stride, and one-line errors for bad files."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch
from helpers import pose_set, world_poses

from lifting.datasets.images import ImageDataset, annotation_paths, read_image, write_jpeg
from lifting.errors import UserError
from lifting.geometry.cameras import h36m_cameras, save_h36m_cameras
from lifting.synth.writer import scaled_intrinsics, write_rendered_dataset

torch.set_num_threads(2)
REPO = Path(__file__).resolve().parents[1]

# A standing person in the Human3.6M world frame (mm, z up), facing -y.


@pytest.fixture(scope="module")
def rendered(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("rendered")
    poses = pose_set()
    assert write_rendered_dataset(root, poses, image_size=64, stride=1, seed=0, batch_size=4) == len(poses)
    return root


def test_round_trip_labels_and_intrinsics(rendered):
    poses = pose_set()
    ds = ImageDataset(rendered, [1, 5])
    assert len(ds) == len(poses) == 15
    by_key = {k: i for i, k in enumerate(poses.keys())}
    cameras = h36m_cameras()
    for i in range(len(ds)):
        r = ds[i]
        j = by_key[(r.subject, r.action, r.subaction, r.camera, r.frame)]
        np.testing.assert_allclose(r.joints3d_cam, poses.joints3d_cam[j], atol=0.01)
        w, h, f, c = scaled_intrinsics(cameras[(r.subject, r.camera)], 64)
        assert (r.width, r.height) == (w, h) and max(w, h) == 64
        np.testing.assert_allclose(r.f, cameras[(r.subject, r.camera)].f * 64 / 1000, rtol=2e-3)
        np.testing.assert_allclose(r.c, c)
        uv = r.joints3d_cam[:, :2] / r.joints3d_cam[:, 2:] * f + c          # pinhole, no distortion
        np.testing.assert_allclose(r.joints2d_px, uv, atol=1e-6)
        x, y, bw, bh = r.bbox
        assert 0 <= x and 0 <= y and x + bw <= w and y + bh <= h
        inside = (uv >= [x, y]).all(1) & (uv <= [x + bw, y + bh]).all(1)
        assert inside.mean() > 0.9                                        # box holds the person
        image = read_image(r.image_path)
        assert image.shape == (3, h, w)
    first = ds[0]
    assert first.action in ("Walking", "Directions") and first.K[0, 0] == first.f[0]


def test_jpeg_round_trip_and_unreadable_file(tmp_path):
    pixels = torch.zeros(3, 24, 32, dtype=torch.uint8)
    pixels[0, :, :16] = 200                                   # red left half, blue bottom rows
    pixels[2, 12:] = 120
    write_jpeg(tmp_path / "a.jpg", pixels, quality=95)
    image = read_image(tmp_path / "a.jpg")
    assert image.shape == (3, 24, 32) and image.dtype == torch.float32
    assert (image * 255 - pixels.float()).abs().mean() < 3
    assert [f.name for f in tmp_path.iterdir()] == ["a.jpg"]    # atomic write leaves no temp file
    (tmp_path / "b.jpg").write_text("not an image")
    with pytest.raises(UserError, match=r"b\.jpg: not a readable image"):
        read_image(tmp_path / "b.jpg")


def test_scaled_intrinsics_keep_pixel_centres():
    cam = h36m_cameras()[(1, 1)]                 # 1000 x 1002 px
    w, h, f, c = scaled_intrinsics(cam, 250)
    assert (w, h) == (250, 250)
    sx, sy = 250 / 1000, 250 / 1002
    np.testing.assert_allclose(f, cam.f * [sx, sy])
    np.testing.assert_allclose(c, [(cam.c[0] + 0.5) * sx - 0.5, (cam.c[1] + 0.5) * sy - 0.5])


def test_stride_keeps_every_nth_frame_per_sequence(tmp_path):
    poses = pose_set(frames=5, cams=(2,))
    n = write_rendered_dataset(tmp_path, poses, image_size=32, stride=2, seed=1)
    ds = ImageDataset(tmp_path, [1, 5])
    assert n == len(ds) == 2 * 3 + 3
    assert sorted(set(ds.frame.tolist())) == [0, 2, 4]


def test_calibration_mismatch_is_reported(tmp_path):
    cams = h36m_cameras()
    other = {k: cams[(5, k[1])] if k[0] == 1 else v for k, v in cams.items()}
    with pytest.raises(UserError, match="calibration"):
        write_rendered_dataset(tmp_path, pose_set(frames=1), image_size=32, cameras=other)


def _mutate(root: Path, tmp_path: Path, part: str, edit) -> Path:
    dst = tmp_path / "copy"
    shutil.copytree(root, dst)
    path = annotation_paths(dst, 1)[part]
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    return dst


def _set_bbox(data):
    data["annotations"][0]["bbox"] = [40, 10, 30, 20]


def _bad_image_id(data):
    data["annotations"][1]["image_id"] = 999


def _drop_key(data):
    del data["images"][0]["cam_idx"]


def _bad_rotation(data):
    data["1"]["R"] = [[1, 0, 0], [0, 1, 0]]


def _bad_joints(data):
    data["13"]["1"]["0"] = data["13"]["1"]["0"][:16]


def _missing_frame(data):
    del data["13"]["1"]["2"]


@pytest.mark.parametrize("part, edit, message", [
    ("data", _set_bbox, "bbox .* not inside"),
    ("data", _bad_image_id, "image_id 999, which no image has"),
    ("data", _drop_key, "lacks key 'cam_idx'"),
    ("camera", _bad_rotation, "camera 1 'R' has shape \\(2, 3\\)"),
    ("joint_3d", _bad_joints, "has shape \\(16, 3\\)"),
    ("joint_3d", _missing_frame, "no joint entry for 13/1/2"),
])
def test_bad_annotations_give_one_line_errors(rendered, tmp_path, part, edit, message):
    root = _mutate(rendered, tmp_path, part, edit)
    with pytest.raises(UserError, match=message) as err:
        ImageDataset(root, [1])
    assert "\n" not in str(err.value) and part in str(err.value)


def test_missing_files_are_named(rendered, tmp_path):
    root = tmp_path / "copy"
    shutil.copytree(rendered, root)
    victim = ImageDataset(root, [1]).image_paths[3]
    victim.unlink()
    with pytest.raises(UserError, match=f"{victim.name}: image file not found"):
        ImageDataset(root, [1])
    with pytest.raises(UserError, match="Human36M_subject6_data.json: annotation file not found"):
        ImageDataset(root, [6])
    annotation_paths(root, 1)["camera"].write_text("{not json")
    with pytest.raises(UserError, match="subject1_camera.json: not valid JSON"):
        ImageDataset(root, [1])


@pytest.mark.slow
def test_render_dataset_script(tmp_path):
    data = tmp_path / "h5"
    cams = h36m_cameras()
    save_h36m_cameras(data / "cameras.h5", {k: v for k, v in cams.items() if k[0] == 1})
    (data / "S1/MyPoses/3D_positions").mkdir(parents=True)
    with h5py.File(data / "S1/MyPoses/3D_positions/Posing 1.h5", "w") as f:
        f["3D_positions"] = world_poses(4).reshape(4, 96).T.astype(np.float32)
    out = tmp_path / "out"
    cmd = [sys.executable, str(REPO / "render_dataset.py"), "--data-dir", str(data), "--subjects", "1",
           "--stride", "2", "--cameras", "2", "--size", "40", "--out", str(out), "--cache-dir", str(tmp_path / "c")]
    done = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    ds = ImageDataset(out, [1])
    assert len(ds) == 2 and set(ds.action) == {"Posing"} and set(ds.subaction.tolist()) == {1}
    bad = subprocess.run(cmd[:3] + [str(tmp_path / "nowhere")] + cmd[4:], cwd=REPO, capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.startswith("error: ") and bad.stderr.count("\n") == 1
