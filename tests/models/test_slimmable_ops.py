import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from dspnet_mm import get_width, set_width, width_context
from dspnet_mm.models.layers import (SlimmableConv2d, SlimmableLinear,
                                     SwitchableBatchNorm, check_width)


@pytest.mark.parametrize('width', [0.25, 0.5, 0.75, 1.0])
def test_conv_equals_plain_conv_with_sliced_weight(width):
    conv = SlimmableConv2d(64, 128, 3, stride=2, padding=1, bias=True)
    set_width(conv, width)
    cin, cout = int(64 * width), int(128 * width)
    x = torch.randn(2, cin, 9, 9)
    plain = nn.Conv2d(cin, cout, 3, stride=2, padding=1, bias=True)
    plain.weight.data.copy_(conv.weight[:cout, :cin])
    plain.bias.data.copy_(conv.bias[:cout])
    out = conv(x)
    assert out.shape == (2, cout, 5, 5)
    torch.testing.assert_close(out, plain(x))


def test_conv_gradients_reach_only_active_slice():
    conv = SlimmableConv2d(8, 16, 1, bias=False)
    set_width(conv, 0.5)
    conv(torch.randn(2, 4, 3, 3)).sum().backward()
    grad = conv.weight.grad
    assert grad[:8, :4].abs().sum() > 0
    assert grad[8:].abs().sum() == 0
    assert grad[:, 4:].abs().sum() == 0


def test_linear_slices_input_only_by_default():
    lin = SlimmableLinear(32, 10)
    x = torch.randn(3, 8)
    torch.testing.assert_close(
        lin(x), F.linear(x, lin.weight[:, :8], lin.bias))
    lin(x).sum().backward()
    assert lin.weight.grad[:, 8:].abs().sum() == 0
    assert lin.weight.grad[:, :8].abs().sum() > 0


def test_linear_slim_out():
    lin = SlimmableLinear(32, 16, slim_out=True)
    set_width(lin, 0.25)
    assert lin(torch.randn(3, 8)).shape == (3, 4)


def test_switchable_bn_keeps_private_statistics():
    bn = SwitchableBatchNorm(16, widths=[0.5, 1.0])
    assert [b.num_features for b in bn.bns] == [8, 16]
    set_width(bn, 0.5)
    bn.train()
    x = torch.randn(4, 8, 3, 3) * 3 + 2
    bn(x)
    assert bn.bns[0].num_batches_tracked.item() == 1
    assert bn.bns[1].num_batches_tracked.item() == 0
    torch.testing.assert_close(bn.bns[0].running_mean,
                               0.1 * x.mean(dim=(0, 2, 3)))
    assert torch.all(bn.bns[1].running_mean == 0)


def test_switchable_bn_syncbn_and_requires_grad():
    bn = SwitchableBatchNorm(
        16,
        widths=[0.5, 1.0],
        norm_cfg=dict(type='SyncBN', requires_grad=False))
    assert all(isinstance(b, nn.SyncBatchNorm) for b in bn.bns)
    assert not any(p.requires_grad for p in bn.parameters())


def test_width_validation():
    assert check_width(0.25) == 0.25
    with pytest.raises(ValueError, match='off the channel grid'):
        check_width(0.3)
    with pytest.raises(ValueError, match=r'in \(0, 1\]'):
        check_width(1.5)
    with pytest.raises(ValueError, match=r'in \(0, 1\]'):
        check_width(0)
    bn = SwitchableBatchNorm(64, widths=[0.5, 1.0])
    with pytest.raises(ValueError, match='not one of the trained widths'):
        set_width(bn, 0.25)
    assert bn.width == 1.0  # a refused width changes nothing


def test_width_context_restores():
    model = nn.Sequential(
        SlimmableConv2d(3, 16, 3), SwitchableBatchNorm(16, [0.5, 1.0]))
    assert get_width(model) == 1.0
    with width_context(model, 0.5):
        assert get_width(model) == 0.5
        assert model(torch.randn(1, 3, 5, 5)).shape[1] == 8
    assert get_width(model) == 1.0
    with pytest.raises(ValueError, match='no slimmable'):
        get_width(nn.Linear(2, 2))
