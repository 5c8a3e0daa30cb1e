"""Speed, FLOPs and memory of slimmable training against the static networks
it replaces, measured side by side in one process.

Parts (``--parts``, default all):

* ``p1``: SlimmableResNet-50 / -18 switched to each width, forward+backward
  (train mode) and forward (eval mode, no grad), against a stock
  ``mmpretrain.models.ResNet(depth, base_channels=64w, stem_channels=64w)``
  on the same input. Target: ratio <= 1.05 at every width in both modes.
  For the depths in ``--p1-before``, the same supernet with plain strided
  weight slicing (the implementation before the dense-slice paths of
  ``SlimmableConv2d``) is timed in the same interleaving.
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
import copy
import datetime
import glob
import multiprocessing as mp
import os
import os.path as osp
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from typing import Callable, Dict, List

import torch
import torch.nn as nn

# Runs from a checkout without `pip install -e .` as well.
REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO_ROOT)

WIDTHS = (0.25, 0.5, 0.75, 1.0)
# the demo DSPNet config and its one-by-one BYOL baselines (the iteration
# count is in their names: glob them)
DEMO_CFG = ('configs/dspnet/'
            'dspnet_slimmable-resnet18_1xb16-lars-*_demo-cls.py')
BYOL_DEMO_CFG = 'configs/byol/byol_resnet18-w{}_1xb16-lars-*_demo-cls.py'
R50_CFG = 'configs/dspnet/dspnet_slimmable-resnet50_16xb256-coslr-300e_in1k.py'
P1_TARGET, P2_TARGET, P4_TARGET = 1.05, 0.85, 10.0


# ------------------------------------------------------------------ helpers
def quiet() -> None:
    """Silence mmengine's per-op / per-parameter log lines and set the
    ``max_iters`` that mmpretrain's ``CosineEMA`` reads from the message hub
    (a Runner would set it)."""
    import warnings

    from mmengine.logging import MessageHub, MMLogger
    MMLogger.get_instance('benchmark_speed', log_level='ERROR')
    MessageHub.get_instance('benchmark_speed').update_info('max_iters', 1000)
    warnings.filterwarnings('ignore', message=".*'alpha' for pillow")


def load() -> str:
    return '/'.join(f'{x:.2f}' for x in os.getloadavg())


def cpu_model() -> str:
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or 'unknown'


def git_rev() -> str:
    try:
        rev = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'],
                             cwd=REPO_ROOT, capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--',
                                'dspnet_mm'], cwd=REPO_ROOT,
                               capture_output=True, text=True,
                               timeout=10).stdout.strip()
        return rev + (' (dspnet_mm modified)' if dirty else '')
    except (OSError, subprocess.SubprocessError):
        return 'unknown'


def interleaved(fns: Dict[str, Callable[[], None]], reps: int,
                warmup: int = 1) -> Dict[str, Dict[str, float]]:
    """Median CPU and wall seconds of each callable, repetitions interleaved
    (the order rotates every repetition so no callable always runs first)."""
    names = list(fns)
    for name in names:
        for _ in range(warmup):
            fns[name]()
    cpu = {n: [] for n in names}
    wall = {n: [] for n in names}
    for r in range(reps):
        k = r % len(names)
        for name in names[k:] + names[:k]:
            c0, w0 = time.process_time(), time.perf_counter()
            fns[name]()
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
    return {
        n: dict(cpu=statistics.median(cpu[n]), wall=statistics.median(wall[n]))
        for n in names
    }


def static_resnet(depth: int, width: float, **kwargs):
    from mmpretrain.models import ResNet
    base = round(64 * width)
    return ResNet(depth, base_channels=base, stem_channels=base, **kwargs)


def flop_count(model: nn.Module, inputs: tuple) -> int:
    """Forward FLOPs (multiply-adds) from mmengine's jit-trace analysis."""
    from mmengine.analysis import FlopAnalyzer
    analyzer = FlopAnalyzer(model, inputs)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    return int(analyzer.total())


