"""Files that are either wholly written or not there at all.

A process killed while it writes a file (SIGKILL, OOM, a preempted job)
leaves a torn file behind; when that file is a checkpoint, resuming from it
fails or, worse, a later tool takes it for a finished one. Everything here
writes to a hidden temporary name in the target's directory, flushes it to
disk, and renames it over the target (``os.replace`` is atomic on POSIX
within one file system), so the target holds either its old content or all
of the new one. A kill leaves at most a temporary file, recognised by
:data:`TEMP_PATTERN`.
"""
import os
import os.path as osp
import re
import uuid
from contextlib import contextmanager
from typing import Iterator, Union

from mmengine.fileio import LocalBackend, register_backend

__all__ = [
    'ATOMIC_BACKEND', 'AtomicLocalBackend', 'TEMP_PATTERN', 'atomic_path',
    'atomic_write', 'commit', 'temp_path'
]

#: Names of the temporary files written here: ``.<name>.<pid>.<hex>.tmp``.
TEMP_PATTERN = re.compile(r'^\.(?P<name>.+)\.(?P<pid>\d+)\.[0-9a-f]{8}\.tmp$')

#: mmengine file backend name of :class:`AtomicLocalBackend`.
ATOMIC_BACKEND = 'dspnet_atomic_local'


def temp_path(path: str) -> str:
    """A fresh hidden temporary name next to ``path``."""
    directory, name = osp.split(osp.abspath(path))
    return osp.join(directory,
                    f'.{name}.{os.getpid()}.{uuid.uuid4().hex[:8]}.tmp')


def _fsync(path: str) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def commit(tmp: str, path: str) -> None:
    """Flush ``tmp`` to disk and rename it over ``path``."""
    _fsync(tmp)
    os.replace(tmp, path)
    try:  # make the rename itself durable
        _fsync(osp.dirname(osp.abspath(path)))
    except OSError:  # some file systems refuse fsync on a directory
        pass


@contextmanager
def atomic_path(path: str) -> Iterator[str]:
    """Yield a temporary name to write; on success it replaces ``path``.

    If the block raises, the temporary file is removed and ``path`` is left
    as it was.

    Example:
        >>> with atomic_path('iter_4.pth') as tmp:
        ...     torch.save(checkpoint, tmp)
    """
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = temp_path(path)
    try:
        yield tmp
        commit(tmp, path)
    finally:
        if osp.lexists(tmp):
            os.remove(tmp)


def atomic_write(data: Union[bytes, str], path: str) -> None:
    """Write ``data`` (bytes, or text as UTF-8) to ``path`` atomically."""
    if isinstance(data, str):
        data = data.encode('utf-8')
    with atomic_path(path) as tmp:
        with open(tmp, 'wb') as f:
            f.write(data)


class AtomicLocalBackend(LocalBackend):
    """Mmengine's local file backend whose writes are atomic.

    mmengine's ``save_checkpoint`` serialises a checkpoint to memory and
    hands the bytes to ``backend.put``; the stock local backend writes them
    in place, so a kill during the write leaves a torn checkpoint under its
    final name. :class:`dspnet_mm.engine.SafeRunner` saves through this
    backend instead.
    """

    def put(self, obj: bytes, filepath) -> None:
        atomic_write(obj, str(filepath))

    def put_text(self, obj: str, filepath, encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), str(filepath))


register_backend(ATOMIC_BACKEND, AtomicLocalBackend, force=True)
