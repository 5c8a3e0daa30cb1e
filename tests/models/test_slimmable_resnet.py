import pytest
import torch
from mmdet.models.backbones import ResNet as MMDetResNet
from mmpretrain.models import ResNet as MMPretrainResNet
from torch.nn.modules.batchnorm import _BatchNorm

from dspnet_mm import SlimmableResNet, get_width, set_width, width_context
from dspnet_mm.models.layers import SwitchableBatchNorm
from dspnet_mm.registry import MODELS


def _plain_name(name):
    # layer1.0.bn1.bns.3.weight -> layer1.0.bn1.weight
    parts = name.split('.')
    if 'bns' in parts:
        i = parts.index('bns')
        del parts[i:i + 2]
    return '.'.join(parts)


@pytest.mark.parametrize('depth,expect', [(18, [64, 128, 256, 512]),
                                          (50, [256, 512, 1024, 2048])])
def test_channels_per_width(depth, expect):
    model = SlimmableResNet(depth, out_indices=(0, 1, 2, 3))
    x = torch.randn(2, 3, 32, 32)
    for w in (0.25, 0.5, 0.75, 1.0):
        set_width(model, w)
        assert model.width == w
        outs = model(x)
        assert [o.shape[1] for o in outs] == [int(c * w) for c in expect]
        assert model.stage_channels(w) == [int(c * w) for c in expect]
    assert [o.shape[-1] for o in outs] == [8, 4, 2, 1]


def test_bad_construction_and_widths():
    with pytest.raises(ValueError, match='depth must be one of'):
        SlimmableResNet(200)
    with pytest.raises(ValueError, match='off the channel grid'):
        SlimmableResNet(18, widths=[0.3, 1.0])
    model = SlimmableResNet(18, widths=[0.5, 1.0])
    with pytest.raises(ValueError, match='not one of the trained widths'):
        set_width(model, 0.25)
    with pytest.raises(ValueError, match='off the channel grid'):
        set_width(model, 0.51)
    assert model.width == 1.0


def test_builds_from_every_registry():
    from mmdet.registry import MODELS as DET
    from mmseg.registry import MODELS as SEG
    for registry in (MODELS, DET, SEG):
        model = registry.build(
            dict(type='SlimmableResNet', depth=18, widths=[0.5, 1.0]))
        assert isinstance(model, SlimmableResNet)


@pytest.mark.parametrize('zero_init', [True, False])
def test_zero_init_residual_reaches_every_width(zero_init):
    model = SlimmableResNet(18, zero_init_residual=zero_init)
    model.init_weights()
    last, other = 0, 0
    for name, m in model.named_modules():
        if not isinstance(m, SwitchableBatchNorm):
            continue
        assert len(m.bns) == 4  # one BN per width
        weights = [bn.weight for bn in m.bns]
        if name.endswith('bn2'):  # the last BN of each residual branch
            last += 1
            expect = 0.0 if zero_init else 1.0
        else:  # stem, bn1 of each block, downsample BNs
            other += 1
            expect = 1.0
        assert all(torch.all(w == expect) for w in weights), name
    # ResNet-18: 8 blocks; the stem, 8 bn1 and 3 downsample BNs
    assert (last, other) == (8, 12)


@pytest.mark.parametrize('frozen_stages,norm_eval', [(1, True), (2, False),
                                                     (-1, True)])
def test_frozen_stages_and_norm_eval_match_mmdet(frozen_stages, norm_eval):
    kwargs = dict(
        depth=50,
        out_indices=(0, 1, 2, 3),
        frozen_stages=frozen_stages,
        norm_eval=norm_eval)
    ours = SlimmableResNet(**kwargs)
    ref = MMDetResNet(**kwargs)
    ours.train()
    ref.train()
    ref_grad = {n: p.requires_grad for n, p in ref.named_parameters()}
    ours_grad = {}
    for n, p in ours.named_parameters():
        ours_grad.setdefault(_plain_name(n), set()).add(p.requires_grad)
    assert set(ours_grad) == set(ref_grad)
    for n, flags in ours_grad.items():
        assert flags == {ref_grad[n]}, n
    ref_mode = {n: m.training for n, m in ref.named_modules()}
    n_bn = 0
    for n, m in ours.named_modules():
        if isinstance(m, _BatchNorm):
            n_bn += 1
            assert m.training == ref_mode[_plain_name(n + '.x')[:-2]], n
    assert n_bn == 4 * 53
    # a real optimizer step over every parameter (weight decay and momentum
    # touch all that have a gradient): frozen ones stay, the others move,
    # and BNs in eval mode keep their statistics
    before = {n: t.clone() for n, t in ours.state_dict().items()}
    opt = torch.optim.SGD(
        ours.parameters(), lr=0.1, momentum=0.9, weight_decay=0.01)
    set_width(ours, 0.5)
    sum(o.sum() for o in ours(torch.randn(2, 3, 32, 32))).backward()
    opt.step()
    moved = frozen = 0
    for n, p in ours.named_parameters():
        same = torch.equal(before[n], p)
        if not p.requires_grad:
            frozen += 1
            assert same and p.grad is None, n
        elif p.grad is not None and p.grad.abs().sum() > 0:
            moved += 1
            assert not same, n
    assert (frozen > 0) == (frozen_stages >= 1)
    assert moved > 0
    for n, m in ours.named_modules():
        if isinstance(m, _BatchNorm) and not m.training:
            assert torch.equal(before[n + '.running_mean'], m.running_mean), n


def test_mmpretrain_resnet_is_the_reference_layout():
    # the exported key set is the stock one (checked in full in test_export)
    ours = {_plain_name(k) for k in SlimmableResNet(18).state_dict()}
    assert ours == set(MMPretrainResNet(18).state_dict())


def _switches(model):
    """Every public way of switching ``model``'s width."""
    from dspnet_mm.models.utils import recalibrate_bn

    def context(w):
        with width_context(model, w):
            pass

    def recalibrate(w):
        recalibrate_bn(model, w, [torch.randn(2, 3, 32, 32)])

    return dict(
        set_width=lambda w: set_width(model, w),
        width_context=context,
        recalibrate_bn=recalibrate)


@pytest.mark.parametrize('way',
                         ['set_width', 'width_context', 'recalibrate_bn'])
def test_every_switch_refuses_widths_outside_the_universal_range(way):
    model = SlimmableResNet(18, widths=[0.25, 0.75], universal=True)
    switch = _switches(model)[way]
    for bad in (0.125, 0.875, 1.0):
        with pytest.raises(ValueError, match='outside the universal range'):
            switch(bad)
        assert get_width(model) == 0.75  # nothing was switched
    switch(0.375)  # on the grid and in range


@pytest.mark.parametrize('way',
                         ['set_width', 'width_context', 'recalibrate_bn'])
def test_every_switch_refuses_untrained_widths(way):
    model = SlimmableResNet(18, widths=[0.5, 1.0])
    switch = _switches(model)[way]
    for bad in (0.25, 0.75):
        with pytest.raises(ValueError, match='not one of the trained widths'):
            switch(bad)
        assert get_width(model) == 1.0
    with pytest.raises(ValueError, match='not one of the trained widths'):
        model.bn1.set_width(0.25)  # a single layer refuses as well
    assert model.bn1.width == 1.0
    switch(0.5)