def active_param_count(model: nn.Module, x: torch.Tensor) -> int:
    """Parameters that one forward of ``model`` at its current width reads.

    mmengine's ``parameter_count`` counts every tensor of a supernet (all
    widths, all per-width BNs). This counts what the forward uses: the
    slice of every slimmable conv / linear weight (from the shapes it is
    called with) and the parameters of every other module that runs (the
    per-width BN of the active width; the others are not called).
    """
    from dspnet_mm.models.layers import (SlimmableBatchNorm,
                                         SlimmableConv2d, SlimmableLinear)
    used: Dict[int, int] = {}

    def hook(module, args, out):
        x = args[0]
        for name, p in module.named_parameters(recurse=False):
            n = p.numel()
            if isinstance(module, SlimmableConv2d):
                cout, cin = out.shape[1], x.shape[1]
                n = cout * cin * p[0, 0].numel() if name == 'weight' else cout
            elif isinstance(module, SlimmableLinear):
                cout, cin = out.shape[-1], x.shape[-1]
                n = cout * cin if name == 'weight' else cout
            used[id(p)] = max(used.get(id(p), 0), n)
        if isinstance(module, SlimmableBatchNorm):  # sliced shared BN
            bn = module.bn
            for p in (bn.weight, bn.bias):
                if p is not None:
                    used[id(p)] = max(used.get(id(p), 0), x.shape[1])

    handles = [m.register_forward_hook(hook) for m in model.modules()]
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return sum(used.values())


# ----------------------------------------------------------------------- P1
def _plain_slicing(conv, out: int, cin: int) -> torch.Tensor:
    """What ``SlimmableConv2d`` did before its dense-slice paths: the view."""
    weight = conv.weight
    if out == weight.shape[0] and cin == weight.shape[1]:
        return weight
    return weight[:out, :cin]


def _with_plain_slicing(fn: Callable[[], None]) -> Callable[[], None]:
    from dspnet_mm.models.layers import SlimmableConv2d

    def run():
        fast = SlimmableConv2d._sliced_weight
        SlimmableConv2d._sliced_weight = _plain_slicing
        try:
            fn()
        finally:
            SlimmableConv2d._sliced_weight = fast

    return run


def part_p1(args) -> List[dict]:
    from dspnet_mm import SlimmableResNet, set_width
    rows = []
    for depth in args.p1_depths:
        before = depth in args.p1_before
        print(f'\n## P1  SlimmableResNet-{depth} vs ResNet-{depth}'
              f'(base=stem=64w): batch {args.p1_batch} @ {args.p1_px} px, '
              f'{args.reps} interleaved reps, medians of CPU ms; load '
              f'{load()}' + ('; "before" = the same supernet with plain '
                             'strided weight slicing (the implementation '
                             'before the dense-slice paths)' if before else
                             ''))
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
                    slim=lambda: step(slim), static=lambda: step(static))
                if before:
                    fns['before'] = _with_plain_slicing(lambda: step(slim))
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


def part_fixed_cost(args) -> None:
    """What the train-mode gap of a narrow width is made of: the same step
    with and without conv weight gradients."""
    from dspnet_mm import SlimmableResNet, set_width
    depth, w = args.p1_depths[0], WIDTHS[0]
    slim = SlimmableResNet(depth)
    set_width(slim, w)
    static = static_resnet(depth, w)
    x = torch.randn(args.p1_batch, 3, args.p1_px, args.p1_px)
    convs = [
        p for m in (slim, static) for p in m.parameters() if p.dim() == 4
    ]
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
def part_complexity(args) -> bool:
    from mmengine.analysis import parameter_count

    from dspnet_mm import SlimmableResNet, set_width
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


# ---------------------------------------------------------------------- MEM
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


def _memory_child(kind: str, depth: int, width: float, batch: int, px: int,
                  model_cfg=None) -> dict:
    """Runs in a fresh forked process: peak RSS above the start of one
    training step (model, gradients, optimizer state, activations)."""
    torch.set_num_threads(1)
    torch.manual_seed(0)
    quiet()
    reset = _reset_peak()
    rss0 = _status_kb('VmRSS')
    if kind in ('slim', 'static'):
        from dspnet_mm import SlimmableResNet, set_width
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
        data = _synthetic_batch(batch, px)
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


def part_memory(args, p2_cfgs=None) -> None:
    if not osp.exists('/proc/self/status'):
        print('\nmemory: skipped (no /proc/self/status)')
        return
    ctx = _fork_server()

    def run(*a, **kw):
        with ctx.Pool(1, maxtasksperchild=1) as pool:
            return pool.apply(_memory_child, a, kw)

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


