"""What the speed benchmark measures, and with which models.

:class:`SpeedOptions` holds every knob of ``tools/analysis/benchmark_speed.py``
(its command-line flags, one to one); the constants name the widths, the
configs and the targets of the parts P1-P4.
"""
from dataclasses import dataclass, field
from typing import List

__all__ = [
    'BYOL_DEMO_CFG', 'DEMO_CFG', 'P1_TARGET', 'P2_TARGET', 'P4_TARGET',
    'PROJECTOR_IMAGENET', 'R50_CFG', 'SpeedOptions', 'WIDTHS'
]

WIDTHS = (0.25, 0.5, 0.75, 1.0)
# the demo DSPNet config and its one-by-one BYOL baselines (the iteration
# count is in their names: glob them); relative to the shipped configs/
DEMO_CFG = 'dspnet/dspnet_slimmable-resnet18_1xb16-lars-*_demo-cls.py'
BYOL_DEMO_CFG = 'byol/byol_resnet18-w{}_1xb16-lars-*_demo-cls.py'
R50_CFG = 'dspnet/dspnet_slimmable-resnet50_16xb256-coslr-300e_in1k.py'
P1_TARGET, P2_TARGET, P4_TARGET = 1.05, 0.85, 10.0
#: The ImageNet-size projector / predictor that P2-P4 put on the models.
PROJECTOR_IMAGENET = dict(
    neck=dict(hid_channels=4096, out_channels=256),
    predictor=dict(in_channels=256, hid_channels=4096, out_channels=256))


@dataclass
class SpeedOptions:
    """The knobs of the speed benchmark (see the tool's ``--help``)."""
    parts: str = 'p1,cx,mem,p2,p3,p4'
    threads: int = 1
    reps: int = 7
    p1_depths: List[int] = field(default_factory=lambda: [50, 18])
    p1_before: List[int] = field(default_factory=lambda: [50])
    p1_batch: int = 8
    p1_px: int = 112
    cx_px: int = 224
    p2_batch: int = 32
    p2_px: int = 32
    p2_reps: int = 5
    p2_iters: int = 10
    data_root: str = 'data/demo'
    profile: bool = False
    p2_no_profile: bool = False
    p2_malloc: str = 'compare'
    p3_device: str = 'cuda'
    p3_batch: int = 64
    p3_px: int = 224
    p3_warmup: int = 3
    p3_steps: int = 10
