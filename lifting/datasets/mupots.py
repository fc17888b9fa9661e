"""MuPoTS-3D (test) and MuCo-3DHP (training) annotations in the COCO-format files RootNet's releases parse.

    MuPoTS-3D.json   images {id, file_name (e.g. TS1/img_000000.jpg), width, height, intrinsic [fx, fy, cx, cy]}
                     annotations {id, image_id, bbox [x, y, w, h], keypoints_cam (17, 3) mm,
                                  keypoints_img (17, 2) px, (keypoints_vis (17,))}
    MuCo-3DHP.json   images {id, file_name, width, height, f [fx, fy], c [cx, cy]}
                     annotations as above with 21 joints

Both are read by `lifting.datasets.scenes.SceneDataset` (no lens distortion, camera frame = world frame). The files
hold joints in the MPI-INF-3DHP order below (pelvis, index 14, the root); the readers return them as h36m_17, the
suite's skeleton, so crops, metrics and the benchmark take them as they take the rendered scenes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from lifting.datasets.scenes import SceneDataset
from lifting.geometry.skeletons import H36M_17

MUPOTS_JOINTS = ("head_top", "thorax", "right_shoulder", "right_elbow", "right_wrist", "left_shoulder", "left_elbow",
                 "left_wrist", "right_hip", "right_knee", "right_ankle", "left_hip", "left_knee", "left_ankle",
                 "pelvis", "spine", "head")
MUCO_JOINTS = MUPOTS_JOINTS + ("right_hand", "left_hand", "right_toe", "left_toe")

# h36m_17 joint -> MPI-INF-3DHP joint. The 3DHP 'head' (between the neck and the head top) stands in for h36m's
# 'chin' (its neck/nose joint): the nearest joint either set has, a few centimetres apart.
_TO_H36M = {"mid_hip": "pelvis", "mid_spine": "spine", "neck": "thorax", "chin": "head", "head": "head_top"}
TO_H36M_17 = np.array([MUPOTS_JOINTS.index(_TO_H36M.get(name, name)) for name in H36M_17.joint_names])


def read_mupots(annotation_file: str | Path, image_dir: str | Path) -> SceneDataset:
    """MuPoTS-3D's test annotations (17 joints in the file) as h36m_17; image file names are relative to
    `image_dir` (MultiPersonTestSet/)."""
    return SceneDataset(annotation_file, image_dir, num_joints=len(MUPOTS_JOINTS), select=TO_H36M_17)


def read_muco(annotation_file: str | Path, image_dir: str | Path) -> SceneDataset:
    """MuCo-3DHP's training composites (21 joints in the file) as h36m_17; image file names are relative to
    `image_dir`."""
    return SceneDataset(annotation_file, image_dir, num_joints=len(MUCO_JOINTS), select=TO_H36M_17)
