"""2-process gloo DSPNet training equals 1-process training on the same global
batch, and the ranks hold identical weights.

The setting is one where equality must hold: universal mode with SyncBN in
the backbone (every width's statistics over the global batch), LayerNorm
in the projector and predictor (per sample), a deterministic pipeline and
an unshuffled sampler, so the two runs see the same 8 images per step (1 x
8 or 2 x 4) and compute the same losses up to the order of float32 sums.
"""
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from dspnet_mm.datasets import SMALL_DEMO, generate_demo_data
from tests.tools.test_train_tools import ROOT, free_port

UNIVERSAL = osp.join(
    ROOT, 'configs/dspnet/'
    'dspnet_slimmable-resnet18-universal_1xb16-lars-600it_demo-cls.py')
STEPS = 3
# Stated tolerances. The runs differ only in the order of float32 sums
# (all-reduce, per-rank means). Measured here: losses within 1.2e-6
# (relative), every tensor of the state within 9e-6 of its norm after 3
# SGD steps. Unsynced BN statistics move the losses by ~1e-2.
LOSS_REL = 2e-5
STATE_REL = 1e-4


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    generate_demo_data(root, tasks=('cls', ), **SMALL_DEMO)
    return osp.join(root, 'cls')


def _config(tmp_path, data_root):
    path = tmp_path / 'ddp_equal.py'
    path.write_text(f"""
_base_ = [{UNIVERSAL!r}]
custom_imports = dict(
    imports=['dspnet_mm', 'tests.tools.probe_hooks'],
    allow_failed_imports=False)
model = dict(
    backbone=dict(norm_cfg=dict(type='SyncBN')),
    neck=dict(norm_cfg=dict(type='LN')),
    head=dict(predictor=dict(norm_cfg=dict(type='LN'))))
train_dataloader = dict(
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        data_root={data_root!r},
        pipeline=[
            dict(type='LoadImageFromFile'),
            dict(
                type='MultiView',
                num_views=[1, 1],
                transforms=[[dict(type='RandomFlip', prob=0.0)],
                            [dict(type='RandomFlip', prob=1.0)]]),
            dict(type='PackInputs')
        ]))
optim_wrapper = dict(
    _delete_=True,
    type='OptimWrapper',
    optimizer=dict(type='SGD', lr=0.5, momentum=0.9))
param_scheduler = []
train_cfg = dict(max_iters={STEPS})
custom_hooks = [
    dict(type='DSPNetDistillHook'),
    dict(type='DDPProbeHook')
]
default_hooks = dict(checkpoint=dict(interval=1000))
""")
    return str(path)


def _run(args, **env):
    proc = subprocess.run(
        args,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1', **env),
        capture_output=True,
        text=True)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-4000:]
    return proc.stdout + proc.stderr


def test_two_processes_equal_one_process(data_root, tmp_path):
    cfg = _config(tmp_path, data_root)
    one, two = str(tmp_path / 'one'), str(tmp_path / 'two')
    _run([
        sys.executable, 'tools/train.py', cfg, '--work-dir', one,
        '--cfg-options', 'train_dataloader.batch_size=8'
    ])
    log = _run([
        'bash', 'tools/dist_train.sh', cfg, '2', '--work-dir', two,
        '--cfg-options', 'train_dataloader.batch_size=4'
    ],
               PYTHON=sys.executable,
               PORT=str(free_port()))
    assert 'Distributed training: True' in log

    ref = torch.load(osp.join(one, 'probe_rank0.pth'))
    ranks = [torch.load(osp.join(two, f'probe_rank{r}.pth')) for r in (0, 1)]
    assert sorted(ref['steps']) == list(range(1, STEPS + 1))
    # the same widths each step (universal mode: drawn from the grid)
    for step, losses in ref['steps'].items():
        assert len(losses) == 4
        got = ranks[0]['steps'][step]
        assert got.keys() == losses.keys()
        for width, value in losses.items():
            assert got[width] == pytest.approx(
                value, rel=LOSS_REL), (step, width)
    # the ranks hold bit-identical weights, statistics and teacher
    assert ranks[0]['state'].keys() == ranks[1]['state'].keys()
    for key, value in ranks[0]['state'].items():
        assert torch.equal(value, ranks[1]['state'][key]), key
    # and the weights of the one-process run
    assert ranks[0]['state'].keys() == ref['state'].keys()
    for key, value in ref['state'].items():
        got = ranks[0]['state'][key]
        if not value.is_floating_point():  # step counters
            assert torch.equal(got, value), key
            continue
        err = (got.double() - value.double()).norm()
        assert err <= STATE_REL * value.double().norm() + 1e-12, (key, err)
