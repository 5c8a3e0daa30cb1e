"""Datasets of dspnet_mm: the embedded synthetic demo data and the tool that
turns class-folder photos into an ImageNet-style root.

Kept free of torch and model imports so that generating data is cheap.
"""
from .demo_data import (DEMO_CLASSES, SMALL_DEMO, DemoDataError, demo_metainfo,
                        generate_demo_data)
from .prepare import (IMG_EXTENSIONS, PrepareError, config_overrides,
                      prepare_dataset)

__all__ = [
    'DEMO_CLASSES', 'SMALL_DEMO', 'DemoDataError', 'demo_metainfo',
    'generate_demo_data', 'IMG_EXTENSIONS', 'PrepareError', 'config_overrides',
    'prepare_dataset'
]
