"""Width benchmark: report files, and a tiny real run of the CLI."""
import json
import os
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from dspnet_mm.benchmark import (COLUMNS, RESULT_KEYS, BenchmarkError,
                                 export_plain_resnet, format_table,
                                 parse_max_iters, progress_line,
                                 shrink_schedule, split_cfg_options,
                                 write_report)
from dspnet_mm.cli import run_tool
from dspnet_mm.datasets import SMALL_DEMO, generate_demo_data

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

DSPNET_DEMO = osp.join(
    ROOT, 'configs/dspnet/dspnet_slimmable-resnet18_1xb16-lars-600it_'
    'demo-cls.py')
HEADER = ('| width | params (M) | FLOPs (G) | linear top-1 | kNN top-1 | '
          '1% top-1 | 10% top-1 | box AP | mask AP | mIoU |')
PNG_MAGIC = b'\x89PNG\r\n\x1a\n'


def _row(width, flops, **metrics):
    row = dict.fromkeys(RESULT_KEYS)
    row.update(
        width=width,
        depth=18,
        params=11.2e6 * width**2,
        flops=flops,
        **metrics)
    return row


def _synthetic():
    return dict(
        checkpoint='dspnet.pth',
        scale='demo',
        widths=[
            _row(0.25, 0.13e9, linear_top1=40.25, knn_top1=35.0, miou=50.126),
            _row(
                0.5, 0.47e9, linear_top1=51.5, knn_top1=44.125,
                box_ap=12.3456),
            _row(
                1.0,
                1.82e9,
                linear_top1=60.0,
                knn_top1=None,
                semi1_top1=20.0,
                semi10_top1=30.0),
        ],
        baselines=[],
        errors=[])


def _table_rows(md):
    lines = md.splitlines()
    start = lines.index(HEADER)
    rows = []
    for line in lines[start + 2:]:
        if not line.startswith('|'):
            break
        rows.append([c.strip() for c in line.strip('|').split('|')])
    return lines[start + 1], rows


def _assert_png(path):
    with open(path, 'rb') as f:
        data = f.read()
    assert data[:8] == PNG_MAGIC
    assert len(data) > 10_000  # axes, lines, labels: not an empty canvas


def test_report_table_and_plot(tmp_path):
    results = _synthetic()
    paths = write_report(results, str(tmp_path))
    assert [osp.basename(p)
            for p in paths] == ['results.json', 'results.md', 'results.png']
    with open(paths[0]) as f:
        assert json.load(f) == results
    with open(paths[1]) as f:
        md = f.read()
    sep, rows = _table_rows(md)
    assert sep.count('---') == len(COLUMNS)
    assert rows == [
        [
            '0.25', '0.70', '0.13', '40.25', '35.00', '–', '–', '–', '–',
            '50.13'
        ],
        ['0.5', '2.80', '0.47', '51.50', '44.12', '–', '–', '12.35', '–', '–'],
        [
            '1.0', '11.20', '1.82', '60.00', '–', '20.00', '30.00', '–', '–',
            '–'
        ],
    ]
    assert 'Baselines' not in md
    _assert_png(paths[2])


def test_report_with_baselines_and_errors(tmp_path):
    results = _synthetic()
    results['baselines'] = [_row(0.5, 0.47e9, linear_top1=49.0, knn_top1=41.0)]
    results['errors'] = [
        dict(
            protocol='det',
            width=1.0,
            baseline=False,
            error='RuntimeError: boom',
            log='/x/train.log')
    ]
    write_report(results, str(tmp_path))
    md = (tmp_path / 'results.md').read_text()
    # the DSPNet table, then the baselines' table with the same header
    assert md.count(HEADER) == 2
    base = md[md.index('## Baselines'):]
    _, rows = _table_rows(base)
    assert rows == [[
        '0.5', '2.80', '0.47', '49.00', '41.00', '–', '–', '–', '–', '–'
    ]]
    assert '- det w1.0: RuntimeError: boom (log: `/x/train.log`)' in md
    _assert_png(str(tmp_path / 'results.png'))
    assert format_table([]).splitlines()[0] == HEADER


def test_shrink_schedule_scales_iteration_schedules():
    cfg = Config.fromfile(
        osp.join(
            ROOT, 'configs/benchmarks/mmdet/'
            'mask-rcnn_dspnet-r50_fpn_1xb4-50it_demo-coco.py'))
    shrink_schedule(cfg, 10)
    assert cfg.train_cfg.max_iters == cfg.train_cfg.val_interval == 10
    assert cfg.default_hooks.checkpoint.interval == 10
    warmup, steps = cfg.param_scheduler
    assert (warmup.begin, warmup.end) == (0, 2)
    assert (steps.end, steps.milestones) == (10, [8])


