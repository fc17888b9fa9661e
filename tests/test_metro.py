"""MeTRo/MeTRAbs model: decoding geometry, absolute reconstruction, stride variants, memory formats."""

import math

import pytest
import torch
import torchvision

from lifting.errors import UserError
from lifting.models import metro
from lifting.models.backbones import build_backbone

torch.set_num_threads(2)


def _one_hot_logits(j, d, h, w, cells, peak=60.0):
    """Depth-major (1, D*J, H, W) logits with one very peaked cell (d, y, x) per joint."""
    logits = torch.zeros(1, d * j, h, w)
    for joint, (dz, y, x) in enumerate(cells):
        logits[0, dz * j + joint, y, x] = peak
    return logits


def test_soft_argmax_one_hot_volume_gives_exact_metric_coordinates():
    model = metro.MetroNet("resnet18", stride=32, num_joints=3, depth_bins=8, crop_size=256)
    cells = [(0, 0, 0), (7, 2, 5), (3, 7, 1)]                     # (d, y, x)
    logits3d = _one_hot_logits(3, 8, 8, 8, cells)
    logits = torch.cat([torch.zeros(1, 3, 8, 8), logits3d], dim=1)
    out = model.decode(logits)
    scale = 2200.0 / 256
    expected = torch.tensor([[32 * x * scale, 32 * y * scale, d * 2200.0 / 7] for d, y, x in cells])
    expected = expected - expected[0]
    assert torch.allclose(out["pose3d_rel"][0], expected, atol=1e-3)


def test_2d_head_one_hot_decodes_to_cell_centre_pixels():
    model = metro.MetroNet("resnet18", stride=16, num_joints=2, crop_size=128)
    logits = torch.zeros(1, 2 * 9, 8, 8)
    logits[0, 0, 3, 6] = 60.0
    logits[0, 1, 7, 0] = 60.0
    out = model.decode(logits)
    assert torch.allclose(out["pose2d"][0], torch.tensor([[96.0, 48.0], [0.0, 112.0]]), atol=1e-4)


def test_soft_argmax_uniform_is_grid_centre_and_peak_pair_is_midpoint():
    logits = torch.zeros(1, 8, 4, 6)                  # J = 1, D = 8
    u = metro.soft_argmax_3d(logits, 1)
    assert torch.allclose(u, torch.full((1, 1, 3), 0.5), atol=1e-6)
    logits[0, 2, 1, 1] = logits[0, 2, 1, 4] = 80.0
    u = metro.soft_argmax_3d(logits, 1)
    assert torch.allclose(u[0, 0], torch.tensor([2.5 / 5, 1 / 3, 2 / 7]), atol=1e-6)


@pytest.mark.parametrize("name,stride", [("resnet18", 32), ("resnet18", 16), ("resnet50", 8),
                                         ("mobilenet_v3_small", 32), ("mobilenet_v3_small", 16),
                                         ("mobilenet_v3_large", 32)])
def test_measured_cell_centre_matches_decoder_offset(name, stride):
    """Back-propagate from one output cell with constant (symmetric) kernels: the input gradient's
    centroid is the cell's receptive-field centre, which must be CELL_OFFSET + s * i. A ResNet's max-pool is
    swapped for an average pool with the same window (a max-pool routes gradient to its tie-broken
    argmax, which would measure the tie rule rather than the window geometry)."""
    body, _ = build_backbone(name, stride)
    if name.startswith("resnet"):
        pool = body[3]
        body[3] = torch.nn.AvgPool2d(pool.kernel_size, pool.stride, pool.padding)
    with torch.no_grad():
        for m in body.modules():
            if isinstance(m, torch.nn.Conv2d):
                m.weight.fill_(1.0 / m.weight[0].numel())
    body.eval()
    i = 224 // stride // 2
    size = 2 * stride * i + 1                   # odd: border truncation is symmetric about pixel s*i
    x = torch.ones(1, 3, size, size, requires_grad=True)
    y = body(x)
    y[0, :, i, i].sum().backward()
    g = x.grad[0].sum(0)
    coords = torch.arange(size, dtype=torch.float64)
    cx = float((g.sum(0).double() * coords).sum() / g.sum())
    cy = float((g.sum(1).double() * coords).sum() / g.sum())
    assert cx == pytest.approx(metro.CELL_OFFSET + stride * i, abs=0.05)
    assert cy == pytest.approx(metro.CELL_OFFSET + stride * i, abs=0.05)


