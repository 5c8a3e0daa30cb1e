"""The demo's pretraining learns: after it, every width's linear probe beats
its random-init twin by a margin far outside seed noise, and kNN does at width
0.5 (issue 8, item 6; what is not asserted and why: below).

Slow (about 6 minutes of one core: the demo's 600 iterations in bfloat16,
then kNN / linear probe of 4 exported widths and 4 random twins). It runs
in the default suite and in CI; ``-m "not slow"`` skips it locally.
"""
import os.path as osp

import pytest

from dspnet_mm.benchmark.pretrain import Pretraining, pretrain
from dspnet_mm.datasets import generate_demo_data
from dspnet_mm.evaluation.evidence import build_evidence

#: Required gain over the random-init twin of the same seed, in points on
#: the 240 val images (one image = 0.42 points). Measured on the demo
#: recipe (configs/dspnet/README.md, "The CPU demo"; 2026-12-07, 2-core
#: AMD EPYC), seeds 0 / 1 / 2, gain over the same-seed twin:
#: linear probe +12.1 to +23.8 at every width (smallest of 12 pairs +12.1;
#: the random twins' linear spread over seeds is at most 5.9 points, the
#: DSPNet widths' at most 5.4); kNN k=20 at width 0.5 +7.5 / +10.0 / +5.0
#: (random spread 3.8). kNN at widths 1.0 and 0.75 is NOT reliably above
#: random init after 600 iterations (-1.7 at 1.0 for seed 0, -5.0 at 0.75
#: for seed 2), so it is not asserted.
LINEAR_MARGIN = 8.0
KNN_MARGIN_W05 = 2.5


@pytest.mark.slow
def test_demo_pretraining_beats_random_init(tmp_path, monkeypatch):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    root = str(tmp_path / 'data')
    generate_demo_data(root, tasks=('cls', ))
    run = Pretraining(str(tmp_path / 'pretrain'), root, {'randomness.seed': 0})
    ckpt = pretrain(run, log=print)
    records = build_evidence(
        osp.join(root, 'cls'),
        str(tmp_path / 'evidence'),
        dspnet=[ckpt],
        random_seeds=[0],
        log=print)
    widths = (1.0, 0.75, 0.5, 0.25)
    assert sorted((r['kind'], r['width']) for r in records) == sorted(
        (kind, w) for kind in ('dspnet', 'random') for w in widths)
    by = {(r['kind'], r['width']): r for r in records}

    def gain(metric, w):
        return by['dspnet', w][metric] - by['random', w][metric]

    linear = {w: gain('linear', w) for w in widths}
    print('linear probe gain over random init per width:', linear)
    assert all(g >= LINEAR_MARGIN for g in linear.values()), linear
    assert gain('knn20', 0.5) >= KNN_MARGIN_W05
