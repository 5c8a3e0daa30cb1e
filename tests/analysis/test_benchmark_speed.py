"""tools/analysis/benchmark_speed.py: every part runs at a tiny size.

The figures at these sizes are noise; what is asserted is that each part
runs through the package code and prints its result lines, and the exact
ones: params and FLOPs of every width equal the static ResNet's.
"""
import os.path as osp

from dspnet_mm.analysis import interleaved
from dspnet_mm.cli import run_tool
from dspnet_mm.datasets import SMALL_DEMO, generate_demo_data


def test_interleaved_rotates_the_order_and_takes_medians():
    calls = []
    res = interleaved(
        dict(a=lambda: calls.append('a'), b=lambda: calls.append('b')),
        reps=3,
        warmup=1)
    # warm-up a, b; then ab, ba, ab
    assert ''.join(calls) == 'ab' + 'ab' + 'ba' + 'ab'
    assert set(res) == {'a', 'b'}
    assert all(r['cpu'] >= 0 and r['wall'] >= 0 for r in res.values())


def test_every_part_runs_tiny(tmp_path, capsys):
    root = str(tmp_path / 'demo')
    generate_demo_data(root, tasks=('cls', ), **SMALL_DEMO)
    assert run_tool('speed', [
        '--parts', 'p1,cx,p2,p3,p4', '--p1-depths', '18', '--p1-before', '18',
        '--p1-batch', '2', '--p1-px', '32', '--reps', '1', '--cx-px', '32',
        '--p2-batch', '4', '--p2-reps', '1', '--p2-iters', '2', '--p2-malloc',
        'off', '--p2-no-profile', '--data-root', root, '--p3-device', 'cpu',
        '--p3-batch', '2', '--p3-px', '32', '--p3-steps', '1', '--p3-warmup',
        '1'
    ]) == 0
    out = capsys.readouterr().out
    for line in ('## P1  SlimmableResNet-18 vs ResNet-18',
                 'P1 gap at width 0.25, ResNet-18, train',
                 '- params/FLOPs per width equal the static ResNet: yes',
                 'BYOL twins == the 4 baseline configs', '- P2 epoch ratio',
                 '## P3  CPU step', 'DSPNet-R50', '- P4 export of 4 widths'):
        assert line in out, line
    assert osp.isfile(osp.join(root, 'cls', 'meta', 'train.txt'))


def test_demo_data_baseline_uses_the_package_knn():
    import torch

    from dspnet_mm.cli import _load
    from dspnet_mm.evaluation import knn_classify
    from dspnet_mm.utils.paths import tool_path
    tool = _load(tool_path('analysis/demo_data_baseline.py'))
    assert tool.knn_classify is knn_classify
    g = torch.Generator().manual_seed(0)
    train_x = torch.randn(60, 8, generator=g)
    train_y = torch.randint(0, 3, (60, ), generator=g)
    val_x = torch.randn(20, 8, generator=g)
    val_y = torch.randint(0, 3, (20, ), generator=g)
    ref = knn_classify(train_x, train_y, val_x, val_y, k=5)['top1'] / 100
    assert tool.knn_top1(train_x, train_y, val_x, val_y, k=5) == ref
    # two separated clusters: every val sample finds its own
    x = torch.cat([
        torch.randn(20, 4, generator=g) + 10,
        torch.randn(20, 4, generator=g) - 10
    ])
    y = torch.tensor([0] * 20 + [1] * 20)
    assert tool.knn_top1(x, y, x[::4], y[::4], k=5) == 1.0