def _random_scene(b=4, j=17, seed=0):
    g = torch.Generator().manual_seed(seed)
    rel = (torch.rand(b, j, 3, generator=g) - 0.5) * torch.tensor([800.0, 1600.0, 600.0])
    rel = rel - rel[:, :1]
    t = torch.stack([torch.rand(b, generator=g) * 600 - 300, torch.rand(b, generator=g) * 400 - 200,
                     3000 + torch.rand(b, generator=g) * 3000], -1)
    K = torch.zeros(b, 3, 3)
    K[:, 0, 0] = 500 + torch.rand(b, generator=g) * 200
    K[:, 1, 1] = K[:, 0, 0] * 1.01
    K[:, 0, 2], K[:, 1, 2], K[:, 2, 2] = 128.0, 127.5, 1.0
    rel, t = rel.double(), t.double()
    proj = (rel + t[:, None]) @ K.double().transpose(1, 2)
    return rel, t, K, proj[..., :2] / proj[..., 2:3]


def test_full_perspective_recovers_known_translation():
    rel, t, K, p2d = _random_scene()
    in_fov = torch.ones(p2d.shape[:2], dtype=torch.bool)
    abs_pose = metro.reconstruct_absolute(p2d.double(), rel, K.double(), in_fov, ridge=0.0, mix=0.5)
    assert (abs_pose - (rel + t[:, None])).abs().max() < 1e-3


def test_full_perspective_with_joints_out_of_fov():
    rel, t, K, p2d = _random_scene(seed=1)
    truth = rel + t[:, None]
    in_fov = torch.ones(p2d.shape[:2], dtype=torch.bool)
    in_fov[:, [3, 6, 13, 16]] = False
    exact = metro.reconstruct_absolute(p2d, rel, K.double(), in_fov, ridge=0.0, mix=0.5)
    assert (exact - truth).abs().max() < 1e-3
    corrupted = p2d.clone()
    corrupted[:, [3, 6, 13, 16]] += 400.0                          # junk 2D for the flagged joints
    masked = metro.reconstruct_absolute(corrupted, rel, K.double(), in_fov, ridge=0.0, mix=0.0)
    assert (masked - truth).abs().max() < 1e-2                      # only the 1e-4 weights' leverage
    single = metro.reconstruct_absolute(corrupted.float(), rel.float(), K, in_fov, ridge=0.0, mix=0.0)
    assert single.dtype == torch.float32 and (single.double() - truth).abs().max() < 0.05
    unmasked = metro.reconstruct_absolute(corrupted, rel, K.double(), torch.ones_like(in_fov), ridge=0.0)
    assert (unmasked - truth).abs().max() > 50                       # without the mask it is wrong


def test_ridge_and_weak_perspective_are_close_but_not_exact():
    rel, t, K, p2d = _random_scene(seed=2)
    in_fov = torch.ones(p2d.shape[:2], dtype=torch.bool)
    truth = rel + t[:, None]
    ridge = metro.reconstruct_absolute(p2d, rel.float(), K, in_fov, ridge=1e-2, mix=1.0)
    err = (ridge - truth).norm(dim=-1).mean()
    assert 1e-3 < err < 50
    flat = rel.clone()
    flat[..., 2] = 0                                              # fronto-parallel: weak = exact
    proj = (flat + t[:, None]) @ K.double().transpose(1, 2)
    p2 = proj[..., :2] / proj[..., 2:3]
    weak = metro.reconstruct_absolute(p2, flat, K.double(), in_fov, weak=True, mix=1.0)
    assert (weak - (flat + t[:, None])).abs().max() < 1e-2


