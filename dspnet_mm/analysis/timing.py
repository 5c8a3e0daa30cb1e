"""The timing harness: interleaved repetitions, CPU time, the machine.

Every compared callable runs in the same process, repetitions are
interleaved (the order rotates each repetition) and the median is taken.
Ratios use process CPU time (``time.process_time``, user + system), which
other jobs on a shared machine disturb much less than wall time.
"""
import os
import os.path as osp
import platform
import statistics
import subprocess
import time
from typing import Callable, Dict

from ..utils.paths import package_dir

__all__ = ['cpu_model', 'git_rev', 'interleaved', 'load', 'quiet_logs']


def quiet_logs() -> None:
    """Silence mmengine's per-op / per-parameter log lines and set the
    ``max_iters`` that mmpretrain's ``CosineEMA`` reads from the message hub (a
    Runner would set it)."""
    import warnings

    from mmengine.logging import MessageHub, MMLogger
    MMLogger.get_instance('benchmark_speed', log_level='ERROR')
    MessageHub.get_instance('benchmark_speed').update_info('max_iters', 1000)
    warnings.filterwarnings('ignore', message=".*'alpha' for pillow")


def load() -> str:
    return '/'.join(f'{x:.2f}' for x in os.getloadavg())


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def git_rev() -> str:
    """The commit of the imported dspnet_mm's checkout (``unknown`` for an
    installed package)."""
    root = osp.dirname(package_dir())
    try:
        rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                             cwd=root,
                             capture_output=True,
                             text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(
            ['git', 'status', '--porcelain', '--', 'dspnet_mm'],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return 'unknown'
    return (rev + (' (dspnet_mm modified)' if dirty else '')) or 'unknown'


def interleaved(fns: Dict[str, Callable[[], None]],
                reps: int,
                warmup: int = 1) -> Dict[str, Dict[str, float]]:
    """Median CPU and wall seconds of each callable, repetitions interleaved
    (the order rotates every repetition so no callable always runs first)."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    cpu = {n: [] for n in names}
    wall = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            c0, w0 = time.process_time(), time.perf_counter()
            fns[name]()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    return {
        n:
        dict(cpu=statistics.median(cpu[n]), wall=statistics.median(wall[n]))
        for n in names
    }
