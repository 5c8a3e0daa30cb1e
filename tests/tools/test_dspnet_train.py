"""DSPNet through tools/train.py and dist_train.sh, then the slim tool."""
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch
from mmengine.runner import load_checkpoint
from mmpretrain.models import ResNet

from dspnet_mm.datasets import SMALL_DEMO, generate_demo_data
from tests.tools.test_train_tools import (ROOT, _run, free_port, logged,
                                          train_ok)

CFG = osp.join(
    ROOT, 'configs/dspnet/'
    'dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    generate_demo_data(root, tasks=('cls', ), **SMALL_DEMO)
    return osp.join(root, 'cls')


def _opts(data_root, max_iters):
    return [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=4', f'train_cfg.max_iters={max_iters}',
        'param_scheduler.1.T_max=2', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=-1'
    ]


def _train(work_dir, data_root, max_iters, *extra):
    return train_ok(CFG, work_dir, _opts(data_root, max_iters), *extra)


def _width_losses(work_dir):
    return logged(work_dir, 'loss_w1.0')


@pytest.fixture(scope='module')
def reference(data_root, tmp_path_factory):
    """An uninterrupted 4-iteration float32 run: its dir and records."""
    full = str(tmp_path_factory.mktemp('full'))
    _train(full, data_root, 4)
    ref = _width_losses(full)
    assert sorted(ref) == [1, 2, 3, 4]
    return full, ref


def test_pretrain_resume_export_strict_load(data_root, reference, tmp_path):
    full, ref = reference
    for rec in ref.values():
        for w in ('1.0', '0.75', '0.5', '0.25'):
            # 2 (2 - 2 cos) summed over the two views: about 4 while the
            # predictions are unrelated to the targets (no collapse to 0)
            assert 3 < rec[f'loss_w{w}'] < 5
            assert rec[f'raw_loss_w{w}'] == pytest.approx(rec[f'loss_w{w}'])
        assert rec['distill_weight'] == 1.0
        assert rec['loss'] == pytest.approx(
            sum(rec[f'loss_w{w}'] for w in ('1.0', '0.75', '0.5', '0.25')),
            rel=1e-4)

    # crash after iteration 2, resume: the same losses as without the crash
    crashed = str(tmp_path / 'crashed')
    os.makedirs(crashed)
    shutil.copy(osp.join(full, 'iter_2.pth'), crashed)
    with open(osp.join(crashed, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(crashed, 'iter_2.pth'))
    proc = _train(crashed, data_root, 4, '--resume')
    assert 'resumed epoch: 0, iter: 2' in proc.stdout + proc.stderr
    resumed = _width_losses(crashed)
    assert sorted(resumed) == [3, 4]
    for step in (3, 4):
        for w in ('1.0', '0.75', '0.5', '0.25'):
            assert resumed[step][f'loss_w{w}'] == pytest.approx(
                ref[step][f'loss_w{w}'], abs=1e-4)
    # the teacher's EMA step count was resumed with the model
    ckpt = torch.load(osp.join(crashed, 'iter_4.pth'))
    assert ckpt['state_dict']['target_net.steps'].item() == 4

    # online (default) and teacher export; every width loads strictly
    for source in ('online', 'target'):
        out = str(tmp_path / source)
        proc = _run([
            sys.executable, 'tools/slim_checkpoint.py',
            osp.join(crashed, 'iter_4.pth'), '--widths', 'all', '--out-dir',
            out, '--source', source, '--quiet'
        ])
        assert proc.returncode == 0, proc.stderr[-2000:]
        for w in (0.25, 0.5, 0.75, 1.0):
            stock = ResNet(
                18, base_channels=int(64 * w), stem_channels=int(64 * w))
            load_checkpoint(
                stock,
                osp.join(out, f'resnet18_w{w}.pth'),
                strict=True,
                logger='silent')
    online = torch.load(osp.join(tmp_path, 'online', 'resnet18_w1.0.pth'))
    target = torch.load(osp.join(tmp_path, 'target', 'resnet18_w1.0.pth'))
    assert not torch.equal(online['state_dict']['conv1.weight'],
                           target['state_dict']['conv1.weight'])


def test_ddp_two_processes_no_unused_parameters(data_root, tmp_path):
    work = str(tmp_path / 'ddp')
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir', work] +
        _opts(data_root, 2),
        cwd=ROOT,
        env=dict(
            os.environ,
            PYTHON=sys.executable,
            PORT=str(free_port()),
            OMP_NUM_THREADS='1'),
        capture_output=True,
        text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    assert 'find_unused_parameters=False' in log.replace(' ', '')
    steps = _width_losses(work)
    assert sorted(steps) == [1, 2]
    assert osp.isfile(osp.join(work, 'iter_2.pth'))


def test_amp_runs_bf16_on_cpu(data_root, reference, tmp_path):
    work = str(tmp_path / 'amp')
    proc = _train(work, data_root, 1, '--amp')
    assert "type='CPUAmpOptimWrapper'" in proc.stdout + proc.stderr
    (rec, ) = _width_losses(work).values()
    ref = reference[1][1]
    # the float32 run's first step, computed in bfloat16 at every width:
    # near it (bfloat16 keeps 8 bits of mantissa through four networks),
    # but not bit-identical (float32 repeats its losses exactly)
    for w in ('1.0', '0.75', '0.5', '0.25'):
        assert rec[f'loss_w{w}'] != ref[f'loss_w{w}'], w
        assert rec[f'loss_w{w}'] == pytest.approx(ref[f'loss_w{w}'], rel=0.1)
