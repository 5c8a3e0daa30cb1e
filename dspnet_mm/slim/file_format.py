"""The exported-width file: its name, its ``meta`` and how it is written.

One implementation for every exporter (:func:`~.export.export_widths` for
SlimmableResNets, :func:`~.plain.export_plain_resnet` for ResNets pretrained
one by one): ``resnet{depth}_w{width}.pth`` holding
``dict(state_dict=<stock ResNet keys>, meta=...)``, written atomically.
"""
import hashlib
import os.path as osp
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Optional, Tuple

import torch

from ..models.backbones.slimmable_resnet import DEPTHS, resnet_stage_channels
from ..models.layers import GRID, width_tag
from ..utils.atomic import atomic_path
from ..version import __version__

__all__ = [
    'ARCH', 'FLOPS_INPUT', 'SourceInfo', 'atomic_save', 'complexity',
    'export_meta', 'export_path', 'file_sha256', 'infer_depth'
]

#: (bottleneck, blocks per stage) of each ResNet depth.
ARCH = {
    18: (False, (2, 2, 2, 2)),
    34: (False, (3, 4, 6, 3)),
    50: (True, (3, 4, 6, 3)),
    101: (True, (3, 4, 23, 3)),
    152: (True, (3, 8, 36, 3)),
}
#: Input size at which FLOPs are reported (the ImageNet convention).
FLOPS_INPUT = (3, 224, 224)


def infer_depth(keys: Iterable[str]) -> Tuple[Optional[int], str]:
    """The ResNet depth of a backbone's state-dict keys (no prefix).

    Returns:
        tuple: the depth (``None`` when the blocks match no standard ResNet)
        and a description of the blocks found, for error messages.
    """
    keys = set(keys)
    bottleneck = 'layer1.0.conv3.weight' in keys
    blocks = tuple(
        len({
            m.group(1)
            for m in (re.match(rf'layer{i}\.(\d+)\.', k) for k in keys) if m
        }) for i in range(1, 5))
    depth = next(
        (d for d, arch in ARCH.items() if arch == (bottleneck, blocks)), None)
    found = (f'{blocks} {"bottleneck" if bottleneck else "basic"} blocks '
             f'per stage, which is no ResNet of depth {DEPTHS}')
    return depth, found


def file_sha256(path: str) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for chunk in iter(lambda: f.read(1 << 20), b''):
            h.update(chunk)
    return h.hexdigest()


@lru_cache(maxsize=None)
def complexity(depth: int, width: float) -> Tuple[int, int]:
    """Params and FLOPs (multiply-adds, at 224x224) of the ResNet at width.

    Computed with mmengine's complexity analysis on the stock mmpretrain ResNet
    (no classifier), so they are the static network's numbers.
    """
    from mmengine.analysis import get_model_complexity_info
    from mmpretrain.models.backbones import ResNet
    base = round(GRID * width)
    model = ResNet(depth, base_channels=base, stem_channels=base)
    model.eval()  # ResNet.train() returns None: no chaining
    info = get_model_complexity_info(
        model, input_shape=FLOPS_INPUT, show_table=False, show_arch=False)
    return int(info['params']), int(info['flops'])


@dataclass(frozen=True)
class SourceInfo:
    """Where an exported width comes from (recorded in its ``meta``).

    Args:
        path (str): the source checkpoint.
        prefix (str): key prefix of the backbone in it.
        sha256 (str): of the source file (:func:`file_sha256`).
    """
    path: str
    prefix: str
    sha256: str

    @classmethod
    def of(cls, path: str, prefix: str) -> 'SourceInfo':
        return cls(osp.abspath(path), prefix, file_sha256(path))


def export_meta(depth: int, width: float, source: SourceInfo, **extra) -> dict:
    """The ``meta`` of an exported width.

    Depth, width, base/stem and stage channels, params and FLOPs
    (:func:`complexity`), then ``extra`` (e.g. ``trained_widths``), then the
    source and the exporter. ``extra`` may override ``exporter``.
    """
    base = round(GRID * width)
    params, flops = complexity(depth, width)
    meta = dict(
        arch='ResNet',
        depth=depth,
        width=width,
        base_channels=base,
        stem_channels=base,
        stage_channels=resnet_stage_channels(depth, width),
        params=params,
        flops=flops,
        flops_input=list(FLOPS_INPUT))
    exporter = extra.pop('exporter', f'dspnet_mm {__version__}')
    meta.update(extra)
    meta.update(
        source=source.path,
        source_prefix=source.prefix,
        source_sha256=source.sha256,
        exporter=exporter)
    return meta


def export_path(out_dir: str, depth: int, width: float) -> str:
    """``<out_dir>/resnet{depth}_w{width}.pth``."""
    return osp.join(out_dir, f'resnet{depth}_w{width_tag(width)}.pth')


def atomic_save(obj, path: str) -> None:
    """``torch.save`` to a temporary name in the same folder, then rename:

    ``path`` holds either its old content or the complete new file
    (:func:`dspnet_mm.utils.atomic.atomic_path`).
    """
    with atomic_path(path) as tmp:
        torch.save(obj, tmp)