# ----------------------------------------------------------------------- P2
def _synthetic_batch(batch: int, px: int, device='cpu') -> dict:
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    views = [
        torch.randint(0, 256, (batch, 3, px, px), generator=g,
                      dtype=torch.uint8).to(device) for _ in range(2)
    ]
    return dict(inputs=views, data_samples=[DataSample()] * batch)


def p2_configs(cfg_path: str, projector: dict, norm1d: str = 'BN1d',
               backbone_norm: str = 'BN') -> Dict:
    """Model + optim-wrapper configs of DSPNet and of the BYOL twin of each
    width (stock mmpretrain BYOL, ResNet of base/stem 64w, the same
    projector / predictor and optimizer)."""
    from mmengine.config import Config
    found = sorted(glob.glob(osp.join(REPO_ROOT, cfg_path)))
    if not found:
        raise FileNotFoundError(f'no config matches {cfg_path}')
    cfg = Config.fromfile(found[-1])
    cfg_path = osp.relpath(found[-1], REPO_ROOT)
    model = copy.deepcopy(cfg.model).to_dict()
    model['backbone']['norm_cfg'] = dict(type=backbone_norm)
    model['neck'].update(projector['neck'], norm_cfg=dict(type=norm1d))
    model['head']['predictor'].update(
        projector['predictor'], norm_cfg=dict(type=norm1d))
    model['data_preprocessor'] = cfg.get(
        'data_preprocessor',
        dict(
            type='SelfSupDataPreprocessor',
            mean=[123.675, 116.28, 103.53],
            std=[58.395, 57.12, 57.375],
            to_rgb=True))
    if not isinstance(model['data_preprocessor'], dict):
        model['data_preprocessor'] = model['data_preprocessor'].to_dict()
    optim = cfg.optim_wrapper.to_dict()
    out = {
        'dspnet': dict(model=model, optim_wrapper=optim),
        'cfg': cfg,
        'path': cfg_path
    }
    depth = model['backbone']['depth']
    last = 512 if depth < 50 else 2048
    for w in WIDTHS:
        base = round(64 * w)
        neck = {
            k: v
            for k, v in model['neck'].items() if k not in ('type', 'widths')
        }
        neck.update(type='NonLinearNeck', in_channels=round(last * w))
        pred = {
            k: v
            for k, v in model['head']['predictor'].items()
            if k not in ('type', 'widths')
        }
        pred.update(type='NonLinearNeck')
        head = dict(model['head'], predictor=pred)
        byol = dict(
            type='BYOL',
            base_momentum=model['base_momentum'],
            backbone=dict(
                type='ResNet',
                depth=depth,
                base_channels=base,
                stem_channels=base,
                norm_cfg=dict(type=backbone_norm),
                zero_init_residual=model['backbone'].get(
                    'zero_init_residual', True)),
            neck=neck,
            head=head,
            data_preprocessor=model['data_preprocessor'])
        out[w] = dict(model=byol, optim_wrapper=optim)
    return out


def check_byol_twins(cfgs: Dict, pattern: str) -> str:
    """Compare the BYOL twins built here with the project's one-by-one
    baseline configs (same projector override applied to both)."""
    from mmengine.config import Config
    same, checked = True, 0
    for w in WIDTHS:
        found = sorted(glob.glob(osp.join(REPO_ROOT, pattern.format(w))))
        if not found:
            continue
        theirs = Config.fromfile(found[-1]).model.to_dict()
        theirs['neck'].update(PROJECTOR_IMAGENET['neck'])
        theirs['head']['predictor'].update(PROJECTOR_IMAGENET['predictor'])
        ours = cfgs[w]['model']
        for key in ('type', 'base_momentum', 'backbone', 'neck', 'head'):
            same &= theirs.get(key) == ours.get(key)
        checked += 1
    if not checked:
        return 'no configs/byol baseline found to compare with'
    return (f'BYOL twins {"==" if same else "DIFFER from"} the {checked} '
            f'baseline configs {pattern.format("*")} (projector override '
            'applied to both)')


def _build(entry: dict, device='cpu'):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    model = MODELS.build(copy.deepcopy(entry['model'])).to(device)
    model.train()
    wrapper = build_optim_wrapper(model, copy.deepcopy(entry['optim_wrapper']))
    return model, wrapper