def test_reconstruction_is_differentiable():
    rel, t, K, p2d = _random_scene(seed=3)
    rel = rel.float().requires_grad_(True)
    p2d = p2d.float().requires_grad_(True)
    out = metro.reconstruct_absolute(p2d, rel, K, torch.ones(p2d.shape[:2], dtype=torch.bool))
    out.sum().backward()
    assert torch.isfinite(rel.grad).all() and rel.grad.abs().sum() > 0 and p2d.grad.abs().sum() > 0


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "mobilenet_v3_small"])
def test_dilated_models_load_stride32_weights(name):
    torch.manual_seed(0)
    m32 = metro.MetroNet(name, stride=32, crop_size=128).eval()
    x = torch.rand(2, 3, 128, 128)
    for s in (16, 8):
        if name.startswith("mobilenet") and s == 8:
            with pytest.raises(UserError, match="output stride 8"):
                metro.with_stride(m32, s)
            continue
        ms = metro.with_stride(m32, s).eval()
        out = ms(x)
        assert ms.logits(x).shape[-1] == 128 // s
        assert out["pose3d_rel"].shape == (2, 17, 3) and out["pose2d"].shape == (2, 17, 2)
        assert torch.isfinite(out["pose3d_rel"]).all()
        if name == "resnet18":
            strided = [m for m in ms.backbone.modules() if isinstance(m, torch.nn.Conv2d) and m.stride != (1, 1)]
            assert len(strided) == 1 + 2 * int(math.log2(s // 4))    # stem + (conv, shortcut) per stride-2 layer


def test_channels_last_gives_same_outputs():
    torch.manual_seed(0)
    model = metro.MetroNet("resnet18", stride=16, crop_size=128).eval()
    x = torch.rand(2, 3, 128, 128)
    ref = model(x)
    model = model.to(memory_format=torch.channels_last)
    out = model(x.contiguous(memory_format=torch.channels_last))
    for k in ref:
        assert torch.allclose(ref[k], out[k], atol=1e-3)


def test_losses_are_zero_at_truth_and_positive_otherwise():
    model = metro.MetroNet("resnet18", stride=32, crop_size=256)
    rel, t, K, p2d = _random_scene(b=2, seed=4)
    cam = (rel + t[:, None]).float()
    out = {"pose3d_rel": (rel - rel[:, :1]).float(), "pose2d": p2d.float().clamp(20, 200)}
    in_crop = torch.ones(2, 17, dtype=torch.bool)
    losses = metro.metro_losses(model, out, K, cam, out["pose2d"], in_crop, step=10_000, ridge=0.0)
    assert losses["rel"] < 1e-6 and losses["2d"] < 1e-6
    bad = {"pose3d_rel": out["pose3d_rel"] + 100.0 * (torch.arange(17) > 0)[None, :, None],
           "pose2d": out["pose2d"] + 10}
    losses = metro.metro_losses(model, bad, K, cam, out["pose2d"], in_crop, step=10_000)
    assert losses["rel"] == pytest.approx(0.1 * 16 / 17, rel=1e-4)
    assert losses["2d"] == pytest.approx(10 * 2200 / 256 / 1000, rel=1e-4)
    assert losses["abs"] > 0
    assert losses["total"] > losses["rel"] + losses["2d"]
    early = metro.metro_losses(model, bad, K, cam, out["pose2d"], in_crop, step=0)
    assert early["total"] == pytest.approx(float(early["rel"] + early["2d"]), rel=1e-5)


def test_bad_backbone_and_weights_path_are_user_errors(tmp_path):
    with pytest.raises(UserError, match="backbone"):
        build_backbone("vgg16")
    with pytest.raises(UserError, match="stride"):
        build_backbone("resnet18", 12)
    with pytest.raises(UserError, match="stride 8 with backbone mobilenet_v3_small"):
        build_backbone("mobilenet_v3_small", 8)
    with pytest.raises(UserError, match="not found"):
        build_backbone("resnet18", weights_path=tmp_path / "missing.pt")
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"junk")
    with pytest.raises(UserError, match="state_dict"):
        build_backbone("resnet18", weights_path=bad)
    resnet = tmp_path / "resnet18.pt"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), resnet)
    with pytest.raises(UserError, match="not a torchvision mobilenet_v3_small state_dict"):
        build_backbone("mobilenet_v3_small", weights_path=resnet)


