"""Cost of a width: params / FLOPs, and the fast weight-slicing paths.

* Every width of a SlimmableResNet is a standard ResNet, so mmengine's
  complexity analysis of the supernet switched to ``w`` must give exactly
  the numbers of ``ResNet(depth, base_channels=64 * w, stem_channels=64 * w)``.
* The slimmable conv slices its weight as a plain view in training and
  through a per-width dense cache in eval + no-grad
  (``SlimmableConv2d._sliced_weight``); both must be bit-identical to
  plain slicing, and the cache must follow every change of the weights.
"""
import pytest
import torch
import torch.nn.functional as F
from mmengine.analysis import get_model_complexity_info
from mmpretrain.models import ResNet

from dspnet_mm import SlimmableResNet, set_width
from dspnet_mm.analysis import active_param_count
from dspnet_mm.models.layers import SlimmableConv2d, SlimmableLinear

WIDTHS = (0.25, 0.5, 0.75, 1.0)


def _info(model, size=32):
    return get_model_complexity_info(
        model, input_shape=(3, size, size), show_table=False, show_arch=False)


@pytest.fixture(scope='module')
def supernet():
    torch.manual_seed(0)
    model = SlimmableResNet(18)
    model.eval()
    return model


@pytest.mark.parametrize('width', WIDTHS)
def test_params_and_flops_equal_static_resnet(supernet, width):
    set_width(supernet, width)
    base = round(64 * width)
    static = ResNet(18, base_channels=base, stem_channels=base)
    static.eval()
    ours, ref = _info(supernet), _info(static)
    # FLOPs and activations: the jit trace of the switched supernet
    assert ours['flops'] == ref['flops'] > 0
    assert ours['activations'] == ref['activations']
    # params: mmengine counts every tensor of the supernet (all widths);
    # the parameters width w reads are the static network's
    x = torch.randn(1, 3, 32, 32)
    assert active_param_count(supernet, x) == ref['params']
    assert ours['params'] == sum(p.numel() for p in supernet.parameters())
    set_width(supernet, 1.0)


# ------------------------------------------------- exact fast slicing paths
def _plain_conv(conv, x):
    out = conv.active_out_channels
    return F.conv2d(x, conv.weight[:out, :x.shape[1]],
                    None if conv.bias is None else conv.bias[:out],
                    conv.stride, conv.padding, conv.dilation)


@pytest.mark.parametrize('channels_last', [False, True])
def test_training_slice_is_bit_identical_to_plain_slicing(channels_last):
    conv = SlimmableConv2d(16, 32, 3, padding=1, bias=True)
    set_width(conv, 0.5)
    x = torch.randn(2, 8, 7, 7)
    if channels_last:
        conv = conv.to(memory_format=torch.channels_last)
        x = x.to(memory_format=torch.channels_last)
    results = []
    for fn in (conv, lambda t: _plain_conv(conv, t)):
        conv.zero_grad(set_to_none=True)
        inp = x.clone().requires_grad_()
        y = fn(inp)
        (y * torch.arange(y.numel()).view_as(y).sin()).sum().backward()
        results.append((y.detach(), inp.grad, conv.weight.grad.clone(),
                        conv.bias.grad.clone()))
    for a, b in zip(*results):
        assert torch.equal(a, b)
    grad = results[0][2]
    assert grad.shape == conv.weight.shape
    assert grad.stride() == conv.weight.stride()  # no layout copy needed
    assert grad[16:].abs().sum() == 0 and grad[:, 8:].abs().sum() == 0


def test_linear_is_bit_identical_to_plain_slicing():
    # linear keeps the strided slice (BLAS reads it in place; a dense copy
    # could change the bits)
    lin = SlimmableLinear(32, 16)
    x = torch.randn(4, 8)
    y = lin(x)
    y.pow(2).sum().backward()
    ours = lin.weight.grad.clone()
    lin.zero_grad(set_to_none=True)
    ref = F.linear(x, lin.weight[:, :8], lin.bias)
    ref.pow(2).sum().backward()
    assert torch.equal(y, ref)
    assert torch.equal(ours, lin.weight.grad)


def test_training_never_caches_and_sees_every_write():
    # autograd, frozen weights and training mode take the plain view
    conv = SlimmableConv2d(16, 32, 3, padding=1, bias=False)
    set_width(conv, 0.5)
    x = torch.randn(2, 8, 7, 7)
    conv(x).sum().backward()
    assert not _cache(conv)
    conv.eval()
    conv(x).sum().backward()  # eval mode with autograd
    assert not _cache(conv)
    conv.weight.requires_grad_(False)
    with torch.no_grad():
        y0 = conv(x)
        assert not _cache(conv)  # frozen: EMA writes through .data
        conv.weight.data.mul_(2)
        torch.testing.assert_close(conv(x), 2 * y0)
    set_width(conv, 1.0)


def _cache(module):
    from dspnet_mm.models.layers.slimmable_ops import _SLICE_CACHE
    return _SLICE_CACHE.get(module, {})


def test_eval_cache_equals_uncached_and_is_reused(supernet):
    supernet.eval()  # empties the caches the tests above filled
    set_width(supernet, 0.5)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        cached = supernet(x)[-1]
        again = supernet(x)[-1]
    conv = supernet.layer2[0].conv2
    assert len(_cache(conv)) == 1
    entry = next(iter(_cache(conv).values()))[2]
    with torch.no_grad():
        assert conv.active_weight(64)[0] is entry  # a hit, no new copy
    # the uncached paths: autograd's plain view, and a fresh model
    with torch.enable_grad():
        uncached = supernet(x)[-1]
    fresh = SlimmableResNet(18)
    fresh.load_state_dict(supernet.state_dict())
    fresh.eval()
    set_width(fresh, 0.5)
    with torch.no_grad():
        # train() / eval() empty the cache: first forward builds it
        ref = fresh(x)[-1]
    assert torch.equal(cached, again)
    assert torch.equal(cached, uncached)
    assert torch.equal(cached, ref)
    set_width(supernet, 1.0)


def test_eval_cache_follows_optimizer_step():
    torch.manual_seed(1)
    model = SlimmableResNet(18)
    model.eval()  # frozen BN statistics: only the weights change
    set_width(model, 0.25)
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        before = model(x)[-1]
    assert _cache(model.layer1[0].conv1)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    model(x)[-1].sum().backward()
    opt.step()
    with torch.no_grad():
        after = model(x)[-1]
    with torch.enable_grad():
        expect = model(x)[-1].detach()  # uncached, new weights
    assert not torch.equal(before, after)
    assert torch.equal(after, expect)
    # so does load_state_dict (copy_ under no_grad bumps the version)
    other = SlimmableResNet(18)
    model.load_state_dict(other.state_dict())
    other.eval()
    set_width(other, 0.25)
    with torch.no_grad():
        assert torch.equal(model(x)[-1], other(x)[-1])


def test_eval_cache_emptied_by_train_and_eval():
    conv = SlimmableConv2d(8, 8, 1)
    conv.eval()
    set_width(conv, 0.5)
    x = torch.randn(1, 4, 3, 3)
    with torch.no_grad():
        conv(x)
        assert _cache(conv)
        # a write through .data is invisible to the version counter (as
        # mmengine's EMA does it): the next eval() call picks it up
        conv.weight.data.mul_(2)
        conv.eval()
        assert not _cache(conv)
        torch.testing.assert_close(conv(x), _plain_conv(conv, x))
        conv.train()
        assert not _cache(conv)
        conv(x)
        assert not _cache(conv)  # training mode never caches
