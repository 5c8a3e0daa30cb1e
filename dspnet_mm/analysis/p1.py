"""P1: a SlimmableResNet at each width against the static ResNet of that
width, and their params and FLOPs.

* ``part_p1``: forward+backward (train mode) and forward (eval mode, no
  grad) of ``SlimmableResNet(depth)`` switched to each width against
  ``mmpretrain.models.ResNet(depth, base_channels=64w, stem_channels=64w)``
  on the same input. Target: ratio <= 1.05. For the depths in
  ``p1_before``, the supernet with the plain weight view everywhere (no
  evaluation slice cache) is timed in the same interleaving.
* ``part_fixed_cost``: what the train-mode gap of a narrow width is made
  of (the same step with and without conv weight gradients).
* ``part_complexity`` (``cx``): params and FLOPs per width of the switched
  supernet against the static ResNet; they must be equal.
"""
from typing import Callable, List

import torch

from ..models.layers import SlimmableConv2d
from .counting import active_param_count, flop_count, static_resnet
from .options import P1_TARGET, WIDTHS, SpeedOptions
from .timing import interleaved, load

__all__ = ['part_complexity', 'part_fixed_cost', 'part_p1', 'plain_slicing']


def _plain_slicing(conv, out: int, cin: int) -> torch.Tensor:
    """The plain view at every call (no evaluation slice cache)."""
    weight = conv.weight
    if out == weight.shape[0] and cin == weight.shape[1]:
        return weight
    return weight[:out, :cin]


def plain_slicing(fn: Callable[[], None]) -> Callable[[], None]:
    """``fn`` with every slimmable conv taking the plain weight view."""

    def run():
        fast = SlimmableConv2d._sliced_weight
        SlimmableConv2d._sliced_weight = _plain_slicing
        try:
            fn()
        finally:
            SlimmableConv2d._sliced_weight = fast

    return run


def part_p1(args: SpeedOptions) -> List[dict]:
    from .. import SlimmableResNet, set_width
    rows = []
    for depth in args.p1_depths:
        before = depth in args.p1_before
        print(f'\n## P1  SlimmableResNet-{depth} vs ResNet-{depth}'
              f'(base=stem=64w): batch {args.p1_batch} @ {args.p1_px} px, '
              f'{args.reps} interleaved reps, medians of CPU ms; load '
              f'{load()}' + ('; "before" = the same supernet with the plain '
                             'weight view everywhere (no evaluation slice '
                             'cache)' if before else ''))
        print('width  mode   slim ms  static ms   ratio(cpu)  ratio(wall)'
              '  target' + ('   before ms  ratio' if before else ''))
        torch.manual_seed(0)
        slim = SlimmableResNet(depth)
        x = torch.randn(args.p1_batch, 3, args.p1_px, args.p1_px)

        def train_step(m):
            m.zero_grad(set_to_none=True)
            m(x)[-1].mean().backward()

        def eval_step(m):
            with torch.no_grad():
                m(x)

        for w in WIDTHS:
            set_width(slim, w)
            static = static_resnet(depth, w)
            for mode, step in (('train', train_step), ('eval', eval_step)):
                # one mode switch, outside the timed calls (as a training
                # or validation loop does it once per epoch)
                slim.train(mode == 'train')
                static.train(mode == 'train')
                fns = dict(
                    slim=lambda m=slim, f=step: f(m),
                    static=lambda m=static, f=step: f(m))
                if before:
                    fns['before'] = plain_slicing(fns['slim'])
                res = interleaved(fns, args.reps)
                ratio = res['slim']['cpu'] / res['static']['cpu']
                wall = res['slim']['wall'] / res['static']['wall']
                ok = ratio <= P1_TARGET
                rows.append(
                    dict(depth=depth, width=w, mode=mode, ratio=ratio, ok=ok))
                line = (f'{w:<5}  {mode:<5} {res["slim"]["cpu"] * 1e3:8.1f} '
                        f'{res["static"]["cpu"] * 1e3:10.1f}   {ratio:9.3f}  '
                        f'{wall:11.3f}  {"met   " if ok else "MISSED"}')
                if before:
                    old = res['before']['cpu']
                    line += (f'  {old * 1e3:10.1f}  '
                             f'{old / res["static"]["cpu"]:.3f}')
                print(line)
        set_width(slim, 1.0)
        del slim
    return rows


def part_fixed_cost(args: SpeedOptions) -> None:
    """What the train-mode gap of a narrow width is made of: the same step
    with and without conv weight gradients."""
    from .. import SlimmableResNet, set_width
    depth, w = args.p1_depths[0], WIDTHS[0]
    slim = SlimmableResNet(depth)
    set_width(slim, w)
    static = static_resnet(depth, w)
    x = torch.randn(args.p1_batch, 3, args.p1_px, args.p1_px)
    convs = [p for m in (slim, static) for p in m.parameters() if p.dim() == 4]
    out = {}
    for flag in (True, False):
        for p in convs:
            p.requires_grad_(flag)

        def step(m):
            m.zero_grad(set_to_none=True)
            m(x)[-1].mean().backward()

        res = interleaved(
            dict(slim=lambda: step(slim), static=lambda: step(static)),
            args.reps)
        out[flag] = res['slim']['cpu'] - res['static']['cpu']
    for p in convs:
        p.requires_grad_(True)
    full = sum(p.numel() for p in slim.parameters() if p.dim() == 4)
    print(f'\nP1 gap at width {w}, ResNet-{depth}, train: '
          f'{out[True] * 1e3:.1f} ms CPU per step with conv weight '
          f'gradients, {out[False] * 1e3:.1f} ms without them. The '
          f'difference is the full-size gradient ({full * 4 / 1e6:.0f} MB '
          'of conv weights zero-filled and written per step, first-touch '
          'page faults included): autograd gives a shared parameter a '
          'gradient of its full shape. A fixed cost per step: its share '
          'falls with batch x pixels.')


# ----------------------------------------------------------------------- CX
def part_complexity(args: SpeedOptions) -> bool:
    from mmengine.analysis import parameter_count

    from .. import SlimmableResNet, set_width
    px = args.cx_px
    all_ok = True
    for depth in args.p1_depths:
        print(f'\n## Params and FLOPs per width, ResNet-{depth} @ {px} px '
              "(mmengine FlopAnalyzer; params: static = mmengine "
              'parameter_count, slim = parameters its forward reads)')
        print('width  params slim  params static   GFLOPs slim  '
              'GFLOPs static  equal')
        slim = SlimmableResNet(depth)
        slim.eval()
        x = torch.randn(1, 3, px, px)
        for w in WIDTHS:
            set_width(slim, w)
            static = static_resnet(depth, w)
            static.eval()
            p_slim = active_param_count(slim, x)
            p_static = parameter_count(static)['']
            f_slim = flop_count(slim, (x, ))
            f_static = flop_count(static, (x, ))
            ok = p_slim == p_static and f_slim == f_static
            all_ok &= ok
            print(f'{w:<5}  {p_slim:11d}  {p_static:13d}   '
                  f'{f_slim / 1e9:11.4f}  {f_static / 1e9:13.4f}  '
                  f'{"yes" if ok else "NO"}')
        set_width(slim, 1.0)
    return all_ok
