# One-by-one baseline of the DSPNet demo's width 0.75: BYOL on a plain
# ResNet-18 with base_channels = stem_channels = 64 * 0.75 = 48; everything
# else is the width-1.0 demo baseline's recipe (= the DSPNet demo's).
_base_ = './byol_resnet18-w1.0_1xb16-lars-600it_demo-cls.py'

model = dict(
    backbone=dict(base_channels=48, stem_channels=48),
    # NOTE: 384 = 512 * 0.75, the last stage of this ResNet-18
    neck=dict(in_channels=384))
