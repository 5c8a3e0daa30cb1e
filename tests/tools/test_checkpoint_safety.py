"""Nothing in a checkpoint runs as code, on any path of the tools.

Every test plants something in a checkpoint of a real DSPNet run and then
feeds it to a tool in a subprocess. Each asserts that a marker file the
payload would create is absent, and that the outcome is either a clean
resume or one ``error:`` line (exit code 1, no traceback).
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from dspnet_mm.datasets import SMALL_DEMO, generate_demo_data
from tests.tools.test_train_tools import ROOT, logged

CFG = osp.join(
    ROOT, 'configs/dspnet/'
    'dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py')
# a config with a test loop, for tools/test.py
SUPERVISED = osp.join(
    ROOT, 'configs/slimmable_resnet/'
    'supervised_slimmable-resnet18_1xb16-sgd-20it_demo-cls.py')


class _Payload:
    """Pickles as a call to ``os.system`` that creates ``marker``."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}', ))


def planted_config(marker):
    """A Python config whose parsing creates ``marker``."""
    return f'import os\nopen({marker!r}, "w").close()\nlr = 0.1\n'


def _run(args, env=None):
    env = env or dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    return subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True)


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    generate_demo_data(root, tasks=('cls', ), **SMALL_DEMO)
    return osp.join(root, 'cls')


def _opts(data_root, max_iters, *extra):
    return [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=4', f'train_cfg.max_iters={max_iters}',
        'param_scheduler.1.T_max=2', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=2', *extra
    ]


@pytest.fixture(scope='module')
def base_ckpt(data_root, tmp_path_factory):
    """``iter_2.pth`` of a real 2-iteration DSPNet run."""
    work = str(tmp_path_factory.mktemp('base'))
    proc = _run([sys.executable, 'tools/train.py', CFG, '--work-dir', work] +
                _opts(data_root, 2))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return osp.join(work, 'iter_2.pth')


def _trusted_copy(path):
    # the test's own file: a full unpickle is fine here
    return torch.load(path, map_location='cpu', weights_only=False)


def _train(data_root, work_dir, max_iters, *args, env=None):
    return _run(
        [sys.executable, 'tools/train.py', CFG, '--work-dir', work_dir] +
        list(args) + _opts(data_root, max_iters),
        env=env)


def _assert_one_error(proc, *needles):
    assert proc.returncode == 1, proc.stderr[-3000:]
    lines = proc.stderr.strip().splitlines()
    assert 'Traceback' not in proc.stderr, proc.stderr[-3000:]
    assert lines and lines[-1].startswith('error: '), proc.stderr[-3000:]
    for needle in needles:
        assert needle in lines[-1], lines[-1]


def test_planted_config_string_is_never_executed(base_ckpt, data_root,
                                                 tmp_path):
    marker = str(tmp_path / 'MARKER')
    ckpt = _trusted_copy(base_ckpt)
    ckpt['meta']['config'] = planted_config(marker)
    planted = str(tmp_path / 'planted.pth')
    torch.save(ckpt, planted)

    work = str(tmp_path / 'work')
    proc = _train(data_root, work, 3, '--resume', planted)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'resumed epoch: 0, iter: 2' in proc.stdout + proc.stderr
    assert sorted(logged(work, 'loss_w1.0')) == [3]
    assert not osp.exists(marker)


def _evil_checkpoint(base_ckpt, path, marker, where):
    ckpt = _trusted_copy(base_ckpt)
    if where in ('meta', 'both'):
        ckpt['meta']['dataset_meta'] = dict(
            classes=['a', dict(x=[_Payload(marker)])])
    if where in ('message_hub', 'both'):
        ckpt['message_hub']['runtime_info']['extra'] = [
            dict(deep=(1, _Payload(marker)))
        ]
    torch.save(ckpt, path)
    return path


@pytest.mark.parametrize('tool', [
    'resume', 'load_from', 'init_cfg', 'test.py', 'slim_checkpoint.py',
    'knn_eval.py'
])
def test_planted_reduce_payload_is_one_clear_error(base_ckpt, data_root,
                                                   tmp_path, tool):
    marker = str(tmp_path / 'MARKER')
    evil = _evil_checkpoint(base_ckpt, str(tmp_path / 'evil.pth'), marker,
                            'both')
    work = str(tmp_path / 'work')
    if tool == 'resume':
        proc = _train(data_root, work, 3, '--resume', evil)
    elif tool == 'load_from':
        proc = _train(data_root, work, 3, '--cfg-options', f'load_from={evil}')
    elif tool == 'init_cfg':
        proc = _train(data_root, work, 3, '--cfg-options',
                      'model.backbone.init_cfg.type=Pretrained',
                      f'model.backbone.init_cfg.checkpoint={evil}',
                      'model.backbone.init_cfg.prefix=backbone.')
    elif tool == 'test.py':
        proc = _run([
            sys.executable, 'tools/test.py', SUPERVISED, evil, '--work-dir',
            work, '--cfg-options'
        ] + [
            f'{split}_dataloader.dataset.data_root={data_root}'
            for split in ('train', 'val', 'test')
        ])
    elif tool == 'slim_checkpoint.py':
        proc = _run([
            sys.executable, 'tools/slim_checkpoint.py', evil, '--widths',
            'all', '--out-dir', work
        ])
    else:
        proc = _run([
            sys.executable, 'tools/knn_eval.py', evil, '--data-root',
            data_root, '--resize', '0', '--crop', '0', '--num-workers', '0'
        ])
    _assert_one_error(proc, evil)
    assert not osp.exists(marker)


