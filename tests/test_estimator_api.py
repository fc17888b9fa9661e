"""The estimator on your images: several boxes per image, world-space output, test-time augmentation undone in the
original camera, lens undistortion inside the crop warp, gamma-correct anti-aliasing, and run_estimator.py."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from helpers import render, run_script, sample_poses, train_estimator

from lifting.augment.crops import crop_camera, to_crop_frame, warp_to_crop
from lifting.augment.warp import crop_images, undistort_boxes
from lifting.checkpoint import load_trained
from lifting.errors import UserError
from lifting.geometry.cameras import camera_to_world, default_intrinsics, split_extrinsics, undistort_opencv
from lifting.inference.estimator import estimate_poses, tta_schedule
from lifting.models.metro import MetroNet
from lifting.synth.render import project_joints

torch.set_num_threads(1)
ROOT = Path(__file__).resolve().parents[1]
K = np.array([[420.0, 0, 319.5], [0, 420.0, 239.5], [0, 0, 1]])
SIZE = (480, 640)
DISTORTION = np.array([-0.3, 0.1, 0.001, -0.0015, 0.0])


@pytest.fixture(scope="module")
def estimator(tmp_path_factory, tiny_h36m):
    return train_estimator(tmp_path_factory.mktemp("metro") / "run", tiny_h36m)


@pytest.fixture(scope="module")
def scene(tiny_h36m):
    """Two people (camera frame mm), left and right of the optical axis, and one image of each (B, 3, H, W)."""
    joints = sample_poses(tiny_h36m, 2)
    joints = joints - joints[:, :1] + np.array([[[-900.0, 100.0, 4200.0]], [[1000.0, 50.0, 4800.0]]])
    return joints, render(joints, K, SIZE)


def person_box(joints_cam: np.ndarray, K: np.ndarray, pad: float = 0.15) -> np.ndarray:
    uv = project_joints(torch.as_tensor(joints_cam)[None], torch.as_tensor(K)[None])[0].numpy()
    lo, hi = uv.min(0), uv.max(0)
    m = pad * (hi - lo).max()
    return np.concatenate([lo - m, hi - lo + 2 * m])


def random_rotation(seed: int) -> np.ndarray:
    q, r = np.linalg.qr(np.random.default_rng(seed).normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_several_boxes_per_image_world_space_and_joint_sets(estimator, scene):
    joints, images = scene
    model = load_trained(estimator, "estimator").model
    boxes = [np.stack([person_box(joints[0], K), person_box(joints[1], K)]), None]
    R, t = random_rotation(0), np.array([300.0, -1200.0, 5000.0])
    E = np.concatenate([R, t[:, None]], 1)
    res = estimate_poses(model, list(images), boxes, K, extrinsics=E, num_aug=3)
    assert res["poses3d_abs"].shape == (3, 17, 3) and res["poses2d"].shape == (3, 17, 2)
    assert res["image_index"].tolist() == [0, 0, 1]
    np.testing.assert_allclose(res["boxes"][2], [-0.5, -0.5, 640, 480])                # no box: the whole image
    cam = res["poses3d_world"] @ R.T + t                                              # X_cam = R X_world + t
    assert np.abs(cam - res["poses3d_abs"]).max() < 1e-3                              # mm
    lsp = estimate_poses(model, list(images), boxes, K, skeleton="lsp_14")
    assert lsp["poses3d_abs"].shape == (3, 14, 3)
    with pytest.raises(UserError, match="cannot write joints as 'openpose_25'"):
        estimate_poses(model, list(images), None, K, skeleton="openpose_25")


def test_no_box_in_any_image_gives_empty_arrays(estimator, scene):
    model = load_trained(estimator, "estimator").model
    E = np.concatenate([np.eye(3), np.zeros((3, 1))], 1)
    res = estimate_poses(model, list(scene[1]), [np.zeros((0, 4))] * 2, K, extrinsics=E, skeleton="lsp_14")
    shapes = {"poses3d_abs": (0, 14, 3), "poses3d_rel": (0, 14, 3), "poses2d": (0, 14, 2),
              "poses3d_world": (0, 14, 3), "image_index": (0,), "boxes": (0, 4)}
    assert {k: res[k].shape for k in shapes} == shapes


def test_camera_to_world_and_bad_extrinsics():
    R, t = random_rotation(1), np.array([10.0, 20.0, 30.0])
    world = np.random.default_rng(0).normal(size=(4, 17, 3)) * 1000
    np.testing.assert_allclose(camera_to_world(world @ R.T + t, R, -R.T @ t), world, atol=1e-9)
    with pytest.raises(UserError, match="R is singular"):
        split_extrinsics(np.zeros((3, 4)))
    with pytest.raises(UserError, match="R is not a rotation"):
        split_extrinsics(np.concatenate([2 * np.eye(3), np.zeros((3, 1))], 1))
    with pytest.raises(UserError, match="3x4 or 4x4"):
        split_extrinsics(np.eye(3))


def test_boxes_outside_the_image_and_bad_cameras(estimator, scene):
    model = load_trained(estimator, "estimator").model
    images = list(scene[1])
    with pytest.raises(UserError, match=r"image 1: box \[700, 10, 50, 50\] lies outside the 640x480 image"):
        estimate_poses(model, images, [None, np.array([700.0, 10, 50, 50])], K)
    with pytest.raises(UserError, match="w, h > 0"):
        estimate_poses(model, images, [np.array([10.0, 10, 0, 50]), None], K)
    with pytest.raises(UserError, match="intrinsics"):
        estimate_poses(model, images, None, np.eye(4))


def test_tta_schedule_and_default_camera():
    aug, gamma = tta_schedule(5)
    np.testing.assert_allclose(aug.roll_deg, [-25, -12.5, 0, 12.5, 25])
    np.testing.assert_allclose(aug.scale, [0.8, 0.9, 1.0, 1.05, 1.1], atol=1e-6)
    assert aug.flip.tolist() == [False, True, False, True, False]
    np.testing.assert_allclose(gamma, [0.6, 0.7, 0.8, 0.9, 1.0], atol=1e-6)
    aug, gamma = tta_schedule(1)
    assert aug.roll_deg.tolist() == [0.0] and not aug.flip.any() and gamma.tolist() == [1.0]
    K55 = default_intrinsics(640, 480)
    np.testing.assert_allclose(K55[0, 0], 320 / np.tan(np.radians(27.5)))
    np.testing.assert_allclose(K55[:2, 2], [319.5, 239.5])


class Oracle(MetroNet):
    """Returns given crop-frame predictions in the order the crops arrive (an exactly equivariant 'model')."""

    def __init__(self, arch, rel, pose2d):
        super().__init__(**arch)
        self.rel, self.pose2d, self.seen = rel, pose2d, 0

    def forward(self, images):
        n, s = len(images), self.seen
        self.seen += n
        return {"pose3d_rel": self.rel[s:s + n].float(), "pose2d": self.pose2d[s:s + n].float()}


@pytest.mark.parametrize("distortion", [None, DISTORTION])
def test_test_time_augmentation_is_undone_in_the_original_camera(scene, distortion):
    """Exact crop-frame predictions of 5 rolled, zoomed, mirrored crops come back as the original pose."""
    joints = scene[0][:1]
    box = person_box(joints[0], K)
    aug, _ = tta_schedule(5)
    Kt, boxes = torch.as_tensor(K).expand(5, 3, 3), torch.as_tensor(box).expand(5, 4)
    if distortion is not None:
        boxes = undistort_boxes(boxes, Kt, torch.as_tensor(distortion).expand(5, 5))
    K_crop, R = crop_camera(Kt, boxes, 256, aug)
    crop_joints = to_crop_frame(torch.as_tensor(joints).expand(5, 17, 3), R, aug.flip)
    oracle = Oracle({"backbone": "resnet18", "crop_size": 256}, crop_joints - crop_joints[:, :1],
                    project_joints(crop_joints, K_crop))
    res = estimate_poses(oracle, [torch.zeros(3, *SIZE)], [box], K, num_aug=5, distortion=distortion)
    gt_rel = joints - joints[:, :1]
    assert np.abs(res["poses3d_rel"] - gt_rel).max() < 1e-3
    xy = joints[..., :2] / joints[..., 2:]
    if distortion is not None:
        from lifting.geometry.cameras import distort_opencv

        xy = distort_opencv(xy, distortion)
    gt2d = xy @ K[:2, :2].T + K[:2, 2]
    assert np.abs(res["poses2d"] - gt2d).max() < 1e-3                                    # px
    assert np.abs(res["poses3d_abs"] - joints).max() < 0.01 * joints[..., 2].mean()      # ridge-regularised root


def distort_image(image: torch.Tensor, K: np.ndarray, coeffs: np.ndarray) -> torch.Tensor:
    """What a lens with these coefficients records: each pixel samples the pinhole image at its undistorted
    position."""
    _, H, W = image.shape
    v, u = torch.meshgrid(torch.arange(H, dtype=torch.float64), torch.arange(W, dtype=torch.float64), indexing="ij")
    px = torch.stack([u, v], -1).reshape(-1, 2)
    xy = (px - torch.as_tensor(K[:2, 2])) / torch.as_tensor(K[[0, 1], [0, 1]])
    und = undistort_opencv(xy, torch.as_tensor(coeffs)[None])
    src = und * torch.as_tensor(K[[0, 1], [0, 1]]) + torch.as_tensor(K[:2, 2])
    norm = (2 * src + 1) / torch.tensor([W, H], dtype=src.dtype) - 1
    return F.grid_sample(image[None], norm.view(1, H, W, 2).float(), align_corners=False)[0]


def test_undistorted_crop_of_a_distorted_image_matches_the_pinhole_crop(scene):
    """The warp samples the distorted image where the crop's rays land after distortion: the same virtual camera
    sees the same pixels as in the pinhole rendering (up to two bilinear resamplings)."""
    joints, images = scene
    pinhole = images[0]
    distorted = distort_image(pinhole, K, DISTORTION)
    Kt = torch.as_tensor(K)[None]
    K_crop, R = crop_camera(Kt, torch.as_tensor(person_box(joints[0], K))[None], 128)
    reference = warp_to_crop(pinhole[None], Kt, K_crop, R, 128)
    corrected = (warp_to_crop(distorted[None], Kt, K_crop, R, 128, torch.as_tensor(DISTORTION)[None]) - reference)
    naive = (warp_to_crop(distorted[None], Kt, K_crop, R, 128) - reference).abs().mean()
    assert corrected.abs().mean() < 0.02 and corrected.abs().mean() < 0.25 * naive, (corrected.abs().mean(), naive)


def test_boxes_of_distorted_images_are_undistorted_for_the_crop_camera(scene):
    joints, images = scene
    box = torch.as_tensor(person_box(joints[0], K))[None]
    Kt = torch.as_tensor(K)[None]
    np.testing.assert_allclose(undistort_boxes(box, Kt, torch.zeros(1, 5)), box, atol=1e-9)
    moved = undistort_boxes(box, Kt, torch.as_tensor(DISTORTION)[None])
    centre, centre_d = box[0, :2] + box[0, 2:] / 2, moved[0, :2] + moved[0, 2:] / 2
    xy = (centre - Kt[0, :2, 2]) / Kt[0, [0, 1], [0, 1]]
    from lifting.geometry.cameras import distort_opencv

    back = distort_opencv(((centre_d - Kt[0, :2, 2]) / Kt[0, [0, 1], [0, 1]])[None], torch.as_tensor(DISTORTION))
    np.testing.assert_allclose(back[0], xy, atol=1e-9)                # its centre is the undistorted box centre
    assert (moved[0, 2:] > box[0, 2:]).all()                 # barrel distortion had shrunk it in the image


def test_antialiased_gamma_correct_downscaling():
    """1-px black/white stripes seen 8.5x smaller are uniform grey of half the light: 0.5^(1/2.2) in sRGB."""
    stripes = torch.zeros(3, 512, 512)
    stripes[:, :, ::2] = 1.0
    K_img = default_intrinsics(512, 512)
    box = np.array([[-0.5, -0.5, 512, 512]])
    smooth = crop_images([stripes], box, K_img[None], 60, torch.device("cpu"))[0][0, :, 15:45, 15:45]
    aliased = crop_images([stripes], box, K_img[None], 60, torch.device("cpu"), antialias=False)[0][0, :, 15:45, 15:45]
    assert abs(smooth.mean() - 0.5 ** (1 / 2.2)) < 0.02 and smooth.std() < 0.03
    assert aliased.std() > 0.1



def run(tmp_path, *args):
    return run_script("run_estimator.py", tmp_path, *args)


@pytest.fixture()
def image_files(tmp_path, scene):
    from lifting.datasets.images import write_jpeg

    for i, image in enumerate(scene[1]):
        write_jpeg(tmp_path / f"im{i}.jpg", (image * 255).round().byte())
    return tmp_path


def test_run_estimator_writes_poses_with_metadata_and_a_figure(image_files, estimator, scene):
    joints = scene[0]
    box = ",".join(f"{v:.1f}" for v in person_box(joints[1], K))
    code, out, err = run(image_files, "im0.jpg", "im1.jpg", "--ckpt", estimator, "--box", f"1:{box}",
                         "--intrinsics", "420,420,319.5,239.5", "--distortion=-0.01,0,0,0",
                         "--extrinsics", "1,0,0,0,0,-1,0,1,0,0,1500,4000", "--num-aug", "2", "--skeleton", "lsp_14",
                         "--out", "poses.npz", "--figure", "poses.png")
    assert code == 0, err
    res = np.load(image_files / "poses.npz")
    assert res["poses3d"].shape == (2, 14, 3) and res["image_index"].tolist() == [0, 1]
    meta = json.loads(str(res["metadata"]))
    assert meta["units"].startswith("mm") and "x right, y down, z forward" in meta["poses3d"]
    assert "X_world = R^T (X_cam - t)" in meta["poses3d_world"] and len(meta["joint_names"]) == 14
    R, t = res["extrinsics"][:, :3], res["extrinsics"][:, 3]
    assert np.abs(res["poses3d_world"] @ R.T + t - res["poses3d"]).max() < 0.05       # float32 storage, mm
    assert (image_files / "poses.png").is_file()


def test_run_estimator_with_a_detector_passes_distortion_and_antialiasing(image_files, estimator, tmp_path_factory):
    from lifting.checkpoint import save_checkpoint
    from lifting.models.detector import PersonDetector

    torch.manual_seed(0)
    net = PersonDetector("mobilenet_v3_small", 64, (96, 128), score_thresh=0.0, max_detections=2)
    with torch.no_grad():
        net.fcos.head.regression_head.bbox_reg.bias.fill_(2.0)           # person-sized boxes from a random init
    det = tmp_path_factory.mktemp("detector") / "det.pt"
    save_checkpoint(det, {"kind": "detector", "model": net.state_dict(),
                          "extra": {"task": {"arch": net.arch()}, "config": {}}})
    res = {}
    for name, extra in (("plain", []), ("distorted", ["--distortion=-0.2,0,0,0"]), ("aliased", ["--no-antialias"])):
        code, _, err = run(image_files, "im0.jpg", "--ckpt", estimator, "--detector", det, "--min-score", "0",
                           "--plausibility", "none", *extra, "--out", f"{name}.npz", "--figure", f"{name}.png")
        assert code == 0, err
        res[name] = np.load(image_files / f"{name}.npz")
    # the same best box (the detector sees the same image); its crop, hence its pose, changes with each flag
    for name in ("distorted", "aliased"):
        np.testing.assert_array_equal(res[name]["boxes"][0], res["plain"]["boxes"][0])
        assert np.abs(res[name]["poses2d"][0] - res["plain"]["poses2d"][0]).max() > 0.1    # px
    assert "distortion" in res["distorted"] and "distortion" not in res["plain"]


def test_run_estimator_without_box_or_detector_uses_the_zoo_detector(image_files, estimator, tmp_path_factory,
                                                                    monkeypatch, caplog):
    """The test's random-init detector (2 boxes whatever their score), packed as the zoo's rendered_detector."""
    from lifting import zoo
    from lifting.checkpoint import save_checkpoint
    from lifting.models.detector import PersonDetector

    torch.manual_seed(0)
    net = PersonDetector("mobilenet_v3_small", 64, (96, 128), score_thresh=0.0, max_detections=2)
    with torch.no_grad():
        net.fcos.head.regression_head.bbox_reg.bias.fill_(2.0)
    tmp = tmp_path_factory.mktemp("zoo")
    det = save_checkpoint(tmp / "det.pt", {"kind": "detector", "model": net.state_dict(),
                                           "extra": {"task": {"arch": net.arch()}, "config": {}}})
    monkeypatch.setattr(zoo, "ZOO_DIR", tmp / "checkpoint")
    scores = {"ap50": 0.5, "ap": 0.25}
    zoo.pack(det, "rendered_detector", kind="detector", evaluations={"float32": scores, "float16": scores},
             metrics=scores, metrics_on="rendered S8 scenes", trained_on="rendered scenes", config="opts/x.yaml",
             command="python main_detector.py", label=zoo.RENDERED_LABEL)
    code, _, err = run(image_files, "im0.jpg", "--ckpt", estimator, "--min-score", "0", "--plausibility", "none",
                       "--out", "zoo.npz")
    assert code == 0, err
    res = np.load(image_files / "zoo.npz")
    assert "scores" in res and "found by the detector rendered_detector" in json.loads(str(res["metadata"]))["content"]
    assert f"zoo model rendered_detector: {zoo.RENDERED_LABEL}" in caplog.text


@pytest.mark.parametrize("setup, args, needle", [
    (lambda d: (d / "broken.jpg").write_text("not an image"), ["broken.jpg", "--box", "1,1,5,5"],
     "not a readable image"),
    (lambda d: None, ["im0.jpg", "--box", "900,10,40,40"], "lies outside the 640x480 image"),
    (lambda d: None, ["im0.jpg", "--box", "1,2,3"], "expected 4 comma-separated"),
    (lambda d: None, ["im0.jpg", "--box", "3:1,2,3,4"], "image index '3' must be 0..0"),
    (lambda d: None, ["im0.jpg", "--extrinsics", "0,0,0,0,0,0,0,0,0,1,2,3"], "R is singular"),
    (lambda d: None, ["im0.jpg", "--skeleton", "coco_17"], "cannot write joints as 'coco_17'"),
    (lambda d: None, ["missing.jpg", "--box", "1,1,5,5"], "image file not found"),
    (lambda d: (d / "out.npz").mkdir(), ["im0.jpg", "--out", "out.npz"], "is a directory"),
    (lambda d: None, ["im0.jpg", "--detector", "d.pt", "--rootnet", "r.pt", "--distortion", "0,0,0,0"],
     "RootNet (--rootnet) assumes a pinhole camera"),
])
def test_run_estimator_bad_input_is_one_line_exit_2_and_writes_nothing(image_files, estimator, setup, args, needle):
    setup(image_files)
    before = sorted(p.name for p in image_files.rglob("*"))
    code, out, err = run(image_files, *args, "--ckpt", estimator)
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1, err
    assert needle in err
    assert sorted(p.name for p in image_files.rglob("*")) == before
