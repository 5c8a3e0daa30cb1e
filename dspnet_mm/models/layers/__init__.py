from .slimmable_ops import SlimmableConv2d, SlimmableLinear, SwitchableBatchNorm
from .width import (GRID, SlimmableMixin, channels_at, check_width, get_width,
                    set_width, width_context)

__all__ = [
    'GRID', 'SlimmableMixin', 'SlimmableConv2d', 'SlimmableLinear',
    'SwitchableBatchNorm', 'channels_at', 'check_width', 'get_width',
    'set_width', 'width_context'
]
