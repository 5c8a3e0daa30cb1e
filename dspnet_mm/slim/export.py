"""Export any trained width of a SlimmableResNet to a plain ResNet checkpoint.

The sub-network at width ``w`` *is* ``ResNet(depth, base_channels=64 * w,
stem_channels=64 * w)``: exporting is slicing the first channels of every
conv plus picking width ``w``'s own BN. The written file holds only tensors
and plain metadata, loads with ``torch.load(path, weights_only=True)`` and
with ``strict=True`` into stock mmpretrain, mmdet and mmseg ResNets.
"""
import os
import os.path as osp
import re
from collections import OrderedDict
from functools import lru_cache
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmpretrain.models.backbones import ResNet

from ..models.layers import GRID, check_width, width_tag
from ..utils.atomic import commit, temp_path
from ..utils.checkpoint import load_checkpoint_safely
from .file_format import (FLOPS_INPUT, SourceInfo, complexity, export_meta,
                          export_path, infer_depth)

__all__ = [
    'ExportError', 'FLOPS_INPUT', 'SOURCE_PREFIXES', 'export_widths',
    'slice_width', 'inspect_backbone', 'width_tag', 'complexity'
]

#: Backbone key prefixes of the networks a DSPNet checkpoint holds.
SOURCE_PREFIXES = {
    'online': 'backbone.',
    # the momentum teacher: CosineEMA(Sequential(backbone, projector))
    'target': 'target_net.module.0.',
}

_BN_PARAMS = ('weight', 'bias', 'running_mean', 'running_var',
              'num_batches_tracked')


class ExportError(ValueError):
    """A checkpoint, width or output that export cannot use."""


def _read_state_dict(path: str) -> Dict[str, torch.Tensor]:
    if not osp.isfile(path):
        raise ExportError(f'checkpoint not found: {path}')
    try:
        ckpt = load_checkpoint_safely(path)
    except RuntimeError as e:
        raise ExportError(str(e)) from None
    if isinstance(ckpt, dict) and isinstance(ckpt.get('state_dict'), dict):
        ckpt = ckpt['state_dict']
    if not isinstance(ckpt, dict) or not all(
            isinstance(v, torch.Tensor) for v in ckpt.values()):
        raise ExportError(
            f'{path} holds no state_dict (expected an mmengine checkpoint '
            'with a "state_dict" entry, or a plain dict of tensors)')
    return ckpt


def _find_prefix(state_dict: Dict[str, torch.Tensor],
                 prefix: Optional[str]) -> str:
    if prefix is not None:
        if prefix + 'conv1.weight' not in state_dict:
            raise ExportError(f'no ResNet backbone under prefix {prefix!r}: '
                              f'{prefix}conv1.weight is not in the checkpoint')
        return prefix
    found = sorted(k[:-len('conv1.weight')] for k in state_dict
                   if k.endswith('conv1.weight') and k[:-len('conv1.weight')] +
                   'layer1.0.conv1.weight' in state_dict)
    if not found:
        sample = ', '.join(list(state_dict)[:5])
        raise ExportError(
            'no ResNet backbone found in the checkpoint (looked for '
            '"<prefix>conv1.weight" next to "<prefix>layer1.0.conv1.weight"; '
            f'its first keys are: {sample})')
    if SOURCE_PREFIXES['online'] in found:
        return SOURCE_PREFIXES['online']
    if len(found) > 1:
        raise ExportError(f'several ResNet backbones in the checkpoint, '
                          f'prefixes {found}: choose one with --prefix')
    return found[0]


def inspect_backbone(state_dict: Dict[str, torch.Tensor],
                     prefix: Optional[str] = None) -> dict:
    """Find a SlimmableResNet in ``state_dict`` and describe it.

    Returns:
        dict: ``prefix``, ``depth``, ``widths`` (the trained widths, read
        off the per-width BN sizes of the stem; empty in universal mode),
        ``universal`` (shared BNs) and ``keys`` (the backbone's keys without
        prefix).
    """
    prefix = _find_prefix(state_dict, prefix)
    keys = {k[len(prefix):] for k in state_dict if k.startswith(prefix)}
    universal = 'bn1.bn.weight' in keys
    if 'bn1.bns.0.weight' not in keys and not universal:
        raise ExportError(
            f'the backbone under {prefix!r} has neither switchable BN '
            '(bn1.bns.<i>.*) nor universal shared BN (bn1.bn.*): it is not '
            'a SlimmableResNet checkpoint')
    stem = state_dict[prefix + 'conv1.weight'].shape[0]
    if stem != GRID:
        raise ExportError(f'the stem of the backbone under {prefix!r} has '
                          f'{stem} channels, not the {GRID} of a full-width '
                          'ResNet')
    depth, found = infer_depth(keys)
    if depth is None:
        raise ExportError(f'the backbone under {prefix!r} has {found}')
    widths, i = [], 0
    while f'bn1.bns.{i}.weight' in keys:
        widths.append(state_dict[f'{prefix}bn1.bns.{i}.weight'].numel() / GRID)
        i += 1
    return dict(
        prefix=prefix,
        depth=depth,
        widths=widths,
        universal=universal,
        keys=keys)