def test_plain_resnet_baseline(tmp_path):
    from mmpretrain.models.backbones import ResNet
    net = ResNet(18, base_channels=32, stem_channels=32)
    src = str(tmp_path / 'byol.pth')
    # an mmpretrain BYOL checkpoint: backbone., neck. and target_net. keys
    state = {f'backbone.{k}': v for k, v in net.state_dict().items()}
    state['neck.mlp.0.weight'] = torch.zeros(2, 2)
    torch.save(dict(state_dict=state), src)
    res = export_plain_resnet(src, str(tmp_path / 'out'), width=0.5)
    assert osp.basename(res['path']) == 'resnet18_w0.5.pth'
    meta = res['meta']
    assert (meta['depth'], meta['width'],
            meta['stage_channels']) == (18, 0.5, [32, 64, 128, 256])
    assert meta['params'] == sum(p.numel() for p in net.parameters())
    saved = torch.load(res['path'], weights_only=True)
    assert saved['state_dict'].keys() == net.state_dict().keys()
    # an exported width is used as it is; a wrong width is refused
    assert export_plain_resnet(res['path'], str(tmp_path))['path'] == \
        res['path']
    with pytest.raises(ValueError, match='not 1.0'):
        export_plain_resnet(src, str(tmp_path / 'out'), width=1.0)


@pytest.fixture(scope='module')
def tiny(tmp_path_factory):
    """A random-init demo DSPNet checkpoint and SMALL_DEMO cls data."""
    from mmengine.registry import init_default_scope

    from dspnet_mm.registry import MODELS
    tmp = tmp_path_factory.mktemp('bench')
    generate_demo_data(str(tmp / 'demo'), tasks=('cls', ), **SMALL_DEMO)
    init_default_scope('mmpretrain')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(DSPNET_DEMO).model)
    ckpt = str(tmp / 'dspnet.pth')
    torch.save({'state_dict': model.state_dict()}, ckpt)
    return dict(ckpt=ckpt, data=str(tmp / 'demo'))


