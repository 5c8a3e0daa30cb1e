# DSPNet on a slimmable ResNet-18 (basic blocks: 512 channels at width 1.0).
_base_ = './dspnet_slimmable-resnet50_16xb256-coslr-300e_in1k.py'

model = dict(
    backbone=dict(depth=18),
    # NOTE: ResNet-18's last stage has 512 channels at full width
    neck=dict(in_channels=512))
