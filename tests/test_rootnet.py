"""RootNet: the distance prior k, the network's decoding and back-projection, augmentation targets, the
focal-normalised convention, root metrics, bad input, a smoke training, predictions, and the absolute experiment."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from lifting import metrics
from lifting.augment.crops import ROOTNET_CROPS, CropAugmentation, crop_camera, make_crops
from lifting.config import load_config
from lifting.errors import UserError
from lifting.geometry.root_prior import depth_for_focal, distance_prior, process_bbox
from lifting.models.rootnet import RootNet, root_camera
from lifting.options.rootnet import SCHEMA
from lifting.tasks.rootnet import RootNetTask, root_targets

torch.set_num_threads(1)
REPO = Path(__file__).resolve().parents[1]
S = 64                      # crop side: a 16 x 16 heatmap


def _net(**kw) -> RootNet:
    torch.manual_seed(0)
    return RootNet("resnet18", S, head_channels=8, **kw).eval()


def _force(model: RootNet, gamma: float) -> RootNet:
    """Depth branch outputs `gamma` whatever the image; xy branch a uniform map."""
    with torch.no_grad():
        model.depth_head.weight.zero_()
        model.depth_head.bias.fill_(gamma)
        model.xy_head.weight.zero_()
        model.xy_head.bias.zero_()
    return model


def _logits_at(cells: torch.Tensor, size: int) -> torch.Tensor:
    """(B, 2) cell coordinates -> (B, 1, size, size) logits whose soft-argmax is exactly `cells`: the weight of
    each axis split between the two neighbouring cells, every other cell at -1e4 (exp underflows to 0)."""
    out = torch.full((len(cells), 1, size, size), -1e4, dtype=torch.float64)
    for b, (x, y) in enumerate(cells.double().tolist()):
        jx, jy = min(int(x), size - 2), min(int(y), size - 2)
        wx, wy = [1 - (x - jx), x - jx], [1 - (y - jy), y - jy]
        for dx in (0, 1):
            for dy in (0, 1):
                out[b, 0, jy + dy, jx + dx] = math.log(max(wx[dx] * wy[dy], 1e-300))
    return out


def _person(root=(300.0, -200.0, 5000.0)):
    """A standing-sized pose (17, 3) mm around `root`, the H36M-like camera K and its image (1000 x 1002)."""
    g = torch.Generator().manual_seed(3)
    joints = (torch.rand(17, 3, generator=g, dtype=torch.float64) - 0.5) * torch.tensor([500.0, 1700.0, 400.0])
    joints = joints - joints[:1] + torch.tensor(root, dtype=torch.float64)
    K = torch.tensor([[1145.0, 0, 512.5], [0, 1144.0, 515.4], [0, 0, 1]], dtype=torch.float64)
    uv = joints @ K.T
    uv = uv[:, :2] / uv[:, 2:]
    box = torch.cat([uv.amin(0) - 20, uv.amax(0) - uv.amin(0) + 40])
    return joints, K, box


def test_distance_prior_matches_hand_computed_k_of_the_processed_box():
    # 200 x 400 box at (100, 50) -> square 400 x 400 about the centre (200, 250) -> x1.25 = 500 x 500
    box = np.array([[100.0, 50.0, 200.0, 400.0]])
    processed = process_bbox(box, np.array([[1000.0, 1000.0]]))
    np.testing.assert_allclose(processed, [[-50.0, 0.0, 500.0, 500.0]])
    k = distance_prior(processed, np.array([[1000.0, 1200.0]]))
    np.testing.assert_allclose(k, [math.sqrt(1000 * 1200 * 2000 * 2000 / (500 * 500))])   # 4381.78 mm
    np.testing.assert_allclose(k, [4381.7805], atol=1e-3)
    # clipped first: x in [-0.5, 200], y in [900, 999.5] -> 200.5 x 99.5 -> square 200.5 -> x1.25 = 250.625
    clipped = process_bbox(torch.tensor([[-100.0, 900.0, 300.0, 200.0]]), torch.tensor([[1000.0, 1000.0]]))
    torch.testing.assert_close(clipped, torch.tensor([[99.75 - 125.3125, 949.75 - 125.3125, 250.625, 250.625]]))
    k = distance_prior(clipped, torch.tensor([[1000.0, 1000.0]]), (2000.0, 2000.0))
    torch.testing.assert_close(k, torch.tensor([1000 * 2000 / 250.625]))                  # 7980.05 mm
    # bbox_real in metres gives metres (the unit must match the depth's)
    np.testing.assert_allclose(distance_prior(processed, np.array([[1000.0, 1200.0]]), (2.0, 2.0)), [4.3817805],
                               atol=1e-6)


def test_soft_argmax_decodes_a_peaked_map_to_the_right_image_pixel():
    model = _net()
    H = model.heatmap_size
    logits = torch.full((2, 1, H, H), -1e4)
    logits[0, 0, 10, 3] = 0.0                                    # row y = 10, column x = 3
    logits[1, 0, 10, 3], logits[1, 0, 10, 4] = math.log(0.25), math.log(0.75)
    out = model.decode(logits, torch.ones(2), torch.full((2,), 5000.0))
    torch.testing.assert_close(out["root2d_cells"], torch.tensor([[3.0, 10.0], [3.75, 10.0]]))
    # cell j covers crop pixels 4j .. 4j + 3: centre 4j + 1.5
    torch.testing.assert_close(out["root2d_px"], torch.tensor([[13.5, 41.5], [16.5, 41.5]]))
    # a box centred on the principal point: the crop camera is not turned, only zoomed (f 1000 -> 64 / 0.4 = 160)
    K = torch.tensor([[[1000.0, 0, 499.5], [0, 1000.0, 499.5], [0, 0, 1]]], dtype=torch.float64).expand(2, 3, 3)
    K_crop, R = crop_camera(K, torch.tensor([[299.5, 299.5, 400.0, 400.0]]).expand(2, 4), S)
    torch.testing.assert_close(R, torch.eye(3, dtype=torch.float64).expand(2, 3, 3))
    image_px, cam = root_camera(out["root2d_px"].double(), out["depth_mm"].double(), K, K_crop, R)
    expected = torch.tensor([[499.5 - 18 * 6.25, 499.5 + 10 * 6.25], [499.5 - 15 * 6.25, 499.5 + 10 * 6.25]],
                            dtype=torch.float64)
    torch.testing.assert_close(image_px, expected)                # (387.0, 562.0) and (405.75, 562.0)
    torch.testing.assert_close(cam[:, 2], torch.full((2,), 5000.0, dtype=torch.float64))
    torch.testing.assert_close(cam[:, :2], (expected - 499.5) * 5.0, rtol=1e-6, atol=1e-3)


@pytest.mark.parametrize("roll, flip", [(0.0, False), (35.0, False), (-50.0, True)])
def test_forced_gamma_recovers_the_true_root_exactly(roll, flip):
    joints, K, box = _person()
    aug = CropAugmentation(torch.ones(1), torch.tensor([roll]), torch.zeros(1, 2), torch.tensor([flip]))
    batch = make_crops(torch.zeros(1, 3, 1002, 1000), K[None], box[None], joints[None], S, augment=False, aug=aug,
                       recipe=ROOTNET_CROPS)
    t = root_targets(batch, (2000.0, 2000.0))
    gamma = 5000.0 / float(t["k"][0])                               # the true ratio Z / k
    model = _force(_net(), gamma)
    with torch.no_grad():
        _, gamma_out = model.logits(batch["image"])
        out = model.decode(_logits_at(t["cells"], model.heatmap_size), gamma_out, t["k"].double())
    _, root = root_camera(out["root2d_px"].double(), out["depth_mm"].double(), batch["K_orig"].double(),
                          batch["K_crop"].double(), batch["R_crop_from_orig"].double())
    torch.testing.assert_close(root[0], torch.tensor([300.0, -200.0, 5000.0], dtype=torch.float64), atol=0.05,
                               rtol=0)


def test_rootnet_augmentation_keeps_k_and_moves_the_xy_target():
    joints, K, box = _person((-400.0, 150.0, 4200.0))
    targets = {}
    for name, roll, flip in (("id", 0.0, False), ("roll90", 90.0, False), ("flip", 0.0, True)):
        aug = CropAugmentation(torch.ones(1), torch.tensor([roll]), torch.zeros(1, 2), torch.tensor([flip]))
        batch = make_crops(torch.zeros(1, 3, 1002, 1000), K[None], box[None], joints[None], S, augment=False,
                           aug=aug, recipe=ROOTNET_CROPS)
        targets[name] = root_targets(batch, (2000.0, 2000.0))
    c = (S / 4 - 1) / 2                                                # heatmap centre = crop principal point
    d = targets["id"]["cells"][0] - c
    for name in ("roll90", "flip"):
        torch.testing.assert_close(targets[name]["k"], targets["id"]["k"])
        torch.testing.assert_close(targets[name]["depth"], targets["id"]["depth"])
        torch.testing.assert_close(targets[name]["root_cam"], targets["id"]["root_cam"])
    # roll by +90 deg turns the crop-pixel offset (dx, dy) into (-dy, dx); a flip mirrors x about the centre
    torch.testing.assert_close(targets["roll90"]["cells"][0], torch.stack([c - d[1], c + d[0]]), atol=1e-4, rtol=0)
    torch.testing.assert_close(targets["flip"]["cells"][0], torch.stack([c - d[0], c + d[1]]), atol=1e-4, rtol=0)
    # the processed box is square and 1.25 x the person box's longer side
    side = 1.25 * float(box[2:].max())
    torch.testing.assert_close(batch["box"][0, 2:], torch.tensor([side, side]))


def test_rootnet_augmentation_distribution():
    aug = CropAugmentation.sample_rootnet(4000, torch.Generator().manual_seed(0))
    rolled = aug.roll_deg != 0
    assert abs(rolled.float().mean() - 0.6) < 0.03 and abs(aug.flip.float().mean() - 0.5) < 0.03
    # N(0, 1) clipped to +-2 has std sqrt(0.7385 + 4 * 0.0455) = 0.9595
    assert aug.roll_deg.abs().max() <= 60.0 and abs(aug.roll_deg[rolled].std() - 30 * 0.9595) < 1.5
    assert (aug.scale == 1).all() and (aug.shift == 0).all()


def test_focal_normalised_depth_converts_to_the_true_depth():
    joints, K, box = _person((250.0, 100.0, 5200.0))
    image = torch.rand(1, 3, 1002, 1000, generator=torch.Generator().manual_seed(1))
    model = _force(_net(), 1.07)
    from lifting.inference import estimate_roots

    true = estimate_roots(model, image, box[None], K[None].numpy())
    normalised = estimate_roots(model, image, box[None], None, assumed_focal_px=1500.0)
    f = K[[0, 1], [0, 1]].numpy()[None]
    # a uniform xy map decodes to the crop centre, i.e. the processed box centre, whatever the intrinsics
    np.testing.assert_allclose(true["root2d_px"], normalised["root2d_px"], atol=1e-3)
    np.testing.assert_allclose(true["root2d_px"], (box[:2] + box[2:] / 2)[None].numpy(), atol=1e-3)
    depth = depth_for_focal(normalised["root_cam"][:, 2], f)
    np.testing.assert_allclose(depth, true["root_cam"][:, 2], rtol=1e-6)
    np.testing.assert_allclose(normalised["root_cam"][:, 2] * math.sqrt(1145.0 * 1144.0) / 1500.0, depth, rtol=1e-6)
    xy = (normalised["root2d_px"] - K[:2, 2].numpy()) / f * depth[:, None]
    np.testing.assert_allclose(xy, true["root_cam"][:, :2], atol=1e-2)


def test_root_metrics_against_hand_computed_values():
    gt = np.array([[0.0, 0, 4000], [1000, 0, 4000], [0, 0, 6000]])
    gt_image = np.array([0, 0, 1])
    pred = np.array([[100.0, 0, 4000], [200, 0, 4000], [300, 0, 6000], [1000, 0, 4100]])
    pred_image, score = np.array([0, 0, 1, 0]), np.array([0.9, 0.8, 0.7, 0.6])
    # TP (A), FP (nearest A taken; no fall-back to B), FP (300 mm), TP (B): P = 1, 1/2, 1/3, 1/2; R = 1/3 .. 2/3
    assert metrics.ap_root(pred, pred_image, score, gt, gt_image) == pytest.approx(1 / 3 + 0.5 / 3)
    # single-person crops, every score 1: one operating point, P = R = 3/4
    ids = np.arange(4)
    one = np.array([[0.0, 0, 4000], [0, 0, 5000], [0, 0, 3000], [0, 0, 7000]])
    off = one + np.array([[100.0, 0, 0], [0, 240, 0], [0, 0, 260], [0, 0, -10]])
    assert metrics.ap_root(off, ids, np.ones(4), one, ids) == pytest.approx(0.75 ** 2)
    res = metrics.evaluate_roots(off, one, (4500.0,))
    assert res["root_pck250"] == pytest.approx(75.0) and res["mrpe"] == pytest.approx((100 + 240 + 260 + 10) / 4)
    low, high = res["mrpe_by_depth"]
    assert (low["hi"], low["count"], high["lo"], high["count"]) == (4500.0, 2, 4500.0, 2)
    assert low["mrpe"] == pytest.approx(180.0) and high["mrpe"] == pytest.approx(125.0)
    assert high["mrpe_y"] == pytest.approx(120.0) and low["mrpe_z"] == pytest.approx(130.0)
    pose = np.zeros((2, 2, 3))
    shifted = pose + np.array([[[100.0, 0, 0], [100, 0, 0]], [[0, 0, 200], [0, 0, 200]]])
    assert metrics.absolute_pose_metrics(shifted, pose) == {"a_mpjpe": 150.0, "apck150": 50.0,
                                                            "poses_within_150": 50.0}


def test_bad_input_is_a_one_line_user_error():
    cases = [lambda: RootNet("vgg16", S), lambda: RootNet("resnet18", 100),
             lambda: distance_prior(np.array([[0.0, 0, 100, 100]]), np.array([[1000.0, 1000]]), (0.0, 2000.0)),
             lambda: distance_prior(np.array([[0.0, 0, 0, 100]]), np.array([[1000.0, 1000]])),
             lambda: process_bbox(np.array([[0.0, 0, 0, 0]])),
             lambda: process_bbox(np.array([[1200.0, 10, 50, 50]]), np.array([[1000.0, 1000]])),
             lambda: RootNetTask(load_config(SCHEMA, None, ["bbox_real=[-2000,2000]"])),
             lambda: load_config(SCHEMA, None, ["backbone=vgg16"])]
    from lifting.inference import estimate_roots

    cases.append(lambda: estimate_roots(_net(), torch.zeros(1, 3, 100, 100), [[10, 10, 50, 80]], None))
    for case in cases:
        with pytest.raises(UserError) as err:
            case()
        assert "\n" not in str(err.value) and len(str(err.value)) > 20


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, tiny_h36m):
    from lifting.tasks import run_task

    out = tmp_path_factory.mktemp("rootnet") / "run"
    cfg = load_config(SCHEMA, None, [], {
        "data_dir": str(tiny_h36m), "cache_dir": str(out.parent / "cache"), "train_subjects": [1, 5],
        "test_subjects": [8], "backbone": "resnet18", "crop_size": S, "head_channels": 8, "batch_size": 4,
        "iterations": 3, "eval_batch_size": 8, "max_test_crops": 8, "device": "cpu", "threads": 1,
        "out_dir": str(out), "tensorboard": False, "progress": False, "log_every": 1})
    return out, run_task("rootnet", cfg)


def test_smoke_training_writes_results_with_the_metrics(smoke_run):
    out, res = smoke_run
    stored = json.loads((out / "results.json").read_text())
    for key in ("mrpe", "mrpe_x", "mrpe_y", "mrpe_z", "ap_root25", "root_pck250", "prior_mrpe", "prior_mrpe_z",
                "prior_calibrated_mrpe", "mrpe_truncated", "prior_mrpe_truncated", "gamma_train_mean"):
        assert np.isfinite(stored[key]), key
    assert stored["iterations"] == 3 and stored["num_test_crops"] == stored["num_truncated_crops"] == 8
    assert sum(b["count"] for b in stored["mrpe_by_depth"]) == 8
    assert stored["mrpe"] >= stored["mrpe_z"] and 0.5 < stored["gamma_train_mean"] < 2.0
    assert (out / "last.pt").is_file() and (out / "best.pt").is_file() and "RootNet" in (out / "results.md").read_text()


def test_predictions_file_is_aligned_with_the_dataset_frames(smoke_run, tiny_h36m, tmp_path):
    from lifting.checkpoint import load_trained
    from lifting.datasets.h36m import load_h36m
    from lifting.datasets.images import ImageDataset
    from lifting.inference import predict_roots_dataset
    from lifting.synth.writer import write_rendered_dataset

    poses = load_h36m(tiny_h36m, [9], stride=3)
    write_rendered_dataset(tmp_path / "images", poses.subset(np.arange(6)), image_size=96)
    model = load_trained(smoke_run[0], "rootnet").model
    n = predict_roots_dataset(model, tmp_path / "images", tmp_path / "roots.npz", batch_size=4)
    data = np.load(tmp_path / "roots.npz")
    dataset = ImageDataset(tmp_path / "images", [9])
    assert n == len(dataset) == 6 and data["root_cam"].shape == (6, 3) and data["root2d_px"].shape == (6, 2)
    for key in ("subject", "subaction", "camera", "frame"):
        np.testing.assert_array_equal(data[key], getattr(dataset, key))
    np.testing.assert_array_equal(data["action"], dataset.action)
    # root_cam is the back-projection of root2d_px through the dataset's intrinsics at the predicted depth
    xy = (data["root2d_px"] - dataset.c) / dataset.f * data["root_cam"][:, 2:]
    np.testing.assert_allclose(xy, data["root_cam"][:, :2], rtol=1e-4, atol=1e-2)
    assert np.isnan(data["assumed_focal_px"])


@pytest.mark.slow
def test_absolute_experiment_quick_and_its_plot(tmp_path):
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")])}
    run = lambda *cmd: subprocess.run([sys.executable, *cmd], cwd=REPO, env=env, capture_output=True, text=True,
                                      timeout=300)
    proc = run("paper_exps/absolute.py", "--quick", "--data-dir", "synthetic", "--results-dir", str(tmp_path / "r"),
               "--cache-dir", str(tmp_path / "cache"), "--device", "cpu")
    assert proc.returncode == 0, proc.stderr[-2000:]
    summary = json.loads((tmp_path / "r" / "absolute" / "summary.json").read_text())
    assert summary["quick"] is True and summary["order"] == ["prior", "prior_calibrated", "rootnet", "metrabs"]
    (ts,) = summary["test_sets"]
    assert ts["bone_lengths"] == "varied" and set(ts["crops"]) == {"full", "truncated"}
    for crops in ts["crops"].values():
        rows = crops["rows"]
        assert crops["num_crops"] == 8 and set(rows) == set(summary["order"])
        assert all(np.isfinite(rows[n][k]) for n in rows for k in ("mrpe", "mrpe_z", "ap_root25", "a_mpjpe"))
    proc = run("paper_plots/absolute.py", "--results-dir", str(tmp_path / "r"))
    assert proc.returncode == 0, proc.stderr[-2000:]
    for name in ("absolute.png", "absolute.pdf", "absolute.json", "absolute.md"):
        assert (tmp_path / "r" / "figures" / name).is_file()
    assert "RootNet root + MeTRo pose" in (tmp_path / "r" / "figures" / "absolute.md").read_text()


def test_mobilenet_rootnet_decodes_and_the_tiny_config_fits_the_zoo_budget():
    """The CPU config's RootNet is a <= 3 MB float16 file (issue 22); a MobileNet RootNet decodes like a ResNet one."""
    from lifting.config import load_config

    cfg = load_config(SCHEMA, REPO / "opts" / "rootnet_tiny.yaml")
    model = RootNet(cfg["backbone"], cfg["crop_size"], cfg["head_channels"])
    size = sum(t.numel() for t in model.state_dict().values() if t.is_floating_point()) * 2
    assert cfg["backbone"] == "mobilenet_v3_small" and size <= 3.0e6, size
    net = _force(RootNet("mobilenet_v3_small", S, head_channels=8).eval(), 2.0)
    out = net(torch.rand(2, 3, S, S), torch.tensor([3000.0, 4000.0]))
    assert torch.allclose(out["root2d_px"], torch.full((2, 2), (S - 1) / 2), atol=1e-4)   # uniform map: centre
    assert torch.allclose(out["depth_mm"], torch.tensor([6000.0, 8000.0]))
