"""tools/train.py, test.py and dist_train.sh for real, in subprocesses."""
import glob
import importlib.util
import json
import math
import os
import os.path as osp
import pickle
import shutil
import socket
import subprocess
import sys

import pytest
import torch

from dspnet_mm.datasets import DEMO_CLASSES, generate_demo_data
from dspnet_mm.utils.checkpoint import load_checkpoint_safely

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CFG = osp.join(
    ROOT, 'configs/slimmable_resnet/'
    'supervised_slimmable-resnet18_1xb16-sgd-20it_demo-cls.py')


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('demo') / 'demo')
    generate_demo_data(
        root, tasks=('cls', ), cls_train_per_class=4, cls_val_per_class=2)
    return osp.join(root, 'cls')


def _opts(data_root, max_iters):
    return [
        '--cfg-options', f'train_dataloader.dataset.data_root={data_root}',
        f'val_dataloader.dataset.data_root={data_root}',
        f'test_dataloader.dataset.data_root={data_root}',
        f'train_cfg.max_iters={max_iters}', 'train_cfg.val_interval=100',
        'default_hooks.checkpoint.interval=2',
        'default_hooks.checkpoint.max_keep_ckpts=-1'
    ]


def load_tool(name: str):
    """``tools/<name>.py`` as a module, without touching ``sys.path``.

    Putting ``tools/`` on ``sys.path`` would let ``tools/test.py`` shadow
    the standard library's ``test`` package for the whole session.
    """
    path = osp.join(ROOT, 'tools', f'{name}.py')
    spec = importlib.util.spec_from_file_location(f'_dspnet_tool_{name}', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    """A TCP port that is free now (for a process group's rendezvous)."""
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def _run(args, **kwargs):
    env = dict(os.environ, PYTHONPATH=ROOT, OMP_NUM_THREADS='1')
    proc = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, **kwargs)
    return proc


def train_ok(cfg, work_dir, opts, *extra):
    """Run tools/train.py on ``cfg``; it must succeed."""
    proc = _run([
        sys.executable, 'tools/train.py', cfg, '--work-dir', work_dir, *extra
    ] + opts)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _train(work_dir, data_root, max_iters, *extra):
    return train_ok(CFG, work_dir, _opts(data_root, max_iters), *extra)


def logged(work_dir, key):
    """Step -> logged record, for the records of a run that hold ``key``."""
    out = {}
    for path in glob.glob(osp.join(work_dir, '*', 'vis_data', 'scalars.json')):
        with open(path) as f:
            for line in f:
                rec = json.loads(line)
                if key in rec:
                    out[rec['step']] = rec
    return out


def _losses(work_dir):
    return {s: rec['loss'] for s, rec in logged(work_dir, 'loss').items()}


def test_load_tool_leaves_sys_path_and_the_stdlib_test_package_alone():
    before = list(sys.path)
    modules = set(sys.modules)
    tool = load_tool('test')
    assert tool.__file__ == osp.join(ROOT, 'tools', 'test.py')
    assert callable(tool.main)
    assert sys.path == before
    new = set(sys.modules) - modules
    assert {m
            for m in new
            if not m.startswith('dspnet_mm')} <= {'_dspnet_tool_test'}


def test_config_classes_match_generator():
    from mmengine.config import Config
    cfg = Config.fromfile(CFG)
    assert tuple(cfg.demo_classes) == DEMO_CLASSES


@pytest.fixture(scope='module')
def fp32_run(data_root, tmp_path_factory):
    """An uninterrupted 4-iteration float32 run: its dir and losses."""
    full = str(tmp_path_factory.mktemp('full'))
    _train(full, data_root, 4)
    ref = _losses(full)
    assert sorted(ref) == [1, 2, 3, 4]
    # cross-entropy of 8 classes near chance at the start
    assert abs(ref[1] - math.log(8)) < 1.0
    return full, ref


