"""Weighted kNN accuracy (train -> val) of exported widths.

Each checkpoint is a ``resnet{D}_w{W}.pth`` written by
``tools/slim_checkpoint.py``; the stock mmpretrain ResNet is built from its
meta and loaded strictly. The data root is ImageNet-style:
``<root>/{train,val}/...`` with ``meta/train.txt`` and ``meta/val.txt``.

Examples:
    # every width of one DSPNet run on ImageNet (short edge 256, crop 224)
    python tools/knn_eval.py work_dirs/dspnet/slim/resnet50_w*.pth \
        --data-root data/imagenet --out work_dirs/dspnet/knn.json
    # the 64 px demo data, images as they are
    python tools/knn_eval.py slim/resnet18_w1.0.pth --data-root \
        data/demo/cls --resize 0 --crop 0
"""
import argparse
import json
import os
import os.path as osp
import sys
import time

from dspnet_mm.evaluation import imagenet_style_dataset, knn_eval
from dspnet_mm.slim.transfer import TransferError
from dspnet_mm.utils.quiet import filter_upstream_warnings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Weighted kNN (cosine, exp(sim/T) votes) of exported '
        'widths on an ImageNet-style dataset.')
    parser.add_argument(
        'checkpoints', nargs='+', help='exported widths (resnet*_w*.pth)')
    parser.add_argument(
        '--data-root', required=True, help='ImageNet-style dataset root')
    parser.add_argument('--train-ann', default='meta/train.txt')
    parser.add_argument('--val-ann', default='meta/val.txt')
    parser.add_argument('--train-prefix', default='train')
    parser.add_argument('--val-prefix', default='val')
    parser.add_argument(
        '--k',
        type=int,
        nargs='+',
        default=[20],
        help='neighbours (several values share one feature pass)')
    parser.add_argument('--temperature', type=float, default=0.07)
    parser.add_argument(
        '--resize',
        type=int,
        default=256,
        help='short edge before the centre crop; 0: no resize')
    parser.add_argument(
        '--crop', type=int, default=224, help='centre crop; 0: no crop')
    parser.add_argument('--batch-size', type=int, default=64)
    parser.add_argument('--num-workers', type=int, default=4)
    parser.add_argument(
        '--device', help='cuda or cpu (default: cuda when available)')
    parser.add_argument('--out', help='write the results to this json file')
    return parser.parse_args(argv)


def main(argv=None) -> int:
    filter_upstream_warnings()
    args = parse_args(argv)
    for name in (args.train_ann, args.val_ann):
        if not osp.isfile(osp.join(args.data_root, name)):
            print(
                f'error: {osp.join(args.data_root, name)} not found (an '
                'ImageNet-style root has meta/train.txt and meta/val.txt; '
                'for the demo data run tools/generate_demo_data.py)',
                file=sys.stderr)
            return 1
    data = {
        split:
        imagenet_style_dataset(
            args.data_root,
            split,
            ann_file=ann,
            data_prefix=prefix,
            resize=args.resize,
            crop=args.crop)
        for split, ann, prefix in (('train', args.train_ann,
                                    args.train_prefix), ('val', args.val_ann,
                                                         args.val_prefix))
    }
    records = []
    for ckpt in args.checkpoints:
        start = time.perf_counter()
        try:
            rec = knn_eval(
                ckpt,
                data['train'],
                data['val'],
                k=args.k,
                temperature=args.temperature,
                batch_size=args.batch_size,
                num_workers=args.num_workers,
                device=args.device)
        except (TransferError, FileNotFoundError, RuntimeError) as e:
            print(f'error: {ckpt}: {e}', file=sys.stderr)
            return 1
        rec['seconds'] = round(time.perf_counter() - start, 1)
        records.append(rec)
        for res in rec['results']:
            top5 = f'  top-5 {res["top5"]:.2f}' if 'top5' in res else ''
            print(f'ResNet-{rec["depth"]} width {rec["width"]}  k={res["k"]}'
                  f'  T={rec["temperature"]}  top-1 {res["top1"]:.2f}{top5}'
                  f'  ({rec["num_train"]} -> {rec["num_val"]} images, '
                  f'{rec["seconds"]}s)')
    if args.out:
        os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
        with open(args.out, 'w') as f:
            json.dump(
                dict(
                    data_root=args.data_root,
                    resize=args.resize,
                    crop=args.crop,
                    widths=records),
                f,
                indent=2)
    return 0


if __name__ == '__main__':
    sys.exit(main())
