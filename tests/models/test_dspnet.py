import copy
import math

import pytest
import torch
from mmengine.logging import MessageHub

from dspnet_mm import get_width, set_width
from dspnet_mm.models.utils import WidthSampler, recalibrate_bn
from dspnet_mm.registry import MODELS

WIDTHS = [0.25, 0.5, 0.75, 1.0]


def dspnet_cfg(**kwargs):
    cfg = dict(
        type='DSPNet',
        base_momentum=0.01,
        backbone=dict(
            type='SlimmableResNet',
            depth=18,
            widths=WIDTHS,
            norm_cfg=dict(type='BN'),
            zero_init_residual=False),
        neck=dict(
            type='SlimmableNonLinearNeck',
            in_channels=512,
            hid_channels=64,
            out_channels=32,
            with_bias=True,
            with_last_bn=False,
            norm_cfg=dict(type='BN1d')),
        head=dict(
            type='LatentPredictHead',
            predictor=dict(
                type='SlimmableNonLinearNeck',
                in_channels=32,
                hid_channels=64,
                out_channels=32,
                with_bias=True,
                with_last_bn=False,
                with_avg_pool=False,
                norm_cfg=dict(type='BN1d')),
            loss=dict(
                type='CosineSimilarityLoss',
                shift_factor=2.0,
                scale_factor=2.0)))
    for k, v in kwargs.items():
        if isinstance(v, dict) and k in cfg:
            cfg[k] = dict(cfg[k], **v)
        else:
            cfg[k] = v
    return cfg


@pytest.fixture(autouse=True)
def _max_iters():
    MessageHub.get_current_instance().update_info('max_iters', 100)


def views(n=4, px=32):
    return [torch.randn(n, 3, px, px), torch.randn(n, 3, px, px)]


def build(**kwargs):
    model = MODELS.build(dspnet_cfg(**kwargs))
    model.init_weights()
    model.train()
    return model


def test_loss_keys_are_the_sampled_widths_and_finite():
    model = build()
    losses = model.loss(views(), None)
    assert set(losses) == {
        'loss_w1.0', 'loss_w0.75', 'loss_w0.5', 'loss_w0.25'
    }
    for v in losses.values():
        assert torch.isfinite(v) and 0 <= v.item() <= 8  # 2 x (2 - 2cos)
    assert get_width(model.backbone) == 1.0  # restored after loss()
    model2 = build(num_sampled=0)
    assert set(model2.loss(views(), None)) == {'loss_w1.0', 'loss_w0.25'}


def test_online_gets_gradients_teacher_none():
    model = build()
    sum(model.loss(views(), None).values()).backward()
    for name, p in model.backbone.named_parameters():
        if 'bn' not in name:
            assert p.grad is not None and p.grad.abs().sum() > 0, name
    # every width's own BN was trained
    for bn in model.backbone.bn1.bns:
        assert bn.weight.grad is not None and bn.weight.grad.abs().sum() > 0
    for p in model.target_net.parameters():
        assert p.grad is None
    assert not any(p.requires_grad for p in model.target_net.parameters())


def test_full_width_loss_is_byol():
    """loss_w1.0 is exactly BYOL's symmetric loss against the teacher."""
    model = build()
    model.loss(views(), None)  # first step: teacher := online
    x = views()
    online = copy.deepcopy(model)
    losses = model.loss(x, None)
    with torch.no_grad():
        online.target_net.update_parameters(
            torch.nn.Sequential(online.backbone, online.neck))
        z1 = online.target_net(x[0])[0]
        z2 = online.target_net(x[1])[0]

    def pred(v):
        return online.head.predictor([online.neck(online.backbone(v))[0]])[0]

    def ell(p, z):
        return (2 - 2 * torch.nn.functional.cosine_similarity(p, z)).mean()

    expect = ell(pred(x[0]), z2) + ell(pred(x[1]), z1)
    torch.testing.assert_close(losses['loss_w1.0'], expect)


def _ell(p, z):
    return (2 - 2 * torch.nn.functional.cosine_similarity(p, z)).mean()


def _by_hand(model, x, width):
    """Teacher targets and the online predictions at ``width`` and 1.0,
    computed from the definitions with a copy of ``model`` (before its
    ``loss()`` call)."""
    with torch.no_grad():
        model.target_net.update_parameters(
            torch.nn.Sequential(model.backbone, model.neck))
        z = [model.target_net(v)[0] for v in x]

    def predict(w):
        for m in (model.backbone, model.neck, model.head):
            set_width(m, w)
        return [
            model.head.predictor([model.neck(model.backbone(v))[0]])[0]
            for v in x
        ]

    return z, predict(width), [p.detach() for p in predict(1.0)]


