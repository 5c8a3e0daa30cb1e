"""Run every evaluation protocol on every width of one DSPNet checkpoint.

One call of :func:`benchmark_widths`:

1. exports the chosen widths to plain ResNet checkpoints
   (:func:`dspnet_mm.slim.export_widths`) into ``<work_dir>/slim``, and
   each one-by-one baseline into ``<work_dir>/baselines``;
2. per width, per protocol, writes the concrete config (a stock benchmark
   config + :func:`dspnet_mm.slim.apply_width`) into
   ``<work_dir>/<run>/w<W>/config.py`` and trains it with ``tools/train.py``
   in a subprocess, so each run is exactly what a user would send to a
   cluster with ``tools/dist_train.sh`` (the command is printed); kNN runs
   in process (:func:`dspnet_mm.evaluation.knn_eval`);
3. reads the final metric of each run from mmengine's
   ``<timestamp>/vis_data/scalars.json`` and writes ``results.json``,
   ``results.md`` and ``results.png`` (:mod:`.report`).

A failing run is reported with its log and recorded as ``None`` plus an
entry in ``results['errors']``; the other runs go on. A run whose
``result.json`` matches its config and source checkpoint is not repeated.
"""
import hashlib
import json
import logging
import os
import os.path as osp
import re
import shlex
import subprocess
import sys
import time
from collections import OrderedDict
from contextlib import contextmanager
from typing import Callable, Dict, List, Optional, Sequence, Union

import torch

from ..models.backbones.slimmable_resnet import resnet_stage_channels
from ..models.layers import GRID, check_width, width_tag
from ..slim import apply_width, complexity, export_widths
from ..slim.export import _ARCH, FLOPS_INPUT, ExportError
from ..utils.checkpoint import load_checkpoint_safely
from ..version import __version__
from .report import RESULT_KEYS, write_report

__all__ = [
    'BenchmarkError', 'PROTOCOLS', 'RUNS', 'benchmark_configs',
    'benchmark_widths', 'export_plain_resnet', 'parse_max_iters',
    'progress_line', 'read_metrics', 'run_logged', 'shrink_schedule',
    'split_cfg_options'
]

#: The repository (configs/ and tools/ live there).
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))

#: Protocols the user chooses; ``semi`` is two runs (1 % and 10 %).
PROTOCOLS = ('linear', 'knn', 'semi', 'det', 'seg')
_PROTOCOL_RUNS = OrderedDict(
    linear=('linear', ),
    knn=('knn', ),
    semi=('semi1', 'semi10'),
    semi1=('semi1', ),
    semi10=('semi10', ),
    det=('det', ),
    seg=('seg', ))

#: Per run: framework (``None``: in process), label, and the result keys it
#: fills as ``key: (metric in scalars.json, factor to percent)``; the first
#: metric is required, the others are optional (e.g. no segm for
#: Faster R-CNN).
RUNS = OrderedDict(
    linear=dict(
        task='mmpretrain',
        label='linear',
        metrics={'linear_top1': ('accuracy/top1', 1.)}),
    knn=dict(task=None, label='knn', metrics={'knn_top1': ('top1', 1.)}),
    semi1=dict(
        task='mmpretrain',
        label='semi-1%',
        metrics={'semi1_top1': ('accuracy/top1', 1.)}),
    semi10=dict(
        task='mmpretrain',
        label='semi-10%',
        metrics={'semi10_top1': ('accuracy/top1', 1.)}),
    # NOTE: mmdet's CocoMetric reports AP as a fraction; tables use percent
    det=dict(
        task='mmdet',
        label='det',
        metrics={
            'box_ap': ('coco/bbox_mAP', 100.),
            'mask_ap': ('coco/segm_mAP', 100.)
        }),
    seg=dict(task='mmseg', label='seg', metrics={'miou': ('mIoU', 1.)}),
)

