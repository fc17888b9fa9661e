import torch

from lifting.models.linear import LinearModel


def test_shapes_and_parameter_count():
    m = LinearModel(17, 17, num_stage=1)
    pose, scale = m(torch.randn(8, 34))
    assert pose.shape == (8, 17, 3) and scale.shape == (8,)
    # Ronchi et al.'s 1-block 17-joint model: about 2.19 M parameters (without the unnorm layer)
    n = sum(p.numel() for p in m.parameters())
    assert 2_180_000 < n < 2_200_000


def test_supervised_destandardises_and_relative_multiplies():
    m = LinearModel(17, 17, linear_size=32, num_stage=1, dropout=0.0).eval()
    mean, std = torch.arange(51.0), torch.full((51,), 2.0)
    raw = m.head(m.blocks(m.stem(torch.zeros(1, 34))))
    m.set_output_stats(mean, std)
    assert torch.allclose(m(torch.zeros(1, 34))[0].reshape(-1), raw.reshape(-1) * 2 + mean, atol=1e-5)
    r = LinearModel(17, 17, linear_size=32, num_stage=1, dropout=0.0, relative=True, scale_range=0.001).eval()
    raw = r.head(r.blocks(r.stem(torch.zeros(1, 34))))
    assert torch.allclose(r(torch.zeros(1, 34))[0].reshape(-1), raw.reshape(-1) * 100, atol=1e-4)
    assert 0 < r(torch.zeros(1, 34))[1].item() < 0.001
