"""The feature-spectrum diagnostic (dspnet_mm.evaluation.spectrum)."""
import pytest
import torch

from dspnet_mm.evaluation.knn import knn_classify
from dspnet_mm.evaluation.spectrum import (knn_without_top_components,
                                           spectrum, variance_shares)


def _collapsed(nuisance=(30., 20., 10.), classes=4, dim=16, seed=0):
    """Classes in weak directions, a few strong nuisance directions on top.

    Class means sit on dims 3..3+classes, 3 apart (noise 0.6); dims 0..2
    carry per-sample nuisance of std 30 / 20 / 10 (the dominant components,
    as in a dimensionally collapsed representation); train 60, val 30 per
    class.
    """
    g = torch.Generator().manual_seed(seed)

    def draw(n):
        y = torch.arange(classes).repeat_interleave(n)
        x = 0.6 * torch.randn(len(y), dim, generator=g)
        x[torch.arange(len(y)), 3 + y] += 3.0
        x[:, :3] += torch.randn(
            len(y), 3, generator=g) * torch.tensor(nuisance)
        return x + 5.0, y  # an offset, as post-ReLU features have

    return draw(60) + draw(30)


def test_variance_shares_of_a_known_spectrum():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(4000, 3, generator=g) * torch.tensor([3.0, 2.0, 1.0])
    shares = variance_shares(x, top=3)
    assert shares == pytest.approx([9 / 14, 4 / 14, 1 / 14], abs=0.02)
    assert variance_shares(x, top=2) == pytest.approx(shares[:2])


def test_dropping_the_nuisance_components_recovers_the_classes():
    tx, ty, vx, vy = _collapsed()
    assert sum(variance_shares(tx, top=3)) > 0.98
    raw = knn_classify(tx, ty, vx, vy, k=20)['top1']
    res = spectrum(tx, ty, vx, vy, drops=(0, 1, 3), top=2)
    assert sorted(res) == [
        'knn', 'knn_drop0', 'knn_drop1', 'knn_drop3', 'shares'
    ]
    assert res['knn'] == raw and len(res['shares']) == 2
    # chance is 25 %: the nuisance decides the neighbours until removed
    assert raw < 45 and res['knn_drop0'] < 45
    assert res['knn_drop1'] < 90
    assert res['knn_drop3'] == knn_without_top_components(
        tx, ty, vx, vy, drop=3) > 95


def test_without_nuisance_no_component_dominates_and_centring_only():
    tx, ty, vx, vy = _collapsed(nuisance=(0., 0., 0.))
    # 3 between-class directions share the variance
    assert variance_shares(tx, top=1)[0] < 0.3
    mean = tx.mean(0)
    centred = knn_classify(tx - mean, ty, vx - mean, vy)['top1']
    assert knn_without_top_components(
        tx, ty, vx, vy, drop=0) == pytest.approx(centred)
    assert centred > 95
