"""P2: one DSPNet iteration against the sum of one BYOL iteration per width.

The demo DSPNet config's model (ImageNet-size projector / predictor) and,
per width, its BYOL twin (stock mmpretrain ``BYOL`` on a plain ResNet of
base/stem 64w, same heads, optimizer and batch): one iteration on the same
batch, then a short "epoch" with each run's own data loading, next to the
ratio that FLOPs predict. Target: epoch ratio <= 0.85. A profile says what
bounds it when it misses, and P2 runs again in a child process with glibc's
malloc thresholds raised, to show the share of first-touch page faults.
"""
import copy
import glob
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import time
from typing import Dict

import torch
import torch.nn as nn

from ..utils.paths import resource_root, tool_path
from .counting import flop_count
from .options import (BYOL_DEMO_CFG, P2_TARGET, PROJECTOR_IMAGENET, WIDTHS,
                      SpeedOptions)
from .timing import interleaved, load

__all__ = [
    'MALLOC_TUNED', 'build_model', 'check_byol_twins', 'ensure_demo_data',
    'p2_configs', 'part_p2', 'synthetic_batch'
]


def _glob_config(pattern: str):
    """Shipped configs matching ``pattern`` (relative to configs/)."""
    return sorted(glob.glob(osp.join(resource_root(), 'configs', pattern)))


def synthetic_batch(batch: int, px: int, device='cpu') -> dict:
    from mmpretrain.structures import DataSample
    g = torch.Generator().manual_seed(0)
    views = [
        torch.randint(
            0, 256, (batch, 3, px, px), generator=g,
            dtype=torch.uint8).to(device) for _ in range(2)
    ]
    return dict(inputs=views, data_samples=[DataSample()] * batch)


def p2_configs(cfg_path: str,
               projector: dict,
               norm1d: str = 'BN1d',
               backbone_norm: str = 'BN') -> Dict:
    """Model + optim-wrapper configs of DSPNet and of the BYOL twin of each
    width (stock mmpretrain BYOL, ResNet of base/stem 64w, the same projector /
    predictor and optimizer)."""
    from mmengine.config import Config
    found = _glob_config(cfg_path)
    if not found:
        raise FileNotFoundError(f'no config matches configs/{cfg_path}')
    cfg = Config.fromfile(found[-1])
    cfg_path = osp.relpath(found[-1], resource_root())
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
    """Compare the BYOL twins built here with the project's one-by-one baseline
    configs (same projector override applied to both)."""
    from mmengine.config import Config
    same, checked = True, 0
    for w in WIDTHS:
        found = _glob_config(pattern.format(w))
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
            f'baseline configs configs/{pattern.format("*")} (projector '
            'override applied to both)')


def build_model(entry: dict, device='cpu'):
    from mmengine.optim import build_optim_wrapper
    from mmpretrain.registry import MODELS
    model = MODELS.build(copy.deepcopy(entry['model'])).to(device)
    model.train()
    wrapper = build_optim_wrapper(model, copy.deepcopy(entry['optim_wrapper']))
    return model, wrapper


def _predicted_ratio(cfgs: Dict, px: int) -> float:
    """DSPNet / sum of BYOL FLOPs per image view: teacher forward (full width;
    BYOL: its own width) + online forward and backward of every width, backward
    counted as 2x forward (the usual convention)."""
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
          ' backbone + projector ' + ', '.join(f'w{w} {f_bn[w] / 1e6:.1f} M'
                                               for w in WIDTHS) +
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


def ensure_demo_data(root: str) -> None:
    if osp.isfile(osp.join(root, 'cls', 'meta', 'train.txt')):
        return
    from ..datasets import generate_demo_data
    print(f'(generating the demo data under {root})')
    generate_demo_data(root)


def part_p2(args: SpeedOptions, cfgs: Dict) -> dict:
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
    models = {'dspnet': build_model(cfgs['dspnet'])}
    for w in WIDTHS:
        models[f'byol_w{w}'] = build_model(cfgs[w])
    predicted = _predicted_ratio(cfgs, px)

    # one iteration, the same collated real batch for every model
    loader = _demo_loader(cfgs['cfg'], args.data_root, b, seed=0)
    batch = next(iter(loader))

    def step(name):
        model, wrapper = models[name]
        return lambda: model.train_step(batch, wrapper)

    fns = {n: step(n) for n in models}
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
          f'{predicted:.3f}')

    # a short epoch: every run loads its own data, as one-by-one runs do
    n_it = args.p2_iters
    loaders = {
        n: iter(_demo_loader(cfgs['cfg'], args.data_root, b, seed=i))
        for i, n in enumerate(models)
    }
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
          f'sum BYOL {sum(faults[n] for n in byols):.0f} (' +
          ', '.join(f'{n[5:]} {faults[n]:.0f}' for n in byols) + ')')
    if (not ok or args.profile) and not args.p2_no_profile:
        _profile_dspnet(models['dspnet'], batch, cfgs)
    out = dict(
        iter_ratio=it_ratio, epoch_ratio=ep_ratio, predicted=predicted, ok=ok)
    if args.p2_malloc == 'compare':
        out['tuned'] = _p2_malloc_tuned(args)
    return out


#: glibc keeps freed memory instead of returning it to the OS (what jemalloc
#: and tcmalloc do by default): no page faults on the next step's buffers
MALLOC_TUNED = dict(
    MALLOC_MMAP_THRESHOLD_=str(1 << 30), MALLOC_TRIM_THRESHOLD_=str(1 << 32))


def _p2_malloc_tuned(args: SpeedOptions):
    """P2 again in a child process with glibc's malloc thresholds raised:

    shows how much of the DSPNet overhead is first-touch page faults of the
    full-size gradients (glibc returns freed memory to the OS each step).
    """
    env = dict(os.environ, **MALLOC_TUNED)
    cmd = [
        sys.executable,
        tool_path('analysis/benchmark_speed.py'), '--parts', 'p2',
        '--p2-malloc', 'off', '--p2-no-profile', '--threads',
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
        skip = line.startswith(('BYOL twins', 'FLOPs per'))
        if keep and line.strip() and not skip:
            print('  ' + line)
    if res.returncode:
        print('  (child failed: ' + res.stderr.strip().splitlines()[-1] + ')')
    return ratio


def _profile_dspnet(entry, batch, cfgs) -> None:
    """Where a DSPNet iteration spends its time: phases and aten ops."""
    from torch.profiler import ProfilerActivity, profile
    model, wrapper = entry
    print('\nDSPNet iteration by phase (CPU ms, median of 3):')
    phases = {
        k: []
        for k in ('preprocess', 'EMA update + teacher fwd',
                  'loss() total (incl. teacher)', 'backward', 'optimizer step')
    }
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