_B = 'configs/benchmarks/'
#: The benchmark config of each run, per scale.
_CONFIGS = dict(
    demo=dict(
        linear=_B + 'classification/resnet18_1xb32-linear-coslr-200it_'
        'demo-cls.py',
        semi1=_B + 'classification/resnet18_1xb32-ft-coslr-60it_'
        'demo-cls-1pct.py',
        semi10=_B + 'classification/resnet18_1xb32-ft-coslr-100it_'
        'demo-cls-10pct.py',
        det=_B + 'mmdet/mask-rcnn_dspnet-r50_fpn_1xb4-50it_demo-coco.py',
        seg=_B + 'mmseg/fcn_dspnet-r50-d8_1xb4-50it_demo-seg.py'),
    imagenet=dict(
        linear=_B + 'classification/resnet50_8xb512-linear-coslr-90e_'
        'in1k.py',
        semi1=_B + 'classification/resnet50_8xb32-ft-coslr-30e_in1k-1pct.py',
        semi10=_B + 'classification/resnet50_8xb32-ft-coslr-20e_in1k-'
        '10pct.py',
        det=_B + 'mmdet/mask-rcnn_dspnet-r50_fpn_8xb2-syncbn-ms-1x_coco.py',
        seg=_B + 'mmseg/fcn_dspnet-r50-d8_4xb2-40k_cityscapes-512x1024.py'),
)
#: Default data root per scale and the sub-folder each framework reads.
_DATA = dict(
    demo=('data/demo', dict(mmpretrain='cls', mmdet='coco', mmseg='seg')),
    imagenet=('data',
              dict(mmpretrain='imagenet', mmdet='coco', mmseg='cityscapes')),
)
#: kNN image views (short-edge resize, centre crop; 0: as stored), workers.
_KNN = dict(
    demo=dict(resize=0, crop=0, workers=0),
    imagenet=dict(resize=256, crop=224, workers=4))
_TIMESTAMP = re.compile(r'^\d{8}_\d{6}$')


class BenchmarkError(ValueError):
    """Inputs that make the whole benchmark impossible (nothing is run)."""


def benchmark_configs(scale: str = 'demo') -> Dict[str, str]:
    """The benchmark config (absolute path) of each run at ``scale``."""
    if scale not in _CONFIGS:
        raise BenchmarkError(f'scale must be one of {sorted(_CONFIGS)}, '
                             f'got {scale!r}')
    return {k: osp.join(REPO_ROOT, v) for k, v in _CONFIGS[scale].items()}


# --------------------------------------------------------------- configs
def _set_data_root(cfg, root: str) -> None:
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


def _write_config(base: str, export_path: str, task: str, data_root: str,
                  options: dict, max_iters: Optional[int], out: str) -> str:
    """Write the concrete config of one run; returns its text."""
    from mmengine.config import Config
    cfg = Config.fromfile(base)
    _set_data_root(cfg, data_root)
    if options:
        cfg.merge_from_dict(options)
    if max_iters:
        shrink_schedule(cfg, max_iters)
    apply_width(cfg, export_path, task)
    os.makedirs(osp.dirname(out), exist_ok=True)
    cfg.dump(out)
    with open(out) as f:
        return f.read()


# ------------------------------------------------------------- baselines
def _infer_depth(keys) -> int:
    bottleneck = 'layer1.0.conv3.weight' in keys
    blocks = tuple(
        len({
            m.group(1)
            for m in (re.match(rf'layer{i}\.(\d+)\.', k) for k in keys) if m
        }) for i in range(1, 5))
    for depth, arch in _ARCH.items():
        if arch == (bottleneck, blocks):
            return depth
    raise BenchmarkError(f'{blocks} {"bottleneck" if bottleneck else "basic"}'
                         ' blocks per stage is no standard ResNet')


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