def _predicted_ratio(cfgs: Dict, px: int) -> float:
    """DSPNet / sum of BYOL FLOPs per image view: teacher forward (full
    width; BYOL: its own width) + online forward and backward of every
    width, backward counted as 2x forward (the usual convention)."""
    from mmpretrain.registry import MODELS
    f_bn, f_pred = {}, None
    for w in WIDTHS:
        byol = MODELS.build(copy.deepcopy(cfgs[w]['model']))
        byol.eval()
        x = torch.randn(1, 3, px, px)
        f_bn[w] = flop_count(nn.Sequential(byol.backbone, byol.neck), (x, ))
        if f_pred is None:
            z = byol.neck(byol.backbone(x))[0]
            f_pred = flop_count(byol.head.predictor, ((z, ), ))
    online = {w: 3 * (f_bn[w] + f_pred) for w in WIDTHS}
    dspnet = f_bn[max(WIDTHS)] + sum(online.values())
    byol = sum(f_bn[w] + online[w] for w in WIDTHS)
    print(f'FLOPs per image view (mmengine): predictor {f_pred / 1e6:.1f} M;'
          ' backbone + projector ' + ', '.join(
              f'w{w} {f_bn[w] / 1e6:.1f} M' for w in WIDTHS) +
          f'; DSPNet {dspnet / 1e6:.0f} M vs sum BYOL {byol / 1e6:.0f} M '
          '(teacher fwd + 3 x online fwd per width)')
    return dspnet / byol


def _demo_loader(cfg, data_root: str, batch: int, seed: int):
    from mmengine.runner import Runner
    loader = copy.deepcopy(cfg.train_dataloader)
    loader.batch_size = batch
    loader.num_workers = 0
    loader.persistent_workers = False
    loader.dataset.data_root = osp.join(data_root, 'cls')
    loader.sampler = dict(type='DefaultSampler', shuffle=True, seed=seed)
    return Runner.build_dataloader(loader, seed=seed)


def _ensure_demo_data(root: str) -> None:
    if osp.isfile(osp.join(root, 'cls', 'meta', 'train.txt')):
        return
    from dspnet_mm.datasets import generate_demo_data
    print(f'(generating the demo data under {root})')
    generate_demo_data(root)


