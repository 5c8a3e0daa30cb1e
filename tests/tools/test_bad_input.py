"""Bad input during training: a damaged image, a diverging width."""
import hashlib
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest
import torch

from dspnet_mm.datasets import SMALL_DEMO, generate_demo_data
from tests.tools.test_train_tools import ROOT

CFG = osp.join(
    ROOT, 'configs/dspnet/'
    'dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py')


@pytest.fixture(scope='module')
def demo(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    generate_demo_data(root, tasks=('cls', ), **SMALL_DEMO)
    return osp.join(root, 'cls')


def _train(cfg, work_dir, data_root, max_iters, *opts):
    return subprocess.run([
        sys.executable, 'tools/train.py', cfg, '--work-dir', work_dir,
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=4', f'train_cfg.max_iters={max_iters}',
        'param_scheduler.1.T_max=2', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1', *opts
    ],
                          cwd=ROOT,
                          env=dict(
                              os.environ, PYTHONPATH=ROOT,
                              OMP_NUM_THREADS='1'),
                          capture_output=True,
                          text=True)


def _one_error(proc):
    assert proc.returncode == 1, proc.stderr[-3000:]
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith('error: '), proc.stderr[-3000:]
    return last


@pytest.mark.parametrize('damage,workers', [('garbage', 0), ('garbage', 2),
                                            ('missing', 0)])
def test_damaged_image_is_one_error_naming_the_file(demo, tmp_path, damage,
                                                    workers):
    data = str(tmp_path / 'cls')
    shutil.copytree(demo, data)
    with open(osp.join(data, 'meta', 'train.txt')) as f:
        first = f.readline().split()[0]
    bad = osp.join(data, 'train', first)
    if damage == 'garbage':
        with open(bad, 'wb') as f:
            f.write(b'\x89PNG but then nothing an image decoder can use')
    else:
        os.remove(bad)
    work = str(tmp_path / 'work')
    proc = _train(CFG, work, data, 2, 'train_dataloader.sampler.shuffle=False',
                  f'train_dataloader.num_workers={workers}',
                  f'train_dataloader.persistent_workers={workers > 0}')
    last = _one_error(proc)
    assert bad in last
    assert 'annotation file' in last  # how to fix it
    assert not osp.exists(osp.join(work, 'iter_1.pth'))


def _sha(path):
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def test_nan_loss_stops_naming_width_and_iteration(demo, tmp_path):
    cfg = tmp_path / 'poison.py'
    cfg.write_text(
        f'_base_ = [{CFG!r}]\n'
        "custom_imports = dict(imports=['dspnet_mm', "
        "'tests.tools.probe_hooks'], allow_failed_imports=False)\n"
        "custom_hooks = [dict(type='DSPNetDistillHook'),\n"
        "                dict(type='PoisonWidthHook', at=3, width=0.25)]\n")
    work = str(tmp_path / 'work')
    proc = _train(
        str(cfg), work, demo, 5, 'default_hooks.checkpoint.max_keep_ckpts=-1')
    last = _one_error(proc)
    assert 'width 0.25' in last and 'iteration 3' in last, last
    # iterations 1 and 2 were saved; nothing after the bad step
    assert sorted(n for n in os.listdir(work)
                  if n.endswith('.pth')) == ['iter_1.pth', 'iter_2.pth']
    with open(osp.join(work, 'last_checkpoint')) as f:
        assert f.read().strip().endswith('iter_2.pth')
    good = torch.load(osp.join(work, 'iter_2.pth'))
    assert good['meta']['iter'] == 2
    assert all(
        torch.isfinite(v).all() for v in good['state_dict'].values()
        if v.is_floating_point())
    before = _sha(osp.join(work, 'iter_2.pth'))
    # a resume from it refuses the same step again, and writes nothing
    proc = _train(str(cfg), work, demo, 5, '--resume')
    assert 'iteration 3' in _one_error(proc)
    assert _sha(osp.join(work, 'iter_2.pth')) == before
    assert not osp.exists(osp.join(work, 'iter_3.pth'))
