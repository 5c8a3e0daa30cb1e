"""Crash safety of tools/train.py with real processes and SIGKILL.

A run is killed at a random moment of training and, separately, while it
writes a checkpoint; ``--resume`` must then pick the last *complete*
checkpoint and log, at every following step, the per-width losses of an
uninterrupted run. The random draws are seeded from ``DSPNET_CRASH_SEED``
(or the clock) and the seed is in every failure message.
"""
import glob
import json
import os
import os.path as osp
import random
import re
import shutil
import subprocess
import sys
import time

import pytest

from dspnet_mm.datasets import SMALL_DEMO, generate_demo_data
from dspnet_mm.utils.atomic import TEMP_PATTERN
from tests.tools.test_train_tools import ROOT

CFG = osp.join(
    ROOT, 'configs/dspnet/'
    'dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py')
WIDTHS = ('1.0', '0.75', '0.5', '0.25')
MAX_ITERS = 6


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    generate_demo_data(root, tasks=('cls', ), **SMALL_DEMO)
    return osp.join(root, 'cls')


def _cmd(work_dir, data_root, *extra):
    # a checkpoint every iteration, the config's max_keep_ckpts=2
    return [
        sys.executable, 'tools/train.py', CFG, '--work-dir', work_dir, *extra,
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        'train_dataloader.batch_size=4', f'train_cfg.max_iters={MAX_ITERS}',
        'param_scheduler.1.T_max=2', 'default_hooks.logger.interval=1',
        'default_hooks.checkpoint.interval=1'
    ]


def _start(work_dir, data_root, *extra):
    os.makedirs(work_dir, exist_ok=True)
    log = open(osp.join(work_dir, f'console-{time.time_ns()}.txt'), 'w')
    proc = subprocess.Popen(
        _cmd(work_dir, data_root, *extra),
        cwd=ROOT,
        env=dict(
            os.environ,
            PYTHONPATH=ROOT,
            OMP_NUM_THREADS='1',
            PYTHONUNBUFFERED='1'),
        stdout=log,
        stderr=subprocess.STDOUT)
    proc.console = log.name
    log.close()
    return proc


def runs(work_dir):
    """Per run (oldest first): step -> logged record.

    A killed run may end in a torn line, which is skipped.
    """
    out = []
    for path in sorted(
            glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))):
        records = {}
        with open(path) as f:
            for line in f:
                try:
                    rec = json.loads(line)
                except ValueError:
                    continue
                if 'loss_w1.0' in rec:
                    records[rec['step']] = rec
        out.append(records)
    return out


@pytest.fixture(scope='module')
def reference(data_root, tmp_path_factory):
    work = str(tmp_path_factory.mktemp('reference'))
    proc = _start(work, data_root)
    assert proc.wait(timeout=1800) == 0, open(proc.console).read()[-3000:]
    (ref, ) = runs(work)
    assert sorted(ref) == list(range(1, MAX_ITERS + 1))
    return work, ref


def _assert_same_losses(records, ref, context):
    for step, rec in records.items():
        for w in WIDTHS:
            assert rec[f'loss_w{w}'] == pytest.approx(
                ref[step][f'loss_w{w}'], abs=1e-5), (context, step, w)


def _complete(work_dir):
    return sorted(
        int(m.group(1)) for m in (re.match(r'iter_(\d+)\.pth$', n)
                                  for n in os.listdir(work_dir)) if m)


def _resumed_from(console):
    text = open(console).read()
    match = re.search(r'latest complete checkpoint \S*iter_(\d+)\.pth', text)
    return int(match.group(1)) if match else 0


def _wait_for(predicate, proc, timeout, poll):
    end = time.time() + timeout
    while time.time() < end and proc.poll() is None:
        if predicate():
            return True
        time.sleep(poll)
    return False


def test_torn_last_checkpoint_resumes_from_the_previous(
        reference, data_root, tmp_path):
    """What a kill during a non-atomic write leaves: the pointer names a
    checkpoint cut short."""
    ref_dir, ref = reference
    work = str(tmp_path / 'work')
    os.makedirs(work)
    for i in (MAX_ITERS - 1, MAX_ITERS):
        shutil.copy(osp.join(ref_dir, f'iter_{i}.pth'), work)
    torn = osp.join(work, f'iter_{MAX_ITERS}.pth')
    with open(torn, 'r+b') as f:
        f.truncate(os.path.getsize(torn) // 2)
    with open(osp.join(work, 'last_checkpoint'), 'w') as f:
        f.write(torn)
    proc = _start(work, data_root, '--resume')
    assert proc.wait(timeout=1800) == 0, open(proc.console).read()[-3000:]
    text = open(proc.console).read()
    assert 'not resuming from a torn file' in text and torn in text
    assert _resumed_from(proc.console) == MAX_ITERS - 1
    (records, ) = runs(work)
    assert sorted(records) == [MAX_ITERS]
    _assert_same_losses(records, ref, 'torn')


def test_sigkill_in_training_and_in_checkpoint_writing(reference, data_root,
                                                       tmp_path):
    _, ref = reference
    seed = int(os.environ.get('DSPNET_CRASH_SEED', time.time_ns() % 10**6))
    rng = random.Random(seed)
    ctx = f'DSPNET_CRASH_SEED={seed}'
    work = str(tmp_path / 'work')

    # 1. killed at a random moment after training has started
    proc = _start(work, data_root)
    assert _wait_for(lambda: any(runs(work)), proc, 900, 0.05), ctx
    time.sleep(rng.uniform(0.0, 1.5))
    proc.kill()
    proc.wait()
    killed_at = _complete(work)

    # 2. resumed, then killed while a checkpoint is being written
    proc = _start(work, data_root, '--resume')

    def writing(pid=None):
        """A temporary checkpoint file (of process ``pid``) exists."""
        matches = (TEMP_PATTERN.match(n) for n in os.listdir(work))
        return any(m and pid in (None, int(m.group('pid'))) for m in matches)

    assert _wait_for(lambda: writing(proc.pid), proc, 900,
                     0.001), (ctx, 'no checkpoint write was caught',
                              open(proc.console).read())
    time.sleep(rng.uniform(0.0, 0.01))
    proc.kill()
    proc.wait()
    assert writing(proc.pid), (ctx, 'the kill landed after the write')
    assert _resumed_from(
        proc.console) == (killed_at[-1] if killed_at else 0), ctx
    complete = _complete(work)

    # 3. resumed to the end, from the last complete checkpoint
    proc = _start(work, data_root, '--resume')
    assert proc.wait(timeout=1800) == 0, open(proc.console).read()[-3000:]
    assert _resumed_from(
        proc.console) == (complete[-1] if complete else 0), (ctx, complete)
    assert not writing()  # the killed save's temporary file is gone

    logged = runs(work)
    assert len(logged) == 3, ctx
    # the runs logged every step, and each logged what the uninterrupted
    # run did
    assert max(logged[2]) == MAX_ITERS, ctx
    assert set().union(*logged) == set(range(1, MAX_ITERS + 1)), ctx
    for i, records in enumerate(logged):
        _assert_same_losses(records, ref, f'{ctx} run {i + 1}')
    assert min(logged[2]) == (complete[-1] + 1 if complete else 1), ctx
