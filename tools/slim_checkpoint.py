"""Export widths of a SlimmableResNet / DSPNet checkpoint to plain ResNets.

Example:
    python tools/slim_checkpoint.py work_dirs/dspnet/epoch_100.pth \
        --widths all --out-dir work_dirs/dspnet/slim
"""
import argparse
import sys
import time

from dspnet_mm.slim import ExportError, downstream_overrides, export_widths
from dspnet_mm.utils.quiet import filter_upstream_warnings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Slice trained widths of a SlimmableResNet (or the '
        'backbone of a DSPNet checkpoint) into plain ResNet checkpoints '
        'that stock mmpretrain / mmdet / mmseg ResNets load with '
        'strict=True.')
    parser.add_argument('checkpoint', help='source checkpoint')
    parser.add_argument(
        '--widths',
        nargs='+',
        required=True,
        help='widths to export, e.g. 1.0 0.5, or "all" for every trained '
        'width')
    parser.add_argument(
        '--out-dir', required=True, help='where resnet{D}_w{W}.pth go')
    parser.add_argument(
        '--prefix',
        help='backbone key prefix in the source (detected when omitted)')
    parser.add_argument(
        '--source',
        choices=['online', 'target'],
        help='for DSPNet checkpoints: the online backbone (default when '
        'detecting) or the momentum teacher')
    parser.add_argument(
        '--depth', type=int, help='refuse a checkpoint of another depth')
    parser.add_argument(
        '--config',
        help='training config; required for universal-mode checkpoints, '
        'whose BN statistics are recalibrated per width on its train data')
    parser.add_argument(
        '--recalib-batches',
        type=int,
        default=20,
        help='batches per width for BN recalibration (universal mode)')
    parser.add_argument(
        '--quiet', action='store_true', help='do not print the overrides')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    filter_upstream_warnings()
    args = parse_args(argv)
    widths = 'all' if args.widths == ['all'] else args.widths
    start = time.perf_counter()
    try:
        results = export_widths(
            args.checkpoint,
            widths,
            args.out_dir,
            prefix=args.prefix,
            source=args.source,
            depth=args.depth,
            config=args.config,
            recalib_batches=args.recalib_batches)
    except ExportError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    for res in results:
        meta = res['meta']
        print(f'width {meta["width"]}: {res["path"]}  '
              f'(ResNet-{meta["depth"]}, base/stem channels '
              f'{meta["base_channels"]}, {meta["params"] / 1e6:.2f}M '
              f'params, {meta["flops"] / 1e9:.2f}G FLOPs)')
        if not args.quiet:
            for name, opts in downstream_overrides(meta, res['path']).items():
                print(f'  {name} --cfg-options {" ".join(opts)}')
    print(f'exported {len(results)} width(s) in '
          f'{time.perf_counter() - start:.1f}s')
    return 0


if __name__ == '__main__':
    sys.exit(main())
