# FCN-D8 (dilated ResNet, output stride 8), Cityscapes 512x1024, 40k
# iterations, from an exported DSPNet width.
#
# mmseg's stock recipe (SyncBN, BN trained) on the plain-stem ResNet that
# DSPNet exports instead of mmseg's deep-stem ResNetV1c. Width-dependent
# fields (backbone depth/base/stem channels, the checkpoint, decode and
# auxiliary head in_channels) come from the exported file:
#   python tools/transfer_config.py THIS_FILE resnet50_w0.5.pth \
#       --task mmseg --out work_dirs/transfer/fcn_w0.5.py
# (see configs/benchmarks/README.md).
_base_ = 'mmseg::fcn/fcn_r50-d8_4xb2-40k_cityscapes-512x1024.py'

model = dict(
    # the base's open-mmlab://resnet50_v1c is a deep-stem ImageNet model
    pretrained=None,
    backbone=dict(
        type='ResNet',
        # Fails loudly until apply_width points it at an exported width.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='<exported width: run tools/transfer_config.py>')))

# NOTE: lr 0.01 of the base is for 4 GPUs x 2 crops = 8 crops
auto_scale_lr = dict(enable=False, base_batch_size=8)
