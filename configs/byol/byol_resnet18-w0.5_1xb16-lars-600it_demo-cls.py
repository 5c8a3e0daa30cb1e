# One-by-one baseline of the DSPNet demo's width 0.5: BYOL on a plain
# ResNet-18 with base_channels = stem_channels = 64 * 0.5 = 32; everything
# else is the width-1.0 demo baseline's recipe (= the DSPNet demo's).
_base_ = './byol_resnet18-w1.0_1xb16-lars-600it_demo-cls.py'

model = dict(
    backbone=dict(base_channels=32, stem_channels=32),
    # NOTE: 256 = 512 * 0.5, the last stage of this ResNet-18
    neck=dict(in_channels=256))
