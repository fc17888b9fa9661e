import math

import numpy as np
import pytest
import torch

from lifting.datasets.pairs import PairSampler, all_pairs, flip_probability
from lifting.geometry.skeletons import H36M_17
from lifting.losses import (
    limb_ratio_loss,
    mpjpe_loss,
    relative_depth_loss,
    root_loss,
    scaled_orthographic_reprojection_loss,
    supervised_loss,
    weak_perspective_reprojection_loss,
)


def test_relative_loss_zero_when_orderings_satisfied_beyond_tolerance():
    """The logistic ranking loss on batch-normalised gaps vanishes for satisfied orderings as kappa grows,
    is minimal among all labelings, and 'equal' pairs at equal depth cost exactly 0."""
    zi = torch.tensor([1000.0, 0.0, 500.0])
    zj = torch.tensor([0.0, 1000.0, 0.0])
    labels = torch.tensor([1.0, -1.0, 1.0])
    assert relative_depth_loss(zi, zj, labels, distance_multiplier=25.0).item() < 1e-6
    satisfied = relative_depth_loss(zi, zj, labels).item()
    for flips in ([1, 1, -1], [-1, 1, 1], [-1, -1, -1]):
        assert relative_depth_loss(zi, zj, labels * torch.tensor(flips, dtype=torch.float32)).item() > satisfied
    assert relative_depth_loss(torch.ones(3), torch.ones(3), torch.zeros(3)).item() == 0.0
    # the hand-computed value for one violated pair: d = -1 / mean|delta| = -1, softplus(2.5) = log(1 + e^2.5)
    loss = relative_depth_loss(torch.tensor([0.0]), torch.tensor([1.0]), torch.tensor([1.0]))
    assert loss.item() == pytest.approx(math.log1p(math.exp(2.5)), rel=1e-6)


def test_relative_loss_equal_pairs_pull_together_and_is_scale_free():
    zi, zj = torch.tensor([3.0, 1.0]), torch.tensor([1.0, 0.0])
    labels = torch.tensor([0.0, 0.0])
    # d = delta / mean|delta| = (2, 1) / 1.5 -> mean of squares
    assert relative_depth_loss(zi, zj, labels).item() == pytest.approx(((2 / 1.5) ** 2 + (1 / 1.5) ** 2) / 2)
    assert relative_depth_loss(zi * 100, zj * 100, labels).item() == pytest.approx(relative_depth_loss(zi, zj, labels).item())


def test_reprojection_losses_zero_for_exact_projection():
    rng = np.random.default_rng(0)
    pose = torch.tensor(rng.normal(size=(4, 17, 3)) * 300, dtype=torch.float32)
    scale = torch.tensor([0.2, 0.25, 0.3, 0.1])
    uv = scale[:, None, None] * pose[..., :2]
    assert scaled_orthographic_reprojection_loss(pose, scale, uv).item() < 1e-3
    f = torch.tensor([[1100.0, 1150.0]] * 4)
    z0 = torch.tensor([4000.0, 5000.0, 4500.0, 6000.0])
    uv_p = f[:, None, :] * pose[..., :2] / (pose[..., 2:] + z0[:, None, None])
    assert weak_perspective_reprojection_loss(pose, 1 / z0, uv_p, f).item() < 1e-3
    assert scaled_orthographic_reprojection_loss(pose, scale, uv + torch.tensor([3.0, 4.0])).item() == pytest.approx(5.0, rel=1e-4)


