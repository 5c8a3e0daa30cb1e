"""The evidence table: DSPNet's widths against random init and one-by-one
pretraining, kNN (k=20, 200) and linear probe, seeds, spread and cost.

Example (the table in configs/dspnet/README.md):
    python tools/analysis/evidence_table.py --data-root data/imagenette-64 \
        --dspnet work_dirs/ev/dspnet_s0/iter_3000.pth \
                 work_dirs/ev/dspnet_s1/iter_3000.pth \
        --byol work_dirs/ev/byol_w*_s*/iter_3000.pth \
        --random-seeds 0 1 --out-dir work_dirs/evidence

Writes ``<out-dir>/evidence.md`` (the tables, headed by this command),
``evidence.json`` (every record and the statistics) and ``evidence.png``,
and prints the tables. Results per network are cached in ``<out-dir>/cache``
(keyed by checkpoint content, width, data and protocol): add checkpoints as
they finish and rerun. See :mod:`dspnet_mm.evaluation.evidence`.
"""
import argparse
import os.path as osp
import shlex
import sys

import torch

from dspnet_mm.evaluation.evidence import (EvidenceError, build_evidence,
                                           write_evidence)
from dspnet_mm.utils.quiet import filter_upstream_warnings


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument(
        '--data-root',
        required=True,
        help='ImageNet-style root (meta/train.txt, meta/val.txt)')
    p.add_argument(
        '--dspnet',
        nargs='*',
        default=[],
        help='DSPNet checkpoints, one per seed')
    p.add_argument(
        '--byol',
        nargs='*',
        default=[],
        help='one-by-one checkpoints (any widths and seeds)')
    p.add_argument(
        '--random-seeds',
        nargs='*',
        type=int,
        default=[0, 1],
        help='seeds of the random-init twins (default: 0 1)')
    p.add_argument(
        '--widths',
        nargs='+',
        type=float,
        help='widths to show (default: the DSPNet widths)')
    p.add_argument('--out-dir', default='work_dirs/evidence')
    p.add_argument(
        '--threads',
        type=int,
        default=1,
        help='torch threads (1: bit-reproducible numbers)')
    return p.parse_args(argv)


def main(argv=None):
    filter_upstream_warnings()
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    argv = sys.argv[1:] if argv is None else argv
    command = ' '.join(['python tools/analysis/evidence_table.py'] +
                       [shlex.quote(a) for a in argv])
    try:
        records = build_evidence(
            args.data_root,
            args.out_dir,
            dspnet=args.dspnet,
            byol=args.byol,
            random_seeds=args.random_seeds,
            widths=args.widths)
    except EvidenceError as e:
        raise SystemExit(f'error: {e}')
    summary, text = write_evidence(records, args.out_dir, command)
    print(text)
    print(f'written: {osp.join(args.out_dir, "evidence.md")}, '
          'evidence.json, evidence.png')
    return summary


if __name__ == '__main__':
    main()
