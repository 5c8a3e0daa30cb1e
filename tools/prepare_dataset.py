"""Turn class-folder photos into the ImageNet-style root our configs read.

Deterministic and safe to re-run; unreadable images are skipped, named and
counted (``--strict`` refuses them). See
:mod:`dspnet_mm.datasets.prepare` for the layout and the choices.

Examples:
    # Imagenette (https://github.com/fastai/imagenette) at 64 x 64
    python tools/prepare_dataset.py imagenette2-320 data/imagenette-64 \
        --short-side 64 --crop 64
    # one folder of class folders, 30 % of each class held out for val
    python tools/prepare_dataset.py my_photos data/my_photos \
        --val-fraction 0.3 --seed 0 --short-side 128
"""
import argparse
import os.path as osp
import sys
import time

from dspnet_mm.datasets.prepare import (PrepareError, config_overrides,
                                        prepare_dataset)

# warnings printed one by one; the rest are in the manifest
_MAX_WARNINGS = 20


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Write an ImageNet-style root (train/, val/, '
        'meta/{train,val,classes}.txt, classes.txt) from class folders.')
    parser.add_argument(
        'source',
        help='<source>/{train,val}/<class>/<image>, or with --val-fraction '
        '<source>/<class>/<image>')
    parser.add_argument('out', help='output root (replaced as a whole)')
    parser.add_argument(
        '--short-side',
        type=int,
        default=0,
        help='resize (Lanczos) so the short side has N px (default: keep)')
    parser.add_argument(
        '--crop',
        type=int,
        default=0,
        help='centre crop to N x N px after the resize (default: none)')
    parser.add_argument(
        '--quality',
        type=int,
        default=90,
        help='JPEG quality of re-encoded images (default: 90)')
    parser.add_argument(
        '--reencode',
        action='store_true',
        help='re-encode as RGB JPEG without resizing (default: images are '
        'copied byte for byte unless --short-side or --crop is given)')
    parser.add_argument(
        '--val-fraction',
        type=float,
        help='split a single class-folder root: this fraction of each '
        'class goes to val')
    parser.add_argument(
        '--seed', type=int, default=0, help='seed of the --val-fraction split')
    parser.add_argument(
        '--strict',
        action='store_true',
        help='refuse an unreadable image (default: skip and count it)')
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace OUT even if it is a non-empty directory this tool did '
        'not write')
    parser.add_argument(
        '--class-names',
        help='"<class> <readable name>" lines (e.g. ImageNet\'s '
        'LOC_synset_mapping.txt), written as meta/class_names.txt')
    parser.add_argument(
        '--workers',
        type=int,
        default=1,
        help='decoding processes (the output does not depend on it)')
    parser.add_argument(
        '--quiet', action='store_true', help='no progress lines')
    return parser.parse_args(argv)


def _progress(done, total):
    step = max(1000, total // 10)
    if done % step == 0 or done == total:
        print(f'  {done}/{total} images', file=sys.stderr, flush=True)


def main(argv=None) -> int:
    args = parse_args(argv)
    start = time.perf_counter()
    try:
        manifest = prepare_dataset(
            args.source,
            args.out,
            short_side=args.short_side,
            crop=args.crop,
            quality=args.quality,
            reencode=args.reencode,
            val_fraction=args.val_fraction,
            seed=args.seed,
            strict=args.strict,
            overwrite=args.overwrite,
            class_names=args.class_names,
            workers=args.workers,
            progress=None if args.quiet else _progress)
    except PrepareError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    skipped = manifest['skipped']
    for path, reason in skipped[:_MAX_WARNINGS]:
        print(
            f'warning: skipped unreadable image {path}: {reason}',
            file=sys.stderr)
    if len(skipped) > _MAX_WARNINGS:
        print(
            f'warning: ... and {len(skipped) - _MAX_WARNINGS} more '
            '(all listed in manifest.json)',
            file=sys.stderr)
    for path in manifest['stale']:
        print(
            f'warning: {path} is left from an interrupted (or concurrent) '
            'run; delete it once no run is writing there',
            file=sys.stderr)

    out = osp.abspath(args.out)
    opts = manifest['options']
    counts = manifest['counts']
    if opts['reencode']:
        how = (f'JPEG quality {opts["quality"]}, short side '
               f'{opts["short_side"] or "kept"}, centre crop '
               f'{opts["crop"] or "none"}')
        if manifest['converted']:
            how += ', converted to RGB: ' + ', '.join(
                f'{n} {mode}' for mode, n in manifest['converted'].items())
        if manifest['upscaled']:
            how += f', upscaled: {manifest["upscaled"]}'
    else:
        how = 'copied unchanged'
    split = ('train/val folders of the source' if opts['val_fraction'] is None
             else f'val fraction {opts["val_fraction"]}, seed {opts["seed"]}')
    num_classes = len(manifest['classes'])
    print(f'prepared {out} from {manifest["source"]} in '
          f'{time.perf_counter() - start:.1f}s')
    print(f'  classes: {num_classes}; train: {counts["train"]} images, val: '
          f'{counts["val"]} images ({split})')
    print(f'  skipped unreadable: {len(skipped)}; ignored non-image '
          f'entries: {manifest["ignored"]}')
    print(f'  images: {how}')
    overrides = config_overrides(out, num_classes)
    print('use it with:')
    print('  pretraining configs: --cfg-options ' +
          ' '.join(overrides['pretrain']))
    print('  linear / fine-tune configs: --cfg-options ' +
          ' '.join(overrides['classification']))
    if opts['crop']:
        knn = ' --resize 0 --crop 0'
    elif opts['short_side']:
        knn = f' --resize 0 --crop {opts["short_side"]}'
    else:
        knn = ''
    print(f'  python tools/knn_eval.py CHECKPOINTS --data-root {out}{knn}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
