"""Save a plain ResNet (e.g. a BYOL backbone) as an exported width.

The one-by-one baselines are ordinary ResNets, not SlimmableResNets, so
:func:`~.export.export_widths` does not apply; :func:`export_plain_resnet`
writes the same file (:mod:`.file_format`), so every consumer of exported
widths (transfer, kNN, the width benchmark) takes both alike.
"""
import os
import os.path as osp
from collections import OrderedDict
from typing import Optional

from ..models.layers import GRID, check_width
from ..utils.checkpoint import load_checkpoint_safely
from ..version import __version__
from .export import ExportError
from .file_format import (SourceInfo, atomic_save, export_meta, export_path,
                          infer_depth)

__all__ = ['export_plain_resnet']


def _same_width(a: float, b: float) -> bool:
    return round(float(a) * GRID) == round(float(b) * GRID)


def _read(checkpoint: str) -> dict:
    if not osp.isfile(checkpoint):
        raise ExportError(f'baseline checkpoint not found: {checkpoint}')
    try:
        ckpt = load_checkpoint_safely(checkpoint)
    except RuntimeError as e:
        raise ExportError(f'{checkpoint}: {e}') from None
    if not isinstance(ckpt, dict):
        raise ExportError(f'{checkpoint} holds no state_dict')
    return ckpt


def _backbone_state(ckpt: dict, checkpoint: str,
                    prefix: Optional[str]) -> tuple:
    state = ckpt.get('state_dict', ckpt)
    if not isinstance(state, dict):
        raise ExportError(f'{checkpoint} holds no state_dict')
    if prefix is None:
        prefix = 'backbone.' if 'backbone.conv1.weight' in state else ''
    if prefix + 'conv1.weight' not in state:
        raise ExportError(f'{checkpoint}: no ResNet under prefix '
                          f'{prefix!r} ({prefix}conv1.weight missing)')
    sd = OrderedDict(
        (k[len(prefix):], v) for k, v in state.items() if k.startswith(prefix))
    return sd, prefix


def export_plain_resnet(checkpoint: str,
                        out_dir: str,
                        width: Optional[float] = None,
                        prefix: Optional[str] = None) -> dict:
    """Write ``checkpoint``'s ResNet as ``<out_dir>/resnet{D}_w{W}.pth``.

    The file has the format of :func:`~.export.export_widths`: the stock
    ResNet's keys (loaded with ``strict=True`` first) and the same ``meta``
    (:func:`~.file_format.export_meta`). A file that already is an exported
    width is used as it is.

    Args:
        checkpoint (str): an mmpretrain checkpoint (``backbone.`` keys, e.g.
            BYOL), a plain ResNet state dict, or an exported width.
        out_dir (str): where the file goes.
        width (float, optional): the expected width; another one is an
            error.
        prefix (str, optional): key prefix of the backbone; ``backbone.``
            when present, else none.

    Returns:
        dict: ``path`` and ``meta``.

    Raises:
        ExportError: a missing, unsafe or unreadable file, no ResNet, a
            width off the grid or other than ``width``.
    """
    from mmpretrain.models.backbones import ResNet
    ckpt = _read(checkpoint)
    meta = ckpt.get('meta')
    if isinstance(meta, dict) and 'stage_channels' in meta:
        if width is not None and not _same_width(meta['width'], width):
            raise ExportError(f'{checkpoint} is width {meta["width"]}, '
                              f'not {width}')
        return dict(path=osp.abspath(checkpoint), meta=meta)
    sd, prefix = _backbone_state(ckpt, checkpoint, prefix)
    depth, found = infer_depth(sd)
    if depth is None:
        raise ExportError(f'{checkpoint}: {found}')
    base = sd['conv1.weight'].shape[0]
    try:
        w = check_width(base / GRID)
    except ValueError as e:
        raise ExportError(f'{checkpoint}: {e}') from None
    if width is not None and not _same_width(w, width):
        raise ExportError(f'{checkpoint} has {base} stem channels: width '
                          f'{w}, not {width}')
    model = ResNet(depth, base_channels=base, stem_channels=base)
    try:
        model.load_state_dict(sd, strict=True)
    except RuntimeError as e:
        raise ExportError(
            f'{checkpoint} is not a plain ResNet-{depth} at width {w}: '
            f'{str(e).splitlines()[0]}') from None
    meta = export_meta(
        depth,
        w,
        SourceInfo.of(checkpoint, prefix),
        exporter=f'dspnet_mm {__version__} (plain ResNet)')
    os.makedirs(out_dir, exist_ok=True)
    path = osp.abspath(export_path(out_dir, depth, w))
    atomic_save(dict(state_dict=model.state_dict(), meta=meta), path)
    return dict(path=path, meta=meta)
