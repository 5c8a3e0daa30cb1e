"""The main demo job: demo data -> DSPNet pretraining -> every width.

Generates the embedded demo data, pretrains a slimmable ResNet-18 with DSPNet
(configs/dspnet/dspnet_slimmable-resnet18_1xb16-lars-600it_demo-cls.py, with
--amp and the seed of --seed), scores every exported width by kNN and the
cached-feature linear probe next to its random-init twin of the same seed
(the evidence table), then runs tools/benchmark_widths.py's Mask R-CNN and
FCN transfer for one width; prints the tables and where everything is. A
second run skips what is finished (and says so). About 8 minutes on 2 CPU
cores.

Examples:
    bash scripts/run_demo.sh                       # == python tools/demo.py
    python tools/demo.py --seed 1                  # -> work_dirs/demo/seed1
    python tools/demo.py --quick                   # tiny data, 2-4 its/run
    python tools/demo.py --protocols linear knn    # + mmpretrain runs
    python tools/demo.py --skip-pretrain \
        work_dirs/demo/seed0/pretrain/iter_600.pth
"""
import argparse
import os
import sys

from mmengine.config import DictAction

from dspnet_mm.utils.quiet import filter_upstream_warnings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='The DSPNet demo: data, pretraining, and linear / kNN / '
        'detection / segmentation of the exported widths.')
    parser.add_argument(
        '--seed',
        type=int,
        default=0,
        help='seed of the pretraining and of the random-init twins '
        '(default 0)')
    parser.add_argument(
        '--work-dir',
        help='everything goes here (default work_dirs/demo/seed<SEED>, '
        'with --quick work_dirs/demo_quick/seed<SEED>)')
    parser.add_argument(
        '--data-root',
        help='demo data root (default data/demo; with --quick '
        '<work-dir>/data)')
    parser.add_argument(
        '--quick',
        action='store_true',
        help='tiny data (SMALL_DEMO) and a few iterations in every run: '
        'checks the wiring in a couple of minutes, numbers are noise')
    parser.add_argument(
        '--skip-pretrain',
        metavar='CKPT',
        help='benchmark this DSPNet checkpoint instead of pretraining')
    parser.add_argument(
        '--widths',
        nargs='+',
        default=['all'],
        help='widths to benchmark (default: all trained widths)')
    parser.add_argument(
        '--transfer-widths',
        nargs='+',
        type=float,
        default=[0.5],
        help='widths that also get detection and segmentation')
    parser.add_argument(
        '--protocols',
        nargs='*',
        default=[],
        choices=['linear', 'knn', 'semi', 'semi1', 'semi10'],
        help='mmpretrain classification runs for every width (none by '
        'default: the evidence stage gives kNN and a converged linear '
        'probe next to random init)')
    parser.add_argument(
        '--transfer-protocols',
        nargs='*',
        default=['det', 'seg'],
        choices=['det', 'seg'],
        help='transfer protocols for the transfer widths')
    parser.add_argument(
        '--max-iters',
        nargs='+',
        metavar='[RUN=]N',
        help='shrink the benchmark runs (see tools/benchmark_widths.py)')
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='benchmark config overrides, key=value or RUN:key=value')
    parser.add_argument(
        '--threads',
        type=int,
        help='OMP_NUM_THREADS of every run (default: the environment\'s, '
        'else 1: on a busy CPU more threads spin-wait and run slower)')
    parser.add_argument(
        '--stream',
        choices=['progress', 'all', 'none'],
        default='progress',
        help='echo the runs\' iteration lines, every line, or nothing')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    filter_upstream_warnings()
    args = parse_args(argv)
    if args.threads is not None:
        os.environ['OMP_NUM_THREADS'] = str(args.threads)
    elif 'OMP_NUM_THREADS' not in os.environ:
        os.environ['OMP_NUM_THREADS'] = '1'
    import torch
    torch.set_num_threads(int(os.environ['OMP_NUM_THREADS']))

    from dspnet_mm.benchmark import (BenchmarkError, RunOptions,
                                     parse_max_iters, split_cfg_options)
    from dspnet_mm.benchmark.demo import DemoSpec, default_work_dir, run_demo
    from dspnet_mm.benchmark.pretrain import PretrainError
    from dspnet_mm.datasets import DemoDataError
    from dspnet_mm.evaluation.evidence import EvidenceError
    work_dir = args.work_dir or default_work_dir(args.seed, args.quick)
    print(
        f'DSPNet demo -> {work_dir} (OMP_NUM_THREADS='
        f'{os.environ["OMP_NUM_THREADS"]})',
        flush=True)
    try:
        results = run_demo(
            DemoSpec(
                work_dir,
                seed=args.seed,
                data_root=args.data_root,
                quick=args.quick,
                checkpoint=args.skip_pretrain,
                widths=args.widths,
                protocols=args.protocols,
                transfer_protocols=args.transfer_protocols,
                transfer_widths=args.transfer_widths,
                runs=RunOptions(
                    cfg_options=split_cfg_options(args.cfg_options),
                    max_iters=parse_max_iters(args.max_iters)),
                stream=args.stream))
    except (BenchmarkError, DemoDataError, EvidenceError, PretrainError,
            FileNotFoundError, RuntimeError) as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    return 1 if results['errors'] else 0


if __name__ == '__main__':
    sys.exit(main())