def test_root_supervised_and_limb_losses():
    pose = torch.zeros(2, 17, 3)
    pose[:, 0] = torch.tensor([3.0, 4.0, 0.0])
    assert root_loss(pose, 0).item() == pytest.approx(5.0, rel=1e-5)
    assert supervised_loss(pose, torch.zeros_like(pose)).item() == pytest.approx(25 / 51)
    std = torch.ones(51) * 2
    std[:3] = 0
    assert supervised_loss(pose, torch.zeros_like(pose), std).item() == pytest.approx(0.0)
    # the root 5 mm off, the 16 other joints exact: 5 / 17 mm; the gradient stays finite where pose == target
    pred = pose.clone().requires_grad_()
    loss = mpjpe_loss(pred, torch.zeros_like(pose))
    loss.backward()
    assert loss.item() == pytest.approx(5 / 17, abs=1e-3) and torch.isfinite(pred.grad).all()
    limbs = torch.tensor(H36M_17.limbs)
    gt = torch.tensor(np.random.default_rng(1).normal(size=(3, 17, 3)), dtype=torch.float32)
    ref = torch.linalg.norm(gt[:, limbs[:, 0]] - gt[:, limbs[:, 1]], dim=-1)
    assert limb_ratio_loss(gt * 7.0, limbs, ref, H36M_17.unit_limb).item() < 1e-3
    assert limb_ratio_loss(gt, limbs, ref[0], H36M_17.unit_limb).item() > 0.05


def test_pair_sampler_labels_follow_depth_and_noise():
    rng = np.random.default_rng(0)
    depth = rng.normal(size=(500, 17)) * 300
    s = PairSampler(depth, 1, rng=rng)
    idx = torch.arange(500)
    i, j, lab = s.sample(idx, torch.Generator().manual_seed(0))
    true = np.sign(depth[np.arange(500), i.numpy()] - depth[np.arange(500), j.numpy()])
    assert np.array_equal(lab.numpy(), true)
    i2, j2, _ = s.sample(idx, torch.Generator().manual_seed(1))    # one fixed pair per sample, order may swap
    assert np.array_equal(np.sort(np.stack([i, j], 1), 1), np.sort(np.stack([i2, j2], 1), 1))
    flipped = PairSampler(depth, "all", noise=1.0, rng=rng)
    i, j, lab = flipped.sample(idx, torch.Generator().manual_seed(0))
    assert np.array_equal(lab.numpy(), -np.sign(depth[np.arange(500), i.numpy()] - depth[np.arange(500), j.numpy()]))
    tol = PairSampler(np.array([[0.0, 50.0, 500.0]] * 4), "all", tolerance_mm=100, rng=rng)
    i, j, lab = tol.sample(torch.arange(4), torch.Generator().manual_seed(3))
    gap = np.abs(np.array([0.0, 50.0, 500.0])[i.numpy()] - np.array([0.0, 50.0, 500.0])[j.numpy()])
    assert np.array_equal(lab.numpy() == 0, gap < 100)


def test_mturk_flip_probability_and_pair_count():
    assert flip_probability(np.array([0.0, 200.0, 400.0, 1000.0]), "mturk").tolist() == pytest.approx([0.5, 0.25, 0.0, 0.0])
    assert len(all_pairs(17)) == 136 and len(all_pairs(14)) == 91


def test_several_pairs_per_sample_per_step_follow_depth_and_the_kept_subset():
    rng = np.random.default_rng(1)
    depth = rng.normal(size=(50, 17)) * 300
    s = PairSampler(depth, 3, rng=rng)
    i, j, lab = s.sample(torch.arange(50), torch.Generator().manual_seed(0), per_sample=8)
    assert i.shape == j.shape == lab.shape == (50, 8)
    rows = np.arange(50)[:, None]
    assert np.array_equal(lab.numpy(), np.sign(depth[rows, i.numpy()] - depth[rows, j.numpy()]))
    kept = [{tuple(p) for p in s.pairs[s.keep[n].long()].tolist()} for n in range(50)]
    drawn = np.sort(np.stack([i, j], -1), -1)
    assert all(tuple(p) in kept[n] for n in range(50) for p in drawn[n].tolist())
    assert max(len({tuple(p) for p in drawn[n].tolist()}) for n in range(50)) == 3   # all three kept pairs show up
