from typing import Callable, Iterable

import torch
import torch.nn as nn
from torch.nn.modules.batchnorm import _BatchNorm

from ..layers import set_width


@torch.no_grad()
def recalibrate_bn(model: nn.Module,
                   width: float,
                   batches: Iterable,
                   forward: Callable[[nn.Module, object], object] = None,
                   num_batches: int = 10) -> int:
    """Recompute BN statistics of ``model`` at ``width`` (universal mode).

    A BN shared by all widths holds statistics of whatever width ran last;
    US-Nets recalibrate them per width on a few hundred training images
    before evaluating or exporting it. Statistics are reset and re-estimated
    as an exact average over ``num_batches`` batches (``momentum=None``);
    weights are not touched, and the model's train/eval modes and the BN
    momenta are restored afterwards. The model stays at ``width``.

    Args:
        model (nn.Module): a model with slimmable layers.
        width (float): the width to recalibrate.
        batches (Iterable): training batches (augmented as in training).
        forward (callable, optional): ``forward(model, batch)``; defaults to
            ``model(batch)``.
        num_batches (int): how many batches to use.

    Returns:
        int: the number of batches used.
    """
    set_width(model, width)
    bns = [m for m in model.modules() if isinstance(m, _BatchNorm)]
    modes = {m: m.training for m in model.modules()}
    momenta = {bn: bn.momentum for bn in bns}
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.eval()
    for bn in bns:
        bn.train()
    used = 0
    try:
        for batch in batches:
            if used >= num_batches:
                break
            forward(model, batch) if forward else model(batch)
            used += 1
    finally:
        for bn, momentum in momenta.items():
            bn.momentum = momentum
        for m, mode in modes.items():
            m.training = mode
    if used == 0:
        raise ValueError('no batch to recalibrate BN statistics with')
    return used
