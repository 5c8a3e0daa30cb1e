# The Mask R-CNN transfer recipe of
# mask-rcnn_dspnet-r50_fpn_8xb2-syncbn-ms-1x_coco.py, shrunk to the embedded
# demo data (data/demo/coco: 128 px synthetic shapes, 8 classes) so that it
# trains and evaluates on a 2-core CPU in minutes:
#   python tools/generate_demo_data.py
#   python tools/transfer_config.py THIS_FILE slim/resnet18_w0.5.pth \
#       --task mmdet --out work_dirs/transfer/demo-mask-rcnn.py
#   python tools/train.py work_dirs/transfer/demo-mask-rcnn.py
# As for the cluster config, the width-dependent fields come from the
# exported file (configs/benchmarks/README.md).
_base_ = './mask-rcnn_dspnet-r50_fpn_8xb2-syncbn-ms-1x_coco.py'

# the demo's classes (dspnet_mm.datasets.DEMO_CLASSES), spelled out so the
# config needs no dspnet_mm import
classes = ('circle', 'crescent', 'cross', 'heart', 'ring', 'square', 'star',
           'triangle')
num_classes = len(classes)
# NOTE: one process on CPU: plain BN (SyncBN needs a process group); BN
# still trained (norm_eval=False), as in the cluster recipe.
norm_cfg = dict(type='BN', requires_grad=True)
# NOTE: FPN and heads 4x narrower than the recipe's 256 channels: the RoI
# heads dominate CPU time. Not a width-dependent field: the backbone side
# (FPN in_channels) still comes from the exported file.
head_channels = 64

model = dict(
    backbone=dict(norm_cfg=norm_cfg),
    neck=dict(out_channels=head_channels, norm_cfg=norm_cfg),
    rpn_head=dict(
        in_channels=head_channels,
        feat_channels=head_channels,
        # NOTE: anchors of 16..256 px (octave 4 x strides 4..64) for the
        # 20-50 px shapes of the 128 px images; the recipe's 8 is for COCO
        # at 800 px.
        anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=head_channels),
        # NOTE: the stock 1x box head (2 shared fcs): the recipe's four
        # 3x3 convs on every RoI would take most of the CPU time.
        bbox_head=dict(
            type='Shared2FCBBoxHead',
            in_channels=head_channels,
            fc_out_channels=4 * head_channels,
            num_classes=num_classes),
        mask_roi_extractor=dict(out_channels=head_channels),
        mask_head=dict(
            in_channels=head_channels,
            conv_out_channels=head_channels,
            num_classes=num_classes,
            norm_cfg=norm_cfg)),
    # NOTE: at most 4 objects per image: fewer proposals and RoIs than the
    # recipe's 2000/1000/512, tuned for COCO's crowded scenes.
    train_cfg=dict(
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=64))),
    test_cfg=dict(rpn=dict(nms_pre=500, max_per_img=200)))

data_root = 'data/demo/coco/'
metainfo = dict(classes=classes)
img_scale = (128, 128)  # the demo images' own size
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackDetInputs')
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=img_scale, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True, with_mask=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                   'scale_factor'))
]
train_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='train/'),
        pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=4,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='val/'),
        pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(
    ann_file=data_root + 'annotations/instances_val.json',
    metric=['bbox', 'segm'])
test_evaluator = val_evaluator

max_iters = 50
train_cfg = dict(
    _delete_=True,
    type='IterBasedTrainLoop',
    max_iters=max_iters,
    val_interval=max_iters)
# NOTE: lr 0.04 for 4 images, 8x the recipe's linear-scaled 0.005: with
# only a few dozen steps the RPN barely starts at the scaled rate; BN in
# the FPN and the mask head keeps this one stable.
optim_wrapper = dict(optimizer=dict(lr=0.04))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.1, by_epoch=False, begin=0, end=10),
    dict(
        type='MultiStepLR',
        by_epoch=False,
        begin=0,
        end=max_iters,
        milestones=[40],
        gamma=0.1)
]
auto_scale_lr = dict(base_batch_size=4)
default_hooks = dict(
    logger=dict(interval=5),
    checkpoint=dict(by_epoch=False, interval=max_iters, max_keep_ckpts=1))
log_processor = dict(by_epoch=False)
randomness = dict(seed=0)
