"""The cached-feature linear probe and the random-init twin."""
import pytest
import torch
from mmpretrain.models.backbones import ResNet
from torch.nn.modules.batchnorm import _BatchNorm

from dspnet_mm.evaluation import (fit_bn_statistics, fit_logistic,
                                  knn_classify, linear_probe,
                                  random_init_resnet)
from dspnet_mm.evaluation.linear_probe import _holdout_split


def _linear_task(n_per_class=150, dim=64, classes=4, seed=0):
    """Classes separable along one random direction each, buried in
    high-variance noise dims: easy for a linear model, hard for cosine kNN.
    """
    g = torch.Generator().manual_seed(seed)
    y = torch.arange(classes).repeat_interleave(n_per_class)
    x = 3.0 * torch.randn(len(y), dim, generator=g)  # noise dims
    x[:, :classes] = 0.3 * torch.randn(len(y), classes, generator=g)
    x[torch.arange(len(y)), y] += 1.5  # the signal: one dim per class
    perm = torch.randperm(len(y), generator=g)
    return x[perm], y[perm]


def test_fit_logistic_converges_to_the_optimum():
    x, y = _linear_task(seed=1)
    head = fit_logistic(x, y, 4, weight_decay=1e-3)
    # at the optimum the gradient of the penalised loss vanishes
    w = head.weight.clone().requires_grad_(True)
    b = head.bias.clone().requires_grad_(True)
    loss = torch.nn.functional.cross_entropy(x.double() @ w.T + b, y)
    loss = loss + 0.5 * 1e-3 * w.pow(2).sum()
    gw, gb = torch.autograd.grad(loss, (w, b))
    assert gw.abs().max().item() < 1e-5
    assert gb.abs().max().item() < 1e-5


def test_linear_probe_beats_knn_on_a_linear_feature_and_is_reproducible():
    tx, ty = _linear_task(seed=2)
    vx, vy = _linear_task(seed=3)
    res = linear_probe(tx, ty, vx, vy)
    knn = knn_classify(tx, ty, vx, vy, k=20)['top1']
    assert res['top1'] > 90.0
    assert knn < 60.0  # cosine neighbours are dominated by the noise dims
    assert res['top1'] > knn + 30
    again = linear_probe(tx, ty, vx, vy)
    assert again['top1'] == res['top1']
    assert again['weight_decay'] == res['weight_decay']
    # the penalty is chosen on train: val labels do not change the choice
    other = linear_probe(tx, ty, vx, torch.zeros_like(vy))
    assert other['weight_decay'] == res['weight_decay']
    assert other['holdout_top1'] == res['holdout_top1']


def test_linear_probe_penalty_is_the_best_held_out_one():
    # few samples, many noise dims: a weak penalty overfits the noise
    tx, ty = _linear_task(n_per_class=25, dim=400, seed=2)
    vx, vy = _linear_task(n_per_class=100, dim=400, seed=12)
    res = linear_probe(tx, ty, vx, vy)
    curve = res['holdout_top1']
    assert list(curve) == [
        1e-6, 1e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0
    ]
    # the best held-out accuracy wins, ties go to the stronger penalty
    best = max(curve.values())
    assert res['weight_decay'] == max(wd for wd in curve if curve[wd] == best)
    assert best > curve[1e-6]
    weak = linear_probe(tx, ty, vx, vy, weight_decays=(1e-6, ))
    assert weak['weight_decay'] == 1e-6
    assert weak['train_top1'] == 100.0  # memorised


def test_holdout_split_is_stratified_and_disjoint():
    y = torch.tensor([0] * 10 + [1] * 5 + [2] * 2)
    fit, held = _holdout_split(y, 0.2, seed=0)
    assert set(fit.tolist()).isdisjoint(held.tolist())
    assert sorted(fit.tolist() + held.tolist()) == list(range(17))
    assert torch.bincount(y[held], minlength=3).tolist() == [2, 1, 1]
    assert torch.equal(held, _holdout_split(y, 0.2, seed=0)[1])
    assert not torch.equal(held, _holdout_split(y, 0.2, seed=1)[1])


def test_linear_probe_bad_input():
    x, y = torch.randn(20, 4), torch.randint(0, 2, (20, ))
    with pytest.raises(ValueError, match='holdout'):
        linear_probe(x, y, x, y, holdout=1.0)
    with pytest.raises(ValueError, match='weight_decays'):
        linear_probe(x, y, x, y, weight_decays=())


def test_random_init_twin_is_seeded_stock_resnet():
    a = random_init_resnet(18, 0.25, seed=3)
    b = random_init_resnet(18, 0.25, seed=3)
    c = random_init_resnet(18, 0.25, seed=4)
    assert isinstance(a, ResNet) and not a.training
    assert a.conv1.out_channels == 16 and a.layer4[0].conv1.out_channels == 128
    sa, sb, sc = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa['conv1.weight'], sc['conv1.weight'])
    # the global RNG is left alone
    torch.manual_seed(0)
    x = torch.rand(1)
    torch.manual_seed(0)
    random_init_resnet(18, 0.25, seed=3)
    assert torch.equal(torch.rand(1), x)
    # no zero-initialised residual BN (the pretraining's start)
    assert a.layer1[0].bn2.weight.min().item() == 1.0
    with pytest.raises(ValueError):
        random_init_resnet(18, 0.3)


def test_fit_bn_statistics_is_the_exact_average_and_touches_no_weight():
    net = random_init_resnet(18, 0.25, seed=0)
    weights = {
        k: v.clone()
        for k, v in net.state_dict().items()
        if 'running' not in k and 'num_batches' not in k
    }
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(4, 3, 32, 32, generator=g) + i for i in range(3)]
    used = fit_bn_statistics(net, iter(batches + batches), max_batches=3)
    assert used == 3 and not net.training
    # bn1 sees conv1(x): its running mean is the mean of the batch means
    with torch.no_grad():
        means = [net.conv1(b).mean(dim=(0, 2, 3)) for b in batches]
    assert torch.allclose(
        net.bn1.running_mean, torch.stack(means).mean(0), atol=1e-5)
    after = net.state_dict()
    assert all(torch.equal(after[k], v) for k, v in weights.items())
    assert all(m.momentum == 0.1 for m in net.modules()
               if isinstance(m, _BatchNorm))
    with pytest.raises(ValueError, match='no batch'):
        fit_bn_statistics(net, iter([]))
