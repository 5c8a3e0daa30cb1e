"""Config preparation: the stock config of each run and its concrete copy.

A benchmark run trains an ordinary config: one of ``configs/benchmarks/``
(per scale), pointed at the data, optionally overridden and shortened, and
pointed at one exported width by :func:`dspnet_mm.slim.apply_width`. The
concrete config is written next to the run, so the run is exactly what a
user would send to a cluster.
"""
import os
import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Optional

from ..slim import apply_width
from ..utils.paths import config_path
from .plan import BenchmarkError

__all__ = [
    'BENCHMARK_CONFIGS', 'RunConfig', 'benchmark_configs', 'set_data_root',
    'shrink_schedule', 'write_run_config'
]

#: The benchmark config of each run, per scale (relative to ``configs/``).
BENCHMARK_CONFIGS = dict(
    demo=dict(
        linear='benchmarks/classification/'
        'resnet18_1xb32-linear-coslr-200it_demo-cls.py',
        semi1='benchmarks/classification/'
        'resnet18_1xb32-ft-coslr-60it_demo-cls-1pct.py',
        semi10='benchmarks/classification/'
        'resnet18_1xb32-ft-coslr-100it_demo-cls-10pct.py',
        det='benchmarks/mmdet/mask-rcnn_dspnet-r50_fpn_1xb4-50it_demo-coco.py',
        seg='benchmarks/mmseg/fcn_dspnet-r50-d8_1xb4-50it_demo-seg.py'),
    imagenet=dict(
        linear='benchmarks/classification/'
        'resnet50_8xb512-linear-coslr-90e_in1k.py',
        semi1='benchmarks/classification/'
        'resnet50_8xb32-ft-coslr-30e_in1k-1pct.py',
        semi10='benchmarks/classification/'
        'resnet50_8xb32-ft-coslr-20e_in1k-10pct.py',
        det='benchmarks/mmdet/'
        'mask-rcnn_dspnet-r50_fpn_8xb2-syncbn-ms-1x_coco.py',
        seg='benchmarks/mmseg/'
        'fcn_dspnet-r50-d8_4xb2-40k_cityscapes-512x1024.py'),
)


def benchmark_configs(scale: str = 'demo') -> Dict[str, str]:
    """The benchmark config (absolute path) of each run at ``scale``."""
    if scale not in BENCHMARK_CONFIGS:
        raise BenchmarkError(f'scale must be one of '
                             f'{sorted(BENCHMARK_CONFIGS)}, got {scale!r}')
    return {k: config_path(v) for k, v in BENCHMARK_CONFIGS[scale].items()}


def set_data_root(cfg, root: str) -> None:
    """Point every dataloader (and COCO-style evaluator) at ``root``."""
    old_roots = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        dataset = loader.get('dataset') if isinstance(loader, dict) else None
        while isinstance(dataset, dict):
            old = dataset.get('data_root')
            if old:
                old_roots.append(old)
                dataset['data_root'] = root + ('/'
                                               if old.endswith('/') else '')
            dataset = dataset.get('dataset')
    for key in ('val_evaluator', 'test_evaluator'):
        node = cfg.get(key)
        for ev in (node if isinstance(node, (list, tuple)) else [node]):
            ann = ev.get('ann_file') if isinstance(ev, dict) else None
            if not isinstance(ann, str):
                continue
            for old in old_roots:
                if ann.startswith(old):
                    ev['ann_file'] = osp.join(root, ann[len(old):].lstrip('/'))
                    break


def _scale_schedulers(cfg, factor: float) -> None:
    scheds = cfg.get('param_scheduler')
    scheds = scheds if isinstance(scheds, (list, tuple)) else [scheds]
    for s in scheds:
        if not isinstance(s, dict) or s.get('by_epoch', True):
            continue
        for key in ('begin', 'end', 'T_max'):
            if isinstance(s.get(key), int):
                low = 0 if key == 'begin' else 1
                s[key] = max(low, round(s[key] * factor))
        if isinstance(s.get('milestones'), (list, tuple)):
            s['milestones'] = [
                max(1, round(m * factor)) for m in s['milestones']
            ]


def shrink_schedule(cfg, max_iters: int) -> None:
    """Run an iteration-based config for ``max_iters`` iterations.

    Sets ``train_cfg.max_iters`` and validates and checkpoints at the end;
    the iteration-based parameter schedulers (``begin``, ``end``,
    ``T_max``, ``milestones``) are scaled by the same factor, so a short run
    keeps the shape of the schedule (warm-up, decay).

    Args:
        cfg (mmengine.Config): changed in place.
        max_iters (int): the new length.

    Raises:
        BenchmarkError: for an epoch-based config.
    """
    train_cfg = cfg.get('train_cfg') or {}
    by_iter = (
        train_cfg.get('type') == 'IterBasedTrainLoop'
        or train_cfg.get('by_epoch') is False)
    if not by_iter or 'max_iters' not in train_cfg:
        raise BenchmarkError('only iteration-based configs can be shrunk '
                             'to a number of iterations')
    max_iters = int(max_iters)
    if max_iters < 1:
        raise BenchmarkError(f'max_iters must be >= 1, got {max_iters}')
    factor = max_iters / train_cfg['max_iters']
    train_cfg['max_iters'] = max_iters
    train_cfg['val_interval'] = max_iters
    hooks = cfg.get('default_hooks') or {}
    if isinstance(hooks.get('checkpoint'), dict):
        hooks['checkpoint']['interval'] = max_iters
    if isinstance(hooks.get('logger'), dict):
        interval = hooks['logger'].get('interval', 10)
        hooks['logger']['interval'] = max(1, min(interval, max_iters // 4))
    _scale_schedulers(cfg, factor)


@dataclass
class RunConfig:
    """What makes the concrete config of one run.

    Args:
        base (str): the stock benchmark config.
        checkpoint (str): the exported width it starts from.
        task (str): ``mmpretrain``, ``mmdet`` or ``mmseg``.
        data_root (str): the framework's data folder.
        options (dict): config overrides, merged before the width is set.
        max_iters (int, optional): shorten the run (:func:`shrink_schedule`).
    """
    base: str
    checkpoint: str
    task: str
    data_root: str
    options: dict = field(default_factory=dict)
    max_iters: Optional[int] = None


def write_run_config(run: RunConfig, out: str) -> str:
    """Write the concrete config of ``run`` to ``out``; returns its text."""
    from mmengine.config import Config
    cfg = Config.fromfile(run.base)
    set_data_root(cfg, run.data_root)
    if run.options:
        cfg.merge_from_dict(run.options)
    if run.max_iters:
        shrink_schedule(cfg, run.max_iters)
    apply_width(cfg, run.checkpoint, run.task)
    os.makedirs(osp.dirname(out), exist_ok=True)
    cfg.dump(out)
    with open(out) as f:
        return f.read()