@pytest.mark.parametrize('source', ['target', 'online', 'both'])
def test_distill_weight_and_sources(source):
    """Each source's loss, recomputed from its definition (cross-view: the
    prediction of view 1 learns the target of view 2, and vice versa):

    * target: l(p1_w, z2) + l(p2_w, z1), z the momentum teacher's projection;
    * online: l(p1_w, P2) + l(p2_w, P1), P the detached full-width online
      prediction;
    * both: the mean of the two.
    """
    torch.manual_seed(1)
    model = build(distill_weight=0.5, distill_from=source)
    x = views()
    twin = copy.deepcopy(model)
    losses = model.loss(x, None)
    assert sorted(model.width_losses) == ['0.25', '0.5', '0.75', '1.0']
    for width in (0.75, 0.5, 0.25):
        (z1, z2), (p1, p2), (full1,
                             full2) = _by_hand(copy.deepcopy(twin), x, width)
        target = _ell(p1, z2) + _ell(p2, z1)
        online = _ell(p1, full2) + _ell(p2, full1)
        expect = dict(
            target=target, online=online, both=0.5 * (target + online))[source]
        key = f'loss_w{width}'
        torch.testing.assert_close(losses[key], 0.5 * expect)
        torch.testing.assert_close(model.width_losses[str(width)], expect)
        # the pin tells cross-view from same-view
        same_view = _ell(p1, full1) + _ell(p2, full2)
        assert not torch.allclose(online, same_view, rtol=1e-3)
    # the full width is BYOL whatever the source
    (z1, z2), (p1, p2), _ = _by_hand(copy.deepcopy(twin), x, 1.0)
    torch.testing.assert_close(losses['loss_w1.0'],
                               _ell(p1, z2) + _ell(p2, z1))
    with pytest.raises(ValueError, match='distill_from'):
        build(distill_from='teacher')


def test_ema_update_equals_cosine_formula():
    model = build(base_momentum=0.1)
    MessageHub.get_current_instance().update_info('max_iters', 10)
    model.loss(views(), None)  # step 0 copies the online weights
    before_t = model.target_net.module[0].conv1.weight.detach().clone()
    online = model.backbone.conv1.weight.detach().clone()
    with torch.no_grad():
        model.backbone.conv1.weight.add_(1.0)  # as if an optimizer step
    model.loss(views(), None)  # step 1
    m = 0.0 - (0.0 - 0.1) * (math.cos(math.pi * 1 / 10) + 1) / 2
    expect = (1 - m) * before_t + m * (online + 1.0)
    torch.testing.assert_close(model.target_net.module[0].conv1.weight, expect)
    # the teacher always runs at full width
    assert get_width(model.target_net.module[0]) == 1.0


def test_tensor_mode_gives_full_width_features():
    model = build()
    model.eval()
    feats = model(views()[0], mode='tensor')
    assert feats[0].shape == (4, 512, 1, 1)


def test_sampler_sandwich_rule():
    s = WidthSampler(WIDTHS, num_sampled=1)
    for step in range(50):
        w = s.sample(step)
        assert w[0] == 1.0 and w[-1] == 0.25 and len(w) == 3
        assert w == s.sample(step)  # same step, same draw on every rank
    drawn = {tuple(s.sample(i)) for i in range(50)}
    assert len(drawn) == 2  # 0.5 or 0.75 in the middle
    assert WidthSampler(
        WIDTHS, num_sampled=2).sample(3) == sorted(
            WIDTHS, reverse=True)
    u = WidthSampler([0.25, 1.0], num_sampled=2, universal=True)
    for step in range(50):
        w = u.sample(step)
        assert w[0] == 1.0 and w[-1] == 0.25 and len(w) == 4
        assert all(abs(x * 64 - round(x * 64)) < 1e-9 for x in w)
    assert len({x for i in range(50) for x in u.sample(i)}) > 10


def test_universal_mode_and_bn_recalibration():
    model = build(backbone=dict(universal=True, widths=[0.25, 1.0]))
    losses = model.loss(views(), None)
    assert len(losses) == 4 and 'loss_w1.0' in losses
    assert all(torch.isfinite(v) for v in losses.values())
    backbone = model.backbone
    data = [torch.randn(8, 3, 32, 32) * 3 + 1 for _ in range(3)]
    used = recalibrate_bn(backbone, 0.375, data, num_batches=3)
    assert used == 3 and backbone.width == 0.375
    bn = backbone.bn1.bn
    c = 24  # 64 * 0.375 channels of the stem
    # exact average of the 3 batches' statistics of the first 24 channels
    with torch.no_grad():
        stem = [backbone.conv1(x)[:, :c] for x in data]
    expect = torch.stack([s.mean(dim=(0, 2, 3)) for s in stem]).mean(0)
    torch.testing.assert_close(bn.running_mean[:c], expect)
    assert torch.all(bn.running_mean[c:] == 0)
    # momenta and train/eval modes are restored (the model was training)
    assert bn.momentum == 0.1
    assert {m.training for m in model.modules()} == {True}
    # the live range check: no switch leaves [0.25, 1.0]
    with pytest.raises(ValueError, match='outside the universal range'):
        set_width(backbone, 0.125)
    assert backbone.width == 0.375


@pytest.mark.parametrize('part,change', [
    ('neck', dict(widths=[0.5, 1.0])),
    ('head', dict(predictor=dict(widths=[0.25, 0.5, 1.0]))),
    ('neck', dict(widths=None)),
    ('universal', dict(widths=[0.25, 1.0])),
])
def test_widths_that_disagree_are_refused_at_build(part, change):
    cfg = dspnet_cfg()
    if part == 'head':
        cfg['head']['predictor'].update(change['predictor'])
    elif part == 'neck':
        cfg['neck'].update(change)
    else:  # universal backbone with per-width BNs in the neck
        cfg['backbone'].update(universal=True, widths=[0.25, 1.0])
        cfg['neck'].update(change)
    with pytest.raises(ValueError, match='widths .* disagree'):
        MODELS.build(cfg)
    # what DSPNet fills in by itself agrees
    cfg = dspnet_cfg(neck=dict(widths=[1.0, 0.75, 0.5, 0.25]))
    model = MODELS.build(cfg)
    assert model.neck.widths == model.head.predictor.widths == tuple(WIDTHS)
