# Mask R-CNN R50-FPN, 1x COCO, from an exported DSPNet width.
#
# The self-supervised transfer recipe of mmpretrain's BYOL benchmark
# (mmpretrain::byol/benchmarks/mask-rcnn_r50_fpn_ms-1x_coco.py), the one the
# BYOL reference numbers (40.9 box / 36.8 mask AP) were measured with: SyncBN
# everywhere, nothing frozen, 4conv1fc box head, multi-scale training.
#
# Width-dependent fields (backbone depth/base/stem channels, the checkpoint,
# FPN in_channels) are NOT set here: they come from the exported file,
#   python tools/transfer_config.py THIS_FILE resnet50_w0.5.pth \
#       --task mmdet --out work_dirs/transfer/mask-rcnn_w0.5.py
# (see configs/benchmarks/README.md). The R50 numbers inherited from the
# stock base are overwritten for every width.
_base_ = 'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        # NOTE: -1 / False: SSL features are fine-tuned end to end, BN
        # included (supervised ImageNet weights freeze stage 1 and BN).
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        # Fails loudly until apply_width points it at an exported width
        # (the stock base would silently start from torchvision weights).
        init_cfg=dict(
            type='Pretrained',
            checkpoint='<exported width: run tools/transfer_config.py>')),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg),
        mask_head=dict(norm_cfg=norm_cfg)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='RandomChoiceResize',
        # NOTE: short side 640..800, the detectron2 multi-scale 1x recipe
        scales=[(1333, 640), (1333, 672), (1333, 704), (1333, 736),
                (1333, 768), (1333, 800)],
        keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))

# NOTE: lr 0.02 of the base is for 8 GPUs x 2 images = 16 images
auto_scale_lr = dict(enable=False, base_batch_size=16)