def test_benchmark_cli_tiny_run(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    work = str(tmp_path / 'bench')
    argv = [
        tiny['ckpt'], '--protocols', 'knn', 'linear', '--widths', '0.25',
        '1.0', '--work-dir', work, '--data-root', tiny['data'], '--max-iters',
        '2', '--stream', 'none'
    ]
    assert run_tool('benchmark', argv) == 0
    out = capsys.readouterr().out
    assert '[1/4] linear w0.25 ...' in out
    assert 'tools/dist_train.sh' in out  # the cluster command is printed
    with open(osp.join(work, 'results.json')) as f:
        results = json.load(f)
    assert results['errors'] == []
    assert [r['width'] for r in results['widths']] == [0.25, 1.0]
    for row in results['widths']:
        assert tuple(row) == RESULT_KEYS
        assert row['depth'] == 18 and row['params'] > 0 and row['flops'] > 0
        for key in ('linear_top1', 'knn_top1'):
            assert 0 <= row[key] <= 100, (key, row)
        for key in ('semi1_top1', 'semi10_top1', 'box_ap', 'mask_ap', 'miou'):
            assert row[key] is None
    cfg = Config.fromfile(osp.join(work, 'linear', 'w0.25', 'config.py'))
    assert cfg.model.backbone.base_channels == 16
    assert cfg.model.head.in_channels == 128
    assert cfg.train_cfg.max_iters == 2
    assert osp.isfile(osp.join(work, 'slim', 'resnet18_w0.25.pth'))
    assert open(osp.join(work, 'results.png'), 'rb').read(8) == PNG_MAGIC
    # finished runs are not repeated
    assert run_tool('benchmark', argv) == 0
    assert capsys.readouterr().out.count('cached result') == 4


def test_benchmark_failing_run_is_null_with_error(tiny, tmp_path, monkeypatch,
                                                  capsys):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    work = str(tmp_path / 'bench')
    code = run_tool('benchmark', [
        tiny['ckpt'], '--protocols', 'linear', 'knn', '--widths', '0.5',
        '--work-dir', work, '--data-root', tiny['data'], '--max-iters', '2',
        '--stream', 'none', '--cfg-options',
        'linear:train_dataloader.dataset.ann_file=meta/missing.txt'
    ])
    assert code == 1
    out = capsys.readouterr()
    assert 'linear w0.5 FAILED' in out.out
    with open(osp.join(work, 'results.json')) as f:
        results = json.load(f)
    (row, ) = results['widths']
    assert row['linear_top1'] is None
    assert 0 <= row['knn_top1'] <= 100  # the other protocol went on
    (err, ) = results['errors']
    assert (err['protocol'], err['width']) == ('linear', 0.5)
    assert err['log'] == osp.join(work, 'linear', 'w0.5', 'train.log')
    assert 'missing.txt' in open(err['log']).read()
    assert err['log'] in out.err


def _pretraining(tmp_path, data=True):
    from dspnet_mm.benchmark.demo import QUICK
    from dspnet_mm.benchmark.pretrain import Pretraining
    root = tmp_path / 'data'
    if data:
        generate_demo_data(str(root), tasks=('cls', ), **SMALL_DEMO)
    return Pretraining(
        str(tmp_path / 'pretrain'), str(root), QUICK['pretrain_options'])


def _finish(run, state_dict, meta):
    """What a finished pretraining leaves: its final checkpoint and the
    finished stamp that pretrain() writes."""
    from dspnet_mm.benchmark.pretrain import _write_stamp
    from dspnet_mm.slim import file_sha256
    _, max_iters, key = run.prepare()
    final = osp.join(run.work_dir, f'iter_{max_iters}.pth')
    torch.save(dict(state_dict=state_dict, meta=meta), final)
    _write_stamp(run.work_dir,
                 dict(key=key, status='finished', sha256=file_sha256(final)))
    return final, key


def test_demo_pretrain_skipped_only_when_really_finished(tmp_path):
    from dspnet_mm.benchmark.pretrain import (PretrainError, pretrain,
                                              pretraining_state)
    run = _pretraining(tmp_path)
    os.makedirs(run.work_dir)
    final, key = _finish(run, {'w': torch.ones(2)}, dict(iter=4))
    msgs = []
    assert pretrain(run, log=msgs.append) == final  # QUICK: 4 iterations
    assert 'pretraining finished before with this config and data' in msgs[0]
    # torn (cut short) or emptied: not finished, a stopped run to resume
    with open(final, 'r+b') as f:
        f.truncate(os.path.getsize(final) // 2)
    assert pretraining_state(run.work_dir, key, 4) == 'stopped'
    open(final, 'wb').close()
    assert pretraining_state(run.work_dir, key, 4) == 'stopped'
    # loads, but stops short of the last iteration
    final, key = _finish(run, {'w': torch.ones(2)}, dict(iter=3))
    assert pretraining_state(run.work_dir, key, 4) == 'stopped'
    # another config or other data: refused, nothing touched
    with pytest.raises(PretrainError, match='another config or data'):
        pretraining_state(run.work_dir, 'other-key', 4)
    run.options = dict(run.options, **{'optim_wrapper.optimizer.lr': 0.5})
    with pytest.raises(PretrainError, match='another config or data'):
        pretrain(run, log=msgs.append)
    assert os.path.getsize(final) > 0


def test_demo_pretrain_never_takes_a_foreign_checkpoint(tmp_path):
    from dspnet_mm.benchmark.pretrain import PretrainError, pretrain
    run = _pretraining(tmp_path)
    os.makedirs(run.work_dir)
    final = osp.join(run.work_dir, 'iter_4.pth')
    open(final, 'wb').close()  # 0 bytes, and no pretrain.json
    with pytest.raises(PretrainError, match='did not make'):
        pretrain(run, log=print)
    assert os.listdir(run.work_dir) == ['iter_4.pth']
    # without data nothing is started either
    run = _pretraining(tmp_path / 'nodata', data=False)
    with pytest.raises(PretrainError, match='no demo data'):
        pretrain(run, log=print)


def test_demo_cli_quick_with_checkpoint(tiny, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    work = str(tmp_path / 'demo')
    argv = [
        '--quick', '--work-dir', work, '--skip-pretrain', tiny['ckpt'],
        '--widths', '0.25', '1.0', '--protocols', 'knn',
        '--transfer-protocols', '--seed', '3'
    ]
    assert run_tool('demo', argv) == 0
    out = capsys.readouterr().out
    ev_dir = osp.join(work, 'evidence')
    for line in ('[demo 1/4] demo data', '  generated: cls 80 train',
                 '[demo 2/4] pretraining skipped',
                 '[demo 3/4] kNN and linear probe of every width next to '
                 'its random-init twin (seed 3)',
                 '[4/4] random init w0.25 seed 3 ...',
                 'DSPNet widths vs their random-init twins (seed 3):',
                 '| width | params | FLOPs | kNN k=20: random init | DSPNet | '
                 'DSPNet − random |', '[demo 4/4] knn for every width',
                 '[2/2] knn w1.0: knn_top1', HEADER,
                 f'results:     {osp.join(work, "benchmark", "results.md")}'):
        assert line in out, line
    assert 'one by one' not in out  # no BYOL columns without BYOL
    with open(osp.join(work, 'demo.json')) as f:
        info = json.load(f)
    assert set(info['stages']) == {
        'data', 'pretrain', 'evidence', 'benchmark', 'total'
    }
    assert info['seed'] == 3
    with open(osp.join(ev_dir, 'evidence.json')) as f:
        ev = json.load(f)
    assert sorted(
        (r['kind'], r['width'], r['seed'] if r['kind'] == 'random' else 0)
        for r in ev['records']) == [('dspnet', 0.25, 0), ('dspnet', 1.0, 0),
                                    ('random', 0.25, 3), ('random', 1.0, 3)]
    # the printed command rebuilds the same table
    assert ev['command'].startswith(
        'python tools/analysis/evidence_table.py --data-root ')
    assert '--random-seeds 3' in ev['command']
    # a second run reuses the data, the evaluations and the finished runs
    assert run_tool('demo', argv) == 0
    out = capsys.readouterr().out
    assert '  reused: cls 80 train' in out
    assert out.count('(cached)') == 4
    assert out.count('cached result') == 2


def test_option_parsing_and_progress_lines():
    assert parse_max_iters(None) is None
    assert parse_max_iters(['100']) == {'*': 100}
    assert parse_max_iters(['linear=5', 'det=2']) == dict(linear=5, det=2)
    with pytest.raises(BenchmarkError, match='RUN=N'):
        parse_max_iters(['bogus=3'])
    opts = split_cfg_options({'a.b': 1, 'linear:c': 2, 'det:a.b': 3})
    assert opts['*'] == {'a.b': 1}
    assert opts['linear'] == {'a.b': 1, 'c': 2}
    assert opts['det'] == {'a.b': 3}
    pre = '11/25 13:00:00 - mmengine - INFO - '
    assert progress_line(
        pre + 'Iter(train) [ 50/200]  base_lr: 1.0e-01 lr: 1.0e-01  eta: '
        '0:00:10  time: 0.05  data_time: 0.01  loss: 2.5  loss_w1.0: 1.1'
    ) == 'Iter(train) [ 50/200] lr: 1.0e-01 eta: 0:00:10 time: 0.05 loss: 2.5'
    assert progress_line(pre + 'Iter(val) [8/8]  accuracy/top1: 31.6667  '
                         'data_time: 0.02  time: 0.09') == \
        'Iter(val) [8/8] accuracy/top1: 31.6667'
    assert progress_line(pre + 'Iter(val) [5/8]  eta: 0:00:01') is None
    assert progress_line(pre + 'Checkpoints will be saved to x') is None


def _logged_losses(work_dir):
    """``{iteration: {loss name: value}}`` of a run's scalars.json."""
    runs = sorted(
        d for d in os.listdir(work_dir)
        if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    out = {}
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        for line in f:
            rec = json.loads(line)
            out[rec['iter']] = {
                k: v
                for k, v in rec.items() if k.startswith('loss')
            }
    return out


def test_demo_pretraining_is_tools_train_with_the_printed_command(
        tmp_path, monkeypatch):
    """The demo's pretraining and `tools/train.py` with the command the demo
    prints give the same losses, to the last bit (issue: they differed at
    iteration 10)."""
    import shlex
    import subprocess
    import sys

    from dspnet_mm.benchmark.pretrain import pretrain
    from dspnet_mm.benchmark.process import subprocess_env
    monkeypatch.setenv('OMP_NUM_THREADS', '1')
    run = _pretraining(tmp_path)
    msgs = []
    pretrain(run, log=msgs.append)
    shown = [m.strip()[2:] for m in msgs if m.strip().startswith('$ ')]
    assert len(shown) == 1 and shown[0].startswith('python tools/train.py')
    argv = shlex.split(shown[0])
    # the same command, in another work dir, from the checkout
    i = argv.index('--work-dir')
    argv[i + 1] = str(tmp_path / 'by_hand')
    argv[0] = sys.executable
    argv[1] = osp.join(ROOT, 'tools', 'train.py')
    # printed paths are relative to where the demo ran
    proc = subprocess.run(
        argv,
        cwd=os.getcwd(),
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    demo = _logged_losses(run.work_dir)
    by_hand = _logged_losses(str(tmp_path / 'by_hand'))
    assert sorted(demo) == [1, 2, 3, 4]
    assert set(demo[1]) >= {'loss', 'loss_w1.0', 'loss_w0.25'}
    assert by_hand == demo