def export_plain_resnet(checkpoint: str,
                        out_dir: str,
                        width: Optional[float] = None,
                        prefix: Optional[str] = None) -> dict:
    """Save a plain ResNet (e.g. a BYOL backbone) as an exported width.

    The one-by-one baselines are ordinary ResNets, not SlimmableResNets, so
    :func:`dspnet_mm.slim.export_widths` does not apply. This writes the
    same format: ``dict(state_dict=<plain ResNet keys>, meta=...)`` with
    depth, width, channels and params/FLOPs from
    :func:`dspnet_mm.slim.complexity`. A file that already is an exported
    width is used as it is.

    Args:
        checkpoint (str): an mmpretrain checkpoint (``backbone.`` keys, e.g.
            BYOL), a plain ResNet state dict, or an exported width.
        out_dir (str): where ``resnet{D}_w{W}.pth`` goes.
        width (float, optional): the expected width; another one is an
            error.
        prefix (str, optional): key prefix of the backbone; ``backbone.``
            when present, else none.

    Returns:
        dict: ``path`` and ``meta``.
    """
    from mmpretrain.models.backbones import ResNet
    if not osp.isfile(checkpoint):
        raise BenchmarkError(f'baseline checkpoint not found: {checkpoint}')
    try:
        ckpt = load_checkpoint_safely(checkpoint)
    except RuntimeError as e:
        raise BenchmarkError(f'{checkpoint}: {e}') from None
    meta = ckpt.get('meta') if isinstance(ckpt, dict) else None
    if isinstance(meta, dict) and 'stage_channels' in meta:
        if width is not None and round(meta['width'] * GRID) != round(
                float(width) * GRID):
            raise BenchmarkError(f'{checkpoint} is width {meta["width"]}, '
                                 f'not {width}')
        return dict(path=osp.abspath(checkpoint), meta=meta)
    state = ckpt.get('state_dict', ckpt) if isinstance(ckpt, dict) else None
    if not isinstance(state, dict):
        raise BenchmarkError(f'{checkpoint} holds no state_dict')
    if prefix is None:
        prefix = 'backbone.' if 'backbone.conv1.weight' in state else ''
    if prefix + 'conv1.weight' not in state:
        raise BenchmarkError(f'{checkpoint}: no ResNet under prefix '
                             f'{prefix!r} ({prefix}conv1.weight missing)')
    sd = OrderedDict(
        (k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
    depth = _infer_depth(sd)
    base = sd['conv1.weight'].shape[0]
    w = base / GRID
    try:
        w = check_width(w)
    except ValueError as e:
        raise BenchmarkError(f'{checkpoint}: {e}') from None
    if width is not None and round(float(width) * GRID) != base:
        raise BenchmarkError(f'{checkpoint} has {base} stem channels: width '
                             f'{w}, not {width}')
    model = ResNet(depth, base_channels=base, stem_channels=base)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise BenchmarkError(
            f'{checkpoint} is not a plain ResNet-{depth} at width {w}: '
            f'{str(e).splitlines()[0]}') from None
    params, flops = complexity(depth, w)
    meta = dict(
        arch='ResNet',
        depth=depth,
        width=w,
        base_channels=base,
        stem_channels=base,
        stage_channels=resnet_stage_channels(depth, w),
        params=params,
        flops=flops,
        flops_input=list(FLOPS_INPUT),
        source=osp.abspath(checkpoint),
        source_prefix=prefix,
        source_sha256=_sha256(checkpoint),
        exporter=f'dspnet_mm {__version__} (plain ResNet)')
    os.makedirs(out_dir, exist_ok=True)
    path = osp.abspath(osp.join(out_dir, f'resnet{depth}_w{width_tag(w)}.pth'))
    tmp = f'{path}.tmp-{os.getpid()}'
    torch.save(dict(state_dict=model.state_dict(), meta=meta), tmp)
    os.replace(tmp, path)
    return dict(path=path, meta=meta)


# -------------------------------------------------------------- running
@contextmanager
def _quiet_complexity():
    """Hide mmengine's "Unsupported operator" warnings of FLOP counting
    (pooling, BN and additions are not counted: the reported FLOPs are
    those of convolutions and linear layers, mmengine's convention)."""
    from mmengine.logging import MMLogger
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def _fmt_time(seconds: float) -> str:
    seconds = int(round(seconds))
    if seconds < 60:
        return f'{seconds}s'
    if seconds < 3600:
        return f'{seconds // 60}m{seconds % 60:02d}s'
    return f'{seconds // 3600}h{seconds % 3600 // 60:02d}m'


def _rel(path: str) -> str:
    rel = osp.relpath(path)
    return path if rel.startswith('..') else rel


def _quote(cmd: Sequence[str]) -> str:
    return ' '.join(shlex.quote(c) for c in cmd)


def read_metrics(work_dir: str) -> dict:
    """Last logged value of every scalar of the newest run in ``work_dir``.

    mmengine writes ``<work_dir>/<timestamp>/vis_data/scalars.json``, one
    json record per logging step, validation metrics included.
    """
    runs = sorted(
        d for d in os.listdir(work_dir) if _TIMESTAMP.match(d)
        and osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    if not runs:
        return {}
    out = {}
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        for line in f:
            line = line.strip()
            if line:
                out.update(json.loads(line))
    return out


#: Fields of an mmengine training log line worth echoing (and metrics).
_ECHO_KEYS = ('lr', 'eta', 'time', 'loss')
_SEG_METRICS = ('aAcc', 'mIoU', 'mAcc', 'mDice', 'mFscore')
_LOG_FIELD = re.compile(r'([\w/.-]+): (\S+)')


def progress_line(line: str) -> Optional[str]:
    """A compact form of an mmengine iteration / validation log line.

    ``Iter(train) [ 50/200]  lr: ...  eta: ...  time: ...  loss: ...`` and
    the metrics of ``Iter(val)`` lines (keys with a ``/``, ``mIoU``,
    ``aAcc``...); ``None`` for every other line, and for validation lines
    without metrics.
    """
    if ' - INFO - ' not in line:
        return None
    msg = line.split(' - INFO - ', 1)[1].strip()
    head = re.match(r'((?:Iter|Epoch)\((?:train|val|test)\)\s*(?:\[[^]]*\])+)',
                    msg)
    if head is None:
        return None
    found = _LOG_FIELD.findall(msg[head.end():])
    metrics = [f'{k}: {v}' for k, v in found if '/' in k or k in _SEG_METRICS]
    if '(train)' not in head.group(1):
        # validation progress without metrics is noise
        return ' '.join([head.group(1)] + metrics) if metrics else None
    fields = [f'{k}: {v}' for k, v in found if k in _ECHO_KEYS] + metrics
    return ' '.join([re.sub(r'\s+', ' ', head.group(1))] + fields)


def run_logged(cmd: List[str],
               log_path: str,
               env: dict,
               echo: Optional[Callable[[str], None]],
               every_line: bool = False,
               append: bool = False) -> int:
    """Run ``cmd``, copy its output to ``log_path`` and echo its progress
    lines (or ``every_line``) through ``echo``."""
    with open(log_path, 'a' if append else 'w') as log:
        log.write(f'$ {_quote(cmd)}\n')
        log.flush()
        proc = subprocess.Popen(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            bufsize=1,
            env=env)
        try:
            for line in proc.stdout:
                log.write(line)
                if echo is None:
                    continue
                msg = line.rstrip() if every_line else progress_line(line)
                if msg:
                    echo(f'      {msg}')
            return proc.wait()
        except BaseException:
            proc.terminate()
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
            raise


def _tail(path: str, n: int = 12) -> List[str]:
    try:
        with open(path, errors='replace') as f:
            lines = [x.rstrip() for x in f if x.strip()]
    except OSError:
        return []
    return lines[-n:]


def _run_key(*parts) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(str(p).encode())
        h.update(b'\0')
    return h.hexdigest()


def _data_signature(data_root: str) -> str:
    """What identifies the data: the demo manifest's content hash, if any
    (regenerated demo data invalidates finished runs), else the path."""
    try:
        with open(osp.join(data_root, 'manifest.json')) as f:
            return json.load(f).get('content_hash') or data_root
    except (OSError, ValueError):
        return data_root


def _cached(run_dir: str, key: str) -> Optional[dict]:
    path = osp.join(run_dir, 'result.json')
    try:
        with open(path) as f:
            rec = json.load(f)
    except (OSError, ValueError):
        return None
    return rec if rec.get('key') == key else None


def _save_result(run_dir: str, rec: dict) -> None:
    with open(osp.join(run_dir, 'result.json'), 'w') as f:
        json.dump(rec, f, indent=2)


def _row(meta: dict) -> dict:
    row = dict.fromkeys(RESULT_KEYS)
    row.update(
        width=float(meta['width']),
        depth=meta['depth'],
        params=meta.get('params'),
        flops=meta.get('flops'))
    return row


def _parse_widths(widths) -> Union[str, List[float]]:
    if widths is None or widths == 'all' or list(widths) == ['all']:
        return 'all'
    return [float(w) for w in widths]


def _expand_protocols(protocols: Sequence[str]) -> List[str]:
    runs = []
    for p in protocols:
        if p not in _PROTOCOL_RUNS:
            raise BenchmarkError(f'unknown protocol {p!r}; choose from '
                                 f'{", ".join(_PROTOCOL_RUNS)}')
        runs += [r for r in _PROTOCOL_RUNS[p] if r not in runs]
    # a fixed order: cheap classification first, transfer last
    return [r for r in RUNS if r in runs]


def _per_run(value, run: str):
    """``value`` for ``run`` from an int/dict given for all or per run."""
    if isinstance(value, dict):
        return value.get(run, value.get('*'))
    return value


def parse_max_iters(values: Optional[Sequence[str]]):
    """``['100']`` -> ``{'*': 100}``; ``['linear=100', 'det=20']`` -> dict.

    The command-line form of ``max_iters`` (``--max-iters [RUN=]N``).
    """
    if not values:
        return None
    out = {}
    for item in values:
        name, sep, n = str(item).rpartition('=')
        if not n.isdigit() or (sep and name not in RUNS and name != '*'):
            raise BenchmarkError(f'--max-iters takes N or RUN=N with RUN in '
                                 f'{", ".join(RUNS)}, got {item!r}')
        out[name if sep else '*'] = int(n)
    return out


def split_cfg_options(options: Optional[dict]) -> Dict[str, dict]:
    """``{'run:key': v, 'key': v}`` -> per-run overrides.

    ``RUN:key=value`` (RUN one of :data:`RUNS`) changes that run's config
    only, a plain ``key=value`` every run's; the result maps each run with
    overrides (and ``'*'``) to its merged dict.
    """
    out = {}
    for key, value in (options or {}).items():
        run, sep, rest = key.partition(':')
        if sep and run in RUNS:
            out.setdefault(run, {})[rest] = value
        else:
            out.setdefault('*', {})[key] = value
    common = out.get('*', {})
    return {
        run: {
            **common,
            **out.get(run, {})
        }
        for run in list(RUNS) + ['*'] if out.get(run) or common
    }


def benchmark_widths(checkpoint: str,
                     work_dir: str,
                     protocols: Sequence[str] = ('linear', 'knn'),
                     widths: Union[str, Sequence[float]] = 'all',
                     scale: str = 'demo',
                     data_root: Optional[str] = None,
                     baselines: Optional[Dict[float, str]] = None,
                     transfer_widths: Optional[Sequence[float]] = None,
                     launcher: str = 'none',
                     gpus: int = 1,
                     configs: Optional[Dict[str, str]] = None,
                     cfg_options: Optional[Dict[str, dict]] = None,
                     max_iters: Union[int, Dict[str, int], None] = None,
                     knn_k: int = 20,
                     python: Optional[str] = None,
                     log: Callable[[str], None] = None,
                     stream: str = 'progress') -> dict:
    """Export the widths of ``checkpoint`` and run every protocol on each.

    Args:
        checkpoint (str): a DSPNet (or SlimmableResNet) checkpoint.
        work_dir (str): everything goes here: ``slim/``, ``baselines/``,
            ``<run>/w<W>/`` (config, log, mmengine work dir,
            ``result.json``) and ``results.{json,md,png}``.
        protocols (Sequence[str]): any of ``linear``, ``knn``, ``semi``
            (1 % and 10 %; ``semi1`` / ``semi10`` alone), ``det``, ``seg``.
        widths (str | Sequence[float]): ``'all'`` trained widths or a list.
        scale (str): ``'demo'`` (the CPU demo configs and data) or
            ``'imagenet'`` (ImageNet, COCO and Cityscapes configs).
        data_root (str, optional): holds ``cls/ coco/ seg/`` (demo; default
            ``data/demo``) or ``imagenet/ coco/ cityscapes/`` (default
            ``data``).
        baselines (dict, optional): width -> checkpoint of a network of that
            width pretrained one by one (plain ResNet, mmpretrain BYOL
            checkpoint or exported width); evaluated with the same runs.
        transfer_widths (Sequence[float], optional): run ``det`` and ``seg``
            only for these widths (default: every width).
        launcher (str): ``'none'`` (``tools/train.py``) or ``'pytorch'``
            (``tools/dist_train.sh`` with ``gpus`` processes).
        gpus (int): processes per run with the pytorch launcher.
        configs (dict, optional): run name -> config, replacing the
            scale's default.
        cfg_options (dict, optional): run name (or ``'*'`` for all) -> dict
            of config overrides, merged before the width is applied.
        max_iters (int | dict, optional): shrink iteration-based runs to
            this many iterations (:func:`shrink_schedule`); a dict maps run
            names (or ``'*'``) to counts.
        knn_k (int): neighbours of the kNN protocol.
        python (str, optional): interpreter for the subprocesses (default:
            this one).
        log (callable, optional): prints progress (default ``print``).
        stream (str): ``'progress'`` echoes the runs' iteration lines,
            ``'all'`` every line, ``'none'`` nothing (logs are kept).

    Returns:
        dict: the results written to ``results.json``: ``widths`` and
        ``baselines`` (rows of :data:`RESULT_KEYS`), ``errors``, ``runs``
        and the paths of the report files.
    """
    if log is None:

        def log(msg):
            print(msg, flush=True)

    start = time.perf_counter()
    python = python or sys.executable
    if scale not in _DATA:
        raise BenchmarkError(f'scale must be one of {sorted(_DATA)}, '
                             f'got {scale!r}')
    if launcher not in ('none', 'pytorch'):
        raise BenchmarkError(f'launcher must be "none" or "pytorch", got '
                             f'{launcher!r}')
    if stream not in ('progress', 'all', 'none'):
        raise BenchmarkError(f'stream must be progress, all or none, got '
                             f'{stream!r}')
    runs = _expand_protocols(protocols)
    if not runs:
        raise BenchmarkError('no protocol to run')
    config_of = benchmark_configs(scale)
    for name, path in (configs or {}).items():
        if name not in RUNS or RUNS[name]['task'] is None:
            raise BenchmarkError(f'no config to replace for run {name!r}')
        config_of[name] = osp.abspath(path)
    for name in runs:
        if name in config_of and not osp.isfile(config_of[name]):
            raise BenchmarkError(f'config of {name} not found: '
                                 f'{config_of[name]}')
    default_root, sub_dirs = _DATA[scale]
    data_root = osp.abspath(data_root or default_root)
    roots = {task: osp.join(data_root, d) for task, d in sub_dirs.items()}
    needed = {RUNS[r]['task'] or 'mmpretrain' for r in runs}
    for task in sorted(needed):
        if not osp.isdir(roots[task]):
            hint = (' (generate it: python tools/generate_demo_data.py '
                    f'--root {data_root})' if scale == 'demo' else '')
            raise BenchmarkError(f'data for {task} not found: '
                                 f'{roots[task]}{hint}')
    if not osp.isfile(checkpoint):
        raise BenchmarkError(f'checkpoint not found: {checkpoint}')
    work_dir = osp.abspath(work_dir)
    os.makedirs(work_dir, exist_ok=True)
    transfer = (None if transfer_widths is None else
                {round(float(w) * GRID)
                 for w in transfer_widths})

    # 1. exports
    widths = _parse_widths(widths)
    log(f'exporting widths '
        f'{widths if widths == "all" else ", ".join(map(str, widths))} of '
        f'{_rel(checkpoint)} -> {_rel(osp.join(work_dir, "slim"))}')
    try:
        with _quiet_complexity():
            exported = export_widths(checkpoint, widths,
                                     osp.join(work_dir, 'slim'))
    except ExportError as e:
        raise BenchmarkError(str(e)) from None
    for res in exported:
        m = res['meta']
        log(f'  w{m["width"]}: {_rel(res["path"])} ({m["params"] / 1e6:.2f}M '
            f'params, {m["flops"] / 1e9:.2f}G FLOPs)')
    subjects = [(res, False) for res in exported]
    for w, path in sorted((baselines or {}).items()):
        with _quiet_complexity():
            res = export_plain_resnet(path, osp.join(work_dir, 'baselines'), w)
        log(f'  baseline w{res["meta"]["width"]}: {_rel(res["path"])} (from '
            f'{_rel(path)})')
        subjects.append((res, True))

    # 2. the runs, width by width
    results = dict(
        checkpoint=osp.abspath(checkpoint),
        scale=scale,
        data_root=data_root,
        protocols=list(protocols),
        widths=[],
        baselines=[],
        errors=[],
        runs=[])
    jobs = []
    for res, is_base in subjects:
        row = _row(res['meta'])
        results['baselines' if is_base else 'widths'].append(row)
        units = round(res['meta']['width'] * GRID)
        for name in runs:
            if (RUNS[name]['task'] in ('mmdet', 'mmseg')
                    and transfer is not None and units not in transfer):
                continue
            jobs.append((res, row, is_base, name))
    data_sig = _data_signature(data_root)
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        [REPO_ROOT] + ([env['PYTHONPATH']] if env.get('PYTHONPATH') else []))
    echo = None if stream == 'none' else log
    for i, (res, row, is_base, name) in enumerate(jobs, 1):
        meta, spec = res['meta'], RUNS[name]
        tag = f'w{width_tag(meta["width"])}'
        what = f'{"baseline " if is_base else ""}{spec["label"]} {tag}'
        run_dir = osp.join(work_dir, 'baselines' if is_base else '', name, tag)
        os.makedirs(run_dir, exist_ok=True)
        log(f'[{i}/{len(jobs)}] {what} ...  (elapsed '
            f'{_fmt_time(time.perf_counter() - start)})')
        t0 = time.perf_counter()
        record = dict(
            protocol=name,
            width=float(meta['width']),
            baseline=is_base,
            work_dir=run_dir)
        try:
            if spec['task'] is None:
                metrics, cached = _run_knn(res, run_dir, roots['mmpretrain'],
                                           _KNN[scale], knn_k, log, record,
                                           data_sig)
            else:
                metrics, cached = _run_train(
                    res, run_dir, name, config_of[name], roots[spec['task']],
                    _per_run(cfg_options or {}, name) or {},
                    _per_run(max_iters, name), launcher, gpus, python, env,
                    echo, log, record, stream == 'all', data_sig)
        except Exception as e:  # one failing run must not stop the others
            seconds = time.perf_counter() - t0
            err = f'{type(e).__name__}: {e}'
            log(f'[{i}/{len(jobs)}] {what} FAILED after {_fmt_time(seconds)}'
                f': {err.strip().splitlines()[-1] if err.strip() else err}')
            if record.get('log'):
                for line in _tail(record['log']):
                    log(f'      | {line[:200]}')
                log(f'      log: {_rel(record["log"])}')
            results['errors'].append(
                dict(
                    protocol=name,
                    width=float(meta['width']),
                    baseline=is_base,
                    error=err,
                    log=record.get('log')))
            record.update(status='failed', seconds=round(seconds, 1))
            results['runs'].append(record)
            write_report(results, work_dir, plot=False)
            continue
        row.update({k: v for k, v in metrics.items() if k in row})
        seconds = time.perf_counter() - t0
        shown = ', '.join(f'{k} {v:.2f}' for k, v in metrics.items()
                          if v is not None)
        log(f'[{i}/{len(jobs)}] {what}: {shown} '
            f'({"cached result, " if cached else ""}{_fmt_time(seconds)}; '
            f'elapsed {_fmt_time(time.perf_counter() - start)})')
        record.update(
            status='cached' if cached else 'ok',
            seconds=round(seconds, 1),
            metrics=metrics)
        results['runs'].append(record)
        write_report(results, work_dir, plot=False)

    results['seconds'] = round(time.perf_counter() - start, 1)
    paths = write_report(results, work_dir)
    results['report'] = dict(json=paths[0], markdown=paths[1], plot=paths[2])
    write_report(results, work_dir, plot=False)
    return results


def _run_train(res, run_dir, name, base_cfg, data_root, options, max_iters,
               launcher, gpus, python, env, echo, log, record, echo_all,
               data_sig) -> tuple:
    """Write the config of one run, train it, read its metrics."""
    spec = RUNS[name]
    config = osp.join(run_dir, 'config.py')
    text = _write_config(base_cfg, res['path'], spec['task'], data_root,
                         options, max_iters, config)
    train_py = osp.join(REPO_ROOT, 'tools', 'train.py')
    if launcher == 'none':
        cmd = [python, train_py, config, '--work-dir', run_dir]
    else:
        cmd = [
            'bash',
            osp.join(REPO_ROOT, 'tools', 'dist_train.sh'), config,
            str(gpus), '--work-dir', run_dir
        ]
        env = dict(env, PYTHON=python)
    key = _run_key(text, res['meta'].get('source_sha256'), launcher, gpus,
                   data_sig)
    record.update(config=config, command=_quote(cmd))
    record['log'] = osp.join(run_dir, 'train.log')
    cached = _cached(run_dir, key)
    if cached is not None:
        log(f'      finished before with this config and checkpoint: '
            f'{_rel(osp.join(run_dir, "result.json"))}')
        return cached['metrics'], True
    shown = (f'python tools/train.py {_rel(config)} --work-dir '
             f'{_rel(run_dir)}')
    dist = (f'bash tools/dist_train.sh {_rel(config)} '
            f'{gpus if launcher != "none" else "GPUS"} --work-dir '
            f'{_rel(run_dir)}')
    log(f'      $ {shown if launcher == "none" else dist}')
    if launcher == 'none':
        log(f'      (cluster: {dist})')
    code = run_logged(cmd, record['log'], env, echo, echo_all)
    if code != 0:
        lines = _tail(record['log'], 1)
        raise RuntimeError(f'{_rel(train_py)} exited with code {code}' +
                           (f' ({lines[-1][:200]})' if lines else ''))
    scalars = read_metrics(run_dir)
    metrics = {}
    for i, (key_out, (key_in, factor)) in enumerate(spec['metrics'].items()):
        if key_in in scalars:
            metrics[key_out] = float(scalars[key_in]) * factor
        elif i == 0:
            raise RuntimeError(f'the run finished but logged no {key_in} '
                               f'(scalars.json under {_rel(run_dir)})')
        else:
            metrics[key_out] = None
    _save_result(
        run_dir,
        dict(key=key, metrics=metrics, command=_quote(cmd), config=config))
    return metrics, False


def _run_knn(res, run_dir, cls_root, view, k, log, record, data_sig) -> tuple:
    """kNN of one exported width, in process."""
    from ..evaluation import imagenet_style_dataset, knn_eval
    key = _run_key('knn', res['path'], res['meta'].get('source_sha256'),
                   cls_root, view, k, data_sig)
    cached = _cached(run_dir, key)
    if cached is not None:
        log(f'      finished before with this checkpoint: '
            f'{_rel(osp.join(run_dir, "result.json"))}')
        return cached['metrics'], True
    out = osp.join(run_dir, 'knn.json')
    cmd = [
        'python', 'tools/knn_eval.py',
        _rel(res['path']), '--data-root',
        _rel(cls_root), '--k',
        str(k), '--resize',
        str(view['resize']), '--crop',
        str(view['crop']), '--num-workers',
        str(view['workers']), '--out',
        _rel(out)
    ]
    record.update(command=_quote(cmd))
    log(f'      $ {_quote(cmd)}  (run in process)')
    data = [
        imagenet_style_dataset(
            cls_root, split, resize=view['resize'], crop=view['crop'])
        for split in ('train', 'val')
    ]
    rec = knn_eval(
        res['path'], data[0], data[1], k=k, num_workers=view['workers'])
    with open(out, 'w') as f:
        json.dump(rec, f, indent=2)
    metrics = dict(knn_top1=float(rec['results'][0]['top1']))
    _save_result(run_dir, dict(key=key, metrics=metrics))
    return metrics, False
