"""What a person reads: a training log without the known upstream noise,
with its progress lines, and TensorBoard one switch away."""
import glob
import os
import os.path as osp
import subprocess
import sys

from dspnet_mm.datasets import SMALL_DEMO, generate_demo_data

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = 'configs/dspnet/dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py'
NOISE = ('pkg_resources is deprecated', "Only use 'alpha' for pillow")


def test_train_log_is_quiet_keeps_progress_and_writes_tensorboard(tmp_path):
    root = str(tmp_path / 'demo')
    generate_demo_data(root, tasks=('cls', ), **SMALL_DEMO)
    work = str(tmp_path / 'work')
    env = dict(
        os.environ,
        PYTHONPATH=os.pathsep.join(
            [ROOT] + [p for p in [os.environ.get('PYTHONPATH')] if p]),
        OMP_NUM_THREADS='1',
        DSPNET_TENSORBOARD='1')
    proc = subprocess.run([
        sys.executable, 'tools/train.py', CFG, '--work-dir', work,
        '--cfg-options', f'train_dataloader.dataset.data_root={root}/cls',
        'train_cfg.max_iters=2', 'train_dataloader.batch_size=4',
        'default_hooks.logger.interval=1'
    ],
                          cwd=ROOT,
                          env=env,
                          capture_output=True,
                          text=True,
                          timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout + proc.stderr
    for noise in NOISE:
        assert noise not in out, noise
    # the pipeline did run ColorJitter (the 'alpha' notice's caller) and
    # the iterations were logged
    assert 'ColorJitter' in out
    assert 'Iter(train) [2/2]' in out
    (run, ) = glob.glob(osp.join(work, '2*', 'vis_data'))
    assert osp.isfile(osp.join(run, 'scalars.json'))
    events = glob.glob(osp.join(run, 'events.out.tfevents.*'))
    assert events and osp.getsize(events[0]) > 0