def part_p2(args, cfgs: Dict) -> dict:
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    b, px = args.p2_batch, args.p2_px
    print(f'\n## P2  DSPNet iteration (all {len(WIDTHS)} widths, sandwich '
          f'rule) vs sum of one BYOL iteration per width; model: the demo '
          f'DSPNet config ({cfgs["path"]}: SlimmableResNet-18, BN) with '
          'the ImageNet-size projector/predictor (512w -> 4096 -> 256, '
          f'256 -> 4096 -> 256, BN1d), its LARS; batch {b}, two views @ '
          f'{px} px; load {load()}')
    print(check_byol_twins(cfgs, BYOL_DEMO_CFG))
    torch.manual_seed(0)
    models = {'dspnet': _build(cfgs['dspnet'])}
    for w in WIDTHS:
        models[f'byol_w{w}'] = _build(cfgs[w])
    predicted = _predicted_ratio(cfgs, px)

    # one iteration, the same collated real batch for every model
    loader = _demo_loader(cfgs['cfg'], args.data_root, b, seed=0)
    batch = next(iter(loader))

    def step(name):
        model, wrapper = models[name]
        return lambda: model.train_step(batch, wrapper)

    fns = {n: step(n) for n in models}
    if args.p2_before:
        # the same model with plain strided slicing (before this work)
        fns['dspnet_before'] = _with_plain_slicing(step('dspnet'))
    res = interleaved(fns, args.p2_reps)
    byol_cpu = sum(res[f'byol_w{w}']['cpu'] for w in WIDTHS)
    byol_wall = sum(res[f'byol_w{w}']['wall'] for w in WIDTHS)
    it_ratio = res['dspnet']['cpu'] / byol_cpu
    print('model          CPU ms/it   wall ms/it')
    for name, r in res.items():
        print(f'{name:<13} {r["cpu"] * 1e3:10.1f}  {r["wall"] * 1e3:11.1f}')
    print(f'sum of BYOL   {byol_cpu * 1e3:10.1f}  {byol_wall * 1e3:11.1f}')
    print(f'iteration ratio DSPNet / sum BYOL: {it_ratio:.3f} (CPU), '
          f'{res["dspnet"]["wall"] / byol_wall:.3f} (wall); FLOPs predict '
          f'{predicted:.3f}' + (
              '' if not args.p2_before else
              f'; with plain slicing (dspnet_before): '
              f'{res["dspnet_before"]["cpu"] / byol_cpu:.3f}'))

    # a short epoch: every run loads its own data, as one-by-one runs do
    n_it = args.p2_iters
    loaders = {n: iter(_demo_loader(cfgs['cfg'], args.data_root, b, seed=i))
               for i, n in enumerate(models)}
    cpu = {n: [] for n in models}
    wall = {n: [] for n in models}
    data_cpu = {n: [] for n in models}
    names = list(models)
    for i in range(n_it):
        k = i % len(names)
        for name in names[k:] + names[:k]:
            model, wrapper = models[name]
            c0, w0 = time.process_time(), time.perf_counter()
            data = next(loaders[name])
            c1 = time.process_time()
            model.train_step(data, wrapper)
            cpu[name].append(time.process_time() - c0)
            wall[name].append(time.perf_counter() - w0)
            data_cpu[name].append(c1 - c0)
    med = {n: statistics.median(v) for n, v in cpu.items()}
    byols = names[1:]
    ep_ratio = med['dspnet'] / sum(med[n] for n in byols)
    sum_ratio = sum(cpu['dspnet']) / sum(sum(cpu[n]) for n in byols)
    wall_ratio = sum(wall['dspnet']) / sum(sum(wall[n]) for n in byols)
    ok = ep_ratio <= P2_TARGET
    print(f'\nepoch of {n_it} iterations per run incl. data loading '
          '(num_workers=0, demo two-view pipeline, each run its own '
          'loader), interleaved per iteration; load ' + load())
    print('model         median CPU ms/it (data)   epoch CPU s   wall s')
    for n in names:
        print(f'{n:<13} {med[n] * 1e3:11.1f} '
              f'({statistics.median(data_cpu[n]) * 1e3:5.1f})   '
              f'{sum(cpu[n]):11.2f}  {sum(wall[n]):7.2f}')
    print(f'sum of BYOL   {sum(med[n] for n in byols) * 1e3:11.1f} '
          f'({sum(statistics.median(data_cpu[n]) for n in byols) * 1e3:5.1f})'
          f'   {sum(sum(cpu[n]) for n in byols):11.2f}  '
          f'{sum(sum(wall[n]) for n in byols):7.2f}')
    print(f'epoch ratio DSPNet / sum BYOL: {ep_ratio:.3f} (median CPU per '
          f'iteration), {sum_ratio:.3f} (CPU totals), {wall_ratio:.3f} (wall '
          f'totals); FLOPs predict {predicted:.3f}; target <= {P2_TARGET}: '
          f'{"met" if ok else "MISSED"}')
    faults = {}
    for name, (model, wrapper) in models.items():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
        for _ in range(2):
            model.train_step(batch, wrapper)
        faults[name] = (resource.getrusage(resource.RUSAGE_SELF).ru_minflt -
                        before) / 2
    print(f'minor page faults per iteration: DSPNet {faults["dspnet"]:.0f}, '
          f'sum BYOL {sum(faults[n] for n in byols):.0f} (' + ', '.join(
              f'{n[5:]} {faults[n]:.0f}' for n in byols) + ')')
    if (not ok or args.profile) and not args.p2_no_profile:
        _profile_dspnet(models['dspnet'], batch, cfgs)
    out = dict(iter_ratio=it_ratio, epoch_ratio=ep_ratio,
               predicted=predicted, ok=ok)
    if args.p2_malloc == 'compare':
        out['tuned'] = _p2_malloc_tuned(args)
    return out


#: glibc keeps freed memory instead of returning it to the OS (what jemalloc
#: and tcmalloc do by default): no page faults on the next step's buffers
MALLOC_TUNED = dict(
    MALLOC_MMAP_THRESHOLD_=str(1 << 30), MALLOC_TRIM_THRESHOLD_=str(1 << 32))


