"""Generate the synthetic shapes demo data (classification, COCO, mmseg).

Deterministic by seed; a no-op when ``--root`` already holds the same data.
See :mod:`dspnet_mm.datasets.demo_data` for the layout.

Example:
    python tools/generate_demo_data.py --root data/demo --seed 0
"""
import argparse
import sys
import time

from dspnet_mm.datasets.demo_data import (SMALL_DEMO, DemoDataError,
                                          generate_demo_data)
from dspnet_mm.utils.quiet import filter_upstream_warnings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the synthetic shapes demo data.')
    parser.add_argument('--root', default='data/demo', help='output dir')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument(
        '--small', action='store_true', help='a tiny size, for tests')
    parser.add_argument(
        '--tasks',
        nargs='+',
        choices=('cls', 'det', 'seg'),
        default=['cls', 'det', 'seg'])
    parser.add_argument(
        '--cls-train-per-class',
        type=int,
        help='classification train images per class (default 150); a '
        'larger set extends the default one')
    parser.add_argument(
        '--cls-val-per-class',
        type=int,
        help='classification val images per class (default 30), e.g. 200 '
        'for a less noisy val set (one image of 1,600 = 0.06 points)')
    return parser.parse_args(argv)


def main(argv=None):
    filter_upstream_warnings()
    args = parse_args(argv)
    sizes = dict(SMALL_DEMO) if args.small else {}
    for key in ('cls_train_per_class', 'cls_val_per_class'):
        if getattr(args, key) is not None:
            sizes[key] = getattr(args, key)
    start = time.time()
    try:
        manifest = generate_demo_data(
            args.root, seed=args.seed, tasks=args.tasks, **sizes)
    except (DemoDataError, ValueError) as e:  # ValueError: bad sizes
        print(f'error: {e}', file=sys.stderr)
        return 1
    print(f'demo data in {args.root} ({manifest["num_files"]} files, '
          f'{time.time() - start:.1f}s): {manifest["counts"]}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
