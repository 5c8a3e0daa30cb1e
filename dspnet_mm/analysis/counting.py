"""Parameters and FLOPs as a width of a supernet uses them."""
from typing import Dict

import torch
import torch.nn as nn

__all__ = ['active_param_count', 'flop_count', 'static_resnet']


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
    from dspnet_mm.models.layers import (SlimmableBatchNorm, SlimmableConv2d,
                                         SlimmableLinear)
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
