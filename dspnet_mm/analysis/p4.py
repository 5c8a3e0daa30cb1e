"""P4: export of all widths of a ResNet-50 DSPNet checkpoint.

:func:`dspnet_mm.slim.export_widths` with a cold complexity cache, on a
DSPNet built from the ResNet-50 config's model. Target: < 10 s.
"""
import os.path as osp
import tempfile
import time

import torch

from .options import P4_TARGET, PROJECTOR_IMAGENET, R50_CFG, SpeedOptions
from .p2 import p2_configs
from .timing import load

__all__ = ['part_p4']


def part_p4(args: SpeedOptions) -> dict:
    from mmengine.registry import init_default_scope

    from ..registry import MODELS
    from ..slim import complexity, export_widths
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
