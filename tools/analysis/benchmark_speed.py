"""Speed, FLOPs and memory of slimmable training against the static networks it
replaces, measured side by side in one process.

Parts (``--parts``, default all):

* ``p1``: SlimmableResNet-50 / -18 switched to each width, forward+backward
  (train mode) and forward (eval mode, no grad), against a stock
  ``mmpretrain.models.ResNet(depth, base_channels=64w, stem_channels=64w)``
  on the same input. Target: ratio <= 1.05 at every width in both modes.
  For the depths in ``--p1-before``, the same supernet with the plain
  weight view everywhere (no evaluation slice cache) is timed in the same
  interleaving.
* ``cx``: params and FLOPs per width from mmengine's complexity analysis of
  the switched supernet against the static ResNet; they must be equal.
* ``mem``: peak RSS of one training step per width (one fresh forked process
  per measurement, from a fork server that has run no torch op).
* ``p2``: one DSPNet training iteration over all widths against the sum of
  one mmpretrain ``BYOL`` iteration per width (plain ResNet of base/stem 64w,
  same projector and predictor, same batch and views), then a short "epoch"
  (10 iterations each, demo data, demo two-view pipeline, data loading in
  the timed loop), next to the ratio that FLOPs predict. Target: epoch ratio
  <= 0.85. A profile says what bounds it when it misses, and P2 runs again
  in a child process with glibc's malloc thresholds raised, to show the
  share of first-touch page faults.
* ``p3``: the GPU path (AMP + channels_last, batch >= 64): images/s and
  ``torch.cuda.max_memory_allocated`` of a DSPNet-R50 step against BYOL-R50
  steps; skipped without CUDA.
* ``p4``: export of all four widths of a ResNet-50 DSPNet checkpoint with
  ``dspnet_mm.slim.export_widths`` (cold complexity cache). Target: < 10 s.

Timing: every compared callable runs in the same process, repetitions are
interleaved (the order rotates each repetition) and the median is taken.
The ratios use process CPU time (``time.process_time``, user + system of
this process), which other jobs on a shared machine disturb much less than
wall time; wall-time ratios are printed beside them. Torch runs on
``--threads`` threads (default 1: on a 2-core machine shared with other
jobs, 2 OpenMP threads that get descheduled make every op wait).

Example:
    python tools/analysis/benchmark_speed.py                 # ~4 min, 2 cores
    python tools/analysis/benchmark_speed.py --parts p1 --reps 9
    python tools/analysis/benchmark_speed.py --parts p3      # on a GPU box
"""
import argparse
import sys

from dspnet_mm.analysis import SpeedOptions, run_speed_benchmark
from dspnet_mm.utils.quiet import filter_upstream_warnings


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--parts',
        default='p1,cx,mem,p2,p3,p4',
        help='comma-separated subset of p1,cx,mem,p2,p3,p4')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument(
        '--reps',
        type=int,
        default=7,
        help='interleaved repetitions per P1 measurement')
    parser.add_argument('--p1-depths', type=int, nargs='+', default=[50, 18])
    parser.add_argument(
        '--p1-before',
        type=int,
        nargs='*',
        default=[50],
        help='depths that also time the plain weight view '
        '(no evaluation slice cache)')
    parser.add_argument('--p1-batch', type=int, default=8)
    parser.add_argument('--p1-px', type=int, default=112)
    parser.add_argument('--cx-px', type=int, default=224)
    parser.add_argument('--p2-batch', type=int, default=32)
    parser.add_argument(
        '--p2-px', type=int, default=32, help='demo pipeline crop size')
    parser.add_argument('--p2-reps', type=int, default=5)
    parser.add_argument('--p2-iters', type=int, default=10)
    parser.add_argument('--data-root', default='data/demo')
    parser.add_argument(
        '--profile',
        action='store_true',
        help='print the P2 profile even if the target is met')
    parser.add_argument(
        '--p2-no-profile',
        action='store_true',
        help='never print the P2 profile')
    parser.add_argument(
        '--p2-malloc',
        choices=['compare', 'off'],
        default='compare',
        help='compare: run P2 again in a child with glibc malloc '
        'thresholds raised')
    parser.add_argument(
        '--p3-device',
        default='cuda',
        help='cpu runs the P3 code path as a smoke test')
    parser.add_argument('--p3-batch', type=int, default=64)
    parser.add_argument('--p3-px', type=int, default=224)
    parser.add_argument('--p3-warmup', type=int, default=3)
    parser.add_argument('--p3-steps', type=int, default=10)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    filter_upstream_warnings()
    run_speed_benchmark(SpeedOptions(**vars(parse_args(argv))))
    return 0


if __name__ == '__main__':
    sys.exit(main())
