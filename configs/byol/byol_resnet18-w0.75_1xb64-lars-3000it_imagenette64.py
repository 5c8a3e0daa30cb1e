# One-by-one baseline of DSPNet's width 0.75 on Imagenette at 64 px: the
# width-1.0 BYOL recipe on a plain ResNet-18 with 48 base/stem channels.
_base_ = './byol_resnet18-w1.0_1xb64-lars-3000it_imagenette64.py'

width_channels = 48  # 64 * 0.75
model = dict(
    backbone=dict(base_channels=width_channels, stem_channels=width_channels),
    neck=dict(in_channels=8 * width_channels))
