"""MuPoTS-3D / MuCo-3DHP readers on small fixtures written in RootNet's annotation layouts."""

import json

import numpy as np
import pytest
from PIL import Image

from lifting.datasets.mupots import MUCO_JOINTS, MUPOTS_JOINTS, read_muco, read_mupots
from lifting.errors import UserError
from lifting.geometry.cameras import project
from lifting.geometry.skeletons import H36M_17

F, C = np.array([1500.0, 1490.0]), np.array([1020.0, 1030.0])


def person(num_joints: int, depth: float, shift: float) -> np.ndarray:
    """(J, 3) mm: joint j at a distinct, recognisable place (x encodes the joint index)."""
    j = np.arange(num_joints, dtype=float)
    return np.stack([shift + 10 * j, -300 + 40 * j, depth + j], 1)


def write_fixture(tmp_path, num_joints: int, camera: dict, name: str):
    images = tmp_path / "images"
    (images / "TS1").mkdir(parents=True)
    Image.new("RGB", (64, 48)).save(images / "TS1" / "img_000000.jpg")
    Image.new("RGB", (64, 48)).save(images / "TS1" / "img_000001.jpg")
    anns = []
    for k, (depth, shift) in enumerate([(4000.0, -500.0), (6000.0, 700.0)]):
        cam = person(num_joints, depth, shift)
        anns.append({"id": k, "image_id": 0, "bbox": [1.0 + k, 2.0, 30.0, 40.0], "keypoints_cam": cam.tolist(),
                     "keypoints_img": project(cam, F, C).tolist()})
    data = {"images": [{"id": 0, "file_name": "TS1/img_000000.jpg", "width": 64, "height": 48, **camera},
                       {"id": 1, "file_name": "TS1/img_000001.jpg", "width": 64, "height": 48, **camera}],
            "annotations": anns}
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path, images, data


def test_mupots_layout_reads_intrinsic_and_maps_joints_to_h36m(tmp_path):
    path, images, _ = write_fixture(tmp_path, 17, {"intrinsic": [*F, *C]}, "MuPoTS-3D.json")
    ds = read_mupots(path, images)
    assert len(ds) == 2 and ds.people_of(0).tolist() == [0, 1] and ds.people_of(1).tolist() == []
    assert np.allclose(ds.K[0], [[1500, 0, 1020], [0, 1490, 1030], [0, 0, 1]])
    # h36m_17 mid_hip is MuPoTS 'pelvis' (index 14), head is 'head_top' (0), right_wrist is 'right_wrist' (4)
    for h36m, mpi in (("mid_hip", "pelvis"), ("head", "head_top"), ("right_wrist", "right_wrist"),
                      ("chin", "head"), ("neck", "thorax"), ("mid_spine", "spine")):
        i, j = H36M_17.index(h36m), MUPOTS_JOINTS.index(mpi)
        assert np.allclose(ds.joints3d_cam[1, i], person(17, 6000.0, 700.0)[j])
    assert np.allclose(project(ds.joints3d_cam, ds.f, ds.c), ds.joints2d_px)
    assert np.allclose(ds.joints3d_world, ds.joints3d_cam)          # no extrinsics: the camera is the world
    assert ds.keypoints_vis.all() and ds[1].bbox.tolist() == [2.0, 2.0, 30.0, 40.0]


def test_muco_layout_reads_f_c_and_21_joints(tmp_path):
    path, images, _ = write_fixture(tmp_path, 21, {"f": F.tolist(), "c": C.tolist()}, "MuCo-3DHP.json")
    ds = read_muco(path, images)
    assert ds.joints3d_cam.shape == (2, 17, 3) and np.allclose(ds.c[0], C)
    assert np.allclose(ds.joints3d_cam[0, H36M_17.index("left_ankle")],
                       person(21, 4000.0, -500.0)[MUCO_JOINTS.index("left_ankle")])


def test_the_wrong_joint_count_and_broken_entries_are_one_line_errors(tmp_path):
    path, images, data = write_fixture(tmp_path, 21, {"intrinsic": [*F, *C]}, "MuPoTS-3D.json")
    with pytest.raises(UserError, match=r"annotation 0 keypoints_cam has shape \(21, 3\).*\(17, 3\)"):
        read_mupots(path, images)
    path, images, data = write_fixture(tmp_path / "b", 17, {"f": F.tolist()}, "MuPoTS-3D.json")
    with pytest.raises(UserError, match="image 0 has no camera"):
        read_mupots(path, images)
    path, images, data = write_fixture(tmp_path / "c", 17, {"intrinsic": [*F, *C]}, "MuPoTS-3D.json")
    data["annotations"][1]["image_id"] = 7
    path.write_text(json.dumps(data))
    with pytest.raises(UserError, match="annotation 1 refers to image_id 7"):
        read_mupots(path, images)
    path, images, data = write_fixture(tmp_path / "d", 17, {"intrinsic": [*F, *C]}, "MuPoTS-3D.json")
    with pytest.raises(UserError, match="img_000000.jpg: image file not found"):
        read_mupots(path, tmp_path)
