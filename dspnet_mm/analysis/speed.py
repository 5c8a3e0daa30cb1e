"""The speed benchmark, part by part, with a summary of the targets.

CLI: ``tools/analysis/benchmark_speed.py``; figures and what they mean:
``docs/benchmarks.md``.
"""
import datetime
import os
import platform
import sys
import time
from typing import List

import torch

from .memory import part_memory
from .options import (DEMO_CFG, P1_TARGET, P2_TARGET, P4_TARGET,
                      PROJECTOR_IMAGENET, SpeedOptions)
from .p1 import part_complexity, part_fixed_cost, part_p1
from .p2 import ensure_demo_data, p2_configs, part_p2
from .p3 import part_p3
from .p4 import part_p4
from .timing import cpu_model, git_rev, load, quiet_logs

__all__ = ['run_speed_benchmark']


def _header() -> None:
    import mmengine
    import mmpretrain

    from .. import __version__
    print('# benchmark_speed', ' '.join(sys.argv[1:]))
    now = datetime.datetime.now().astimezone()
    print(f'date: {now.isoformat("T", "seconds")}')
    print(f'machine: {cpu_model()}, {os.cpu_count()} logical cores, '
          f'{platform.system()} {platform.release()}')
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'mmengine {mmengine.__version__}, mmpretrain '
          f'{mmpretrain.__version__}, dspnet_mm {__version__} '
          f'at {git_rev()}')
    print(f'CUDA available: {torch.cuda.is_available()}; load average '
          f'(1/5/15 min) at start: {load()}')
    print('ratios: median process CPU time (user+sys) of interleaved '
          'repetitions; wall-time ratios beside them')


def _p1(opts: SpeedOptions) -> str:
    rows = part_p1(opts)
    part_fixed_cost(opts)
    missed = [r for r in rows if not r['ok']]
    return (f'P1 ratio <= {P1_TARGET} at every width and mode: ' +
            ('met' if not missed else 'MISSED at ' +
             ', '.join(f'R{r["depth"]} w{r["width"]} {r["mode"]} '
                       f'({r["ratio"]:.3f})' for r in missed)))


def _p2(opts: SpeedOptions, cfgs: dict) -> str:
    r = part_p2(opts, cfgs)
    tuned = (f'; with glibc malloc thresholds raised: epoch ratio '
             f'{r["tuned"]:.3f}' if r.get('tuned') is not None else '')
    return (f'P2 epoch ratio {r["epoch_ratio"]:.3f} <= {P2_TARGET}: '
            f'{"met" if r["ok"] else "MISSED"} (iteration '
            f'{r["iter_ratio"]:.3f}, FLOPs predict {r["predicted"]:.3f})' +
            tuned)


def run_speed_benchmark(opts: SpeedOptions) -> List[str]:
    """Run the parts in ``opts.parts``, print them and a summary.

    Returns:
        list[str]: the summary lines.
    """
    parts = set(opts.parts.split(','))
    torch.set_num_threads(opts.threads)
    quiet_logs()
    t_start = time.perf_counter()
    _header()
    summary = []
    if 'p1' in parts:
        summary.append(_p1(opts))
    if 'cx' in parts:
        ok = part_complexity(opts)
        summary.append('params/FLOPs per width equal the static ResNet: ' +
                       ('yes' if ok else 'NO'))
    cfgs = None
    if parts & {'mem', 'p2'}:
        from mmengine.registry import init_default_scope
        ensure_demo_data(opts.data_root)
        init_default_scope('mmpretrain')
        cfgs = p2_configs(DEMO_CFG, PROJECTOR_IMAGENET)
    if 'mem' in parts:
        part_memory(opts, {k: v for k, v in cfgs.items() if k != 'cfg'})
    if 'p2' in parts:
        summary.append(_p2(opts, cfgs))
    if 'p3' in parts:
        part_p3(opts)
        if not torch.cuda.is_available() and opts.p3_device == 'cuda':
            summary.append('P3 skipped: no CUDA device')
    if 'p4' in parts:
        r = part_p4(opts)
        summary.append(f'P4 export of 4 widths {r["wall"]:.2f} s < '
                       f'{P4_TARGET:.0f} s: {"met" if r["ok"] else "MISSED"}')
    print('\n## Summary')
    for line in summary:
        print('- ' + line)
    print(f'total {time.perf_counter() - t_start:.0f} s wall; load average '
          f'at end: {load()}')
    return summary
