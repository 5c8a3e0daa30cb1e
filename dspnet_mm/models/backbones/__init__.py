from .slimmable_resnet import DEPTHS, SlimmableResNet, resnet_stage_channels

__all__ = ['DEPTHS', 'SlimmableResNet', 'resnet_stage_channels']
