"""What ``tools/train.py`` and ``tools/test.py`` do before the Runner.

Kept in the package (and unit-tested) so the tools stay thin.
"""
import os
import os.path as osp
import re
import traceback
from datetime import timedelta
from typing import Optional

import torch
import torch.distributed as dist
from mmengine.config import Config

from .checkpoint import CheckpointError, check_safe_loading_env

__all__ = [
    'apply_common_args', 'apply_train_args', 'build_runner',
    'check_data_roots', 'finish_distributed', 'init_distributed', 'user_error'
]


def init_distributed(cfg: Config, launcher: str) -> None:
    """Start a CPU process group when there is no GPU.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device``, which
    fails without CUDA. The Runner skips ``init_dist`` when a process group
    already exists, so on CPU we start a gloo group from the torchrun
    environment ourselves, and give DDP ``device_ids=None`` (the Runner's
    default passes ``[LOCAL_RANK]``, which DDP rejects for CPU modules).
    With a GPU nothing changes: mmengine initialises NCCL as usual.
    """
    if launcher == 'none' or torch.cuda.is_available():
        return
    if launcher != 'pytorch':
        raise RuntimeError(
            f'launcher {launcher!r} needs GPUs; on CPU use '
            '--launcher pytorch (tools/dist_train.sh starts torchrun)')
    if not dist.is_initialized():
        timeout = cfg.get('env_cfg', {}).get('dist_cfg',
                                             {}).get('timeout', 1800)
        dist.init_process_group(
            backend='gloo', timeout=timedelta(seconds=timeout))
    wrapper = dict(cfg.get('model_wrapper_cfg') or {})
    wrapper.setdefault('type', 'MMDistributedDataParallel')
    wrapper['device_ids'] = None
    wrapper.setdefault('broadcast_buffers', False)
    wrapper.setdefault('find_unused_parameters',
                       cfg.get('find_unused_parameters', False))
    cfg.model_wrapper_cfg = wrapper


def finish_distributed() -> None:
    """Leave the process group in step with the other ranks, then close it.

    Called by the tools after a successful run. Exiting with the gloo group
    still open let its threads race the interpreter's teardown: a rank that
    had finished training and validation could abort with ``terminate called
    without an active exception`` (seen intermittently with 2 CPU ranks).
    The barrier keeps a fast rank from closing while a slow one still
    talks to it.
    """
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def apply_common_args(cfg: Config, args) -> Config:
    """``--work-dir``, ``--cfg-options`` and ``--launcher`` of both tools."""
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    cfg.launcher = args.launcher
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    check_safe_loading_env()
    check_data_roots(cfg)
    init_distributed(cfg, args.launcher)
    return cfg


def build_runner(cfg: Config):
    """The tools' runner: :class:`dspnet_mm.engine.SafeRunner`."""
    from ..engine.runner import SafeRunner
    runner_type = cfg.get('runner_type', 'SafeRunner')
    if runner_type not in ('SafeRunner', SafeRunner):
        raise ValueError(
            f'runner_type={runner_type!r}: the dspnet_mm tools run '
            'SafeRunner (safe loading, atomic checkpoints, resume from the '
            'last complete one); remove runner_type from the config')
    return SafeRunner.from_cfg(cfg)


#: mmcv 2.1.0's LoadImageFromFile when an image does not decode.
_UNDECODABLE = re.compile(r'AssertionError: failed to load image: (.+?)\s*$',
                          re.M)
_OS_ERROR = re.compile(r"\[Errno \d+\] ([^:\n]+): '([^'\n]+)'")


def unreadable_image(error: BaseException) -> Optional[str]:
    """The message for an image the data pipeline cannot read, or None.

    A corrupt, missing or unreadable training image stops training with
    this message (we do not skip it: a silently shrinking dataset changes
    the recipe). Recognised from mmcv's ``LoadImageFromFile``: its
    ``failed to load image: <path>`` assertion, or an ``OSError`` raised
    inside it; in a DataLoader worker both arrive as text.
    """
    text = ''.join(
        traceback.format_exception(type(error), error, error.__traceback__))
    if 'transforms/loading.py' not in text:
        return None
    match = _UNDECODABLE.search(text)
    if match:
        path, reason = match.group(1), 'it does not decode as an image'
    else:
        match = _OS_ERROR.search(text)
        if not match:
            return None
        path, reason = match.group(2), match.group(1).lower()
    return (f'cannot read the image {path!r}: {reason}. Replace the file '
            'or remove its line from the annotation file (training stops '
            'instead of skipping it)')


def user_error(error: BaseException) -> Optional[str]:
    """The one-line message of an error caused by the run's input (a
    checkpoint, the data, a diverging loss), or None for anything else (a bug:

    keep its traceback).
    """
    if isinstance(error, (CheckpointError, FloatingPointError)):
        return str(error)
    return unreadable_image(error)


def _data_roots(dataset):
    while isinstance(dataset, dict):
        if dataset.get('data_root'):
            yield dataset['data_root']
        for sub in dataset.get('datasets', []) or []:
            yield from _data_roots(sub)
        dataset = dataset.get('dataset')


def check_data_roots(cfg: Config) -> None:
    """Fail early, with one message, when a dataloader's root is missing."""
    missing = []
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg.get(key)
        if not loader:
            continue
        for root in _data_roots(loader.get('dataset')):
            if not osp.isdir(root) and root not in missing:
                missing.append(root)
    if missing:
        raise FileNotFoundError(
            f'data root {missing[0]!r} does not exist. For the embedded demo '
            'data run `python tools/generate_demo_data.py` first (or set '
            "the config's data_root / --cfg-options to your dataset).")


def apply_train_args(cfg: Config, args) -> Config:
    """Merge ``tools/train.py``'s flags into ``cfg`` (mmpretrain's rules)."""
    if args.amp:
        wrapper = cfg.optim_wrapper.get('type', 'OptimWrapper')
        if wrapper not in ('OptimWrapper', 'AmpOptimWrapper',
                           'CPUAmpOptimWrapper'):
            raise ValueError(f'--amp cannot wrap optim_wrapper type '
                             f'{wrapper!r}; use OptimWrapper in the config')
        if torch.cuda.is_available():
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
        else:
            # float16 AMP needs CUDA; CPU autocast runs in bfloat16
            cfg.optim_wrapper.type = 'CPUAmpOptimWrapper'
            cfg.optim_wrapper.pop('loss_scale', None)
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume checkpoint not found: {args.resume}')
        cfg.resume = True
        cfg.load_from = args.resume
    if args.auto_scale_lr:
        cfg.setdefault('auto_scale_lr', {})
        cfg.auto_scale_lr.enable = True
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    if args.no_pin_memory:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(key):
                cfg[key]['pin_memory'] = False
    if args.no_persistent_workers:
        for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            if cfg.get(key):
                cfg[key]['persistent_workers'] = False
    return apply_common_args(cfg, args)


def local_rank_env(args) -> None:
    """torch.distributed.launch passes --local_rank; torchrun sets env."""
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(getattr(args, 'local_rank', 0))
