"""Datasets of dspnet_mm: the embedded synthetic demo data.

Kept free of torch and model imports so that generating data is cheap.
"""
from .demo_data import (DEMO_CLASSES, SMALL_DEMO, DemoDataError, demo_metainfo,
                        generate_demo_data)

__all__ = [
    'DEMO_CLASSES', 'SMALL_DEMO', 'DemoDataError', 'demo_metainfo',
    'generate_demo_data'
]
