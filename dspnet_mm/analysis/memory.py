"""Peak memory of one training step, one fresh process per measurement.

RSS above the start of a process forked from a fork server that has run no
torch op (``VmHWM``, reset through ``/proc/self/clear_refs``): a slimmable
step against the static ResNet's, and one P2 iteration of DSPNet against
each BYOL twin.
"""
import multiprocessing as mp
import os.path as osp
from dataclasses import dataclass

import torch

from .counting import static_resnet
from .options import WIDTHS, SpeedOptions
from .p2 import synthetic_batch
from .timing import load, quiet_logs

__all__ = ['part_memory']


def _status_kb(key: str) -> int:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(key + ':'):
                return int(line.split()[1])
    return -1


def _reset_peak() -> bool:
    try:  # Linux >= 4.0: "5" resets VmHWM to the current RSS
        with open('/proc/self/clear_refs', 'w') as f:
            f.write('5')
        return True
    except OSError:
        return False


@dataclass
class MemoryJob:
    """One measurement.

    Args:
        kind (str): ``slim`` / ``static`` (a ResNet step with SGD) or
            ``dspnet`` / ``byol`` (a P2 iteration of ``model_cfg``).
        depth (int): of the ResNet.
        width (float): of the ResNet.
        batch (int): images per step.
        px (int): image size.
        model_cfg (dict, optional): ``model`` and ``optim_wrapper`` configs.
    """
    kind: str
    depth: int = 0
    width: float = 0.
    batch: int = 8
    px: int = 112
    model_cfg: dict = None


def _memory_child(job: MemoryJob) -> dict:
    """Runs in a fresh forked process: peak RSS above the start of one
    training step (model, gradients, optimizer state, activations)."""
    kind, depth, width = job.kind, job.depth, job.width
    batch, px, model_cfg = job.batch, job.px, job.model_cfg
    torch.set_num_threads(1)
    torch.manual_seed(0)
    quiet_logs()
    reset = _reset_peak()
    rss0 = _status_kb('VmRSS')
    if kind in ('slim', 'static'):
        from .. import SlimmableResNet, set_width
        if kind == 'slim':
            model = SlimmableResNet(depth)
            set_width(model, width)
        else:
            model = static_resnet(depth, width)
        model.train()
        opt = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        x = torch.randn(batch, 3, px, px)
        built = _status_kb('VmRSS')
        model(x)[-1].mean().backward()
        opt.step()
    else:  # 'dspnet' / 'byol' iteration with the P2 optimizer
        from mmengine.optim import build_optim_wrapper
        from mmengine.registry import init_default_scope
        from mmpretrain.registry import MODELS
        init_default_scope('mmpretrain')
        model = MODELS.build(model_cfg['model'])
        wrapper = build_optim_wrapper(model, model_cfg['optim_wrapper'])
        data = synthetic_batch(batch, px)
        built = _status_kb('VmRSS')
        model.train_step(data, wrapper)
    peak = _status_kb('VmHWM')
    return dict(
        model_mb=(built - rss0) / 1024,
        peak_mb=(peak - rss0) / 1024,
        reset=reset)


def _fork_server():
    ctx = mp.get_context('forkserver')
    # imports only: a process that ran no torch op has no OpenMP threads,
    # so forking it is safe and each child starts in milliseconds
    ctx.set_forkserver_preload(
        ['torch', 'mmengine.optim', 'mmpretrain.models', 'dspnet_mm'])
    return ctx


def part_memory(args: SpeedOptions, p2_cfgs=None) -> None:
    if not osp.exists('/proc/self/status'):
        print('\nmemory: skipped (no /proc/self/status)')
        return
    ctx = _fork_server()

    def run(*a, **kw):
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            return pool.apply(_memory_child, (MemoryJob(*a, **kw), ))

    depth, batch, px = args.p1_depths[0], args.p1_batch, args.p1_px
    print(f'\n## Peak memory of one training step (fwd + bwd + SGD momentum '
          f'step), ResNet-{depth}, batch {batch} @ {px} px: RSS above the '
          'start of a fresh forked process (VmHWM); load ' + load())
    print('width   slim: model MB  peak MB   static: model MB  peak MB   '
          'peak ratio')
    for w in WIDTHS:
        s = run('slim', depth, w, batch, px)
        t = run('static', depth, w, batch, px)
        print(f'{w:<5}   {s["model_mb"]:14.0f}  {s["peak_mb"]:7.0f}   '
              f'{t["model_mb"]:16.0f}  {t["peak_mb"]:7.0f}   '
              f'{s["peak_mb"] / t["peak_mb"]:10.2f}')
    if not s['reset']:
        print('(VmHWM could not be reset: peaks include the process start)')
    if p2_cfgs is None:
        return
    b, p = args.p2_batch, args.p2_px
    print(f'\nPeak memory of one P2 iteration (batch {b} @ {p} px, two '
          'views, LARS): RSS above the start of a fresh forked process')
    d = run('dspnet', 0, 0, b, p, model_cfg=p2_cfgs['dspnet'])
    print(f'DSPNet (all widths)  model {d["model_mb"]:6.0f} MB  peak '
          f'{d["peak_mb"]:6.0f} MB')
    for w in WIDTHS:
        r = run('byol', 0, 0, b, p, model_cfg=p2_cfgs[w])
        print(f'BYOL w{w:<4}            model {r["model_mb"]:6.0f} MB  peak '
              f'{r["peak_mb"]:6.0f} MB')
