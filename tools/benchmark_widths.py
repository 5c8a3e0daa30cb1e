"""Every protocol for every width of one DSPNet checkpoint, one command.

Exports the widths, writes one concrete config per (protocol, width) into
WORK_DIR/<run>/w<W>/config.py, trains each with tools/train.py (printing the
equivalent cluster command), and writes WORK_DIR/results.{json,md,png}.

Examples:
    # the CPU demo scale (configs/benchmarks/*/*_demo-*.py, data/demo)
    python tools/benchmark_widths.py \
        work_dirs/demo/seed0/pretrain/iter_600.pth \
        --protocols linear knn --widths all --work-dir work_dirs/bench
    # ImageNet / COCO / Cityscapes, 8 GPUs per run, with a BYOL baseline
    python tools/benchmark_widths.py work_dirs/dspnet_r50/epoch_300.pth \
        --protocols linear knn semi det seg --scale imagenet \
        --launcher pytorch --gpus 8 --work-dir work_dirs/bench_r50 \
        --baseline 0.5=work_dirs/byol_r50_w0.5/epoch_300.pth
"""
import argparse
import sys

from mmengine.config import DictAction

from dspnet_mm.benchmark import (PROTOCOLS, RUNS, BenchmarkError,
                                 BenchmarkSpec, Launch, RunOptions,
                                 benchmark_widths, format_table,
                                 parse_max_iters, split_cfg_options)
from dspnet_mm.slim import TransferError
from dspnet_mm.utils.quiet import filter_upstream_warnings


def _pairs(values, what, cast):
    """``['0.5=a.pth', ...]`` -> ``{0.5: 'a.pth'}``."""
    out = {}
    for item in values or []:
        key, sep, value = item.partition('=')
        if not sep or not key or not value:
            raise SystemExit(f'error: {what} must look like KEY=VALUE, '
                             f'got {item!r}')
        try:
            out[cast(key)] = value
        except ValueError:
            raise SystemExit(f'error: bad {what} key {key!r}') from None
    return out


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Export every width of a DSPNet checkpoint and run the '
        'chosen evaluation protocols on each, one ordinary tools/train.py '
        'run per (protocol, width); writes results.json, results.md and '
        'results.png into --work-dir.')
    parser.add_argument('checkpoint', help='DSPNet checkpoint')
    parser.add_argument(
        '--protocols',
        nargs='+',
        default=['linear', 'knn'],
        choices=list(PROTOCOLS) + ['semi1', 'semi10'],
        help='semi = 1%% and 10%% labels; det = Mask R-CNN (box and mask '
        'AP); seg = FCN (mIoU)')
    parser.add_argument(
        '--widths',
        nargs='+',
        default=['all'],
        help='widths to evaluate, or "all" trained widths')
    parser.add_argument(
        '--transfer-widths',
        nargs='+',
        type=float,
        help='run det and seg only for these widths (default: all)')
    parser.add_argument('--work-dir', required=True, help='output dir')
    parser.add_argument(
        '--data-root',
        help='demo: holds cls/ coco/ seg/ (default data/demo); imagenet: '
        'holds imagenet/ coco/ cityscapes/ (default data)')
    parser.add_argument(
        '--scale',
        choices=['demo', 'imagenet'],
        default='demo',
        help='demo: the CPU demo configs; imagenet: the cluster configs')
    parser.add_argument(
        '--baseline',
        nargs='+',
        metavar='W=CKPT',
        help='a network of width W pretrained one by one (BYOL checkpoint, '
        'plain ResNet or exported width), evaluated the same way and '
        'drawn beside the DSPNet widths')
    parser.add_argument(
        '--config',
        nargs='+',
        metavar='RUN=CFG',
        help=f'replace the config of a run ({", ".join(RUNS)} but knn)')
    parser.add_argument(
        '--max-iters',
        nargs='+',
        metavar='[RUN=]N',
        help='shrink iteration-based runs to N iterations (schedules scaled '
        'along), for all runs or per run')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='overrides of every run\'s config (key=value) or of one run '
        '(linear:key=value); merged before the width is applied')
    parser.add_argument('--knn-k', type=int, default=20)
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch'],
        default='none',
        help='none: python tools/train.py; pytorch: tools/dist_train.sh')
    parser.add_argument(
        '--gpus',
        type=int,
        default=1,
        help='processes per run with --launcher pytorch')
    parser.add_argument(
        '--stream',
        choices=['progress', 'all', 'none'],
        default='progress',
        help='echo the runs\' iteration lines, every line, or nothing '
        '(full logs are always in <run>/w<W>/train.log)')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    filter_upstream_warnings()
    args = parse_args(argv)
    try:
        spec = BenchmarkSpec(
            args.checkpoint,
            args.work_dir,
            protocols=args.protocols,
            widths=args.widths,
            scale=args.scale,
            data_root=args.data_root,
            baselines=_pairs(args.baseline, '--baseline', float),
            transfer_widths=args.transfer_widths,
            runs=RunOptions(
                configs=_pairs(args.config, '--config', str),
                cfg_options=split_cfg_options(args.cfg_options),
                max_iters=parse_max_iters(args.max_iters),
                knn_k=args.knn_k),
            launch=Launch(args.launcher, args.gpus, sys.executable),
            stream=args.stream)
        results = benchmark_widths(spec)
    except (BenchmarkError, TransferError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    print()
    print(format_table(results['widths']))
    if results['baselines']:
        print('\none-by-one baselines:')
        print(format_table(results['baselines']))
    report = results['report']
    print(f'\nresults: {report["json"]}\n         {report["markdown"]}\n'
          f'         {report["plot"]}')
    if results['errors']:
        print(f'{len(results["errors"])} run(s) failed:', file=sys.stderr)
        for err in results['errors']:
            print(
                f'  {err["protocol"]} w{err["width"]}: see {err["log"]}',
                file=sys.stderr)
        return 1
    return 0


if __name__ == '__main__':
    sys.exit(main())
