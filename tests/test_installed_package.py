"""``pip install .`` (not editable), then the tools from outside the checkout.

The package is built from a copy of the working tree and installed with
``pip install --no-deps --target`` into a temporary folder that is put first
on ``PYTHONPATH`` (the environment's own packages serve as dependencies; an
editable install of the checkout in that environment comes after it). Every
command then runs in an empty temporary working directory, through the
installed console script ``dspnet-mm`` or ``python -m dspnet_mm``: data,
training, export, transfer and the width benchmark, with the configs and
tools the package ships under ``dspnet_mm/.mim``.
"""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
CFG = 'configs/dspnet/dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py'
LINEAR = ('configs/benchmarks/classification/'
          'resnet18_1xb32-linear-coslr-200it_demo-cls.py')


def _tree_files():
    """The files git tracks, plus untracked ones it does not ignore."""
    out = subprocess.run(
        ['git', 'ls-files', '--cached', '--others', '--exclude-standard'],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True).stdout
    return [f for f in out.splitlines() if osp.isfile(osp.join(ROOT, f))]


@pytest.fixture(scope='module')
def installed(tmp_path_factory):
    tmp = tmp_path_factory.mktemp('installed')
    src, site, cwd = tmp / 'src', tmp / 'site', tmp / 'run'
    for rel in _tree_files():
        os.makedirs(osp.dirname(src / rel), exist_ok=True)
        shutil.copy2(osp.join(ROOT, rel), src / rel)
    proc = subprocess.run([
        sys.executable, '-m', 'pip', 'install', '--no-deps',
        '--no-build-isolation', '--no-index', '--target',
        str(site),
        str(src)
    ],
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    os.makedirs(cwd)
    env = {
        k: v
        for k, v in os.environ.items() if k not in ('PYTHONPATH', 'PYTHON')
    }
    env.update(PYTHONPATH=str(site), OMP_NUM_THREADS='1')
    return dict(site=str(site), cwd=str(cwd), env=env)


def _run(installed, *args, script=True):
    cmd = ([osp.join(installed['site'], 'bin', 'dspnet-mm')]
           if script else [sys.executable, '-m', 'dspnet_mm'])
    proc = subprocess.run(
        cmd + list(args),
        cwd=installed['cwd'],
        env=installed['env'],
        capture_output=True,
        text=True,
        timeout=900)
    assert proc.returncode == 0, (args, proc.stdout[-3000:],
                                  proc.stderr[-3000:])
    return proc.stdout


def test_installed_package_ships_configs_and_tools(installed):
    proc = subprocess.run([
        sys.executable, '-c', 'import dspnet_mm, dspnet_mm.utils.paths as p; '
        'print(dspnet_mm.__file__); print(p.resource_root())'
    ],
                          cwd=installed['cwd'],
                          env=installed['env'],
                          capture_output=True,
                          text=True)
    assert proc.returncode == 0, proc.stderr[-2000:]
    module, resources = proc.stdout.split()
    pkg = osp.join(installed['site'], 'dspnet_mm')
    assert module == osp.join(pkg, '__init__.py')
    assert resources == osp.join(pkg, '.mim')
    for rel in (CFG, LINEAR, 'tools/train.py', 'tools/dist_train.sh',
                'model-index.yml', 'configs/dspnet/metafile.yml'):
        assert osp.isfile(osp.join(resources, rel)), rel
    # the tests are not part of the package
    assert not osp.exists(osp.join(installed['site'], 'tests'))
    out = _run(installed, '--help', script=False)
    assert 'benchmark' in out and 'transfer-config' in out


def test_train_export_transfer_benchmark_outside_checkout(installed):
    cwd = installed['cwd']
    _run(installed, 'data', '--root', 'data/demo', '--small', '--tasks', 'cls')
    _run(installed, 'train', CFG, '--work-dir', 'work_dirs/pre',
         '--cfg-options', 'train_cfg.max_iters=2',
         'train_dataloader.batch_size=4', 'default_hooks.logger.interval=1')
    ckpt = osp.join(cwd, 'work_dirs/pre/iter_2.pth')
    assert osp.isfile(ckpt)
    out = _run(installed, 'slim', 'work_dirs/pre/iter_2.pth', '--widths',
               'all', '--out-dir', 'slim')
    assert 'exported 4 width(s)' in out
    slim = osp.join(cwd, 'slim', 'resnet18_w0.5.pth')
    _run(installed, 'transfer-config', LINEAR, 'slim/resnet18_w0.5.pth',
         '--task', 'mmpretrain', '--out', 'linear_w0.5.py', '--verify')
    with open(osp.join(cwd, 'linear_w0.5.py')) as f:
        text = f.read()
    assert slim in text and 'in_channels=256' in text
    _run(installed, 'benchmark', 'work_dirs/pre/iter_2.pth', '--protocols',
         'knn', 'linear', '--widths', '0.25', '--work-dir', 'bench',
         '--data-root', 'data/demo', '--max-iters', '2', '--stream', 'none')
    with open(osp.join(cwd, 'bench', 'results.json')) as f:
        results = json.load(f)
    assert results['errors'] == []
    (row, ) = results['widths']
    assert row['width'] == 0.25
    assert row['linear_top1'] is not None and row['knn_top1'] is not None
    # the run was trained by the shipped tools/train.py
    with open(osp.join(cwd, 'bench', 'linear', 'w0.25', 'train.log')) as f:
        first = f.readline()
    assert osp.join(installed['site'], 'dspnet_mm', '.mim', 'tools',
                    'train.py') in first
