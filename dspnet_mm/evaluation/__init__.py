"""Classification protocols for exported widths (kNN, linear, semi-sup.).

Import it explicitly (``import dspnet_mm.evaluation``, or
``custom_imports=dict(imports=['dspnet_mm.evaluation'])`` in a config): it
registers :class:`VerifyBackboneHook` into mmpretrain's HOOKS.
"""
from .exported import build_exported_resnet
from .knn import (IMAGENET_NORM, extract_features, imagenet_style_dataset,
                  knn_classify, knn_eval, knn_scores)
from .verify_backbone_hook import VerifyBackboneHook

__all__ = [
    'IMAGENET_NORM', 'VerifyBackboneHook', 'build_exported_resnet',
    'extract_features', 'imagenet_style_dataset', 'knn_classify', 'knn_eval',
    'knn_scores'
]
