import pytest
import torch

from lifting.models.linear import Dropout, LinearModel, dropout_mask


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


@pytest.mark.parametrize("p", [0.5, 0.3])
def test_dropout_masks_drop_each_unit_with_probability_p(p):
    """Values 0 or 1/(1-p); every unit (so every bit position of the p = 0.5 draws) dropped at rate p; masks
    differ between draws and repeat for the same generator seed."""
    g = torch.Generator().manual_seed(0)
    masks = torch.stack([dropout_mask((64, 1024), p, g) for _ in range(200)])
    assert masks.unique().tolist() == pytest.approx([0.0, 1 / (1 - p)])
    rate = (masks == 0).double().mean(0).flatten()         # per unit over 200 draws: sd sqrt(p(1-p)/200) ~ 0.035
    assert abs(float(rate.mean()) - p) < 0.002
    assert float((rate - p).abs().max()) < 0.2
    by_bit = (masks == 0).double().reshape(200, -1, 32).mean((0, 1))   # the 32 bit positions of one word
    assert float((by_bit - p).abs().max()) < 0.01
    assert not torch.equal(masks[0], masks[1])
    torch.testing.assert_close(dropout_mask((64, 1024), p, torch.Generator().manual_seed(0)), masks[0])
    x = torch.ones(64, 1024)
    assert abs(float(Dropout(p).train()(x).mean()) - 1.0) < 0.02 and torch.equal(Dropout(p).eval()(x), x)


@pytest.mark.parametrize("p", [0.5, 0.25])
def test_the_compiled_model_trains_with_dropout(p):
    """The engine's compile path (probed in eval mode at batch 2, then trained at batch 64) runs dropout."""
    from lifting.engine.optim import compiled as compile_probed

    torch.compiler.reset()   # no graphs (and shape guesses) left from another test
    torch.manual_seed(0)
    model = LinearModel(17, 17, linear_size=16, num_stage=1, dropout=p)
    compiled = compile_probed(model, (torch.zeros(2, 34),))
    assert compiled is not model                      # compiled, not the eager fall-back
    x = torch.randn(64, 34)
    a, b = compiled(x)[0], compiled(x)[0]
    assert torch.isfinite(a).all() and not torch.equal(a, b)   # fresh dropout masks at every call
    a.square().mean().backward()
    assert all(q.grad is not None for q in model.parameters() if q.requires_grad and q is not model.scale_head.weight
               and q is not model.scale_head.bias)
