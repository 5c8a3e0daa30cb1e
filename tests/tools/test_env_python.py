"""tools/env_python.sh: the dist/slurm scripts take the env's python."""
import os
import os.path as osp
import shutil
import subprocess
import sys

ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


def _python_with_torch(path):
    """``path``: an executable that runs this test's python."""
    path.write_text(f'#!/bin/sh\nexec {sys.executable} "$@"\n')
    path.chmod(0o755)


def _repo(tmp_path, venv=False):
    """A checkout with tools/env_python.sh (and a .venv with torch)."""
    repo = tmp_path / 'repo'
    os.makedirs(repo / 'tools')
    shutil.copy(osp.join(ROOT, 'tools', 'env_python.sh'), repo / 'tools')
    if venv:
        os.makedirs(repo / '.venv' / 'bin')
        _python_with_torch(repo / '.venv' / 'bin' / 'python')
    return repo


def _no_torch_path(tmp_path):
    """A PATH whose `python` cannot import torch."""
    bin_dir = tmp_path / 'bin'
    os.makedirs(bin_dir, exist_ok=True)
    fake = bin_dir / 'python'
    fake.write_text('#!/bin/sh\necho "No module named torch" >&2\nexit 1\n')
    fake.chmod(0o755)
    return f'{bin_dir}:/usr/bin:/bin'


def _chosen(repo, path, **env):
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ('PYTHON', 'VIRTUAL_ENV', 'CONDA_PREFIX')
    }
    proc = subprocess.run(
        ['bash', '-c', 'source tools/env_python.sh && echo "$PYTHON"'],
        cwd=repo,
        env=dict(base, PATH=path, **env),
        capture_output=True,
        text=True)
    return proc.returncode, proc.stdout.strip(), proc.stderr


def test_python_without_torch_is_refused_with_the_fix(tmp_path):
    code, out, err = _chosen(_repo(tmp_path), _no_torch_path(tmp_path))
    assert code == 1 and out == ''
    assert 'python cannot import torch' in err
    assert 'source .venv/bin/activate' in err
    # the dist script stops there, before torchrun
    repo = _repo(tmp_path / 'dist')
    shutil.copy(osp.join(ROOT, 'tools', 'dist_train.sh'), repo / 'tools')
    proc = subprocess.run(['bash', 'tools/dist_train.sh', 'cfg.py', '2'],
                          cwd=repo,
                          env=dict(
                              PATH=_no_torch_path(tmp_path),
                              HOME=str(tmp_path)),
                          capture_output=True,
                          text=True)
    assert proc.returncode == 1
    assert proc.stderr.startswith('error: python cannot import torch')


def test_the_env_python_is_found(tmp_path):
    path = _no_torch_path(tmp_path)
    # the checkout's .venv (what scripts/setup_env.sh creates)
    repo = _repo(tmp_path, venv=True)
    assert _chosen(repo, path) == (0, str(repo / '.venv/bin/python'), '')
    # an active virtualenv comes first
    venv = tmp_path / 'active'
    os.makedirs(venv / 'bin')
    _python_with_torch(venv / 'bin' / 'python')
    assert _chosen(
        repo, path, VIRTUAL_ENV=str(venv)) == (0, str(venv / 'bin/python'), '')
    # PYTHON wins over everything
    assert _chosen(
        repo, path, VIRTUAL_ENV=str(venv),
        PYTHON=sys.executable) == (0, sys.executable, '')
