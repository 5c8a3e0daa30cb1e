"""Feature spectrum of DSPNet's widths and their random-init twins: the share
of variance on the top principal components, and kNN with them removed.

A diagnostic for a kNN that lags the linear probe (configs/dspnet/README.md,
"Why kNN lags at the wide widths"). Example (the demo's seed-0 run):
    python tools/analysis/feature_spectrum.py --data-root data/demo/cls \
        --dspnet work_dirs/demo/seed0/pretrain/iter_600.pth \
        --random-seeds 0 --out-dir work_dirs/spectrum

Exports the widths like tools/analysis/evidence_table.py (into
``<out-dir>/slim``), prints a markdown table and writes it with the records
to ``<out-dir>/spectrum.md`` and ``spectrum.json``. See
:mod:`dspnet_mm.evaluation.spectrum`.
"""
import argparse
import json
import os
import os.path as osp
import shlex
import sys

import torch

from dspnet_mm.utils.quiet import filter_upstream_warnings


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument(
        '--data-root',
        required=True,
        help='ImageNet-style root (meta/train.txt, meta/val.txt)')
    p.add_argument(
        '--dspnet', nargs='*', default=[], help='DSPNet checkpoints')
    p.add_argument(
        '--random-seeds',
        nargs='*',
        type=int,
        default=[0],
        help='seeds of the random-init twins (default: 0)')
    p.add_argument(
        '--widths',
        nargs='+',
        type=float,
        help='widths (default: those the DSPNet checkpoints trained)')
    p.add_argument(
        '--drops',
        nargs='+',
        type=int,
        default=[0, 1, 4],
        help='numbers of top components to remove before kNN')
    p.add_argument('--out-dir', default='work_dirs/spectrum')
    args = p.parse_args(argv)
    if min(args.drops) < 0:
        p.error('--drops must be >= 0')
    return args


def main(argv=None) -> int:
    filter_upstream_warnings()
    args = parse_args(argv)
    torch.set_num_threads(1)
    from dspnet_mm.evaluation.evidence import (LABELS, EvidenceError,
                                               _random_twin, _split,
                                               network_plan)
    from dspnet_mm.evaluation.exported import build_exported_resnet
    from dspnet_mm.evaluation.knn import extract_features
    from dspnet_mm.evaluation.spectrum import format_spectrum, spectrum
    from dspnet_mm.utils.atomic import atomic_write
    try:
        train, val = _split(args.data_root,
                            'train'), _split(args.data_root, 'val')
        nets, depth = network_plan(args.out_dir, args.dspnet, (),
                                   args.random_seeds, args.widths)
    except EvidenceError as e:
        print(f'error: {e}', file=sys.stderr)
        return 1
    drops = sorted(set(args.drops))
    records = []
    for kind, ckpt, _, emeta, path, meta in nets:
        w, seed = emeta['width'], meta.get('seed')
        print(f'{LABELS[kind]} w{w} seed {seed} ...', flush=True)
        net = (
            build_exported_resnet(path)[0] if path else _random_twin(
                depth, w, seed, args.data_root, 128))
        tx, ty = extract_features(net, train, batch_size=128)
        vx, vy = extract_features(net, val, batch_size=128)
        records.append(
            dict(
                kind=LABELS[kind],
                width=w,
                seed=seed,
                checkpoint=ckpt,
                **spectrum(tx, ty, vx, vy, drops=drops)))
    command = 'python tools/analysis/feature_spectrum.py ' + ' '.join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv))
    table = format_spectrum(records, command)
    print(table)
    os.makedirs(args.out_dir, exist_ok=True)
    atomic_write(table, osp.join(args.out_dir, 'spectrum.md'))
    atomic_write(
        json.dumps(dict(command=command, records=records), indent=1),
        osp.join(args.out_dir, 'spectrum.json'))
    return 0


if __name__ == '__main__':
    sys.exit(main())
