"""Build the stock mmpretrain ResNet of an exported width, loaded strictly.

An exported width (``tools/slim_checkpoint.py``) is
``dict(state_dict=<plain ResNet keys>, meta=dict(depth, width,
base_channels, stem_channels, stage_channels, ...))``; its meta is read and
checked by :func:`dspnet_mm.slim.transfer.read_export_meta`.
"""
from typing import Optional, Sequence, Tuple

import torch
from mmpretrain.models.backbones import ResNet

from ..slim.transfer import read_export_meta
from ..utils.checkpoint import load_checkpoint_safely

__all__ = ['build_exported_resnet']


def build_exported_resnet(
        path: str,
        out_indices: Sequence[int] = (3, ),
        device: Optional[torch.device] = None) -> Tuple[ResNet, dict]:
    """The stock mmpretrain ResNet of an exported width.

    Depth and channels come from the file's meta; the weights are loaded
    with ``strict=True``, so a file whose tensors do not fit its meta is an
    error.

    Args:
        path (str): an exported width.
        out_indices (Sequence[int]): stages whose outputs the ResNet returns.
        device (torch.device, optional): where to put the network.

    Returns:
        tuple: ``(backbone, meta)``; the backbone is in eval mode.
    """
    meta = read_export_meta(path)
    backbone = ResNet(
        meta['depth'],
        base_channels=meta['base_channels'],
        stem_channels=meta['stem_channels'],
        out_indices=tuple(out_indices))
    backbone.load_state_dict(
        load_checkpoint_safely(path)['state_dict'], strict=True)
    if device is not None:
        backbone.to(device)
    backbone.eval()
    return backbone, meta