def test_train_resume_matches_uninterrupted_run(data_root, fp32_run, tmp_path):
    full, ref = fp32_run

    # a crash after iteration 2: only iter_2.pth is left
    crashed = str(tmp_path / 'crashed')
    os.makedirs(crashed)
    shutil.copy(osp.join(full, 'iter_2.pth'), crashed)
    with open(osp.join(crashed, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(crashed, 'iter_2.pth'))
    proc = _train(crashed, data_root, 4, '--resume')
    assert 'resumed epoch: 0, iter: 2' in proc.stdout + proc.stderr
    resumed = _losses(crashed)
    assert sorted(resumed) == [3, 4]
    for step in (3, 4):
        assert resumed[step] == pytest.approx(ref[step], abs=1e-5)
    # checkpoints load under torch's safe default (weights_only=True)
    ckpt = torch.load(osp.join(crashed, 'iter_4.pth'))
    assert ckpt['meta']['iter'] == 4

    # tools/test.py evaluates the checkpoint and writes its metrics
    out = str(tmp_path / 'metrics.json')
    proc = _run([
        sys.executable, 'tools/test.py', CFG,
        osp.join(crashed, 'iter_4.pth'), '--work-dir',
        str(tmp_path / 'test'), '--out', out
    ] + _opts(data_root, 4))
    assert proc.returncode == 0, proc.stderr[-3000:]
    with open(out) as f:
        metrics = json.load(f)
    assert metrics['accuracy/top1'] == pytest.approx(
        _top1_by_hand(osp.join(crashed, 'iter_4.pth'), data_root))


def _top1_by_hand(checkpoint, data_root):
    """Top-1 (%) of the checkpoint on the test split, counted here."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from dspnet_mm.registry import MODELS
    cfg = Config.fromfile(CFG)
    init_default_scope('mmpretrain')
    # what the Runner does with the config's top-level data_preprocessor
    cfg.model.setdefault('data_preprocessor', cfg.data_preprocessor)
    model = MODELS.build(cfg.model)
    model.load_state_dict(load_checkpoint_safely(checkpoint)['state_dict'])
    model.eval()
    loader = cfg.test_dataloader
    loader.dataset.data_root = data_root
    correct = total = 0
    with torch.no_grad():
        for batch in Runner.build_dataloader(loader):
            for sample in model.test_step(batch):
                correct += int(sample.pred_label == sample.gt_label)
                total += 1
    assert total == 16  # 2 per class
    return 100.0 * correct / total


def test_dist_train_two_processes_then_export(data_root, tmp_path):
    work = str(tmp_path / 'dist')
    env_python = dict(PYTHON=sys.executable, PORT=str(free_port()))
    proc = subprocess.run(
        ['bash', 'tools/dist_train.sh', CFG, '2', '--work-dir', work] +
        _opts(data_root, 2),
        cwd=ROOT,
        env=dict(os.environ, OMP_NUM_THREADS='1', **env_python),
        capture_output=True,
        text=True)
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-3000:]
    assert 'Distributed training: True' in log
    assert sorted(_losses(work)) == [1, 2]
    # the checkpoint feeds the slim tool, and each width loads strictly
    slim = str(tmp_path / 'slim')
    proc = _run([
        sys.executable, 'tools/slim_checkpoint.py',
        osp.join(work, 'iter_2.pth'), '--widths', 'all', '--out-dir', slim
    ])
    assert proc.returncode == 0, proc.stderr[-3000:]
    from mmengine.runner import load_checkpoint
    from mmpretrain.models import ResNet
    for w in (0.25, 0.5, 0.75, 1.0):
        stock = ResNet(
            18, base_channels=int(64 * w), stem_channels=int(64 * w))
        load_checkpoint(
            stock,
            osp.join(slim, f'resnet18_w{w}.pth'),
            strict=True,
            logger='silent')


def test_amp_on_cpu_uses_bf16_autocast(data_root, fp32_run, tmp_path):
    work = str(tmp_path / 'amp')
    proc = _train(work, data_root, 1, '--amp')
    assert "type='CPUAmpOptimWrapper'" in proc.stdout + proc.stderr
    (loss, ) = _losses(work).values()
    # the same first step as the float32 run, computed in bfloat16: close,
    # but not bit-identical (a float32 run repeats its loss exactly)
    ref = fp32_run[1][1]
    assert loss != ref
    assert loss == pytest.approx(ref, rel=2e-2)


def test_missing_data_root_is_one_clear_error(tmp_path):
    proc = _run([
        sys.executable, 'tools/train.py', CFG, '--work-dir',
        str(tmp_path / 'w')
    ] + _opts(str(tmp_path / 'nowhere'), 1))
    assert proc.returncode == 1
    assert 'does not exist' in proc.stderr
    assert 'tools/generate_demo_data.py' in proc.stderr
    assert 'Traceback' not in proc.stderr
    assert not osp.exists(str(tmp_path / 'w'))


class _Evil:

    def __reduce__(self):
        return (os.system, ('echo pwned', ))


def test_safe_loading_still_refuses_code(tmp_path):
    path = str(tmp_path / 'evil.pth')
    with open(path, 'wb') as f:
        torch.save({
            'state_dict': {},
            'x': _Evil()
        },
                   f,
                   pickle_protocol=pickle.HIGHEST_PROTOCOL)
    with pytest.raises(RuntimeError, match='cannot load'):
        load_checkpoint_safely(path)
    with pytest.raises(pickle.UnpicklingError):
        torch.load(path)