@lru_cache(maxsize=None)
def _target_shapes(depth: int, width: float) -> Tuple[Tuple[str, tuple]]:
    base = round(GRID * width)
    model = ResNet(depth, base_channels=base, stem_channels=base)
    return tuple((k, tuple(v.shape)) for k, v in model.state_dict().items())


def slice_width(state_dict: Dict[str, torch.Tensor], depth: int, width: float,
                prefix: str,
                widths: Sequence[float]) -> 'OrderedDict[str, torch.Tensor]':
    """The plain ResNet state dict of ``width``.

    Every key of the stock ``ResNet(depth, base_channels=64 * width,
    stem_channels=64 * width)`` is filled: convs by slicing their first
    channels, BNs from that width's own switchable BN. Each source key of
    the backbone must be used (or belong to another width's BN). In
    universal mode (one shared BN per layer, ``<module>.bn.*``) the BN is
    sliced like the convs: its statistics must have been recalibrated at
    ``width`` first (:func:`recalibrated_state_dicts`).
    """
    index = {
        round(w * GRID): i
        for i, w in enumerate(widths)
    }.get(round(width * GRID))
    out = OrderedDict()
    used = set()
    for key, shape in _target_shapes(depth, width):
        module, _, param = key.rpartition('.')
        bn_key = f'{prefix}{module}.bns.{index}.{param}'
        shared_bn_key = f'{prefix}{module}.bn.{param}'  # universal mode
        if bn_key in state_dict:
            src = state_dict[bn_key]
            used.add(bn_key)
        elif shared_bn_key in state_dict:
            src = state_dict[shared_bn_key]
            if src.dim():
                src = src[:shape[0]]
            used.add(shared_bn_key)
        elif prefix + key in state_dict:
            src = state_dict[prefix + key]
            src = src[tuple(slice(0, n) for n in shape)]
            used.add(prefix + key)
        else:
            raise ExportError(f'{prefix}{key} (or its switchable BN) is '
                              'missing from the checkpoint')
        if tuple(src.shape) != shape:
            raise ExportError(f'{prefix}{key}: checkpoint tensor of shape '
                              f'{tuple(src.shape)} cannot give {shape}')
        out[key] = src.detach().clone().contiguous()
    other_bn = re.compile(r'.*\.bns\.\d+\.(' + '|'.join(_BN_PARAMS) + ')$')
    unused = sorted(
        k for k in state_dict
        if k.startswith(prefix) and k not in used and not other_bn.match(k))
    if unused:
        raise ExportError(
            f'the backbone under {prefix!r} has keys that a ResNet-{depth} '
            f'does not: {unused[:5]}')
    return out


def _load_config(config):
    from mmengine.config import Config
    if not isinstance(config, Config):
        if not osp.isfile(str(config)):
            raise ExportError(f'config not found: {config}')
        config = Config.fromfile(config)
    return config


