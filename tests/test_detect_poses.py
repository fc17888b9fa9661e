"""detect_poses: everyone's absolute 3D from images. The implausible-pose filter and the 3D NMS on cases with known
answers, both root sources on tiny random-init models, empty images, world coordinates and bad input."""

import numpy as np
import pytest
import torch

from lifting.checkpoint import save_checkpoint
from lifting.errors import UserError
from lifting.geometry.root_prior import BOX_EXPANSION
from lifting.geometry.skeletons import H36M_17
from lifting.inference.estimator import estimate_poses
from lifting.inference.multiperson import MM_PER_LIMB_UNIT, detect_poses, implausible, pose_nms
from lifting.models.detector import PersonDetector
from lifting.models.metro import MetroNet
from lifting.models.rootnet import RootNet

torch.set_num_threads(1)
W, H = 128, 96
F = 100.0
K = np.array([[F, 0, (W - 1) / 2], [0, F, (H - 1) / 2], [0, 0, 1]])
BOX = np.array([40.0, 10.0, 30.0, 70.0])      # inside the image, taller than wide


def average_pose(scale: float = 1.0) -> np.ndarray:
    """(17, 3) mm h36m_17 pose with every limb `scale` times the average person's, joints 4 m in front."""
    lengths = dict(zip(H36M_17.limbs, np.asarray(H36M_17.avg_person_limb_lengths) * MM_PER_LIMB_UNIT * scale))
    pose = np.zeros((17, 3))
    for j, p in enumerate(H36M_17.parents):        # parents come first in this joint order
        if p < 0:
            continue
        name = H36M_17.joint_names[j]
        side = -1.0 if name.startswith("right") else 1.0 if name.startswith("left") else 0.0
        along_x = name.endswith("hip") or name.endswith("shoulder")
        direction = np.array([side, 0.0, 0.0]) if along_x else np.array([0.0, 1.0 if j < 7 else -1.0, 0.0])
        length = lengths.get((p, j), lengths.get((j, p)))
        pose[j] = pose[p] + direction * length
    return pose + np.array([0.0, 0.0, 4000.0])


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    return (PersonDetector("mobilenet_v3_small", 64, (H, W)).eval(),
            MetroNet(backbone="resnet18", stride=32, crop_size=64).eval(),
            RootNet(backbone="resnet18", crop_size=64, head_channels=16).eval())


@pytest.fixture(scope="module")
def image():
    torch.manual_seed(1)
    return torch.rand(1, 3, H, W)


def test_average_person_is_plausible_and_a_2m_forearm_is_not():
    pose = average_pose()
    right_wrist, right_elbow = H36M_17.index("right_wrist"), H36M_17.index("right_elbow")
    assert np.linalg.norm(pose[right_wrist] - pose[right_elbow]) == pytest.approx(14 * MM_PER_LIMB_UNIT)
    long_arm = pose.copy()
    long_arm[right_wrist] = pose[right_elbow] + np.array([0.0, 2000.0, 0.0])
    poses = np.stack([pose, average_pose(1.3), average_pose(0.85), long_arm, average_pose(3.0), average_pose(0.3)])
    # size 1, 1.3, 0.85 within a factor 2; forearm ratio 2000 / 308 = 6.5; a 5 m giant; a 0.5 m doll
    assert implausible(poses, 1.0).tolist() == [False, False, False, True, True, True]
    # a tighter tolerance (factor 1.25) rejects the 1.3 size too
    assert implausible(poses[:3], 0.25).tolist() == [False, True, False]
    # a forearm collapsed to 5 % of its length (an estimator's foreshortened arm) keeps a real person
    short_arm = pose.copy()
    short_arm[right_wrist] = pose[right_elbow] + 0.05 * (pose[right_wrist] - pose[right_elbow])
    assert implausible(short_arm[None], 1.0).tolist() == [False]
    assert implausible(np.zeros((0, 17, 3)), 1.0).shape == (0,)


def test_pose_nms_merges_a_duplicate_and_keeps_the_higher_score():
    a = average_pose()
    near = a + 100.0                    # the same person seen twice: mean joint distance 173 mm
    other = a + np.array([800.0, 0.0, 0.0])   # someone 0.8 m to the side
    kept = pose_nms(np.stack([near, a, other]), np.array([0.5, 0.9, 0.7]), 250.0)
    assert kept.tolist() == [1, 2]
    assert pose_nms(np.stack([near, a, other]), np.array([0.5, 0.9, 0.7]), 150.0).tolist() == [1, 2, 0]


def test_duplicated_box_is_one_person_after_nms(models, image):
    det, est, _ = models
    boxes = [np.stack([BOX, BOX])]
    merged = detect_poses(image, None, est, intrinsics=K, boxes=boxes, scores=[np.array([0.6, 0.8])],
                          plausibility=None)[0]
    assert merged["scores"].tolist() == [0.8] and merged["poses3d"].shape == (1, 17, 3)
    both = detect_poses(image, None, est, intrinsics=K, boxes=boxes, scores=[np.array([0.6, 0.8])],
                        plausibility=None, nms_mm=None)[0]
    assert both["scores"].tolist() == [0.8, 0.6]
    np.testing.assert_allclose(both["poses3d"][0], both["poses3d"][1], atol=1e-2)
    # the MeTRAbs path is estimate_poses' reconstruction of the box
    ref = estimate_poses(est, image, [BOX[None]], K)
    np.testing.assert_allclose(merged["poses3d"][0], ref["poses3d_abs"][0], atol=1e-2)
    np.testing.assert_allclose(merged["poses2d"][0], ref["poses2d"][0], atol=1e-2)


