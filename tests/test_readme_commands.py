"""Every laptop-scale command of README.md runs, as printed.

Each ```bash block of the README is run here, in order, one command at a
time, unless the HTML comment right above it names who runs it instead:

* ``<!-- readme-test: cluster -->``: needs a cluster (not run anywhere);
* ``<!-- readme-test: .ci/run -->``: run by the CI script (``.ci/run``);
* ``<!-- readme-test: tests/<file>.py -->``: run by that test.

The commands run with bash in an empty temporary directory that links the
checkout's ``configs/``, ``tools/`` and ``scripts/`` (so nothing of the
checkout is written), with the environment's python as ``python`` on the
PATH (what ``source .venv/bin/activate`` gives). Long runs get small
iteration counts, appended as printed below in :data:`SHORTER`; a
checkpoint name that the shorter run changes is renamed (:data:`RENAMED`).
"""
import glob
import json
import os
import os.path as osp
import re
import socket
import subprocess
import sys

import pytest

ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
README = osp.join(ROOT, 'README.md')
_ITERS = ('train_cfg.max_iters={n} train_cfg.val_interval={n} '
          'default_hooks.checkpoint.interval={n}')
#: command prefix -> what is appended to it here.
SHORTER = {
    'python tools/train.py work_dirs/linear_w0.5.py':
    ' --cfg-options ' + _ITERS.format(n=2),
    'python tools/benchmark_widths.py':
    ' --max-iters 2',
}
#: DSPNet pretraining (train, dist_train, TensorBoard, resume): 2 iterations,
#: a resumed run 2 more.
_PRETRAIN = re.compile(r'(tools/train\.py|tools/dist_train\.sh) configs/')
RENAMED = {'iter_600.pth': 'iter_2.pth', 'iter_200.pth': 'iter_2.pth'}


def readme_blocks(path=README):
    """``(runner, [command, ...])`` for every ```bash block."""
    with open(path) as f:
        text = f.read()
    blocks = []
    pattern = r'(?:<!-- readme-test: (\S+) -->\n)?```bash\n(.*?)```'
    for m in re.finditer(pattern, text, re.S):
        body = m.group(2).replace('\\\n', ' ')
        cmds = []
        for line in body.splitlines():
            line = re.sub(r'\s+#.*$', '', line).strip()
            if line and not line.startswith('#'):
                cmds.append(re.sub(r'\s+', ' ', line))
        blocks.append((m.group(1), cmds))
    return blocks


def _shorter(cmd: str) -> str:
    for old, new in RENAMED.items():
        cmd = cmd.replace(old, new)
    for prefix, extra in SHORTER.items():
        if cmd.startswith(prefix):
            return cmd + extra
    if _PRETRAIN.search(cmd):
        n = 4 if '--resume' in cmd else 2
        return cmd + ' --cfg-options ' + _ITERS.format(n=n)
    return cmd


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def test_every_bash_block_has_a_runner():
    blocks = readme_blocks()
    assert len(blocks) >= 8
    with open(osp.join(ROOT, '.ci', 'run')) as f:
        ci = f.read()
    for runner, cmds in blocks:
        if runner == 'cluster':
            assert all('slurm_' in c or '--scale imagenet' in c
                       for c in cmds), cmds
        elif runner == '.ci/run':
            for cmd in cmds:
                assert cmd in ci, cmd
        elif runner is not None:
            assert osp.isfile(osp.join(ROOT, runner)), runner
            with open(osp.join(ROOT, runner)) as f:
                test = f.read()
            # the test runs the same tools
            for cmd in cmds:
                tool = re.search(r'(tools/[\w/]+\.py|dspnet-mm \w+)', cmd)
                if tool:
                    name = tool.group(1).split('/')[-1].replace('.py',
                                                                '').split()[-1]
                    assert name in test or tool.group(1) in test, cmd


@pytest.fixture(scope='module')
def workspace(tmp_path_factory):
    """An empty directory with the checkout's configs, tools, scripts and the
    environment's python as ``python``."""
    cwd = tmp_path_factory.mktemp('readme')
    for name in ('configs', 'tools', 'scripts'):
        os.symlink(osp.join(ROOT, name), cwd / name)
    bin_dir = tmp_path_factory.mktemp('bin')
    python = bin_dir / 'python'
    python.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    python.chmod(0o755)
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHON', 'VIRTUAL_ENV', 'CONDA_PREFIX')
    }
    env.update(
        PATH=f'{bin_dir}{os.pathsep}{env.get("PATH", "")}',
        PYTHONPATH=os.pathsep.join([ROOT] +
                                   [p for p in [env.get('PYTHONPATH')] if p]),
        OMP_NUM_THREADS='1',
        PORT=str(_free_port()))
    return dict(cwd=str(cwd), env=env)


def test_readme_commands_run_as_printed(workspace):
    ran = []
    for runner, cmds in readme_blocks():
        if runner is not None:
            continue
        for cmd in cmds:
            proc = subprocess.run(['bash', '-c', _shorter(cmd)],
                                  cwd=workspace['cwd'],
                                  env=workspace['env'],
                                  capture_output=True,
                                  text=True,
                                  timeout=900)
            assert proc.returncode == 0, (cmd, proc.stdout[-2000:],
                                          proc.stderr[-3000:])
            ran.append(cmd)
    cwd = workspace['cwd']
    assert len(ran) >= 9
    # what the commands made
    assert osp.isfile(osp.join(cwd, 'data/demo/manifest.json'))
    assert len(glob.glob(osp.join(cwd, 'work_dirs/dspnet_demo/slim/*'))) == 4
    with open(osp.join(cwd, 'work_dirs/bench/results.json')) as f:
        results = json.load(f)
    assert results['errors'] == []
    assert [r['width'] for r in results['widths']] == [0.25, 0.5, 0.75, 1.0]
    assert osp.isfile(osp.join(cwd, 'work_dirs/dspnet_demo/iter_4.pth'))
    assert osp.isfile(osp.join(cwd, 'work_dirs/dspnet_demo_ddp/iter_2.pth'))
    with open(osp.join(cwd, 'work_dirs/bench/linear/w0.5/test.json')) as f:
        assert 'accuracy/top1' in json.load(f)
    assert glob.glob(
        osp.join(cwd, 'work_dirs/dspnet_demo_tb/*/vis_data/events.out.*'))
