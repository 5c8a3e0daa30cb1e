"""Atomic writes: a file holds its old content or all of the new one."""
import os

import pytest
import torch
from mmengine.fileio import get_file_backend

from dspnet_mm.utils.atomic import (ATOMIC_BACKEND, TEMP_PATTERN,
                                    AtomicLocalBackend, atomic_path,
                                    atomic_write)


class _Boom(Exception):
    pass


def test_failed_write_keeps_the_old_file(tmp_path):
    path = str(tmp_path / 'ckpt.pth')
    atomic_write(b'old content', path)

    class HalfWriter:

        def __init__(self, tmp):
            self.tmp = tmp

        def __reduce__(self):
            raise _Boom

    with pytest.raises(_Boom):
        with atomic_path(path) as tmp:
            assert TEMP_PATTERN.match(os.path.basename(tmp))
            with open(tmp, 'wb') as f:
                f.write(b'half of the new')
            raise _Boom
    with open(path, 'rb') as f:
        assert f.read() == b'old content'
    assert os.listdir(tmp_path) == ['ckpt.pth']  # no temporary file left
    with pytest.raises(_Boom):
        with atomic_path(path) as tmp:
            torch.save({'x': HalfWriter(tmp)}, tmp)
    with open(path, 'rb') as f:
        assert f.read() == b'old content'
    assert os.listdir(tmp_path) == ['ckpt.pth']


def test_write_replaces_and_keeps_permissions_of_a_normal_file(tmp_path):
    path = str(tmp_path / 'a' / 'b.txt')
    atomic_write('one', path)
    atomic_write('two', path)
    with open(path) as f:
        assert f.read() == 'two'
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(path).st_mode & 0o777 == 0o666 & ~umask


def test_mmengine_backend_writes_atomically(tmp_path, monkeypatch):
    backend = get_file_backend(
        str(tmp_path), backend_args=dict(backend=ATOMIC_BACKEND))
    assert isinstance(backend, AtomicLocalBackend)
    path = str(tmp_path / 'iter_1.pth')
    backend.put(b'complete', path)

    def fail(src, dst):
        raise OSError('disk full')

    monkeypatch.setattr(os, 'replace', fail)
    with pytest.raises(OSError, match='disk full'):
        backend.put(b'torn', path)
    with open(path, 'rb') as f:
        assert f.read() == b'complete'
    assert os.listdir(tmp_path) == ['iter_1.pth']