@pytest.mark.parametrize("name", ["resnet18", "mobilenet_v3_small"])
def test_backbone_weights_file_initialises_the_trunk(name, tmp_path):
    """A torchvision state_dict (classifier included) loads into the trunk: same tensors, classifier dropped."""
    torch.manual_seed(3)
    full = getattr(torchvision.models, name)(weights=None)
    path = tmp_path / f"{name}.pt"
    torch.save(full.state_dict(), path)
    body, channels = build_backbone(name, 32, path)
    trunk = full.features if name.startswith("mobilenet") else torch.nn.Sequential(
        full.conv1, full.bn1, full.relu, full.maxpool, full.layer1, full.layer2, full.layer3, full.layer4)
    mine, theirs = body.state_dict(), trunk.state_dict()
    assert mine.keys() == theirs.keys() and all(torch.equal(mine[k], theirs[k]) for k in mine)
    assert channels == {"resnet18": 512, "mobilenet_v3_small": 576}[name]


def test_mobilenet_batchnorm_tracks_with_momentum_0_1():
    body, _ = build_backbone("mobilenet_v3_small")
    norms = [m for m in body.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and all(m.momentum == 0.1 and m.eps == 1e-3 for m in norms)


def test_fov_margin_follows_the_training_stride_at_every_run_stride():
    """MeTRAbs keeps joints 0.75 s_train from the border of the non-centred grid: [8, 216] px at S = 256,
    s_train = 32, whatever stride the dilated model runs at."""
    from lifting.models.metro import MetroNet, absolute_pose, with_stride

    model = MetroNet("resnet18", stride=32, crop_size=256)
    x = torch.tensor([7.9, 8.1, 120.0, 215.9, 216.1])
    pose2d = torch.stack([x, torch.full_like(x, 120.0)], -1)[None]          # (1, 5, 2) crop px
    expected = torch.tensor([[False, True, True, True, False]])
    for stride in (32, 16, 8, 4):
        run = with_stride(model, stride)
        assert run.stride == stride and run.train_stride == 32
        assert torch.equal(run.in_fov(pose2d), expected), stride
    # The reconstruction uses that mask: a joint moved just outside the FOV no longer pulls the root.
    K = torch.tensor([[[300.0, 0, 127.5], [0, 300.0, 127.5], [0, 0, 1]]])
    rel = torch.zeros(1, 5, 3)
    rel[0, :, 0] = torch.tensor([-400.0, -300.0, 0.0, 300.0, 400.0])
    out = {"pose2d": pose2d, "pose3d_rel": rel}
    a = absolute_pose(with_stride(model, 4), out, K)
    b = absolute_pose(model, out, K)
    assert torch.allclose(a, b)


def test_the_tiny_config_estimator_fits_the_zoo_budget():
    """The CPU config's estimator is a <= 3 MB float16 file (issue 22)."""
    from pathlib import Path

    from lifting.config import load_config
    from lifting.options.metro import SCHEMA
    from lifting.tasks.metro import build_model

    cfg = load_config(SCHEMA, Path(__file__).resolve().parents[1] / "opts" / "metro_tiny.yaml")
    model = build_model(cfg)
    size = sum(t.numel() for t in model.state_dict().values() if t.is_floating_point()) * 2
    assert cfg["backbone"] == "mobilenet_v3_small" and size <= 3.0e6, size
