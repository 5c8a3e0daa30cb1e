# Faster R-CNN R50-FPN, 1x COCO, from an exported DSPNet width.
#
# The same self-supervised transfer recipe as
# mask-rcnn_dspnet-r50_fpn_8xb2-syncbn-ms-1x_coco.py (SyncBN everywhere,
# nothing frozen, 4conv1fc box head, multi-scale training), boxes only.
#
# Width-dependent fields (backbone depth/base/stem channels, the checkpoint,
# FPN in_channels) come from the exported file via
# tools/transfer_config.py --task mmdet (configs/benchmarks/README.md).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'

norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    backbone=dict(
        # NOTE: -1 / False: SSL features are fine-tuned end to end, BN
        # included (supervised ImageNet weights freeze stage 1 and BN).
        frozen_stages=-1,
        norm_cfg=norm_cfg,
        norm_eval=False,
        # Fails loudly until apply_width points it at an exported width.
        init_cfg=dict(
            type='Pretrained',
            checkpoint='<exported width: run tools/transfer_config.py>')),
    neck=dict(norm_cfg=norm_cfg),
    roi_head=dict(
        bbox_head=dict(type='Shared4Conv1FCBBoxHead', norm_cfg=norm_cfg)))

train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
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