def _p2_malloc_tuned(args):
    """P2 again in a child process with glibc's malloc thresholds raised:
    shows how much of the DSPNet overhead is first-touch page faults of the
    full-size gradients (glibc returns freed memory to the OS each step)."""
    env = dict(os.environ, **MALLOC_TUNED)
    cmd = [
        sys.executable,
        osp.abspath(__file__), '--parts', 'p2', '--p2-malloc', 'off',
        '--p2-no-profile', '--p2-before', '--threads',
        str(args.threads), '--p2-batch',
        str(args.p2_batch), '--p2-px',
        str(args.p2_px), '--p2-reps',
        str(args.p2_reps), '--p2-iters',
        str(args.p2_iters), '--data-root', args.data_root
    ]
    env_str = ' '.join(f'{k}={v}' for k, v in MALLOC_TUNED.items())
    print(f'\nP2 again, child process with {env_str} (glibc keeps freed '
          'memory mapped, as jemalloc / tcmalloc do):')
    res = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = res.stdout.splitlines()
    keep, ratio = False, None
    for line in lines:
        if line.startswith('## P2'):
            keep = True
            continue
        if line.startswith('## Summary'):
            keep = False
        if line.startswith('- P2 epoch ratio'):
            ratio = float(line.split()[4])
        if keep and line.strip() and not line.startswith(('BYOL twins',
                                                           'FLOPs per')):
            print('  ' + line)
    if res.returncode:
        print('  (child failed: ' + res.stderr.strip().splitlines()[-1] + ')')
    return ratio


def _profile_dspnet(entry, batch, cfgs) -> None:
    """Where a DSPNet iteration spends its time: phases and aten ops."""
    from torch.profiler import ProfilerActivity, profile
    model, wrapper = entry
    print('\nDSPNet iteration by phase (CPU ms, median of 3):')
    phases = {k: [] for k in ('preprocess', 'EMA update + teacher fwd',
                              'loss() total (incl. teacher)', 'backward',
                              'optimizer step')}
    for _ in range(3):
        t = time.process_time()
        data = model.data_preprocessor(batch, True)
        phases['preprocess'].append(time.process_time() - t)
        inputs = data['inputs']
        t = time.process_time()
        with torch.no_grad():
            src = nn.Sequential(model.backbone, model.neck)
            model.target_net.update_parameters(src)
            model.target_net(inputs[0])
            model.target_net(inputs[1])
        phases['EMA update + teacher fwd'].append(time.process_time() - t)
        t = time.process_time()
        losses = model.loss(inputs, data['data_samples'])
        loss = sum(losses.values())
        phases['loss() total (incl. teacher)'].append(time.process_time() - t)
        t = time.process_time()
        wrapper.backward(loss)
        phases['backward'].append(time.process_time() - t)
        t = time.process_time()
        wrapper.step()
        wrapper.zero_grad()
        phases['optimizer step'].append(time.process_time() - t)
    for k, v in phases.items():
        print(f'  {k:<30} {statistics.median(v) * 1e3:8.1f}')
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(2):
            model.train_step(batch, wrapper)
    print('\ntorch.profiler, 2 DSPNet iterations, top ops by self CPU:')
    print(prof.key_averages().table(
        sort_by='self_cpu_time_total', row_limit=15))


# ----------------------------------------------------------------------- P3
def part_p3(args) -> None:
    device = torch.device(args.p3_device)
    if device.type == 'cuda' and not torch.cuda.is_available():
        print('\n## P3  P3 skipped: no CUDA device (torch.cuda.is_available()'
              ' is False; this task was lent no GPU)')
        return
    from mmengine.registry import init_default_scope
    init_default_scope('mmpretrain')
    b, px = args.p3_batch, args.p3_px
    dtype = torch.float16 if device.type == 'cuda' else torch.bfloat16
    print(f'\n## P3  {device.type.upper()} step, AMP ({dtype}) + '
          f'channels_last, batch {b} @ {px} px, two views: DSPNet-R50 (all '
          'widths) vs BYOL-R50 per width (ImageNet projector)')
    if device.type == 'cuda':
        print(f'device: {torch.cuda.get_device_name(device)}')
    cfgs = p2_configs(R50_CFG, PROJECTOR_IMAGENET)
    data = _synthetic_batch(b, px, device)
    results = {}
    names = ['dspnet'] + list(WIDTHS)
    for name in names:
        torch.manual_seed(0)
        model, wrapper = _build(cfgs[name], device)
        model = model.to(memory_format=torch.channels_last)
        opt = wrapper.optimizer
        scaler = (torch.amp.GradScaler('cuda')
                  if device.type == 'cuda' else None)

        def step():
            batch = model.data_preprocessor(data, True)
            batch['inputs'] = [
                v.contiguous(memory_format=torch.channels_last)
                for v in batch['inputs']
            ]
            with torch.autocast(device.type, dtype=dtype):
                losses = model(**batch, mode='loss')
                loss = sum(losses.values())
            opt.zero_grad(set_to_none=True)
            if scaler is not None:
                scaler.scale(loss).backward()
                scaler.step(opt)
                scaler.update()
            else:
                loss.backward()
                opt.step()

        for _ in range(args.p3_warmup):
            step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
            torch.cuda.reset_peak_memory_stats(device)
        t = time.perf_counter()
        for _ in range(args.p3_steps):
            step()
        if device.type == 'cuda':
            torch.cuda.synchronize(device)
        sec = (time.perf_counter() - t) / args.p3_steps
        mem = (torch.cuda.max_memory_allocated(device) / 2**20
               if device.type == 'cuda' else float('nan'))
        results[name] = (sec, mem)
        label = 'DSPNet-R50' if name == 'dspnet' else f'BYOL-R50 w{name}'
        print(f'{label:<16} {sec * 1e3:9.1f} ms/step  {b / sec:8.1f} img/s  '
              f'max allocated {mem:8.0f} MiB')
        del model, wrapper, opt
        if device.type == 'cuda':
            torch.cuda.empty_cache()
    byol = sum(results[w][0] for w in WIDTHS)
    print(f'step time DSPNet / sum BYOL: {results["dspnet"][0] / byol:.3f}; '
          f'peak memory DSPNet / BYOL w1.0: '
          f'{results["dspnet"][1] / results[1.0][1]:.2f}')


