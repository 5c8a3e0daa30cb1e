"""Classification protocols for exported widths (kNN, linear, semi-sup.) and
their reference, the random-init twin.

Import it explicitly (``import dspnet_mm.evaluation``, or
``custom_imports=dict(imports=['dspnet_mm.evaluation'])`` in a config): it
registers :class:`VerifyBackboneHook` into mmpretrain's HOOKS.
"""
from .exported import build_exported_resnet
from .knn import (IMAGENET_NORM, extract_features, imagenet_style_dataset,
                  knn_classify, knn_eval, knn_scores)
from .linear_probe import fit_logistic, linear_probe
from .random_twin import fit_bn_statistics, random_init_resnet
from .verify_backbone_hook import VerifyBackboneHook

__all__ = [
    'IMAGENET_NORM', 'VerifyBackboneHook', 'build_exported_resnet',
    'extract_features', 'fit_bn_statistics', 'fit_logistic',
    'imagenet_style_dataset', 'knn_classify', 'knn_eval', 'knn_scores',
    'linear_probe', 'random_init_resnet'
]
