"""The random-init twin of a width: the reference every accuracy needs.

The same stock ResNet as an exported width (depth, ``base_channels =
stem_channels = 64 * width``), initialised by mmpretrain's ``ResNet``
initialisation from a seed and never updated by a gradient. Only its BN
statistics are fitted: reset, then estimated as an exact average over one
pass of (unaugmented) training images, so the twin's features are as well
normalised as a trained network's. What a pretraining adds is what its
width scores above this twin under the same protocol.
"""
import logging
from typing import Iterable, Optional

import torch
from mmengine.logging import MMLogger
from mmpretrain.models.backbones import ResNet
from torch.nn.modules.batchnorm import _BatchNorm

from ..models.layers import GRID, check_width

__all__ = ['fit_bn_statistics', 'random_init_resnet']


def random_init_resnet(depth: int, width: float, seed: int = 0) -> ResNet:
    """A stock mmpretrain ResNet at ``width`` with seeded random weights.

    Args:
        depth (int): 18, 34, 50, 101 or 152.
        width (float): on the channel grid (``64 * width`` an integer).
        seed (int): seed of the initialisation (the global RNG is left as it
            was).

    Returns:
        ResNet: in eval mode, default (unfitted) BN statistics.
    """
    base = round(check_width(width) * GRID)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        # NOTE: zero_init_residual=False, as our pretraining configs start
        # from (mmpretrain's default zeroes every block's last BN)
        net = ResNet(
            depth,
            base_channels=base,
            stem_channels=base,
            zero_init_residual=False)
        # mmengine logs one line per parameter at INFO when there is no
        # file handler: noise, not information, here
        logger = MMLogger.get_current_instance()
        level = logger.level
        logger.setLevel(logging.WARNING)
        try:
            net.init_weights()
        finally:
            logger.setLevel(level)
    net.eval()
    return net


@torch.no_grad()
def fit_bn_statistics(backbone: torch.nn.Module,
                      batches: Iterable[torch.Tensor],
                      max_batches: Optional[int] = None) -> int:
    """Reset every BN's statistics and average them over ``batches``.

    ``momentum=None`` makes each BN keep the exact (cumulative) average of
    the batch statistics it sees; weights are not touched. The backbone is
    left in eval mode with the BN momenta restored.

    Args:
        backbone (nn.Module): the network (its own forward is used).
        batches (Iterable[Tensor]): normalised image batches.
        max_batches (int, optional): stop after this many.

    Returns:
        int: the number of batches used.
    """
    bns = [m for m in backbone.modules() if isinstance(m, _BatchNorm)]
    momenta = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    backbone.eval()
    for bn in bns:
        bn.train()
    used = 0
    try:
        for batch in batches:
            if max_batches is not None and used >= max_batches:
                break
            backbone(batch)
            used += 1
    finally:
        for bn, momentum in zip(bns, momenta):
            bn.momentum = momentum
        backbone.eval()
    if used == 0:
        raise ValueError('no batch to fit the BN statistics with')
    return used