# ----------------------------------------------------------------------- P4
def part_p4(args) -> dict:
    from mmengine.registry import init_default_scope

    from dspnet_mm.registry import MODELS
    from dspnet_mm.slim import complexity, export_widths
    init_default_scope('mmpretrain')
    cfgs = p2_configs(R50_CFG, PROJECTOR_IMAGENET)
    print(f'\n## P4  export of all widths of a ResNet-50 DSPNet checkpoint '
          f'({R50_CFG} model, BN instead of SyncBN); load {load()}')
    with tempfile.TemporaryDirectory() as tmp:
        torch.manual_seed(0)
        model = MODELS.build(cfgs['dspnet']['model'])
        ckpt = osp.join(tmp, 'dspnet_r50.pth')
        torch.save(dict(state_dict=model.state_dict()), ckpt)
        del model
        size = osp.getsize(ckpt) / 1e6
        complexity.cache_clear()  # cold: FLOPs computed in the call
        c0, w0 = time.process_time(), time.perf_counter()
        results = export_widths(ckpt, 'all', osp.join(tmp, 'out'))
        wall = time.perf_counter() - w0
        cpu = time.process_time() - c0
    ok = wall < P4_TARGET
    print(f'checkpoint {size:.0f} MB; export_widths(ckpt, "all") wrote '
          f'{len(results)} files in {wall:.2f} s wall ({cpu:.2f} s CPU); '
          f'target < {P4_TARGET:.0f} s: {"met" if ok else "MISSED"}')
    for r in results:
        m = r['meta']
        print(f'  w{m["width"]:<5} params {m["params"] / 1e6:6.2f} M  '
              f'FLOPs {m["flops"] / 1e9:5.2f} G  {osp.basename(r["path"])}')
    return dict(wall=wall, ok=ok)


PROJECTOR_IMAGENET = dict(
    neck=dict(hid_channels=4096, out_channels=256),
    predictor=dict(in_channels=256, hid_channels=4096, out_channels=256))