def test_rootnet_and_prior_roots_under_the_metro_pose(models, image):
    _, est, rn = models
    kw = dict(intrinsics=K, boxes=[BOX[None]], plausibility=None)
    rel = estimate_poses(est, image, [BOX[None]], K)["poses3d_rel"][0]
    rootnet = detect_poses(image, None, est, rn, **kw)[0]["poses3d"][0]
    prior = detect_poses(image, None, est, rn, roots="prior", **kw)[0]["poses3d"][0]
    metrabs = detect_poses(image, None, est, **kw)[0]["poses3d"][0]
    # same root-relative pose, different roots
    for pose in (rootnet, prior):
        np.testing.assert_allclose(pose - pose[:1], rel - rel[:1], atol=1e-2)
    # k of the processed box: square side 1.25 h (the box is inside the image), k = f * 2000 mm / side
    assert prior[0, 2] == pytest.approx(F * 2000.0 / (BOX_EXPANSION * BOX[3]))
    # RootNet's root on the same ray as the prior's, at depth gamma k
    np.testing.assert_allclose(rootnet[0] / rootnet[0, 2], prior[0] / prior[0, 2], atol=1e-9)
    assert not np.allclose(metrabs[0], prior[0])


def test_nobody_gives_empty_arrays(models, image):
    det, est, rn = models
    for out in (detect_poses(image, det, est, rn, min_score=1.0)[0],
                detect_poses(image, None, est, boxes=[np.zeros((0, 4))], extrinsics=np.eye(4), skeleton="lsp_14")[0]):
        assert len(out["scores"]) == 0 and out["boxes"].shape == (0, 4)
        assert out["poses2d"].shape[0] == 0 and out["poses3d"].shape[0] == 0
    assert out["poses3d"].shape == (0, 14, 3) and out["poses3d_world"].shape == (0, 14, 3)


def test_detector_boxes_run_end_to_end_with_world_coordinates(models, image):
    det, est, rn = models
    angle = np.radians(30.0)
    R = np.array([[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]])
    t = np.array([100.0, -200.0, 3000.0])
    out = detect_poses(image, det, est, rn, intrinsics=K, extrinsics=np.hstack([R, t[:, None]]), min_score=0.0,
                       plausibility=None, nms_mm=None)[0]
    assert len(out["scores"]) > 0 and (np.diff(out["scores"]) <= 0).all()
    np.testing.assert_allclose(out["poses3d_world"] @ R.T + t, out["poses3d"], atol=1e-2)


class FixedBoxes(torch.nn.Module):
    """A detector that finds the same boxes [x0, y0, x1, y1] px with the same scores in every image."""

    def __init__(self, boxes, scores):
        super().__init__()
        self.w = torch.nn.Parameter(torch.zeros(1))
        self.boxes, self.scores = torch.tensor(boxes, dtype=torch.float32), torch.tensor(scores)

    def forward(self, images):
        return [{"boxes": self.boxes, "scores": self.scores} for _ in images]


def test_box_nms_drops_the_lower_of_two_boxes_overlapping_more_than_nms_iou(models, image):
    _, est, _ = models
    # IoU(a, b) = 1600 / 2000 = 0.8 -> one of them at nms_iou 0.5; c overlaps neither
    det = FixedBoxes([[10, 10, 50, 50], [10, 10, 60, 50], [80, 10, 120, 90]], [0.9, 0.8, 0.7])
    kw = dict(min_score=0.0, plausibility=None, nms_mm=None)
    assert detect_poses(image, det, est, nms_iou=None, **kw)[0]["scores"].tolist() == pytest.approx([0.9, 0.8, 0.7])
    assert detect_poses(image, det, est, nms_iou=0.5, **kw)[0]["scores"].tolist() == pytest.approx([0.9, 0.7])
    assert detect_poses(image, det, est, nms_iou=0.85, **kw)[0]["scores"].tolist() == pytest.approx([0.9, 0.8, 0.7])


def test_bad_input_is_a_one_line_error(models, image, tmp_path):
    det, est, rn = models
    for kw, match in ((dict(min_score=1.5), "min_score"), (dict(nms_mm=-1.0), "nms_mm"),
                      (dict(nms_iou=0.0), "nms_iou"), (dict(plausibility=0.0), "plausibility"),
                      (dict(roots="prior"), "needs a RootNet"),
                      (dict(roots="guess"), "roots"), (dict(skeleton="coco_17"), "coco_17"),
                      (dict(intrinsics=np.eye(2)), "intrinsics"),
                      (dict(rootnet=rn, distortion=np.zeros(5)), "pinhole"),
                      (dict(extrinsics=np.zeros((2, 3, 4))), "extrinsics for 2 images")):
        with pytest.raises(UserError, match=match):
            detect_poses(image, det, est, **kw)
    with pytest.raises(UserError, match="detector"):
        detect_poses(image, None, est)
    save_checkpoint(tmp_path / "det.pt", {"kind": "detector", "model": det.state_dict(),
                                          "extra": {"task": {"arch": det.arch()}, "config": {}}})
    with pytest.raises(UserError, match="a detector checkpoint .*expected an estimator"):
        detect_poses(image, tmp_path / "det.pt", tmp_path / "det.pt")
    # the checkpoint loads as the detector it is
    assert len(detect_poses(image, tmp_path / "det.pt", est, min_score=1.0)[0]["scores"]) == 0
