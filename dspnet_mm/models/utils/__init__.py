from .bn_recalibration import recalibrate_bn
from .width_sampler import WidthSampler

__all__ = ['WidthSampler', 'recalibrate_bn']
