from .slimmable_ops import (SlimmableBatchNorm, SlimmableConv2d,
                            SlimmableLinear, SwitchableBatchNorm)
from .width import (GRID, SlimmableMixin, WidthConstraint, channels_at,
                    check_width, get_width, set_width, width_context,
                    width_tag)

__all__ = [
    'GRID', 'SlimmableMixin', 'SlimmableBatchNorm', 'SlimmableConv2d',
    'SlimmableLinear', 'SwitchableBatchNorm', 'WidthConstraint', 'channels_at',
    'check_width', 'get_width', 'set_width', 'width_context', 'width_tag'
]