def test_payload_under_force_no_weights_only_env_is_refused(
        base_ckpt, data_root, tmp_path):
    """Torch's escape hatch would unpickle anything that mmengine's own loaders
    (``init_cfg=Pretrained``) read: the tools refuse to run."""
    marker = str(tmp_path / 'MARKER')
    evil = _evil_checkpoint(base_ckpt, str(tmp_path / 'evil.pth'), marker,
                            'meta')
    env = dict(
        os.environ,
        PYTHONPATH=ROOT,
        OMP_NUM_THREADS='1',
        TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD='1')
    proc = _train(
        data_root,
        str(tmp_path / 'work'),
        3,
        '--cfg-options',
        'model.backbone.init_cfg.type=Pretrained',
        f'model.backbone.init_cfg.checkpoint={evil}',
        env=env)
    _assert_one_error(proc, 'TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD')
    assert not osp.exists(marker)


_PLAIN_MMENGINE = """
import sys
import torch
from mmengine.logging import MessageHub
base, out, config = sys.argv[1:]
ckpt = torch.load(base, map_location='cpu', weights_only=False)
hub = MessageHub.get_instance('plain')
for i in range(3):
    hub.update_scalar('train/loss', 4.0 - i)
hub.update_info('iter', 2)
ckpt['message_hub'] = hub.state_dict()
ckpt['meta']['config'] = config
torch.save(ckpt, out)
"""


def test_plain_mmengine_checkpoint_is_refused_with_the_hint(
        base_ckpt, data_root, tmp_path):
    marker = str(tmp_path / 'MARKER')
    plain = str(tmp_path / 'plain.pth')
    # written by mmengine alone: dspnet_mm is not imported in that process
    proc = subprocess.run([
        sys.executable, '-c', _PLAIN_MMENGINE, base_ckpt, plain,
        planted_config(marker)
    ],
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    proc = _train(data_root, str(tmp_path / 'work'), 3, '--resume', plain)
    _assert_one_error(proc, plain, 'plain mmengine', 'weights_only=False')
    assert not osp.exists(marker)


_POISON = """
import collections, sys
import numpy as np
import torch
from mmengine.logging import HistoryBuffer

base, out = sys.argv[1:]
ckpt = torch.load(base, map_location='cpu', weights_only=False)
buf = HistoryBuffer([4.0, 3.0], [1, 1])
# what an older dspnet_mm wrote, plus a poisoned method table that
# HistoryBuffer.__setstate__ would merge into the class
HistoryBuffer.__getstate__ = lambda self: dict(
    _log_history=np.array([4.0, 3.0]), _count_history=np.array([1, 1]),
    max_length=1000000,
    statistics_methods=dict(mean=collections.OrderedDict,
                            current=collections.Counter))
hub = ckpt['message_hub']
if not isinstance(hub['log_scalars'], dict):
    raise SystemExit('unexpected hub')
hub['log_scalars']['train/loss'] = buf
torch.save(ckpt, out)
"""


def test_history_buffer_state_poisoning_resumes_cleanly(
        base_ckpt, data_root, tmp_path):
    poisoned = str(tmp_path / 'poisoned.pth')
    proc = subprocess.run([sys.executable, '-c', _POISON, base_ckpt, poisoned],
                          capture_output=True,
                          text=True,
                          env=dict(os.environ, OMP_NUM_THREADS='1'))
    assert proc.returncode == 0, proc.stderr[-3000:]
    # the log processor computes this through HistoryBuffer's class-level
    # method table, which the poisoned state would overwrite
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(f'_base_ = [{CFG!r}]\n'
                   'log_processor = dict(custom_cfg=[dict(\n'
                   "    data_src='loss_w1.0', method_name='mean',\n"
                   "    window_size=10, log_name='w1_mean')])\n")
    work = str(tmp_path / 'work')
    proc = _run([
        sys.executable, 'tools/train.py',
        str(cfg), '--work-dir', work, '--resume', poisoned
    ] + _opts(data_root, 3))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert 'resumed epoch: 0, iter: 2' in proc.stdout + proc.stderr
    (rec, ) = logged(work, 'loss_w1.0').values()
    assert rec['step'] == 3 and 3.0 < rec['loss_w1.0'] < 5.0
    assert rec['w1_mean'] == rec['loss_w1.0']
