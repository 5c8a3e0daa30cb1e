"""Registries of dspnet_mm.

We register straight into mmpretrain's registries (a child registry would not
trigger mmpretrain's lazy imports). Backbones meant for detection and
segmentation are additionally registered into mmdet's and mmseg's MODELS by
:func:`register_downstream` when those packages are installed, so
``type='SlimmableResNet'`` also builds from ``mmdet::`` and ``mmseg::``
configs. This module imports nothing from dspnet_mm.
"""
import importlib.util

from mmpretrain.registry import DATASETS, HOOKS, MODELS, TRANSFORMS

__all__ = ['MODELS', 'HOOKS', 'DATASETS', 'TRANSFORMS', 'register_downstream']


def register_downstream(cls):
    """Register ``cls`` into mmdet's and mmseg's MODELS as well.

    Each only when the package is installed (dspnet_mm's pretraining and
    export need neither; ``pip install dspnet_mm[det,seg]`` adds them). An
    installed package that fails to import is a broken environment and is
    not silenced.
    """
    for package in ('mmdet', 'mmseg'):
        if importlib.util.find_spec(package) is None:
            continue
        registry = importlib.import_module(f'{package}.registry')
        registry.MODELS.register_module(module=cls)
    return cls
