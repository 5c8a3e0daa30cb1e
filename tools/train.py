"""Train with dspnet_mm's SafeRunner (mmpretrain's tools/train.py).

Examples:
    python tools/train.py configs/dspnet/<cfg>.py [--resume] [--amp]
    bash tools/dist_train.sh configs/dspnet/<cfg>.py 8
"""
import argparse

from mmengine.config import Config, DictAction

import dspnet_mm  # noqa: F401  (registers our modules)
from dspnet_mm.utils.compile_check import check_compile
from dspnet_mm.utils.launch import (apply_train_args, build_runner,
                                    finish_distributed, local_rank_env,
                                    user_error)
from dspnet_mm.utils.quiet import filter_upstream_warnings
from dspnet_mm.utils.visualization import apply_tensorboard_switch


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or without a value from '
        'the latest checkpoint in the work dir')
    parser.add_argument(
        '--amp',
        action='store_true',
        help='mixed precision: float16 AMP on GPU, bfloat16 autocast on CPU')
    parser.add_argument(
        '--no-validate',
        action='store_true',
        help='do not evaluate checkpoints during training')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr with the total batch size (auto_scale_lr)')
    parser.add_argument(
        '--no-pin-memory',
        action='store_true',
        help='do not pin memory in the dataloaders')
    parser.add_argument(
        '--no-persistent-workers',
        action='store_true',
        help='do not keep dataloader workers alive between epochs')
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
    cfg = Config.fromfile(args.config)
    try:
        cfg = apply_train_args(cfg, args)
        check_compile(cfg)
        apply_tensorboard_switch(cfg)
    except (FileNotFoundError, ValueError, RuntimeError) as e:
        raise SystemExit(f'error: {e}')
    try:
        runner = build_runner(cfg)
        runner.train()
    except Exception as e:  # noqa: BLE001 - bad input is one error line
        message = user_error(e)
        if message is None:
            raise
        raise SystemExit(f'error: {message}') from None
    finish_distributed()
    return runner


if __name__ == '__main__':
    main()
