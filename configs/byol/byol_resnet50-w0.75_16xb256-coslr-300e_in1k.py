# One-by-one baseline of DSPNet width 0.75: BYOL on a plain ResNet-50 with
# base_channels = stem_channels = 64 * 0.75 = 48; everything else is the
# width-1.0 baseline's recipe (= the DSPNet recipe).
_base_ = './byol_resnet50-w1.0_16xb256-coslr-300e_in1k.py'

model = dict(
    backbone=dict(base_channels=48, stem_channels=48),
    # NOTE: 1536 = 2048 * 0.75, the last stage of this ResNet-50
    neck=dict(in_channels=1536))
