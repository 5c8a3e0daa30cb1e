"""Registries of dspnet_mm.

We register straight into mmpretrain's registries (a child registry would not
trigger mmpretrain's lazy imports). Backbones meant for detection and
segmentation are additionally registered into mmdet's and mmseg's MODELS by
:func:`register_downstream`, so ``type='SlimmableResNet'`` also builds from
``mmdet::`` and ``mmseg::`` configs. This module imports nothing from
dspnet_mm.
"""
from mmpretrain.registry import DATASETS, HOOKS, MODELS, TRANSFORMS

__all__ = ['MODELS', 'HOOKS', 'DATASETS', 'TRANSFORMS', 'register_downstream']


def register_downstream(cls):
    """Register ``cls`` into mmdet's and mmseg's MODELS as well.

    Both packages are hard requirements of the stack, so a failed import is a
    broken environment and is not silenced.
    """
    from mmdet.registry import MODELS as MMDET_MODELS
    from mmseg.registry import MODELS as MMSEG_MODELS
    MMDET_MODELS.register_module(module=cls)
    MMSEG_MODELS.register_module(module=cls)
    return cls
