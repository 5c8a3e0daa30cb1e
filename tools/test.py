"""Test a checkpoint with dspnet_mm's SafeRunner (mmpretrain's test.py).

Example:
    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out r.json]
"""
import argparse
import json
import os.path as osp

from mmengine.config import Config, DictAction

import dspnet_mm  # noqa: F401  (registers our modules)
from dspnet_mm.utils.launch import (apply_common_args, build_runner,
                                    finish_distributed, local_rank_env,
                                    user_error)
from dspnet_mm.utils.quiet import filter_upstream_warnings
from dspnet_mm.utils.visualization import apply_tensorboard_switch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test a checkpoint')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs')
    parser.add_argument('--out', help='write the metrics to this json file')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override settings of the config, key=value pairs')
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args(argv)
    local_rank_env(args)
    return args


def main(argv=None):
    filter_upstream_warnings()
    args = parse_args(argv)
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'error: checkpoint not found: {args.checkpoint}')
    cfg = Config.fromfile(args.config)
    try:
        cfg = apply_common_args(cfg, args)
        apply_tensorboard_switch(cfg)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        raise SystemExit(f'error: {e}')
    cfg.load_from = args.checkpoint
    try:
        runner = build_runner(cfg)
        metrics = runner.test()
    except Exception as e:  # noqa: BLE001 - bad input is one error line
        message = user_error(e)
        if message is None:
            raise
        raise SystemExit(f'error: {message}') from None
    if args.out and runner.rank == 0:
        with open(args.out, 'w') as f:
            json.dump({k: float(v) for k, v in metrics.items()}, f, indent=2)
    finish_distributed()
    return metrics


if __name__ == '__main__':
    main()