# --------------------------------------------------------------------- main
def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument(
        '--parts',
        default='p1,cx,mem,p2,p3,p4',
        help='comma-separated subset of p1,cx,mem,p2,p3,p4')
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--reps', type=int, default=7,
                        help='interleaved repetitions per P1 measurement')
    parser.add_argument('--p1-depths', type=int, nargs='+', default=[50, 18])
    parser.add_argument('--p1-before', type=int, nargs='*', default=[50],
                        help='depths that also time plain strided slicing')
    parser.add_argument('--p1-batch', type=int, default=8)
    parser.add_argument('--p1-px', type=int, default=112)
    parser.add_argument('--cx-px', type=int, default=224)
    parser.add_argument('--p2-batch', type=int, default=32)
    parser.add_argument('--p2-px', type=int, default=32,
                        help='demo pipeline crop size')
    parser.add_argument('--p2-reps', type=int, default=5)
    parser.add_argument('--p2-iters', type=int, default=10)
    parser.add_argument('--data-root', default=osp.join(REPO_ROOT, 'data',
                                                        'demo'))
    parser.add_argument('--profile', action='store_true',
                        help='print the P2 profile even if the target is met')
    parser.add_argument(
        '--p2-before',
        action='store_true',
        help='also time DSPNet with plain slicing (the malloc-tuned child '
        'does: its allocator keeps the two from disturbing each other)')
    parser.add_argument('--p2-no-profile', action='store_true',
                        help='never print the P2 profile')
    parser.add_argument(
        '--p2-malloc',
        choices=['compare', 'off'],
        default='compare',
        help='compare: run P2 again in a child with glibc malloc '
        'thresholds raised')
    parser.add_argument('--p3-device', default='cuda',
                        help='cpu runs the P3 code path as a smoke test')
    parser.add_argument('--p3-batch', type=int, default=64)
    parser.add_argument('--p3-px', type=int, default=224)
    parser.add_argument('--p3-warmup', type=int, default=3)
    parser.add_argument('--p3-steps', type=int, default=10)
    return parser.parse_args()


def main():
    args = parse_args()
    parts = set(args.parts.split(','))
    torch.set_num_threads(args.threads)
    import mmengine
    import mmpretrain

    import dspnet_mm
    quiet()
    t_start = time.perf_counter()
    print('# benchmark_speed', ' '.join(sys.argv[1:]))
    now = datetime.datetime.now().astimezone()
    print(f'date: {now.isoformat("T", "seconds")}')
    print(f'machine: {cpu_model()}, {os.cpu_count()} logical cores, '
          f'{platform.system()} {platform.release()}')
    print(f'torch {torch.__version__}, threads {torch.get_num_threads()}, '
          f'mmengine {mmengine.__version__}, mmpretrain '
          f'{mmpretrain.__version__}, dspnet_mm {dspnet_mm.__version__} '
          f'at {git_rev()}')
    print(f'CUDA available: {torch.cuda.is_available()}; load average '
          f'(1/5/15 min) at start: {load()}')
    print('ratios: median process CPU time (user+sys) of interleaved '
          'repetitions; wall-time ratios beside them')
    summary = []
    if 'p1' in parts:
        rows = part_p1(args)
        part_fixed_cost(args)
        missed = [r for r in rows if not r['ok']]
        summary.append(
            f'P1 ratio <= {P1_TARGET} at every width and mode: '
            + ('met' if not missed else 'MISSED at ' + ', '.join(
                f'R{r["depth"]} w{r["width"]} {r["mode"]} '
                f'({r["ratio"]:.3f})' for r in missed)))
    if 'cx' in parts:
        ok = part_complexity(args)
        summary.append('params/FLOPs per width equal the static ResNet: '
                       + ('yes' if ok else 'NO'))
    cfgs = None
    if parts & {'mem', 'p2'}:
        _ensure_demo_data(args.data_root)
        from mmengine.registry import init_default_scope
        init_default_scope('mmpretrain')
        cfgs = p2_configs(DEMO_CFG, PROJECTOR_IMAGENET)
    if 'mem' in parts:
        part_memory(args, {k: v for k, v in cfgs.items() if k != 'cfg'})
    if 'p2' in parts:
        r = part_p2(args, cfgs)
        summary.append(f'P2 epoch ratio {r["epoch_ratio"]:.3f} <= '
                       f'{P2_TARGET}: {"met" if r["ok"] else "MISSED"} '
                       f'(iteration {r["iter_ratio"]:.3f}, FLOPs predict '
                       f'{r["predicted"]:.3f})' + (
                           f'; with glibc malloc thresholds raised: epoch '
                           f'ratio {r["tuned"]:.3f}'
                           if r.get('tuned') is not None else ''))
    if 'p3' in parts:
        part_p3(args)
        if not torch.cuda.is_available() and args.p3_device == 'cuda':
            summary.append('P3 skipped: no CUDA device')
    if 'p4' in parts:
        r = part_p4(args)
        summary.append(f'P4 export of 4 widths {r["wall"]:.2f} s < '
                       f'{P4_TARGET:.0f} s: {"met" if r["ok"] else "MISSED"}')
    print('\n## Summary')
    for line in summary:
        print('- ' + line)
    print(f'total {time.perf_counter() - t_start:.0f} s wall; load average '
          f'at end: {load()}')


if __name__ == '__main__':
    main()