def recalibrated_state_dicts(cfg, state_dict: Dict[str, torch.Tensor],
                             widths: Sequence[float], prefix: str,
                             num_batches: int) -> Dict[float, dict]:
    """Backbone state dicts of a universal-mode model, one per width, each with
    BN statistics recalibrated at that width on ``num_batches`` training
    batches of ``cfg`` (first view of each two-view batch)."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import Runner

    from dspnet_mm.registry import MODELS
    from ..models.utils import recalibrate_bn
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    model = MODELS.build(cfg.model)
    try:
        model.load_state_dict(state_dict, strict=True)
    except RuntimeError as e:
        raise ExportError('the config does not build the checkpoint\'s '
                          f'model: {str(e).splitlines()[0]}') from None
    loader = Runner.build_dataloader(cfg.train_dataloader)
    preprocess = model.data_preprocessor

    def forward(backbone, batch):
        inputs = preprocess(batch, training=False)['inputs']
        backbone(inputs[0] if isinstance(inputs, list) else inputs)

    out = {}
    for w in widths:
        recalibrate_bn(model.backbone, w, loader, forward, num_batches)
        out[w] = {
            prefix + k: v.clone()
            for k, v in model.backbone.state_dict().items()
        }
    return out


def _prepare_out_dir(out_dir: str) -> None:
    try:
        os.makedirs(out_dir, exist_ok=True)
        probe = osp.join(out_dir, f'.write-probe-{os.getpid()}')
        with open(probe, 'wb'):
            pass
        os.remove(probe)
    except OSError as e:
        raise ExportError(
            f'output dir {out_dir!r} is not writable: {e.strerror}') from None


def export_widths(checkpoint: str,
                  widths: Union[str, Sequence[float]],
                  out_dir: str,
                  prefix: Optional[str] = None,
                  source: Optional[str] = None,
                  depth: Optional[int] = None,
                  config: Optional[str] = None,
                  recalib_batches: int = 20) -> List[dict]:
    """Write one plain ResNet checkpoint per width.

    Everything is validated before the first file is written. Every file
    is first written to a temporary name; only when all widths are written
    are they renamed to their final names, so a failure (or a kill) before
    that leaves the output dir as it was, earlier exports included.

    Args:
        checkpoint (str): a SlimmableResNet or DSPNet checkpoint.
        widths (str | Sequence[float]): widths to export, or ``'all'`` for
            every trained width.
        out_dir (str): where ``resnet{depth}_w{width}.pth`` files go.
        prefix (str, optional): backbone key prefix in the checkpoint;
            detected when omitted.
        source (str, optional): ``'online'`` or ``'target'`` (the DSPNet
            momentum teacher); a shortcut for its prefix.
        depth (int, optional): the expected depth; a checkpoint of another
            depth is refused.
        config (str, optional): the training config; required for a
            universal-mode checkpoint, whose shared BN statistics are
            recalibrated per width on its training data before slicing.
        recalib_batches (int): batches used for each recalibration.

    Returns:
        list[dict]: per width, ``path`` and the written ``meta``.
    """
    if source is not None:
        if source not in SOURCE_PREFIXES:
            raise ExportError(f'source must be one of '
                              f'{sorted(SOURCE_PREFIXES)}, got {source!r}')
        if prefix is not None and prefix != SOURCE_PREFIXES[source]:
            raise ExportError('give either --source or --prefix, not both')
        prefix = SOURCE_PREFIXES[source]
    state_dict = _read_state_dict(checkpoint)
    info = inspect_backbone(state_dict, prefix)
    if depth is not None and int(depth) != info['depth']:
        raise ExportError(f'{checkpoint} holds a ResNet-{info["depth"]} '
                          f'backbone, not ResNet-{depth}')
    trained = info['widths']
    cfg = None
    if info['universal']:
        if config is None:
            raise ExportError(
                'this is a universal-mode checkpoint (shared BN): its BN '
                'statistics must be recalibrated per width on training '
                'data, so pass the training config (--config)')
        cfg = _load_config(config)
        trained = list(cfg.model.backbone.widths)
    if isinstance(widths, str):
        if widths != 'all':
            raise ExportError(f'widths must be numbers or "all", '
                              f'got {widths!r}')
        widths = trained
    if not widths:
        raise ExportError('no width to export')
    selected = []
    for w in widths:
        try:
            w = check_width(w)
        except ValueError as e:
            raise ExportError(str(e)) from None
        if info['universal']:
            if not min(trained) <= w <= max(trained):
                raise ExportError(
                    f'width {w} is outside the universal range '
                    f'[{min(trained)}, {max(trained)}] of the checkpoint')
        elif round(w * GRID) not in {round(t * GRID) for t in trained}:
            raise ExportError(f'width {w} was not trained: the checkpoint '
                              f'has widths {trained}')
        if w not in selected:
            selected.append(w)
    _prepare_out_dir(out_dir)
    per_width = None
    if info['universal']:
        per_width = recalibrated_state_dicts(cfg, state_dict, selected,
                                             info['prefix'], recalib_batches)

    source = SourceInfo.of(checkpoint, info['prefix'])
    results, pending = [], []
    try:
        for w in selected:
            sd = slice_width(per_width[w] if per_width else state_dict,
                             info['depth'], w, info['prefix'], trained)
            meta = export_meta(
                info['depth'],
                w,
                source,
                trained_widths=list(trained),
                universal=info['universal'])
            path = export_path(out_dir, info['depth'], w)
            tmp = temp_path(path)
            pending.append((tmp, path))
            torch.save(dict(state_dict=sd, meta=meta), tmp)
            results.append(dict(path=path, meta=meta))
        for tmp, path in pending:
            commit(tmp, path)
    finally:
        for tmp, _ in pending:
            if osp.lexists(tmp):
                os.remove(tmp)
    return results
