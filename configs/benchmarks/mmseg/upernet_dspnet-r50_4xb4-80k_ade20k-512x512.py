# UPerNet R50, ADE20K 512x512, 80k iterations, from an exported DSPNet
# width.
#
# mmseg's stock recipe (SyncBN, BN trained) on the plain-stem ResNet that
# DSPNet exports instead of mmseg's deep-stem ResNetV1c. Width-dependent
# fields (backbone depth/base/stem channels, the checkpoint, the UPerHead's
# four in_channels and the auxiliary FCN head's) come from the exported
# file:
#   python tools/transfer_config.py THIS_FILE resnet50_w0.5.pth \
#       --task mmseg --out work_dirs/transfer/upernet_w0.5.py
# (see configs/benchmarks/README.md).
_base_ = 'mmseg::upernet/upernet_r50_4xb4-80k_ade20k-512x512.py'

model = dict(
    # the base's open-mmlab://resnet50_v1c is a deep-stem ImageNet model
    pretrained=None,
    backbone=dict(
        type='ResNet',
        # Fails loudly until apply_width points it at an exported width.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='<exported width: run tools/transfer_config.py>')))

# NOTE: lr 0.01 of the base is for 4 GPUs x 4 crops = 16 crops
auto_scale_lr = dict(enable=False, base_batch_size=16)
